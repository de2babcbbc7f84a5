/**
 * Flow control in both directions: send credit (SOCKET_OPEN/ACCEPT response, SEND_CREDIT events, E_QUEUE_FULL
 * with the accepted count), receive credit (DATA never beyond it, split to maxPayload), backpressure to the
 * remote peer (tcp-pause/resume), and nothing lost: sha256 over MiB transfers through the virtual network.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConditionFlag, SocketStatus, StatusCode } from '../../../src/protocol/index.js';
import { type Rig, addr, connectTcp, makeRig, mirrorMismatches, openTcp } from './harness.js';

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Deterministic pseudo-random bytes. */
function payload(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A well-behaved host application on one socket: sends `data` within its send credit, reads what arrives
 * and grants the credit back (as an application consuming the bytes would), checking on every DATA event
 * that the device stayed within the granted credit.
 */
function transfer(
  rig: Rig,
  id: number,
  data: Buffer,
  opts: { initialCredit: number; sendCredit: number; expectBack: number; chunk: number },
) {
  const { host, net } = rig;
  let credit = opts.sendCredit;
  let seenCredit = 0;
  let offset = 0;
  let granted = opts.initialCredit;
  let delivered = 0;
  let dataEvents = 0;
  let seenData = 0;
  const recv: Buffer[] = [];
  for (let step = 0; step < 200_000; step++) {
    // Send credit from SEND_CREDIT events.
    const sc = host.eventsNamed('SEND_CREDIT').filter((e) => e.body.id === id);
    for (const e of sc.slice(seenCredit)) credit += e.body.bytes;
    seenCredit = sc.length;
    while (offset < data.length && credit > 0) {
      const n = Math.min(credit, opts.chunk, data.length - offset);
      const r = host.ok('SEND', { id, data: data.subarray(offset, offset + n) });
      expect(r.accepted).toBe(n);
      credit -= n;
      offset += n;
    }
    // Receive, within credit; the application consumes it and grants it back.
    const de = host.eventsNamed('DATA').filter((e) => e.body.id === id);
    let fresh = 0;
    for (const e of de.slice(seenData)) {
      delivered += e.body.data.length;
      expect(delivered).toBeLessThanOrEqual(granted);
      recv.push(Buffer.from(e.body.data));
      fresh += e.body.data.length;
      dataEvents++;
    }
    seenData = de.length;
    if (fresh > 0) {
      host.ok('RECV_CREDIT', { id, bytes: fresh });
      granted += fresh;
    }
    if (offset === data.length && delivered >= opts.expectBack) break;
    net.advance(1);
  }
  return { received: Buffer.concat(recv), dataEvents, sent: offset };
}

describe('send credit', () => {
  it('initial credit is the send queue; over-credit SEND gets E_QUEUE_FULL with the accepted count', () => {
    const rig = makeRig({ sendQueueSize: 4096, net: { windowBytes: 1024 } });
    const { host, net } = rig;
    const slow = net.slowReader('10.0.0.90:1', 0);
    const id = host.ok('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 }).id;
    expect(host.query(id).sendSpace).toBe(4096);
    host.ok('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.90:1') });
    net.advance(10);
    expect(host.ok('SEND', { id, data: Buffer.alloc(3000, 1) })).toEqual({ accepted: 3000 });
    net.advance(10);
    // 1024 bytes went into the (full) window: 1/4 of the queue freed → SEND_CREDIT 1024.
    expect(host.creditFor(id)).toBe(1024);
    const e = host.query(id);
    expect(e).toMatchObject({ status: SocketStatus.SENDING, sendQueued: 1976, sendSpace: 2120 });
    const r = host.call('SEND', { id, data: Buffer.alloc(3000, 2) });
    expect(r).toMatchObject({ status: StatusCode.E_QUEUE_FULL, body: { accepted: 2120 } });
    const full = host.query(id);
    expect(full.sendSpace).toBe(0);
    expect(full.flags & ConditionFlag.SEND_BLOCKED).toBeTruthy();
    expect(full.flags & ConditionFlag.WRITABLE).toBe(0);
    const snap = host.snapshotBytes();
    expect(host.call('SEND', { id, data: Buffer.from('x') })).toMatchObject({
      status: StatusCode.E_QUEUE_FULL,
      body: { accepted: 0 },
    });
    expect(host.snapshotBytes().equals(snap)).toBe(true);
    expect(slow.bytesReceived).toBe(0);
    net.advance(100);
    expect(mirrorMismatches(host)).toEqual([]);
    expect(host.mirror.get(id)!.flags & ConditionFlag.SEND_BLOCKED).toBeTruthy();
  });

  it('credit granted never exceeds what the queue freed, and everything arrives in order (sha256)', () => {
    const rig = makeRig({ sendQueueSize: 8192, net: { windowBytes: 2048 } });
    const slow = rig.net.slowReader('10.0.0.91:1', 512);
    const id = connectTcp(rig, '10.0.0.91:1');
    const data = payload(200_000, 3);
    const res = transfer(rig, id, data, {
      initialCredit: 65536,
      sendCredit: 8192,
      expectBack: 0,
      chunk: 3000,
    });
    expect(res.sent).toBe(data.length);
    rig.net.runUntil(() => slow.bytesReceived === data.length, 10_000);
    expect(slow.sha256()).toBe(sha(data));
    // All credit came back once the queue drained: initial + Σ SEND_CREDIT − Σ accepted = queue size.
    rig.net.advance(20);
    expect(8192 + rig.host.creditFor(id) - data.length).toBe(8192);
    expect(rig.host.query(id)).toMatchObject({
      sendQueued: 0,
      sendSpace: 8192,
      status: SocketStatus.CONNECTED,
    });
    // Batched: far fewer SEND_CREDIT events than 512-byte drains.
    expect(rig.host.eventsNamed('SEND_CREDIT').length).toBeLessThan(data.length / 2048 + 10);
    expect(mirrorMismatches(rig.host)).toEqual([]);
  });

  it('SNDBUF: enlarging grants the extra at once, shrinking withholds credit until it fits', () => {
    const rig = makeRig({ sendQueueSize: 4096, net: { windowBytes: 1024 } });
    const { host, net } = rig;
    net.slowReader('10.0.0.92:1', 64);
    const id = connectTcp(rig, '10.0.0.92:1');
    host.ok('SETOPT', { id, option: 6, value: 8192 });
    expect(host.creditFor(id)).toBe(4096);
    expect(host.ok('GETOPT', { id, option: 6 }).value).toBe(8192);
    expect(host.query(id).sendSpace).toBe(8192);
    host.ok('SEND', { id, data: Buffer.alloc(8192, 1) });
    host.ok('SETOPT', { id, option: 6, value: 2048 });
    expect(host.ok('GETOPT', { id, option: 6 }).value).toBe(2048);
    net.runUntil(() => host.query(id).sendQueued === 0, 10_000);
    net.advance(20);
    // The host holds exactly the new size in credit: 4096 + 8192 (initial + grants) − 8192 sent... = 2048 + 4096 granted earlier.
    const hostCredit = 4096 + host.creditFor(id) - 8192;
    expect(hostCredit).toBe(2048);
    expect(host.query(id)).toMatchObject({ sendSpace: 2048 });
    // RCVBUF is clamped and reported.
    host.ok('SETOPT', { id, option: 5, value: 1 });
    expect(host.ok('GETOPT', { id, option: 5 }).value).toBe(256);
    expect(host.code('SETOPT', { id, option: 5, value: 0 })).toBe('E_INVALID');
  });
});

describe('receive credit', () => {
  it('DATA stays within the credit and maxPayload; the full queue pauses the network, credit resumes it', () => {
    const rig = makeRig({ recvQueueSize: 4096, maxPayload: 1024, net: { windowBytes: 2048 } });
    const { host, net, backend } = rig;
    const l = openTcp(host);
    const port = host.ok('LISTEN', { id: l, backlog: 1 }).local.port;
    const client = net.connect(`10.0.0.1:${port}`);
    net.advance(10);
    const id = host.ok('ACCEPT', { id: l, recvCredit: 100 }).newId;
    const data = payload(20_000, 9);
    client.write(data);
    net.advance(50);
    const first = host.eventsNamed('DATA');
    expect(first.map((e) => e.body.data.length)).toEqual([100]);
    const e = host.query(id);
    expect(e.recvCredit).toBe(0);
    expect(e.recvQueued).toBeGreaterThanOrEqual(4096 - 100);
    expect(e.status).toBe(SocketStatus.RECEIVING);
    expect(e.flags & (ConditionFlag.READABLE | ConditionFlag.RECV_BLOCKED)).toBe(
      ConditionFlag.READABLE | ConditionFlag.RECV_BLOCKED,
    );
    expect(backend.actionCounts['tcp-pause']).toBe(1);
    // Backpressure reached the remote peer: it cannot send the rest.
    expect(client.unsent).toBeGreaterThan(10_000);
    net.advance(100);
    expect(mirrorMismatches(host)).toEqual([]);
    host.ok('RECV_CREDIT', { id, bytes: 5000 });
    const sizes = host.eventsNamed('DATA').map((x) => x.body.data.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1024 - 14);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5100);
    expect(backend.actionCounts['tcp-resume']).toBe(1);
    host.ok('RECV_CREDIT', { id, bytes: 100_000 });
    net.runUntil(() => host.dataFor(id).length === data.length, 10_000);
    expect(host.dataFor(id).equals(data)).toBe(true);
    net.advance(20);
    expect(host.query(id)).toMatchObject({ status: SocketStatus.CONNECTED, recvQueued: 0 });
    expect(mirrorMismatches(host)).toEqual([]);
    expect(host.violations).toEqual([]);
  });

  it('a network read larger than the free queue: the queue never holds more than its size, the rest follows in order', () => {
    // The network hands over 20 000 bytes in one read before the pause can act (a kernel buffer, a big segment).
    const rig = makeRig({
      recvQueueSize: 4096,
      maxPayload: 1024,
      net: { windowBytes: 65_536, segmentBytes: 32_768 },
    });
    const { host, net, backend } = rig;
    const l = openTcp(host);
    const port = host.ok('LISTEN', { id: l, backlog: 1 }).local.port;
    const client = net.connect(`10.0.0.1:${port}`);
    net.advance(10);
    const id = host.ok('ACCEPT', { id: l, recvCredit: 0 }).newId;
    const data = payload(20_000, 11);
    client.write(data);
    net.advance(50);
    // All of it left the peer in that read; the queue holds its size, the device the rest (standing for the network).
    expect(client.unsent).toBe(0);
    expect(host.query(id).recvQueued).toBe(4096);
    expect(backend.actionCounts['tcp-pause']).toBe(1);
    // Credit in small steps: every byte in order, the queue at most its size after each step, no resume while
    // bytes are still held back (fewer than the queue's size left to deliver means none is).
    let resumed = false;
    for (let step = 0; step < 40 && host.dataFor(id).length < data.length; step++) {
      host.ok('RECV_CREDIT', { id, bytes: 1000 });
      net.advance(5);
      expect(host.query(id).recvQueued).toBeLessThanOrEqual(4096);
      const held = data.length - host.dataFor(id).length - host.query(id).recvQueued;
      if (held > 0) expect(backend.actionCounts['tcp-resume'] ?? 0).toBe(0);
      resumed ||= (backend.actionCounts['tcp-resume'] ?? 0) > 0;
    }
    expect(host.dataFor(id).equals(data)).toBe(true);
    expect(resumed).toBe(true);
    expect(mirrorMismatches(host)).toEqual([]);
    expect(host.violations).toEqual([]);
  });

  it('RECV_CREDIT beyond 0xFFFFFFFF is E_INVALID', () => {
    const { host } = makeRig();
    const id = host.ok('SOCKET_OPEN', {
      type: 1,
      family: 4,
      protocol: 6,
      blocking: 0,
      recvCredit: 0xfffffff0,
    }).id;
    expect(host.code('RECV_CREDIT', { id, bytes: 0x10 })).toBe('E_INVALID');
    expect(host.code('RECV_CREDIT', { id, bytes: 0x0f })).toBe('OK');
    expect(host.query(id).recvCredit).toBe(0xffffffff);
  });
});

describe('nothing lost (sha256 of a MiB)', () => {
  const MiB = 1024 * 1024;

  it('through an echo peer, with small receive credit and jitter', () => {
    const rig = makeRig({
      sendQueueSize: 32768,
      recvQueueSize: 16384,
      net: { latencyMs: 2, jitterMs: 3, seed: 7 },
    });
    const echo = rig.net.echoServer('10.0.0.95:7');
    const id = connectTcp(rig, '10.0.0.95:7', 8192);
    const data = randomBytes(MiB);
    const res = transfer(rig, id, data, {
      initialCredit: 8192,
      sendCredit: 32768,
      expectBack: MiB,
      chunk: 16000,
    });
    expect(res.received.length).toBe(MiB);
    expect(sha(res.received)).toBe(sha(data));
    expect(echo.sha256()).toBe(sha(data));
    expect(rig.core.counters.dataToNetwork).toBe(MiB);
    expect(rig.backend.actionCounts['tcp-pause'] ?? 0).toBeGreaterThan(0);
    rig.net.advance(50);
    expect(mirrorMismatches(rig.host)).toEqual([]);
    expect(rig.host.violations).toEqual([]);
  });

  it('from a virtual client into a device listener, then back', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const l = openTcp(host);
    const port = host.ok('LISTEN', { id: l, backlog: 1 }).local.port;
    const client = net.connect(`10.0.0.1:${port}`);
    net.advance(10);
    const id = host.ok('ACCEPT', { id: l, recvCredit: 32768 }).newId;
    const up = payload(MiB, 5);
    client.write(up);
    client.finish();
    const down = payload(MiB, 6);
    const res = transfer(rig, id, down, {
      initialCredit: 32768,
      sendCredit: 65536,
      expectBack: MiB,
      chunk: 16000,
    });
    expect(sha(res.received)).toBe(sha(up));
    net.runUntil(() => client.bytesReceived === MiB, 10_000);
    expect(client.sha256()).toBe(sha(down));
    net.advance(20);
    expect(host.mirror.get(id)).toMatchObject({ status: SocketStatus.DISCONNECTED });
    expect(host.mirror.get(id)!.flags & ConditionFlag.PEER_CLOSED).toBeTruthy();
    expect(host.mirror.get(id)!.flags & ConditionFlag.READABLE).toBe(0);
    expect(mirrorMismatches(host)).toEqual([]);
  });
});
