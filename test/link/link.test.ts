/** The link over the in-process transport pair, with the transport layer's FaultTransport and junk injection. */
import { afterEach, describe, expect, it } from 'vitest';
import { Link, LinkError, LinkErrorCode } from '../../src/link/index.js';
import {
  decodeSync,
  encodeSerialFrame,
  encodeSync,
  encodeSyncAck,
  type Frame,
  FrameType,
  SerialDeframer,
} from '../../src/protocol/index.js';
import { createTransportPair, FaultTransport, type Transport } from '../../src/transport/index.js';
import { Prng } from '../../src/transport/prng.js';
import {
  activeTimers,
  FrameDroppingTransport,
  InjectingTransport,
  makeMessages,
  nextDown,
  receive,
  sendAll,
  sha256,
  sleep,
  startPair,
  until,
} from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function track<T extends Link | Transport>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

/** Sends `total` bytes each way at once and checks both streams arrive complete, in order, byte-exact. */
async function bothWays(host: Link, device: Link, total: number, maxSize: number, timeoutMs = 40_000) {
  const toDevice = makeMessages(total, maxSize, 11);
  const toHost = makeMessages(total, maxSize, 12);
  const atDevice = receive(device, toDevice.length, timeoutMs);
  const atHost = receive(host, toHost.length, timeoutMs);
  await Promise.all([sendAll(host, toDevice), sendAll(device, toHost), atDevice.done, atHost.done]);
  expect(sha256(...atDevice.messages)).toBe(sha256(...toDevice));
  expect(sha256(...atHost.messages)).toBe(sha256(...toHost));
}

describe('link over an in-process pair', () => {
  it('agrees symmetric parameters (min window / maxPayload, ARQ if either asks) and exchanges nonces', async () => {
    const [a, b] = createTransportPair();
    const host = track(
      new Link(a, { role: 'host', framing: 'serial', window: 32, maxPayload: 1000, arq: false }),
    );
    const device = track(
      new Link(b, { role: 'device', framing: 'serial', window: 8, maxPayload: 2000, arq: true }),
    );
    const ups: string[] = [];
    host.on('up', () => ups.push('host'));
    device.on('up', () => ups.push('device'));
    const [ph, pd] = await Promise.all([host.start(), device.start()]);
    expect(ph).toEqual({ window: 8, maxPayload: 1000, arq: true, peerNonce: device.nonce });
    expect(pd).toEqual({ window: 8, maxPayload: 1000, arq: true, peerNonce: host.nonce });
    expect(ups.sort()).toEqual(['device', 'host']);
    expect(host.isUp && device.isUp).toBe(true);
    // The agreed maxPayload binds both sides.
    expect(() => host.send(Buffer.alloc(1001))).toThrow(
      expect.objectContaining({ code: LinkErrorCode.MESSAGE_TOO_LARGE }),
    );
    expect(host.send(Buffer.alloc(1000))).toBe(true);
    const [m] = await new Promise<[Buffer]>((r) => device.once('message', (...args) => r(args)));
    expect(m.length).toBe(1000);
  });

  it('converges whichever side starts first and however the SYNCs cross (delays, reordering)', async () => {
    for (let i = 0; i < 12; i++) {
      const [a, b] = createTransportPair();
      const fa = new FaultTransport(a, {
        seed: 100 + i,
        delayMs: i % 3,
        reorderRate: 0.3,
        reorderWindowMs: 3,
      });
      const fb = new FaultTransport(b, {
        seed: 200 + i,
        delayMs: (i + 1) % 3,
        reorderRate: 0.3,
        reorderWindowMs: 3,
      });
      const host = track(new Link(fa, { role: 'host', framing: 'serial', syncIntervalMs: 20 }));
      const device = track(new Link(fb, { role: 'device', framing: 'serial', syncIntervalMs: 20 }));
      const first = i % 2 === 0 ? host : device;
      const second = first === host ? device : host;
      const p1 = first.start();
      await sleep(i % 4 === 0 ? 0 : (i * 7) % 50);
      const p2 = second.start();
      const [r1, r2] = await Promise.all([p1, p2]);
      expect(r1.peerNonce).toBe(second.nonce);
      expect(r2.peerNonce).toBe(first.nonce);
      expect({ ...r1, peerNonce: 0 }).toEqual({ ...r2, peerNonce: 0 });
      // ... and actually works both ways.
      const gotD = receive(device, 20, 5000);
      const gotH = receive(host, 20, 5000);
      await Promise.all([
        sendAll(host, makeMessages(20 * 64, 64, i)),
        sendAll(device, makeMessages(20 * 64, 64, i + 50)),
      ]);
      await Promise.all([gotD.done, gotH.done]);
      expect(host.counters.resets + device.counters.resets).toBe(0);
    }
  });

  it('SYNC rules against a scripted peer: clamping, repeating SYNC until acknowledged, reset by a new SYNC_ACK', async () => {
    const [a, b] = createTransportPair();
    track(b);
    const heard: Frame[] = [];
    const deframer = new SerialDeframer(65535);
    b.on('data', (d) => {
      for (const o of deframer.push(d)) if (o.kind === 'frame') heard.push(o.frame);
    });
    const frame = (type: number, payload: Uint8Array) =>
      encodeSerialFrame({ channel: 0, type, seq: 0, ack: 0, flags: 0, payload });
    const syncs = () => heard.filter((f) => f.type === FrameType.SYNC).length;
    const host = track(new Link(a, { role: 'host', framing: 'serial', syncIntervalMs: 20 }));
    const started = host.start();
    await until(() => syncs() > 0, 1000, 'first SYNC');
    const hostNonce = decodeSync(heard.find((f) => f.type === FrameType.SYNC)!.payload).nonce;
    // The peer offers out-of-range values: clamped to window 1 and maxPayload 256, not ignored.
    b.write(frame(FrameType.SYNC, encodeSync({ nonce: 0xaaaa, window: 0, arq: 0, maxPayload: 10 })));
    const p = await started;
    expect(p).toEqual({ window: 1, maxPayload: 256, arq: true, peerNonce: 0xaaaa });
    await until(() => heard.some((f) => f.type === FrameType.SYNC_ACK), 1000, 'SYNC_ACK from the host');
    // Up by answering, but our own SYNC was never acknowledged: it keeps coming.
    const before = syncs();
    await sleep(100);
    expect(syncs()).toBeGreaterThan(before);
    // A repeat SYNC from the same peer is answered and changes nothing.
    b.write(frame(FrameType.SYNC, encodeSync({ nonce: 0xaaaa, window: 0, arq: 0, maxPayload: 10 })));
    b.write(
      frame(
        FrameType.SYNC_ACK,
        encodeSyncAck({ nonce: 0xaaaa, peerNonce: hostNonce, window: 1, arq: 1, maxPayload: 256 }),
      ),
    );
    await sleep(60);
    expect(host.counters.resets).toBe(0);
    const settled = syncs();
    await sleep(100);
    expect(syncs()).toBe(settled); // acknowledged: no more SYNC
    // A SYNC_ACK to our nonce from a new incarnation: the peer restarted.
    const resets: number[] = [];
    host.on('reset', (r) => resets.push(r.peerNonce));
    b.write(
      frame(
        FrameType.SYNC_ACK,
        encodeSyncAck({ nonce: 0xbbbb, peerNonce: hostNonce, window: 4, arq: 1, maxPayload: 512 }),
      ),
    );
    // ... and a stale one answering someone else's nonce is ignored.
    b.write(
      frame(
        FrameType.SYNC_ACK,
        encodeSyncAck({ nonce: 0xcccc, peerNonce: 12345, window: 4, arq: 1, maxPayload: 512 }),
      ),
    );
    await until(() => resets.length > 0, 1000, 'reset');
    await sleep(30);
    expect(resets).toEqual([0xbbbb]);
    expect(host.params).toEqual({ window: 4, maxPayload: 512, arq: true, peerNonce: 0xbbbb });
  });

  it('8 MiB (4 MiB each way at once) arrive byte-exact and in order through 1e-3 byte corruption and 1% frame loss', async () => {
    const [a, b] = createTransportPair();
    const faults = { corruptRate: 1e-3, dropWriteRate: 0.01, direction: 'write' as const };
    const fa = track(new FaultTransport(a, { seed: 1, ...faults }));
    const fb = track(new FaultTransport(b, { seed: 2, ...faults }));
    // 256-byte frames: at 1e-3 per byte a quarter of them is hit. rtoMinMs: the in-process round trip is
    // microseconds, the 200 ms default is sized for real serial lines. maxBatchBytes 0: one write per
    // frame, so the 1% write loss is a 1% frame loss.
    const opts = { framing: 'serial' as const, maxPayload: 256, window: 8, rtoMinMs: 5, maxBatchBytes: 0 };
    const [host, device] = await startPair(fa, fb, opts);
    track(host);
    track(device);
    await bothWays(host, device, 4 << 20, 256);
    expect(fa.stats.write.corruptedBytes).toBeGreaterThan(1000);
    expect(fa.stats.write.droppedChunks).toBeGreaterThan(100);
    for (const l of [host, device]) {
      expect(l.counters.crcErrors).toBeGreaterThan(100);
      expect(l.counters.retransmits).toBeGreaterThan(100);
      expect(l.counters.naksSent).toBeGreaterThan(0);
      expect(l.isUp).toBe(true);
    }
  });

  it('survives reordered and delayed writes plus 1% loss (4 MiB each way, 4 KiB frames)', async () => {
    const [a, b] = createTransportPair({ highWaterMark: 1 << 20 });
    const faults = {
      delayMs: 2,
      reorderRate: 0.05,
      reorderWindowMs: 2,
      dropWriteRate: 0.01,
      highWaterMark: 1 << 20,
    };
    const fa = track(new FaultTransport(a, { seed: 5, ...faults }));
    const fb = track(new FaultTransport(b, { seed: 6, ...faults }));
    const [host, device] = await startPair(fa, fb, { framing: 'serial', window: 64, rtoMinMs: 20 });
    track(host);
    track(device);
    await bothWays(host, device, 4 << 20, 4096);
    expect(fa.stats.write.reorderedChunks).toBeGreaterThan(10);
    expect(host.counters.outOfOrder + device.counters.outOfOrder).toBeGreaterThan(10);
  });

  it('on a paced serial line, bulk data both ways never times out spuriously; the RTO then follows the measured round trips', async () => {
    // A UART at 2 Mbit/s each way (a pty or a pair ignores the baud rate; the FaultTransport paces like a line).
    // 4 KiB frames take 20.6 ms: a frame waits behind up to a window of ours and its ack behind a window of the
    // peer's, far longer than the old initial RTO of 4 frame times (timeouts and go-back-N every few frames).
    const bitRate = 2_000_000;
    const [a, b] = createTransportPair({ highWaterMark: 1 << 20 });
    const fa = track(new FaultTransport(a, { bitRate }));
    const fb = track(new FaultTransport(b, { bitRate }));
    const [host, device] = await startPair(fa, fb, { framing: 'serial', bitRate, rtoMinMs: 20 });
    track(host);
    track(device);
    expect(host.rtoState.initialMs).toBeGreaterThan(34 * 20); // (2 × 16 + 2) frame times
    expect(host.rtoState.srttMs).toBeUndefined();
    await bothWays(host, device, 256 << 10, 4096);
    for (const l of [host, device]) {
      expect(l.counters.timeouts).toBe(0);
      expect(l.counters.retransmits).toBe(0);
      const rto = l.rtoState;
      expect(rto.samples).toBeGreaterThan(5);
      expect(rto.srttMs).toBeGreaterThan(20); // at least a frame time
      expect(rto.baseMs).toBeGreaterThanOrEqual(rto.srttMs as number);
      expect(rto.baseMs).toBeLessThanOrEqual(Math.max(2000, rto.initialMs));
    }
  });

  describe('tail probe (§4.3): a lost ACK or NAK with a full window costs a probe, not the RTO', () => {
    // An RTO of at least 30 s: any recovery seen here is the probe's.
    const opts = { framing: 'serial' as const, window: 16, rtoMinMs: 30_000, maxBatchBytes: 0 };
    /** `n` messages of 200 bytes, indices 0..n-1 (as receive() checks them). */
    const indexed = (n: number, fill: number) =>
      Array.from({ length: n }, (_, i) => {
        const m = Buffer.alloc(200, fill + i);
        m.writeUInt32LE(i, 0);
        return m;
      });

    async function warmPair(
      dropOnDevice: (f: Frame) => boolean,
      dropOnHost: (f: Frame) => boolean = () => false,
    ) {
      const [a, b] = createTransportPair();
      const ha = track(new FrameDroppingTransport(a, dropOnHost));
      const db = track(new FrameDroppingTransport(b, dropOnDevice));
      const [host, device] = await startPair(ha, db, opts);
      track(host);
      track(device);
      // A few messages first, so that the host has measured round trips (PTO = 2·SRTT + 10 ms).
      const warm = receive(device, 4, 5000);
      await sendAll(host, indexed(4, 1));
      await warm.done;
      await until(() => host.inFlight === 0 && host.rtoState.samples > 0, 5000, 'warm-up acknowledged');
      return { host, device, ha, db };
    }

    it('the ACKs for a full window are lost: the probe (newest frame, a duplicate) draws an ACK at once', async () => {
      let armed = false;
      const { host, device, db } = await warmPair(
        (f) => armed && f.type === FrameType.ACK && db.dropped.length < 2,
      );
      armed = true;
      const msgs = indexed(16, 2); // a full window
      const got = receive(device, msgs.length, 10_000);
      await sendAll(host, msgs);
      await got.done;
      await until(() => host.inFlight === 0, 10_000, 'window acknowledged');
      expect(db.dropped.map((f) => f.type)).toEqual([FrameType.ACK, FrameType.ACK]);
      expect(host.counters.probes).toBeGreaterThanOrEqual(1);
      expect(host.counters.timeouts).toBe(0);
      expect(device.counters.duplicates).toBeGreaterThanOrEqual(1);
      expect(sha256(...got.messages)).toBe(sha256(...msgs));
    });

    it('a frame and then its NAK are lost: the probe draws the NAK again; everything arrives once, in order', async () => {
      let armed = false;
      let lostMsg: number | undefined;
      const dropMsg = (f: Frame) => {
        // The first MSG after the warm-up, once.
        if (!armed || f.type !== FrameType.MSG || lostMsg !== undefined) return false;
        lostMsg = f.seq;
        return true;
      };
      let naksDropped = 0;
      const { host, device } = await warmPair(
        (f) => armed && f.type === FrameType.NAK && naksDropped++ === 0,
        dropMsg,
      );
      armed = true;
      const msgs = indexed(16, 3); // a full window
      const got = receive(device, msgs.length, 10_000);
      await sendAll(host, msgs);
      await got.done;
      await until(() => host.inFlight === 0, 10_000, 'window acknowledged');
      expect(lostMsg).toBe(4);
      expect(naksDropped).toBeGreaterThanOrEqual(2); // the first lost, a later one went through
      expect(host.counters.probes).toBeGreaterThanOrEqual(1);
      expect(host.counters.timeouts).toBe(0);
      expect(sha256(...got.messages)).toBe(sha256(...msgs));
    });
  });

  it('a line much faster than its nominal baud rate (a pty, USB CDC-ACM): the RTO falls from the initial value to the measured one', async () => {
    const [a, b] = createTransportPair();
    // 9600 baud claimed: an initial RTO of 34 frame times of 4 KiB, about 146 s.
    const [host, device] = await startPair(a, b, { framing: 'serial', bitRate: 9600, rtoMinMs: 5 });
    track(host);
    track(device);
    expect(host.rtoState.initialMs).toBeGreaterThan(100_000);
    await bothWays(host, device, 1 << 20, 4096);
    expect(host.rtoState.samples).toBeGreaterThan(5);
    expect(host.rtoState.baseMs).toBeLessThan(host.rtoState.initialMs / 100);
    expect(host.rtoState.rtoMs).toBe(host.rtoState.baseMs);
  });

  it('resynchronises after garbage, truncated frames and junk spliced into frames: nothing lost, nothing twice', async () => {
    const [a, b] = createTransportPair();
    const inject = { garbageBefore: 0.05, garbageInside: 0.02, truncatedCopy: 0.03 };
    const ia = track(new InjectingTransport(a, { seed: 7, ...inject }));
    const ib = track(new InjectingTransport(b, { seed: 8, ...inject }));
    // One write per frame, so that junk lands before, between and inside frames.
    const [host, device] = await startPair(ia, ib, {
      framing: 'serial',
      maxPayload: 1024,
      rtoMinMs: 10,
      maxBatchBytes: 0,
    });
    track(host);
    track(device);
    await bothWays(host, device, 1 << 20, 1024);
    expect(ia.injected.truncatedFrames).toBeGreaterThan(10);
    expect(ia.injected.splicedWrites).toBeGreaterThan(10);
    expect(device.counters.discardedBytes).toBeGreaterThan(1000);
    expect(device.counters.framingErrors).toBeGreaterThan(10);
    // The random bytes never pass as a frame (CRC-32) nor disturb the sequence: no duplicate delivered
    // (receive() rejects on any index out of place) and the links stayed up with the same peers.
    expect(host.params?.peerNonce).toBe(device.nonce);
    expect(device.params?.peerNonce).toBe(host.nonce);
    expect(host.counters.resets + device.counters.resets).toBe(0);
  });

  it('keeps working across the 16-bit sequence wrap (70 000 messages)', async () => {
    const [a, b] = createTransportPair();
    const [host, device] = await startPair(a, b, { framing: 'serial', window: 64 });
    track(host);
    track(device);
    const msgs = makeMessages(70_000 * 8, 8, 3).map((m) => m.subarray(0, 8));
    for (let i = 0; i < msgs.length; i++) msgs[i]!.writeUInt32LE(i, 0);
    const got = receive(device, msgs.length, 30_000);
    await sendAll(host, msgs);
    await got.done;
    expect(device.counters.messagesReceived).toBe(msgs.length);
    expect(host.inFlight).toBeLessThanOrEqual(64);
  });

  it('ARQ forced on over TCP records behaves as on serial (record loss recovered)', async () => {
    const [a, b] = createTransportPair();
    const fa = track(new FaultTransport(a, { seed: 9, dropWriteRate: 0.02 }));
    const fb = track(new FaultTransport(b, { seed: 10, dropWriteRate: 0.02 }));
    const [host, device] = await startPair(
      fa,
      fb,
      { framing: 'tcp', arq: true, rtoMinMs: 10, maxBatchBytes: 0 },
      { arq: false },
    );
    track(host);
    track(device);
    expect(host.params?.arq).toBe(true);
    expect(device.params?.arq).toBe(true);
    await bothWays(host, device, 2 << 20, 16384);
    expect(host.counters.retransmits + device.counters.retransmits).toBeGreaterThan(0);
  });

  it('ARQ off: seq/ack 0, no ACK/NAK, nothing retransmitted; a lost frame stays lost', async () => {
    const [a, b] = createTransportPair();
    const [host, device] = await startPair(a, b, { framing: 'tcp' });
    track(host);
    track(device);
    expect(host.params?.arq).toBe(false);
    const wire: Buffer[] = [];
    a.on('data', (d) => wire.push(d)); // what the device wrote to the host
    const got = receive(host, 50, 5000);
    await sendAll(device, makeMessages(50 * 100, 100, 4));
    await got.done;
    await sleep(30);
    expect(device.counters.acksSent + device.counters.naksSent + host.counters.acksSent).toBe(0);
    expect(device.counters.retransmits).toBe(0);
    // Every record on the wire has seq = ack = 0.
    const all = Buffer.concat(wire);
    for (let o = 0; o < all.length; ) {
      const len = all.readUInt32LE(o);
      expect(all.readUInt16LE(o + 4 + 4)).toBe(0);
      expect(all.readUInt16LE(o + 4 + 6)).toBe(0);
      o += 4 + len;
    }
  });

  it('peer restart mid-stream: the other side emits reset and carries on with the new peer', async () => {
    const [a, b] = createTransportPair();
    track(a);
    track(b);
    const host = track(new Link(a, { role: 'host', framing: 'serial' }));
    const dev1 = new Link(b, { role: 'device', framing: 'serial', closeTransport: false });
    await Promise.all([host.start(), dev1.start()]);
    const resets: number[] = [];
    host.on('reset', (p) => resets.push(p.peerNonce));
    let downs = 0;
    host.on('down', () => downs++);
    // Mid-stream: the host keeps sending while the device dies and comes back.
    const stream = makeMessages(2 << 20, 4096, 21);
    const sending = sendAll(host, stream);
    await new Promise<void>((r) => dev1.once('message', () => r()));
    await dev1.close({ bye: false }); // it crashes: no BYE; the transport stays open for the next one
    expect(b.isOpen).toBe(true);
    const dev2 = track(new Link(b, { role: 'device', framing: 'serial' }));
    expect(dev2.nonce).not.toBe(dev1.nonce);
    const p2 = await dev2.start();
    expect(p2.peerNonce).toBe(host.nonce);
    await sending;
    // Let the rest of the old stream (sent to dev2 after the reset) drain before the checked transfer.
    await until(() => host.pendingBytes === 0 && host.inFlight === 0, 10_000, 'host idle');
    expect(resets).toEqual([dev2.nonce]);
    expect(host.params?.peerNonce).toBe(dev2.nonce);
    expect(host.counters.resets).toBe(1);
    expect(host.counters.messagesDropped).toBeGreaterThan(0);
    expect(downs).toBe(0);
    // After the reset both directions work from sequence 0, in order.
    const fresh = makeMessages(256 * 1024, 1024, 22);
    const back = makeMessages(256 * 1024, 1024, 23);
    const atDev = receive(dev2, fresh.length, 10_000);
    const atHost = receive(host, back.length, 10_000);
    // Anything the host had queued for the old device was dropped at the reset, so dev2 only sees `fresh`.
    await Promise.all([sendAll(host, fresh), sendAll(dev2, back), atDev.done, atHost.done]);
    expect(sha256(...atDev.messages)).toBe(sha256(...fresh));
    expect(sha256(...atHost.messages)).toBe(sha256(...back));
  });

  it('a silent peer: heartbeats keep an idle link up; no frame for deadTimeoutMs → down E_OFFLOAD_LINK_DOWN', async () => {
    const [a, b] = createTransportPair();
    const opts = { framing: 'serial' as const, heartbeatMs: 100, deadTimeoutMs: 400 };
    const [host, device] = await startPair(a, b, opts);
    track(host);
    track(device);
    let downs = 0;
    host.on('down', () => downs++);
    await sleep(700); // idle, longer than deadTimeoutMs: heartbeats keep it alive
    expect(downs).toBe(0);
    expect(host.counters.heartbeats).toBeGreaterThanOrEqual(3);
    expect(device.counters.heartbeatsReceived).toBeGreaterThanOrEqual(3);
    expect(host.counters.acksReceived).toBeGreaterThanOrEqual(3);
    // The device falls silent: nothing reaches the host any more.
    a.pause();
    const t0 = performance.now();
    const err = await nextDown(host, 2000);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(LinkError);
    expect(err.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(took).toBeGreaterThan(250); // deadTimeoutMs after the last frame heard (<= 1 heartbeat before the pause)
    expect(took).toBeLessThan(400 + 250);
    expect(host.isUp).toBe(false);
    expect(() => host.send(Buffer.from('x'))).toThrow(err);
    // The host closed its transport: the device sees the transport go and goes down with its code.
    const devErr = await nextDown(device, 2000);
    expect(devErr.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(devErr.cause).toBeDefined();
  });

  it('close() says BYE: the peer is down at once, naming it; close({ bye: false }) leaves it to the dead timer', async () => {
    // A shared line (closeTransport false): only the frame can tell the peer; a dead timer of 30 s would be seen.
    const opts = { framing: 'serial' as const, deadTimeoutMs: 30_000, closeTransport: false };
    const [a, b] = createTransportPair();
    track(a);
    track(b);
    const [host, device] = await startPair(a, b, opts);
    track(device);
    const down = nextDown(device, 2000);
    await host.close();
    const err = await down;
    expect(err.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(err.message).toMatch(/the peer left the link \(BYE\)/);
    expect(host.counters.byesSent).toBe(1);
    expect(device.counters.byesReceived).toBe(1);

    const [c, d] = createTransportPair();
    track(c);
    track(d);
    const [quiet, peer] = await startPair(c, d, opts);
    track(peer);
    let downs = 0;
    peer.on('down', () => downs++);
    await quiet.close({ bye: false });
    await sleep(300);
    expect(quiet.counters.byesSent).toBe(0);
    expect(downs).toBe(0);
    expect(peer.isUp).toBe(true);
  });

  it('FaultTransport cut: both sides go down with the transport error', async () => {
    const [a, b] = createTransportPair();
    const fa = new FaultTransport(a);
    const [host, device] = await startPair(fa, b, { framing: 'serial' });
    track(host);
    track(device);
    const downs = Promise.all([nextDown(host, 2000), nextDown(device, 2000)]);
    void fa.cut();
    const [eh, ed] = await downs;
    expect(eh.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(ed.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(eh.message).toContain('cut');
  });

  it('start() against a silent peer → E_OFFLOAD_NO_ANSWER after syncTimeoutMs', async () => {
    const [a, b] = createTransportPair();
    track(b);
    const host = new Link(a, { role: 'host', framing: 'serial', syncTimeoutMs: 400 });
    const t0 = performance.now();
    const err = await host.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe(LinkErrorCode.NO_ANSWER);
    expect(performance.now() - t0).toBeGreaterThan(350);
    expect(host.counters.syncsSent).toBeGreaterThanOrEqual(2);
    expect(a.isOpen).toBe(false); // the failed link released its transport
  });

  it('start() against an echoing line → E_OFFLOAD_NOT_A_DEVICE quickly, naming the echo', async () => {
    const [a, b] = createTransportPair();
    track(b);
    b.on('data', (d) => b.write(d));
    const host = new Link(a, { role: 'host', framing: 'serial', syncTimeoutMs: 5000 });
    const t0 = performance.now();
    const err = (await host.start().catch((e: unknown) => e)) as LinkError;
    expect(err.code).toBe(LinkErrorCode.NOT_A_DEVICE);
    expect(err.message).toMatch(/echo/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('start() against a peer sending garbage → E_OFFLOAD_NOT_A_DEVICE (serial) / at once (tcp)', async () => {
    for (const framing of ['serial', 'tcp'] as const) {
      const [a, b] = createTransportPair();
      track(b);
      const rng = new Prng(5);
      const noise = setInterval(() => {
        const g = Buffer.alloc(64);
        for (let i = 0; i < g.length; i++) g[i] = rng.nextU32() & 0xff;
        if (b.isOpen) b.write(framing === 'tcp' ? Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') : g);
      }, 20);
      cleanups.push(() => clearInterval(noise));
      const host = new Link(a, { role: 'host', framing, syncTimeoutMs: 500 });
      const t0 = performance.now();
      const err = (await host.start().catch((e: unknown) => e)) as LinkError;
      expect(err.code).toBe(LinkErrorCode.NOT_A_DEVICE);
      if (framing === 'tcp') expect(performance.now() - t0).toBeLessThan(300);
      expect(err.details.bytesReceived ?? 1).toBeGreaterThan(0);
    }
  });

  it('backpressure: send() returns false at the high-water mark, drain follows, the queue stays bounded', async () => {
    // A slow wire: 16 KiB per event-loop turn.
    const [a, b] = createTransportPair({ maxBytesPerTick: 16 * 1024, highWaterMark: 32 * 1024 });
    const hwm = 64 * 1024;
    const [host, device] = await startPair(a, b, { framing: 'serial', highWaterMark: hwm });
    track(host);
    track(device);
    const msgs = makeMessages(4 << 20, 4096, 31);
    const got = receive(device, msgs.length, 30_000);
    let drains = 0;
    host.on('drain', () => drains++);
    const heapBefore = process.memoryUsage().heapUsed;
    const { stalls, maxPending } = await sendAll(host, msgs);
    await got.done;
    expect(stalls).toBeGreaterThan(10);
    expect(drains).toBe(stalls);
    expect(maxPending).toBeLessThan(hwm + 4096);
    expect(host.counters.creditStalls + host.counters.writeStalls).toBeGreaterThan(0);
    expect(sha256(...got.messages)).toBe(sha256(...msgs));
    // Bounded: the link never held more than the window plus the high-water mark (plus slack for GC timing).
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 << 20);
  });

  it('frames of other channels go to onForeignChannel and are counted, not delivered', async () => {
    const [a, b] = createTransportPair();
    const foreign: number[] = [];
    const [host, device] = await startPair(
      a,
      b,
      { framing: 'serial' },
      { onForeignChannel: (f) => foreign.push(f.channel) },
    );
    track(host);
    track(device);
    let delivered = 0;
    device.on('message', () => delivered++);
    a.write(
      encodeSerialFrame({
        channel: 3,
        type: FrameType.MSG,
        seq: 0,
        ack: 0,
        flags: 0,
        payload: Buffer.from('x'),
      }),
    );
    host.send(Buffer.from('hello'));
    await new Promise((r) => device.once('message', r));
    expect(foreign).toEqual([3]);
    expect(device.counters.foreignFrames).toBe(1);
    expect(delivered).toBe(1);
  });

  it('misuse is reported with codes: send before up, oversize, bad options, start on a closed transport', async () => {
    const [a, b] = createTransportPair();
    track(b);
    const l = track(new Link(a, { role: 'host', framing: 'serial' }));
    expect(() => l.send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: LinkErrorCode.NOT_UP }));
    expect(() => new Link(a, { role: 'host', framing: 'serial', window: 65 })).toThrow(
      expect.objectContaining({ code: LinkErrorCode.BAD_OPTION }),
    );
    expect(() => new Link(a, { role: 'host', framing: 'serial', maxPayload: 100 })).toThrow(LinkError);
    await a.close();
    await expect(l.start()).rejects.toMatchObject({ code: LinkErrorCode.NOT_OPEN });
  });

  it('close() is idempotent, rejects a pending start(), and clears every timer', async () => {
    const before = activeTimers();
    const [a, b] = createTransportPair();
    const host = new Link(a, { role: 'host', framing: 'serial' });
    const pending = host.start();
    await sleep(10);
    await Promise.all([host.close(), host.close()]);
    await expect(pending).rejects.toMatchObject({ code: LinkErrorCode.CLOSED });
    // An up pair with traffic, then closed.
    const [c, d] = createTransportPair();
    const [h2, d2] = await startPair(c, d, { framing: 'serial', heartbeatMs: 20 });
    const got = receive(d2, 10, 5000);
    await sendAll(h2, makeMessages(10 * 100, 100, 1));
    await got.done;
    await h2.close();
    await d2.close();
    await b.close();
    await sleep(5);
    expect(activeTimers()).toBeLessThanOrEqual(before);
    expect(() => h2.send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: LinkErrorCode.CLOSED }));
  });
});
