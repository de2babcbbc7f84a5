/** UPDATE (FIG 32), SNAPSHOT paging, QUERY, channel isolation and socket options. */
import { describe, expect, it } from 'vitest';
import type { NetworkAction } from '../../../sim/network/backend.js';
import {
  Capability,
  ConditionFlag,
  PROTOCOL_VERSION_WORD,
  SocketStatus,
} from '../../../src/protocol/index.js';
import { RawHost, addr, connectTcp, makeRig, openTcp, openUdp } from './harness.js';

describe('UPDATE (FIG 32)', () => {
  it('an unknown id gets E_UNKNOWN_SOCKET and leaves the table byte for byte as it was', () => {
    const rig = makeRig();
    const { host } = rig;
    const a = openTcp(host);
    const b = openUdp(host);
    host.ok('CLOSE', { id: b, abort: 0 });
    const c = openUdp(host); // slot 1 again, generation 2
    const snap = host.snapshotBytes();
    const window = rig.core.readWindow(0x1000, 4 * 128);
    const events = host.events.length;
    for (const id of [0, 0xffff, 0x0105, b /* stale generation */, a + 0x0100, 0x00fe]) {
      for (const body of [
        { status: 0xff, setFlags: ConditionFlag.HOST_MARK0, clearFlags: 0 },
        { status: SocketStatus.BOUND, setFlags: 0xffff, clearFlags: 0xffff },
      ]) {
        expect(host.code('UPDATE', { id, ...body })).toBe('E_UNKNOWN_SOCKET');
      }
    }
    expect(host.snapshotBytes().equals(snap)).toBe(true);
    expect(rig.core.readWindow(0x1000, 4 * 128).equals(window)).toBe(true);
    expect(host.events.length).toBe(events);
    expect(rig.core.table().map((e) => e.id)).toEqual([a, c]);
  });

  it('a known id: status must be 0xFF or current, only host flags; changes are announced', () => {
    const rig = makeRig();
    const { host } = rig;
    const id = openTcp(host);
    const before = host.query(id);
    expect(host.code('UPDATE', { id, status: SocketStatus.CONNECTED, setFlags: 0, clearFlags: 0 })).toBe(
      'E_BAD_STATE',
    );
    expect(host.code('UPDATE', { id, status: 0xff, setFlags: ConditionFlag.READABLE, clearFlags: 0 })).toBe(
      'E_INVALID',
    );
    expect(
      host.code('UPDATE', { id, status: 0xff, setFlags: ConditionFlag.ERROR_PENDING, clearFlags: 0 }),
    ).toBe('E_INVALID');
    expect(host.code('UPDATE', { id, status: 0xff, setFlags: 0, clearFlags: ConditionFlag.WRITABLE })).toBe(
      'E_INVALID',
    );
    expect(
      host.code('UPDATE', {
        id,
        status: 0xff,
        setFlags: ConditionFlag.HOST_MARK1,
        clearFlags: ConditionFlag.HOST_MARK1,
      }),
    ).toBe('E_INVALID');
    expect(host.query(id)).toEqual(before);
    expect(host.eventsNamed('STATUS')).toHaveLength(0);
    const r = host.ok('UPDATE', {
      id,
      status: SocketStatus.UNCONNECTED,
      setFlags: ConditionFlag.HOST_MARK0 | ConditionFlag.HOST_MARK3,
      clearFlags: 0,
    });
    expect(r).toEqual({
      status: SocketStatus.UNCONNECTED,
      flags: ConditionFlag.WRITABLE | ConditionFlag.HOST_MARK0 | ConditionFlag.HOST_MARK3,
    });
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({ id, flags: r.flags });
    expect(
      host.ok('UPDATE', { id, status: 0xff, setFlags: 0, clearFlags: ConditionFlag.HOST_MARK0 }).flags,
    ).toBe(ConditionFlag.WRITABLE | ConditionFlag.HOST_MARK3);
    expect(host.mirror.get(id)?.flags).toBe(ConditionFlag.WRITABLE | ConditionFlag.HOST_MARK3);
    expect(host.violations).toEqual([]);
  });
});

describe('SNAPSHOT and QUERY', () => {
  it('pages the table in slot order within maxPayload', () => {
    const rig = makeRig({ maxPayload: 256, slots: 12 });
    const { host } = rig;
    const ids = Array.from({ length: 7 }, () => openTcp(host));
    host.ok('CLOSE', { id: ids[2]!, abort: 0 });
    host.ok('CLOSE', { id: ids[3]!, abort: 0 });
    // (256 − 17) / 80 = 2 entries per page.
    const p1 = host.ok('SNAPSHOT', { startSlot: 0, maxEntries: 255, allChannels: 0 });
    expect(p1.entries.map((e) => e.id)).toEqual([ids[0], ids[1]]);
    expect(p1.nextSlot).toBe(4);
    expect(p1.epoch).toBe(1);
    expect(p1.eventSeq).toBe(host.lastSeq);
    const p2 = host.ok('SNAPSHOT', { startSlot: p1.nextSlot, maxEntries: 1, allChannels: 0 });
    expect(p2.entries.map((e) => e.id)).toEqual([ids[4]]);
    expect(p2.nextSlot).toBe(5);
    const p3 = host.ok('SNAPSHOT', { startSlot: 5, maxEntries: 10, allChannels: 0 });
    expect(p3.entries.map((e) => e.id)).toEqual([ids[5], ids[6]]);
    expect(p3.nextSlot).toBe(0xffff);
    expect(host.ok('SNAPSHOT', { startSlot: 200, maxEntries: 10, allChannels: 0 })).toMatchObject({
      count: 0,
      nextSlot: 0xffff,
    });
    expect(host.snapshot().entries.map((e) => e.id)).toEqual([0, 1, 4, 5, 6].map((i) => ids[i]));
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 0, allChannels: 0 })).toBe('E_INVALID');
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 2 })).toBe('E_INVALID');
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 1 })).toBe('E_NOT_PERMITTED');
    // QUERY gives the same entry as the snapshot.
    expect(host.query(ids[5]!)).toEqual(p3.entries[0]);
  });

  it('channels see only their own sockets', () => {
    const rig = makeRig();
    const { host, core, net } = rig;
    const other = new RawHost(core, net, 3);
    other.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: 0 });
    other.ok('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) });
    const mine = openTcp(host);
    const theirs = openTcp(other);
    expect(theirs).toBe(0x0101);
    expect(host.code('QUERY', { id: theirs })).toBe('E_UNKNOWN_SOCKET');
    expect(host.code('CLOSE', { id: theirs, abort: 1 })).toBe('E_UNKNOWN_SOCKET');
    expect(host.code('UPDATE', { id: theirs, status: 0xff, setFlags: 0x1000, clearFlags: 0 })).toBe(
      'E_UNKNOWN_SOCKET',
    );
    expect(host.snapshot().entries.map((e) => e.id)).toEqual([mine]);
    expect(other.snapshot().entries.map((e) => e.id)).toEqual([theirs]);
    expect(other.query(theirs).channel).toBe(3);
    // Each channel has its own event sequence.
    expect(other.events[0]).toMatchObject({ name: 'BOOT', seq: 1 });
    expect(host.violations).toEqual([]);
    expect(other.violations).toEqual([]);
  });
});

describe('options', () => {
  it('SETOPT/GETOPT every option, booleans in entry.options, NODELAY/KEEPALIVE reach a live connection', () => {
    const rig = makeRig();
    const { host, core, net } = rig;
    const actions: NetworkAction[] = [];
    core.onNetworkAction((a) => actions.push(a));
    net.echoServer('10.0.0.99:7');
    const t = openTcp(host);
    const u = openUdp(host);
    const get = (id: number, option: number) => host.ok('GETOPT', { id, option }).value;
    expect([1, 2, 3, 5, 6, 7, 8].map((o) => get(t, o))).toEqual([0, 0, 0, 65536, 65536, 0xffffffff, 64]);
    expect([1, 4, 5, 6, 8].map((o) => get(u, o))).toEqual([0, 0, 65536, 65536, 64]);
    host.ok('SETOPT', { id: t, option: 1, value: 1 });
    host.ok('SETOPT', { id: t, option: 2, value: 1 });
    host.ok('SETOPT', { id: t, option: 3, value: 7000 });
    host.ok('SETOPT', { id: t, option: 7, value: 5 });
    host.ok('SETOPT', { id: t, option: 8, value: 32 });
    host.ok('SETOPT', { id: u, option: 4, value: 1 });
    expect(host.query(t).options).toBe(0b0111);
    expect(host.query(u).options).toBe(0b1000);
    expect([1, 2, 3, 7, 8].map((o) => get(t, o))).toEqual([1, 1, 7000, 5, 32]);
    host.ok('SETOPT', { id: t, option: 3, value: 0 });
    expect(host.query(t).options).toBe(0b0011);
    for (const [id, option, value, code] of [
      [t, 99, 1, 'E_NOT_SUPPORTED'],
      [t, 0, 1, 'E_NOT_SUPPORTED'],
      [t, 2, 2, 'E_INVALID'],
      [t, 4, 1, 'E_INVALID'],
      [u, 2, 1, 'E_INVALID'],
      [u, 3, 1000, 'E_INVALID'],
      [u, 7, 0, 'E_INVALID'],
      [t, 8, 0, 'E_INVALID'],
      [t, 8, 256, 'E_INVALID'],
      [t, 6, 0, 'E_INVALID'],
    ] as const) {
      expect(host.code('SETOPT', { id, option, value }), `option ${option}`).toBe(code);
    }
    expect(host.code('GETOPT', { id: t, option: 42 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('GETOPT', { id: u, option: 2 })).toBe('E_INVALID');
    // Options travel with CONNECT, and later changes reach the live connection.
    host.ok('CONNECT', { id: t, timeoutMs: 0, addr: addr('10.0.0.99:7') });
    expect(actions.find((a) => a.kind === 'tcp-connect')).toMatchObject({ noDelay: true, keepAliveMs: 0 });
    net.advance(10);
    host.ok('SETOPT', { id: t, option: 2, value: 0 });
    host.ok('SETOPT', { id: t, option: 3, value: 9000 });
    expect(actions.filter((a) => a.kind === 'tcp-setopt')).toEqual([
      { kind: 'tcp-setopt', handle: expect.any(Number), noDelay: false },
      { kind: 'tcp-setopt', handle: expect.any(Number), keepAliveMs: 9000 },
    ]);
  });

  it('KEEPALIVE needs its capability', () => {
    const { host } = makeRig({ capabilities: Capability.TCP | Capability.UDP | Capability.SNAPSHOT });
    const t = openTcp(host);
    expect(host.code('SETOPT', { id: t, option: 3, value: 1000 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('GETOPT', { id: t, option: 3 })).toBe('E_NOT_SUPPORTED');
  });

  it('accepted sockets inherit the listener options', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const l = openTcp(host);
    host.ok('SETOPT', { id: l, option: 2, value: 1 });
    host.ok('SETOPT', { id: l, option: 6, value: 8192 });
    const port = host.ok('LISTEN', { id: l, backlog: 1 }).local.port;
    net.connect(`10.0.0.1:${port}`);
    net.advance(10);
    const a = host.ok('ACCEPT', { id: l, recvCredit: 0 });
    expect(a.sendCredit).toBe(8192);
    expect(host.query(a.newId).options).toBe(0b10);
    const c = connectTcp(rig, `10.0.0.1:${port}`); // backlog again: the device connects to itself
    expect(host.query(c).status).toBe(SocketStatus.CONNECTED);
  });
});
