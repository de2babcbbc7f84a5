/**
 * Every socket command in every reachable status, for both socket types, with the expected outcome read
 * from TRANSITIONS (generated from protocol.json) by a tiny interpreter of its own, not DeviceCore's. A
 * refused command must leave the entry exactly as it was (QUERY and the SNAPSHOT bytes compared).
 */
import { describe, expect, it } from 'vitest';
import {
  type CommandBodies,
  SOCKET_STATUS_NAME,
  STATUS_NAME,
  SocketStatus,
  type SocketStatusName,
  TRANSITIONS,
} from '../../../src/protocol/index.js';
import { type Rig, addr, connectTcp, makeRig, openTcp, openUdp } from './harness.js';

type TypeName = 'STREAM' | 'DGRAM';
const ECHO = '10.0.0.99:7';
const SINK = '10.0.0.98:9';
const HOLE = '10.0.0.97:1';
const SLOW = '10.0.0.96:2';

/** The expectation straight from the table: allowed with a target, or the code answered. */
function expected(command: string, type: TypeName, status: SocketStatusName) {
  const rule = TRANSITIONS.find((r) => r.command === command && (r.type === type || r.type === '*'));
  if (!rule) return null;
  const to = rule.from[status];
  if (to !== undefined) return { allowed: true as const, to };
  return { allowed: false as const, code: rule.else[status] ?? rule.else['*'] ?? 'E_BAD_STATE' };
}

function newRig(): Rig {
  const rig = makeRig({ net: { windowBytes: 1024 } });
  rig.net.echoServer(ECHO);
  rig.net.sink(SINK);
  rig.net.blackhole(HOLE);
  rig.net.slowReader(SLOW, 0);
  return rig;
}

/** Puts a fresh socket of `type` into `status`; returns its id. */
const SETUPS: Record<TypeName, Partial<Record<SocketStatusName, (rig: Rig) => number>>> = {
  STREAM: {
    UNCONNECTED: (r) => openTcp(r.host),
    BOUND: (r) => {
      const id = openTcp(r.host);
      r.host.ok('BIND', { id, addr: addr('0.0.0.0:5000') });
      return id;
    },
    LISTENING: (r) => {
      const id = openTcp(r.host);
      r.host.ok('LISTEN', { id, backlog: 4 });
      return id;
    },
    CONNECTING: (r) => {
      const id = openTcp(r.host);
      r.host.ok('CONNECT', { id, timeoutMs: 60_000, addr: addr(HOLE) });
      r.net.advance(10);
      return id;
    },
    CONNECTED: (r) => connectTcp(r, SINK),
    SENDING: (r) => {
      const id = connectTcp(r, SLOW);
      r.host.ok('SEND', { id, data: Buffer.alloc(8000, 1) });
      r.net.advance(20);
      return id;
    },
    RECEIVING: (r) => {
      const id = connectTcp(r, ECHO, 0);
      r.host.ok('SEND', { id, data: Buffer.alloc(100, 2) });
      r.net.advance(20);
      return id;
    },
    DISCONNECTED: (r) => {
      const l = openTcp(r.host);
      const local = r.host.ok('LISTEN', { id: l, backlog: 4 }).local;
      const client = r.net.connect(`10.0.0.1:${local.port}`);
      r.net.runUntil(() => r.host.query(l).connQueued > 0);
      const id = r.host.ok('ACCEPT', { id: l, recvCredit: 65536 }).newId;
      client.finish();
      r.net.advance(20);
      return id;
    },
    SHUTDOWN: (r) => {
      const id = connectTcp(r, SINK);
      r.host.ok('SHUTDOWN', { id, how: 2 });
      return id;
    },
  },
  DGRAM: {
    UNCONNECTED: (r) => openUdp(r.host),
    BOUND: (r) => {
      const id = openUdp(r.host);
      r.host.ok('BIND', { id, addr: addr('0.0.0.0:0') });
      return id;
    },
    CONNECTED: (r) => {
      const id = openUdp(r.host);
      r.host.ok('CONNECT', { id, timeoutMs: 0, addr: addr(ECHO) });
      return id;
    },
  },
};

/** A valid request for each command (so that only the status decides). */
function request(command: string, id: number): CommandBodies[keyof CommandBodies] {
  switch (command) {
    case 'BIND':
      return { id, addr: addr('0.0.0.0:0') };
    case 'LISTEN':
      return { id, backlog: 4 };
    case 'CONNECT':
      return { id, timeoutMs: 0, addr: addr(ECHO) };
    case 'ACCEPT':
      return { id, recvCredit: 100 };
    case 'SEND':
      return { id, data: Buffer.from('x') };
    case 'SENDTO':
      return { id, addr: addr(ECHO), data: Buffer.from('x') };
    case 'RECV_CREDIT':
      return { id, bytes: 0 };
    case 'SHUTDOWN':
      return { id, how: 2 };
    case 'CLOSE':
      return { id, abort: 1 };
    case 'SETOPT':
      return { id, option: 5, value: 4096 };
    case 'GETOPT':
      return { id, option: 5 };
    case 'UPDATE':
      return { id, status: 0xff, setFlags: 0, clearFlags: 0 };
    case 'QUERY':
      return { id };
  }
  throw new Error(command);
}

/** Allowed commands that still fail on resources in these setups. */
const ALLOWED_BUT: Record<string, string> = { ACCEPT: 'E_WOULD_BLOCK' };

const COMMANDS = [...new Set(TRANSITIONS.map((r) => r.command))];

describe('TRANSITIONS, every command in every reachable status', () => {
  for (const type of ['STREAM', 'DGRAM'] as const) {
    for (const [statusName, setup] of Object.entries(SETUPS[type]) as [
      SocketStatusName,
      (r: Rig) => number,
    ][]) {
      describe(`${type} ${statusName}`, () => {
        it('setup reaches the status', () => {
          const rig = newRig();
          const id = setup(rig);
          expect(SOCKET_STATUS_NAME[rig.host.query(id).status]).toBe(statusName);
        });
        for (const command of COMMANDS) {
          const exp = expected(command, type, statusName);
          if (!exp) continue;
          const label = exp.allowed ? `allowed → ${exp.to}` : exp.code;
          it(`${command}: ${label}`, () => {
            const rig = newRig();
            const { host } = rig;
            const id = setup(rig);
            const before = host.query(id);
            const snapBefore = host.snapshotBytes();
            const r = host.call(command as 'QUERY', request(command, id) as { id: number });
            if (!exp.allowed) {
              expect(r.kind).toBe('response');
              expect(codeName(r.status)).toBe(exp.code);
              if (command === 'SEND' || command === 'SENDTO') expect(r.body).toEqual({ accepted: 0 });
              expect(host.query(id)).toEqual(before);
              expect(host.snapshotBytes().equals(snapBefore)).toBe(true);
              return;
            }
            expect(codeName(r.status)).toBe(ALLOWED_BUT[command] ?? 'OK');
            if (command === 'CLOSE') {
              expect(host.code('QUERY', { id })).toBe('E_UNKNOWN_SOCKET');
              return;
            }
            const after = host.query(id).status;
            if (exp.to === '=') expect(SOCKET_STATUS_NAME[after]).toBe(statusName);
            else if (command === 'CONNECT' && type === 'STREAM') expect(after).toBe(SocketStatus.CONNECTING);
            else expect(SOCKET_STATUS_NAME[after]).toBe(exp.to);
            expect(host.violations).toEqual([]);
          });
        }
      });
    }
  }

  it('every command naming a TERMINATED id gets E_UNKNOWN_SOCKET and changes nothing', () => {
    const rig = newRig();
    const { host } = rig;
    const keep = openTcp(host);
    const gone = openTcp(host);
    host.ok('CLOSE', { id: gone, abort: 0 });
    const snap = host.snapshotBytes();
    for (const command of COMMANDS) {
      expect(codeName(host.call(command as 'QUERY', request(command, gone) as { id: number }).status)).toBe(
        'E_UNKNOWN_SOCKET',
      );
    }
    expect(host.snapshotBytes().equals(snap)).toBe(true);
    expect(host.query(keep).id).toBe(keep);
  });
});

function codeName(status: number): string {
  return STATUS_NAME[status] ?? String(status);
}
