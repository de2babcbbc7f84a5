/** Event sequencing, boot epoch and reset; the register plane and the socket-table window. */
import { describe, expect, it } from 'vitest';
import {
  Capability,
  FieldWriter,
  Limits,
  PROTOCOL_VERSION_WORD,
  REGISTERS,
  Register,
  SocketStatus,
  writeEntry,
} from '../../../src/protocol/index.js';
import { RawHost, addr, connectTcp, makeRig, openTcp, openUdp } from './harness.js';

function encodeEntry(e: Parameters<typeof writeEntry>[1]): Buffer {
  const w = new FieldWriter(80);
  writeEntry(w, e);
  return w.finish();
}

describe('events', () => {
  it('BOOT is seq 1 once the channel is up, then every event adds 1 (HELLO and EVENT_SEQ agree)', () => {
    const rig = makeRig({ hello: false });
    const { core, host, net } = rig;
    core.channelUp(0);
    expect(host.events).toMatchObject([{ name: 'BOOT', seq: 1, epoch: 1, body: { reason: 0 } }]);
    core.channelUp(0); // idempotent within the epoch
    expect(host.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: 0 }).eventSeq).toBe(1);
    net.echoServer('10.0.0.99:7');
    const id = connectTcp(rig, '10.0.0.99:7');
    for (let i = 0; i < 20; i++) {
      host.ok('SEND', { id, data: Buffer.alloc(100, i) });
      net.advance(3);
    }
    host.ok('RECV_CREDIT', { id, bytes: 10 });
    net.advance(50);
    expect(host.events.length).toBeGreaterThan(20);
    expect(host.events.map((e) => e.seq)).toEqual(host.events.map((_, i) => i + 1));
    expect(host.ok('REG_READ', { offset: Register.EVENT_SEQ, count: 1 }).values[0]).toBe(host.lastSeq);
    expect(host.violations).toEqual([]);
  });

  it('RESET: response, then BOOT (seq 1, HOST_RESET) in a new epoch, empty table, handles closed', () => {
    const rig = makeRig({ epoch: 41 });
    const { core, host, net, backend } = rig;
    const other = new RawHost(core, net, 2);
    other.hello();
    const echo = net.echoServer('10.0.0.99:7');
    const id = connectTcp(rig, '10.0.0.99:7');
    openUdp(host);
    host.ok('REG_WRITE', { offset: Register.SCRATCH, value: 0x1234 });
    expect(host.code('RESET', { magic: 0x12345678 })).toBe('E_INVALID');
    expect(core.table()).toHaveLength(2);
    const tag = host.send('RESET', { magic: Limits.resetMagic });
    const i = host.inbox.findIndex((m) => m.kind === 'response' && m.tag === tag);
    expect(host.inbox[i]).toMatchObject({ kind: 'response', status: 0 });
    expect(host.inbox[i + 1]).toMatchObject({
      kind: 'event',
      name: 'BOOT',
      seq: 1,
      epoch: 42,
      body: { reason: 1 },
    });
    expect(other.events.at(-1)).toMatchObject({ name: 'BOOT', seq: 1, epoch: 42 });
    expect(core.epoch).toBe(42);
    expect(core.table()).toEqual([]);
    expect(backend.actionCounts.close).toBe(1);
    net.advance(10);
    expect(echo.resets).toBe(1);
    // HELLO is needed again; then the old id is gone.
    expect(host.code('QUERY', { id })).toBe('E_BAD_STATE');
    expect(host.hello()).toMatchObject({ epoch: 42, eventSeq: 1 });
    expect(host.code('QUERY', { id })).toBe('E_UNKNOWN_SOCKET');
    expect(host.ok('REG_READ', { offset: Register.SCRATCH, count: 1 }).values).toEqual([0]);
    expect(host.ok('REG_READ', { offset: Register.BOOT_EPOCH, count: 1 }).values).toEqual([42]);
    // Late network events for the old sockets are ignored.
    expect(core.counters.internalErrors).toBe(0);
    expect(host.violations).toEqual([]);
    // An external reset (watchdog) does the same on every active channel.
    core.reset('WATCHDOG');
    expect(host.events.at(-1)).toMatchObject({
      name: 'BOOT',
      seq: 1,
      epoch: 43,
      body: { reason: 2, slots: 32 },
    });
    expect(other.events.at(-1)).toMatchObject({ name: 'BOOT', seq: 1, epoch: 43 });
  });
});

describe('registers', () => {
  it('identity registers and UPTIME_MS', () => {
    const rig = makeRig({ slots: 10, maxPayload: 2048, firmwareBuild: 77, epoch: 5 });
    const { host, net } = rig;
    openTcp(host);
    net.advance(1234);
    const v = host.ok('REG_READ', { offset: 0, count: 14 }).values;
    expect(v.slice(0, 8)).toEqual([
      0x4f464c44,
      PROTOCOL_VERSION_WORD,
      rig.core.capabilities,
      0x1 | 0x8,
      5,
      (1 << 16) | 10,
      2048,
      77,
    ]);
    expect(v[8]).toBe(0x4); // IRQ_STATUS: RESET after boot
    expect(v[13]).toBeGreaterThanOrEqual(1234);
    expect(host.ok('REG_READ', { offset: Register.SOCKET_WINDOW_OFFSET, count: 2 }).values).toEqual([
      0x1000, 128,
    ]);
  });

  it('RO registers refuse writes and do not change; RW, RW1C, WO behave; ring and reserved offsets', () => {
    const { host } = makeRig();
    const all = () => host.ok('REG_READ', { offset: 0, count: 32 }).values;
    const before = all();
    for (const r of REGISTERS.filter((x) => x.access === 'RO')) {
      expect(host.code('REG_WRITE', { offset: r.offset, value: 0xdeadbeef }), r.name).toBe('E_NOT_PERMITTED');
    }
    for (const off of [0x38, 0x3c, 0x64, 0x78, 0xffc, 0x1000, 0x1080, 0x20000]) {
      expect(host.code('REG_WRITE', { offset: off, value: 1 }), `0x${off.toString(16)}`).toBe(
        'E_NOT_PERMITTED',
      );
    }
    // Ring registers without PCIE_RINGS: read 0, refuse writes.
    for (const off of [Register.CMD_TAIL, Register.CPL_HEAD, Register.CMD_RING_OFFSET]) {
      expect(host.code('REG_WRITE', { offset: off, value: 3 })).toBe('E_NOT_PERMITTED');
    }
    expect(all()).toEqual(before);
    expect(before.slice(16, 25)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(host.code('REG_WRITE', { offset: 2, value: 1 })).toBe('E_INVALID');
    // SCRATCH reads back; IRQ_MASK too.
    host.ok('REG_WRITE', { offset: Register.SCRATCH, value: 0xa5a5f00d });
    host.ok('REG_WRITE', { offset: Register.IRQ_MASK, value: 0x5 });
    // RW1C: writing 0 keeps, writing 1 clears.
    host.ok('REG_WRITE', { offset: Register.IRQ_STATUS, value: 0 });
    expect(host.ok('REG_READ', { offset: Register.IRQ_STATUS, count: 1 }).values).toEqual([0x4]);
    host.ok('REG_WRITE', { offset: Register.IRQ_STATUS, value: 0x4 });
    // WO: accepted, reads 0.
    host.ok('REG_WRITE', { offset: Register.DOORBELL, value: 0xffffffff });
    expect(host.ok('REG_READ', { offset: Register.IRQ_STATUS, count: 5 }).values).toEqual([
      0,
      0x5,
      0,
      host.lastSeq,
      0xa5a5f00d,
    ]);
    // REG_READ limits.
    expect(host.code('REG_READ', { offset: 1, count: 1 })).toBe('E_INVALID');
    expect(host.code('REG_READ', { offset: 0, count: 0 })).toBe('E_INVALID');
    expect(host.code('REG_READ', { offset: 0, count: 33 })).toBe('E_INVALID');
    expect(host.code('REG_READ', { offset: 0xfffffffc, count: 2 })).toBe('E_INVALID');
    expect(host.ok('REG_READ', { offset: 0x40000, count: 32 }).values).toEqual(new Array(32).fill(0));
  });

  it('the socket-table window holds each used slot as its encoded entry, then zeros', () => {
    const rig = makeRig({ slots: 4 });
    const { host, core, net } = rig;
    net.echoServer('10.0.0.99:7');
    const a = connectTcp(rig, '10.0.0.99:7');
    const b = openUdp(host);
    const c = openTcp(host);
    host.ok('CLOSE', { id: b, abort: 0 });
    host.ok('BIND', { id: c, addr: addr('10.0.0.1:80') });
    const raw = core.readWindow(0x1000, 4 * 128);
    const slot = (i: number) => raw.subarray(i * 128, (i + 1) * 128);
    expect(
      slot(0)
        .subarray(0, 80)
        .equals(encodeEntry(host.query(a))),
    ).toBe(true);
    expect(slot(0).subarray(80).equals(Buffer.alloc(48))).toBe(true);
    expect(slot(1).equals(Buffer.alloc(128))).toBe(true);
    expect(
      slot(2)
        .subarray(0, 80)
        .equals(encodeEntry(host.query(c))),
    ).toBe(true);
    expect(slot(3).equals(Buffer.alloc(128))).toBe(true);
    // Through REG_READ the same words.
    const words = host.ok('REG_READ', { offset: 0x1000 + 2 * 128, count: 32 }).values;
    const viaReg = Buffer.alloc(128);
    words.forEach((w, i) => {
      viaReg.writeUInt32LE(w, i * 4);
    });
    expect(viaReg.equals(slot(2))).toBe(true);
    // Unaligned raw reads slice the same bytes; beyond the slots reads 0.
    expect(core.readWindow(0x1000 + 3, 10).equals(slot(0).subarray(3, 13))).toBe(true);
    expect(core.readWindow(0x1000 + 4 * 128, 64).equals(Buffer.alloc(64))).toBe(true);
    // Another channel sees zeros for our slots through REG_READ; the raw (PCIe) view sees all.
    const other = new RawHost(core, net, 1);
    expect(other.ok('REG_READ', { offset: 0x1000, count: 4 }).values).toEqual([0, 0, 0, 0]);
  });

  it('without REG_WINDOW the window reads 0', () => {
    const rig = makeRig({ capabilities: Capability.TCP | Capability.SNAPSHOT });
    openTcp(rig.host);
    expect(rig.core.readWindow(0x1000, 128).equals(Buffer.alloc(128))).toBe(true);
    expect(rig.host.ok('REG_READ', { offset: Register.SOCKET_WINDOW_OFFSET, count: 2 }).values).toEqual([
      0, 0,
    ]);
    expect(rig.host.query(0x0100).status).toBe(SocketStatus.UNCONNECTED);
  });
});

describe('status announcements', () => {
  it('minor changes (CONNECTED/SENDING, READABLE...) are coalesced and flushed by tick; major ones are at once', () => {
    const rig = makeRig({ autoTick: false, statusCoalesceMs: 10 });
    const { core, host, net } = rig;
    net.echoServer('10.0.0.99:7');
    const id = connectTcp(rig, '10.0.0.99:7', 0);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.CONNECTED);
    host.ok('SEND', { id, data: Buffer.from('abc') });
    net.advance(20);
    // Data waits for credit: RECEIVING + READABLE, not yet announced.
    expect(host.query(id).status).toBe(SocketStatus.RECEIVING);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.CONNECTED);
    const deadline = core.nextDeadline();
    expect(deadline).toBeDefined();
    core.tick(deadline! - 1);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.CONNECTED);
    core.tick(deadline!);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.RECEIVING);
    expect(core.nextDeadline()).toBeUndefined();
    // A peer reset (major) is announced at once, whatever the coalescing.
    net.remove('10.0.0.99:7');
    const statuses = host.eventsNamed('STATUS').length;
    host.ok('SHUTDOWN', { id, how: 2 });
    expect(host.eventsNamed('STATUS').length).toBe(statuses + 1);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.SHUTDOWN);
  });

  it('a reset in SHUTDOWN moves to DISCONNECTED with ECONNRESET', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const l = openTcp(host);
    const port = host.ok('LISTEN', { id: l, backlog: 1 }).local.port;
    const client = net.connect(`10.0.0.1:${port}`);
    net.advance(10);
    const id = host.ok('ACCEPT', { id: l, recvCredit: 100 }).newId;
    host.ok('SHUTDOWN', { id, how: 2 });
    client.reset();
    net.advance(10);
    expect(host.mirror.get(id)).toMatchObject({ status: SocketStatus.DISCONNECTED, lastError: 17 });
    expect(host.violations).toEqual([]);
  });
});
