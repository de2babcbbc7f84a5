/**
 * Bulk data and flow control end to end, over the three paths: tens of MB through one socket in both
 * directions at once (sha256 equal), and a slow reader whose pace reaches the remote TCP peer (bounded
 * memory on the host and on the device, nothing lost).
 */
import { createHash } from 'node:crypto';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OffloadDevice } from '../../src/index.js';
import {
  type DevicePath,
  nativeServer,
  PATHS,
  pattern,
  quietDiff,
  sha256,
  sleep,
  startPath,
  waitFor,
} from './paths.js';

async function writeAll(
  w: NodeJS.WritableStream & { write(b: Buffer): boolean },
  data: Buffer,
  chunk = 64 * 1024,
): Promise<number> {
  let falses = 0;
  for (let off = 0; off < data.length; off += chunk) {
    if (!w.write(data.subarray(off, off + chunk))) {
      falses++;
      await new Promise((r) => w.once('drain', r));
    }
  }
  return falses;
}

describe.each(PATHS)('bulk and flow control over %s', (pathName) => {
  let path: DevicePath;
  let dev: OffloadDevice;

  beforeAll(async () => {
    path = await startPath(pathName);
    dev = await path.open();
  }, 60_000);

  afterAll(async () => {
    await dev?.close();
    await path?.close();
  }, 30_000);

  it('bulk data through one socket in both directions at once, sha256 equal', async () => {
    const N = path.bulkBytes;
    const up = pattern(N, 21);
    const down = pattern(N, 22);
    const upHash = sha256(up);
    const downHash = sha256(down);
    let serverHash = '';
    let serverBytes = 0;
    let serverEnded!: () => void;
    const serverGotAll = new Promise<void>((r) => {
      serverEnded = r;
    });
    const peer = await nativeServer(
      (s) => {
        const h = createHash('sha256');
        s.on('data', (d: Buffer) => {
          h.update(d);
          serverBytes += d.length;
        });
        s.on('end', () => {
          serverHash = h.digest('hex');
          serverEnded();
        });
        void writeAll(s, down).then(() => s.end());
      },
      { allowHalfOpen: true },
    );
    try {
      const t0 = performance.now();
      // Both directions run at once: each side ends its own direction when done (half-close).
      const s = dev.createConnection({ host: '127.0.0.1', port: peer.port, allowHalfOpen: true });
      const h = createHash('sha256');
      let got = 0;
      const ended = new Promise<void>((resolve, reject) => {
        s.on('data', (d: Buffer) => {
          h.update(d);
          got += d.length;
        });
        s.on('end', resolve);
        s.on('error', reject);
      });
      const closed = waitFor(s, 'close', 60_000);
      await waitFor(s, 'connect');
      const falses = await writeAll(s, up);
      s.end();
      await ended;
      await closed;
      // 'close' means everything was handed to the device (as net's means handed to the kernel); the device
      // drains its send queue to the peer, then FIN.
      await serverGotAll;
      const secs = (performance.now() - t0) / 1000;
      expect(got).toBe(N);
      expect(h.digest('hex')).toBe(downHash);
      expect(serverBytes).toBe(N);
      expect(serverHash).toBe(upHash);
      expect(s.bytesRead).toBe(N);
      expect(s.bytesWritten).toBe(N);
      // Backpressure from send credit: write() must have said "wait" at least once for that much data.
      expect(falses).toBeGreaterThan(0);
      console.log(`[${pathName}] ${(N / 1048576).toFixed(0)} MiB each way in ${secs.toFixed(2)} s`);
    } finally {
      await peer.close();
    }
    expect(await quietDiff(dev)).toBe('');
  }, 120_000);

  it("write() returns false once send credit is exhausted; 'drain' follows the device's SEND_CREDIT", async () => {
    // The peer does not read: the device's send queue (its credit) fills behind the peer's closed TCP window.
    let peerSocket: net.Socket | undefined;
    const peer = await nativeServer((s) => {
      peerSocket = s;
      s.pause();
    });
    try {
      const s = dev.createConnection({
        host: '127.0.0.1',
        port: peer.port,
        writableHighWaterMark: 16 * 1024,
      });
      s.on('error', () => undefined);
      await waitFor(s, 'connect');
      const piece = pattern(4096, 5);
      let written = 0;
      let creditAtFalse = -1;
      let lengthAtFalse = -1;
      // Write until write() says wait and no 'drain' comes any more: the kernel buffers between the device and
      // the peer are full too, the device's queue is full, the host holds no credit.
      for (let round = 0; written < 256 * 1024 * 1024 && round < 100_000; round++) {
        while (s.write(piece)) written += piece.length;
        written += piece.length;
        creditAtFalse = s.sendCredit;
        lengthAtFalse = s.writableLength;
        const drainedSoon = await Promise.race([
          waitFor(s, 'drain', 60_000).then(() => true),
          sleep(300).then(() => false),
        ]);
        if (!drainedSoon) break;
      }
      // write() said wait with the credit used up and a high-water mark's worth waiting on the host ...
      expect(creditAtFalse).toBe(0);
      expect(lengthAtFalse).toBeGreaterThanOrEqual(16 * 1024);
      // ... and it stays so while the peer does not read.
      expect(s.sendCredit).toBe(0);
      expect(s.writableLength).toBeGreaterThan(0);
      // No drain while the peer is stopped.
      let drained = false;
      s.once('drain', () => {
        drained = true;
      });
      await sleep(300);
      expect(drained).toBe(false);
      expect(s.sendCredit).toBe(0);
      // The peer reads: the device's queue drains, SEND_CREDIT comes, 'drain' follows; nothing lost.
      let got = 0;
      const all = new Promise<void>((r) =>
        peerSocket!.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= written) r();
        }),
      );
      peerSocket!.resume();
      await waitFor(s, 'drain', 20_000);
      await all;
      expect(got).toBe(written);
      s.destroy();
    } finally {
      await peer.close();
    }
  }, 60_000);

  it('peer close: every byte sent before the FIN is readable before end, even read late', async () => {
    const data = pattern(40 * 1024, 44);
    const peer = await nativeServer((s) => s.end(data));
    try {
      const s = dev.createConnection({ host: '127.0.0.1', port: peer.port, recvWindow: 4096 });
      s.pause();
      await waitFor(s, 'connect');
      await sleep(300); // the FIN has long arrived at the device; most data waits there for credit
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      const ended = waitFor(s, 'end');
      s.resume();
      await ended;
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    } finally {
      await peer.close();
    }
  });

  it('a slow reader: credit follows the application, the remote peer is throttled, memory bounded, nothing lost', async () => {
    // More than loopback's kernel buffers (peer send + device-side receive) can absorb, so that the peer must wait.
    const total = 12 * 1024 * 1024;
    const data = pattern(total, 33);
    let peerSocket: net.Socket | undefined;
    const peer = await nativeServer((s) => {
      peerSocket = s;
      void writeAll(s, data).then(() => s.end());
    });
    try {
      const recvWindow = 64 * 1024;
      const s = dev.createConnection({
        host: '127.0.0.1',
        port: peer.port,
        recvWindow,
        readableHighWaterMark: 16 * 1024,
      });
      s.pause();
      await waitFor(s, 'connect');
      await sleep(400);
      // Paused: the host holds at most the receive window; the device stopped at its queue; the peer waits.
      expect(s.readableLength).toBeLessThanOrEqual(recvWindow);
      const snap = await dev.snapshot();
      const entry = snap.entries.find((e) => e.id === s.socketId)!;
      expect(entry.recvCredit).toBe(0);
      expect(entry.recvQueued).toBeLessThanOrEqual(dev.info.recvQueueSize);
      // The peer's kernel buffers are full and its TCP window closed: its writes wait in user space.
      expect(peerSocket!.writableLength).toBeGreaterThan(0);
      const receivedWhilePaused = s.readableLength;
      expect(receivedWhilePaused).toBeLessThan(total / 4);

      // Now read slowly; the host's buffer never grows beyond window + high-water mark.
      let maxBuffered = 0;
      const h = createHash('sha256');
      let got = 0;
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, cb) {
          maxBuffered = Math.max(maxBuffered, s.readableLength);
          h.update(chunk);
          got += chunk.length;
          setTimeout(cb, got % (256 * 1024) < chunk.length ? 20 : 0);
        },
      });
      await pipeline(s, slow);
      expect(got).toBe(total);
      expect(h.digest('hex')).toBe(sha256(data));
      expect(maxBuffered).toBeLessThanOrEqual(recvWindow + 16 * 1024);
    } finally {
      await peer.close();
    }
    expect(await quietDiff(dev)).toBe('');
  }, 120_000);
});
