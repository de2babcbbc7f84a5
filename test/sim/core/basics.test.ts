import { describe, expect, it } from 'vitest';
import {
  Capability,
  ConditionFlag,
  PROTOCOL_VERSION_WORD,
  SocketStatus,
  StatusCode,
} from '../../../src/protocol/index.js';
import { IMPLEMENTED_CAPABILITIES } from '../../../sim/core/index.js';
import { DGRAM, STREAM, makeRig, openTcp } from './harness.js';

describe('HELLO', () => {
  it('only HELLO, PING and REG_READ are accepted before HELLO', () => {
    const { host } = makeRig({ hello: false });
    expect(host.code('SOCKET_OPEN', { ...STREAM, recvCredit: 0 })).toBe('E_BAD_STATE');
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 0 })).toBe('E_BAD_STATE');
    expect(host.code('REG_WRITE', { offset: 48, value: 1 })).toBe('E_BAD_STATE');
    expect(host.code('QUERY', { id: 0x0100 })).toBe('E_BAD_STATE');
    expect(host.ok('PING', { payload: Buffer.from('hi') }).payload).toEqual(Buffer.from('hi'));
    expect(host.ok('REG_READ', { offset: 0, count: 2 }).values).toEqual([0x4f464c44, PROTOCOL_VERSION_WORD]);
    // The first message of the epoch on the channel was preceded by BOOT (seq 1).
    expect(host.events[0]).toMatchObject({ name: 'BOOT', seq: 1, body: { reason: 0, slots: 32 } });
    expect(host.core.table()).toEqual([]);
  });

  it('refuses another major version and answers with the device view', () => {
    const { host, core } = makeRig({
      hello: false,
      slots: 8,
      maxPayload: 4096,
      firmware: 'sim-test',
      epoch: 7,
    });
    expect(host.code('HELLO', { protoVersion: 0x0200, hostCaps: 0 })).toBe('E_BAD_VERSION');
    expect(host.code('SOCKET_OPEN', { ...STREAM, recvCredit: 0 })).toBe('E_BAD_STATE');
    const h = host.ok('HELLO', { protoVersion: 0x0105, hostCaps: 0xffff });
    expect(h).toMatchObject({
      protoVersion: PROTOCOL_VERSION_WORD,
      slots: 8,
      maxPayload: 4096,
      epoch: 7,
      eventSeq: 1,
      sendQueueSize: 65536,
      recvQueueSize: 65536,
      firmware: 'sim-test',
    });
    expect(h.caps).toBe(IMPLEMENTED_CAPABILITIES);
    for (const c of ['CHANNELS', 'EGRESS_POLICY'] as const)
      expect(h.caps & Capability[c]).toBe(Capability[c]);
    for (const c of ['SECURE', 'PCIE_RINGS'] as const) expect(h.caps & Capability[c]).toBe(0);
    expect(core.epoch).toBe(7);
    expect(host.violations).toEqual([]);
  });

  it('masks unimplemented capabilities and refuses commands that need unadvertised ones', () => {
    const { host } = makeRig({ capabilities: Capability.TCP | Capability.SECURE | Capability.PCIE_RINGS });
    const caps = host.hello().caps;
    expect(caps).toBe(Capability.TCP);
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 0 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('QUERY', { id: 0x0100 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) })).toBe('E_NOT_SUPPORTED');
    expect(host.code('SECURE_INIT', { keyId: 1, hostNonce: Buffer.alloc(16) })).toBe('E_NOT_SUPPORTED');
    expect(host.code('EGRESS_CLEAR', { channel: 0 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('SOCKET_OPEN', { ...DGRAM, recvCredit: 0 })).toBe('E_NOT_SUPPORTED');
    expect(host.code('SOCKET_OPEN', { ...STREAM, family: 6, recvCredit: 0 })).toBe('EAFNOSUPPORT');
  });

  it('PING echoes within maxPayload only', () => {
    const { host } = makeRig({ maxPayload: 256 });
    expect(host.ok('PING', { payload: Buffer.alloc(250, 7) }).payload.length).toBe(250);
    expect(host.code('PING', { payload: Buffer.alloc(251, 7) })).toBe('E_INVALID');
  });
});

describe('SOCKET_OPEN and CLOSE', () => {
  it('allocates ids (generation << 8 | slot) and frees them with a final STATUS TERMINATED', () => {
    const { host, core } = makeRig();
    const r = host.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 1000 });
    expect(r).toEqual({ id: 0x0100, sendCredit: 65536 });
    const e = host.query(r.id);
    expect(e).toMatchObject({
      id: 0x0100,
      type: 1,
      family: 4,
      protocol: 6,
      status: SocketStatus.UNCONNECTED,
      flags: ConditionFlag.WRITABLE,
      recvCredit: 1000,
      sendSpace: 65536,
      channel: 0,
    });
    // No STATUS announces the creation.
    expect(host.eventsNamed('STATUS')).toEqual([]);
    const u = host.ok('SOCKET_OPEN', { ...DGRAM, recvCredit: 0 });
    expect(u.id).toBe(0x0101);
    host.ok('CLOSE', { id: r.id, abort: 0 });
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      id: r.id,
      status: SocketStatus.TERMINATED,
      error: 0,
    });
    expect(host.code('QUERY', { id: r.id })).toBe('E_UNKNOWN_SOCKET');
    expect(host.code('CLOSE', { id: r.id, abort: 0 })).toBe('E_UNKNOWN_SOCKET');
    expect(core.table().map((x) => x.id)).toEqual([0x0101]);
    // The slot is reused with the next generation.
    expect(host.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 0 }).id).toBe(0x0200);
    host.ok('CLOSE', { id: 0x0101, abort: 1 });
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      id: 0x0101,
      status: SocketStatus.TERMINATED,
      error: StatusCode.ECONNABORTED,
    });
    expect(host.violations).toEqual([]);
  });

  it('validates SOCKET_OPEN fields', () => {
    const { host } = makeRig();
    expect(host.code('SOCKET_OPEN', { ...STREAM, type: 3, recvCredit: 0 })).toBe('E_INVALID');
    expect(host.code('SOCKET_OPEN', { ...STREAM, protocol: 17, recvCredit: 0 })).toBe('E_INVALID');
    expect(host.code('SOCKET_OPEN', { ...STREAM, blocking: 2, recvCredit: 0 })).toBe('E_INVALID');
    expect(host.code('SOCKET_OPEN', { ...STREAM, family: 5, recvCredit: 0 })).toBe('EAFNOSUPPORT');
    expect(host.ok('SOCKET_OPEN', { ...STREAM, family: 6, blocking: 1, recvCredit: 0 }).id).toBe(0x0100);
    expect(host.query(0x0100)).toMatchObject({ family: 6, blocking: 1 });
  });

  it('runs out of slots with E_NO_SLOT and bumps the generation on reuse', () => {
    const { host, core } = makeRig({ slots: 4 });
    const ids = [0, 1, 2, 3].map(() => openTcp(host));
    expect(ids).toEqual([0x0100, 0x0101, 0x0102, 0x0103]);
    expect(host.code('SOCKET_OPEN', { ...STREAM, recvCredit: 0 })).toBe('E_NO_SLOT');
    expect(core.readRegister(0x14)).toBe((4 << 16) | 4);
    host.ok('CLOSE', { id: 0x0102, abort: 0 });
    expect(core.readRegister(0x14)).toBe((3 << 16) | 4);
    expect(openTcp(host)).toBe(0x0202);
    expect(host.code('QUERY', { id: 0x0102 })).toBe('E_UNKNOWN_SOCKET');
    // Generation wraps 255 -> 1, never 0.
    let id = 0x0202;
    for (let i = 0; i < 260; i++) {
      host.ok('CLOSE', { id, abort: 1 });
      id = openTcp(host);
      expect(id >> 8).toBeGreaterThanOrEqual(1);
      expect(id & 0xff).toBe(2);
    }
    expect(id >> 8).toBe(((2 + 260 - 1) % 255) + 1);
    expect(host.violations).toEqual([]);
  });
});
