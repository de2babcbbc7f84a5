/**
 * Undecodable input gets ERROR_RESPONSE and changes nothing; fuzzing handleHostMessage with arbitrary bytes
 * and mutated valid messages never throws and keeps the table consistent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AnyCommand,
  Limits,
  PROTOCOL_VERSION_WORD,
  SocketStatus,
  StatusCode,
  command,
  encodeMessage,
} from '../../../src/protocol/index.js';
import { type Rig, addr, connectTcp, makeRig, mirrorMismatches, openTcp, openUdp } from './harness.js';

describe('undecodable messages', () => {
  it('answers ERROR_RESPONSE with the tag and the offending opcode, and changes nothing', () => {
    const rig = makeRig();
    const { host, core } = rig;
    openTcp(host);
    const snap = host.snapshotBytes();
    const events = host.events.length;
    const cases: [number[], number, number, number][] = [
      // bytes, tag, status, offendingOpcode
      [[0x3e, 0, 5, 0], 5, StatusCode.E_BAD_OPCODE, 0x3e],
      [[0x0f, 0, 6, 0, 1, 2], 6, StatusCode.E_BAD_OPCODE, 0x0f],
      [[0x81, 0, 7, 0, 0, 0], 7, StatusCode.E_BAD_OPCODE, 0x81], // a response sent to the device
      [[0x41, 0, 8, 0], 8, StatusCode.E_BAD_OPCODE, 0x41], // an event
      [[0x80, 0, 9, 0, 0, 0, 0], 9, StatusCode.E_BAD_OPCODE, 0x80],
      [[0xc0, 0, 10, 0], 10, StatusCode.E_BAD_OPCODE, 0xc0],
      [[], 0, StatusCode.E_BAD_LENGTH, 0],
      [[0x1d], 0, StatusCode.E_BAD_LENGTH, 0x1d],
      [[0x1d, 0, 11], 0, StatusCode.E_BAD_LENGTH, 0x1d],
      [[0x1d, 0, 12, 0, 0], 12, StatusCode.E_BAD_LENGTH, 0x1d], // QUERY too short
      [[0x1d, 0, 13, 0, 0, 1, 0], 13, StatusCode.E_BAD_LENGTH, 0x1d], // QUERY too long
      [[0x10, 0, 14, 0, 1, 4, 6], 14, StatusCode.E_BAD_LENGTH, 0x10], // SOCKET_OPEN truncated
      [[0x19, 0, 15, 0, 0, 1, 0, 0], 15, StatusCode.E_BAD_LENGTH, 0x19], // CLOSE with an extra byte
    ];
    for (const [bytes, tag, status, op] of cases) {
      const out = host.sendRaw(Buffer.from(bytes));
      expect(out, `${bytes}`).toEqual([
        { kind: 'error', name: 'ERROR_RESPONSE', tag, status, body: { offendingOpcode: op } },
      ]);
    }
    // PROTOCOL.md example: unknown opcode 0x3E with tag 5.
    const raw: Buffer[] = [];
    core.onOutput((_ch, b) => raw.push(b));
    host.sendRaw(Buffer.from([0x3e, 0, 5, 0]));
    expect(raw[0]!.toString('hex')).toBe('80000500040' + '03e');
    // A bad address family is a bad field: E_INVALID.
    const bind = encodeMessage(command('BIND', 20, { id: 0x0100, addr: addr('10.0.0.1:80') }));
    bind[6] = 5;
    expect(host.sendRaw(bind)).toMatchObject([{ kind: 'error', tag: 20, status: StatusCode.E_INVALID }]);
    // Longer than maxPayload: E_BAD_LENGTH, even for a valid PING.
    const big = encodeMessage(command('PING', 21, { payload: Buffer.alloc(16384) }));
    expect(host.sendRaw(big)).toMatchObject([{ kind: 'error', tag: 21, status: StatusCode.E_BAD_LENGTH }]);
    expect(host.snapshotBytes().equals(snap)).toBe(true);
    expect(host.events.length).toBe(events);
    expect(core.counters.undecodable).toBe(cases.length + 3);
    expect(core.counters.internalErrors).toBe(0);
  });
});

/** Valid commands for the sockets of a rig (for mutation). */
function validCommands(ids: number[]): AnyCommand[] {
  const [t, u, c] = ids as [number, number, number];
  const list = [
    command('HELLO', 1, { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: 0x1f }),
    command('PING', 2, { payload: Buffer.from('ping') }),
    command('REG_READ', 3, { offset: 0, count: 8 }),
    command('REG_WRITE', 4, { offset: 0x30, value: 7 }),
    command('RESET', 5, { magic: 1 }),
    command('SNAPSHOT', 6, { startSlot: 0, maxEntries: 4, allChannels: 0 }),
    command('SOCKET_OPEN', 7, { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 100 }),
    command('BIND', 8, { id: t, addr: addr('0.0.0.0:0') }),
    command('LISTEN', 9, { id: t, backlog: 2 }),
    command('CONNECT', 10, { id: c, timeoutMs: 0, addr: addr('10.0.0.99:7') }),
    command('ACCEPT', 11, { id: t, recvCredit: 100 }),
    command('SEND', 12, { id: c, data: Buffer.from('data') }),
    command('SENDTO', 13, { id: u, addr: addr('10.0.0.99:7'), data: Buffer.from('dgram') }),
    command('RECV_CREDIT', 14, { id: c, bytes: 1000 }),
    command('SHUTDOWN', 15, { id: c, how: 1 }),
    command('CLOSE', 16, { id: u, abort: 0 }),
    command('SETOPT', 17, { id: c, option: 2, value: 1 }),
    command('GETOPT', 18, { id: c, option: 5 }),
    command('UPDATE', 19, { id: c, status: 0xff, setFlags: 0x1000, clearFlags: 0 }),
    command('QUERY', 20, { id: t }),
  ];
  return list as AnyCommand[];
}

function checkConsistent(rig: Rig): void {
  const { core, host } = rig;
  expect(core.counters.internalErrors).toBe(0);
  const table = core.table();
  const ids = table.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const e of table) {
    expect(e.id >> 8).toBeGreaterThanOrEqual(1);
    expect(e.status).toBeLessThan(SocketStatus.TERMINATED);
    expect(e.sendQueued + e.sendSpace).toBeGreaterThanOrEqual(Limits.minMaxPayload);
  }
  // The window and QUERY agree with table(); SNAPSHOT still works after a HELLO.
  host.hello();
  const snap = host.snapshot().entries;
  expect(snap.map((e) => e.id)).toEqual(table.filter((e) => e.channel === 0).map((e) => e.id));
  expect(host.violations.filter((v) => !v.startsWith('second reply'))).toEqual([]);
}

function fuzzRig(): { rig: Rig; ids: number[] } {
  const rig = makeRig({ slots: 8 });
  rig.net.echoServer('10.0.0.99:7');
  const t = openTcp(rig.host);
  const u = openUdp(rig.host);
  const c = connectTcp(rig, '10.0.0.99:7');
  return { rig, ids: [t, u, c] };
}

describe('fuzz', () => {
  it('arbitrary bytes never throw and leave a consistent table', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            // Biased to real opcodes with random bodies.
            fc
              .tuple(
                fc.constantFrom(1, 2, 3, 4, 6, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29),
                fc.uint8Array({ maxLength: 40 }),
              )
              .map(([op, rest]) => Uint8Array.from([op, 0, ...rest])),
          ),
          { maxLength: 30 },
        ),
        (msgs) => {
          const { rig } = fuzzRig();
          for (const m of msgs) {
            expect(() => rig.core.handleHostMessage(0, m)).not.toThrow();
            rig.net.advance(1);
          }
          rig.net.advance(20);
          checkConsistent(rig);
        },
      ),
      { numRuns: 150, seed: 20261125 },
    );
  });

  it('mutated valid messages never throw and leave a consistent table', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(19),
            fc.oneof(
              fc.constant({ kind: 'asis' as const }),
              fc.record({
                kind: fc.constant('flip' as const),
                at: fc.nat(60),
                bits: fc.integer({ min: 1, max: 255 }),
              }),
              fc.record({ kind: fc.constant('cut' as const), at: fc.nat(60) }),
              fc.record({
                kind: fc.constant('grow' as const),
                extra: fc.uint8Array({ minLength: 1, maxLength: 8 }),
              }),
            ),
          ),
          { maxLength: 25 },
        ),
        (ops) => {
          const { rig, ids } = fuzzRig();
          const valid = validCommands(ids).map((c) => encodeMessage(c));
          for (const [i, mut] of ops) {
            let b = Buffer.from(valid[i]!);
            if (mut.kind === 'flip') b[mut.at % b.length] = b[mut.at % b.length]! ^ mut.bits;
            else if (mut.kind === 'cut') b = b.subarray(0, mut.at % b.length);
            else if (mut.kind === 'grow') b = Buffer.concat([b, mut.extra]);
            expect(() => rig.core.handleHostMessage(0, b)).not.toThrow();
            rig.net.advance(2);
          }
          rig.net.advance(20);
          checkConsistent(rig);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });

  it('invalid channels and non-byte input are dropped without throwing', () => {
    const { rig } = fuzzRig();
    const snap = rig.host.snapshotBytes();
    for (const ch of [-1, 256, 1.5, Number.NaN]) {
      expect(() => rig.core.handleHostMessage(ch, Buffer.from([2, 0, 1, 0]))).not.toThrow();
    }
    expect(() => rig.core.handleHostMessage(0, 'PING' as unknown as Uint8Array)).not.toThrow();
    expect(() => rig.core.handleHostMessage(0, undefined as unknown as Uint8Array)).not.toThrow();
    expect(rig.host.snapshotBytes().equals(snap)).toBe(true);
    expect(rig.core.counters.internalErrors).toBe(0);
  });

  it('network events with unknown or stale handles are ignored', () => {
    const { rig, ids } = fuzzRig();
    const snap = rig.host.snapshotBytes();
    const { core } = rig;
    core.handleNetworkEvent({ kind: 'data', handle: 999, data: Buffer.from('x') });
    core.handleNetworkEvent({ kind: 'listen-result', handle: 1 });
    core.handleNetworkEvent({ kind: 'bind-result', handle: 3 });
    core.handleNetworkEvent({ kind: 'sent', handle: 424242, bytes: 5 });
    core.handleNetworkEvent({
      kind: 'incoming',
      listener: 77,
      handle: 1_000_123,
      local: addr('10.0.0.1:1'),
      remote: addr('10.0.0.5:2'),
    });
    core.handleNetworkEvent({ kind: 'closed', handle: 12345 });
    core.handleNetworkEvent({ kind: 'bogus' } as never);
    expect(core.counters.strayNetworkEvents).toBeGreaterThanOrEqual(6);
    expect(rig.host.snapshotBytes().equals(snap)).toBe(true);
    expect(core.counters.internalErrors).toBe(0);
    // The device still serves a well-behaved exchange.
    rig.host.ok('SEND', { id: ids[2]!, data: Buffer.from('still fine') });
    rig.net.advance(20);
    expect(rig.host.dataFor(ids[2]!).toString()).toBe('still fine');
    expect(mirrorMismatches(rig.host)).toEqual([]);
  });
});
