/**
 * Test traffic through the device, byte-exact: TCP transfers (echo: both directions; sink: upload, the peer
 * answers the sha256 of what arrived) and UDP datagram exchanges with an echo peer. Shared by `offload traffic`,
 * `monitor --traffic`, `bench`, `selftest` and the demo.
 */
import { createHash } from 'node:crypto';
import type { OffloadDevice, OffloadSocket } from '../sockets/index.js';
import { CliError } from './output.js';

/** A deterministic byte stream (xorshift32) so that data is not trivially compressible or repetitive. */
export class PatternStream {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }
  next(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    let x = this.x;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b.writeUInt32LE(x >>> 0, i);
    }
    for (; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    this.x = x;
    return b;
  }
}

export interface TransferResult {
  bytesSent: number;
  bytesReceived: number;
  sentSha256: string;
  /** echo: sha256 of what came back; sink: the sha256 the peer computed. */
  receivedSha256: string;
  ok: boolean;
  ms: number;
}

const CHUNK = 64 * 1024;

function waitConnect(sock: OffloadSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => {
      sock.off('connect', onOk);
      reject(e);
    };
    const onOk = () => {
      sock.off('error', onErr);
      resolve();
    };
    sock.once('connect', onOk);
    sock.once('error', onErr);
  });
}

/**
 * One TCP connection through the device to `target`: send `size` bytes, end, read until the peer ends.
 * Rejects with the socket's error (ECONNREFUSED, ECONNRESET, E_OFFLOAD_LINK_DOWN ...), or after `idleMs` without
 * progress.
 */
export async function tcpTransfer(
  dev: OffloadDevice,
  target: { host: string; port: number },
  size: number,
  opts: { mode?: 'echo' | 'sink'; seed?: number; onBytes?: (n: number) => void; idleMs?: number } = {},
): Promise<TransferResult> {
  const mode = opts.mode ?? 'echo';
  const t0 = performance.now();
  const sock = dev.createConnection({ host: target.host, port: target.port, allowHalfOpen: true });
  const sent = createHash('sha256');
  const got = createHash('sha256');
  const sinkReply: Buffer[] = [];
  let bytesReceived = 0;
  let error: Error | undefined;
  sock.on('error', (e) => {
    error ??= e;
  });
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  const ended = new Promise<void>((resolve) => sock.once('end', () => resolve()));
  sock.setTimeout(opts.idleMs ?? 15_000, () => {
    sock.destroy(new CliError(`no progress for ${opts.idleMs ?? 15_000} ms`, 'E_OFFLOAD_TRAFFIC_STALLED'));
  });
  sock.on('data', (d: Buffer) => {
    if (mode === 'echo') {
      got.update(d);
      bytesReceived += d.length;
      opts.onBytes?.(d.length);
    } else sinkReply.push(d);
  });
  await waitConnect(sock);
  const gen = new PatternStream(opts.seed ?? 1);
  let bytesSent = 0;
  while (bytesSent < size && !error) {
    const n = Math.min(CHUNK, size - bytesSent);
    const chunk = gen.next(n);
    sent.update(chunk);
    bytesSent += n;
    if (mode === 'sink') opts.onBytes?.(n);
    if (!sock.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          sock.off('drain', done);
          sock.off('close', done);
          resolve();
        };
        sock.on('drain', done);
        sock.on('close', done);
      });
    }
  }
  sock.end();
  await Promise.race([ended, closed]);
  if (!sock.destroyed) sock.destroy();
  await closed;
  if (error) throw error;
  const sentSha256 = sent.digest('hex');
  const receivedSha256 =
    mode === 'echo' ? got.digest('hex') : Buffer.concat(sinkReply).toString('latin1').trim();
  if (mode === 'sink') bytesReceived = 0;
  return {
    bytesSent,
    bytesReceived,
    sentSha256,
    receivedSha256,
    ok: sentSha256 === receivedSha256 && (mode === 'sink' || bytesReceived === bytesSent),
    ms: performance.now() - t0,
  };
}

export interface UdpResult {
  sent: number;
  received: number;
  lost: number;
  corrupt: number;
  bytesSent: number;
  bytesReceived: number;
  sentSha256: string;
  receivedSha256: string;
  ok: boolean;
  ms: number;
}

/**
 * `count` datagrams of `size` bytes (8-byte header: lane, sequence) through one device UDP socket to an echo
 * peer, at most `window` unanswered at a time. Every echoed datagram is compared with what was sent; the sha256
 * over all datagrams in sequence order is reported for both sides. A silence of `idleMs` ends the exchange
 * (the rest counts as lost).
 */
export async function udpExchange(
  dev: OffloadDevice,
  target: { host: string; port: number },
  size: number,
  count: number,
  opts: {
    lane?: number;
    seed?: number;
    window?: number;
    idleMs?: number;
    onBytes?: (n: number) => void;
  } = {},
): Promise<UdpResult> {
  const max = dev.device.maxSendToData;
  if (size < 8) throw new CliError(`UDP datagram size must be at least 8 bytes (got ${size})`);
  if (size > Math.min(max, 65507)) {
    throw new CliError(
      `UDP datagram size ${size} exceeds what the device takes in one SENDTO (${max} bytes)`,
    );
  }
  const t0 = performance.now();
  const lane = opts.lane ?? 0;
  const window = opts.window ?? 16;
  const idleMs = opts.idleMs ?? 2000;
  const payloads: Buffer[] = [];
  const gen = new PatternStream(opts.seed ?? 1);
  for (let seq = 0; seq < count; seq++) {
    const b = Buffer.concat([Buffer.alloc(8), gen.next(size - 8)]);
    b.writeUInt32BE(lane, 0);
    b.writeUInt32BE(seq, 4);
    payloads.push(b);
  }
  const received = new Map<number, Buffer>();
  let corrupt = 0;
  let bytesReceived = 0;
  let bytesSent = 0;
  const u = dev.createSocket('udp4');
  let sockError: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    u.once('error', reject);
    u.bind(0, () => {
      u.off('error', reject);
      resolve();
    });
  });
  let wake: (() => void) | undefined;
  u.on('error', (e) => {
    sockError ??= e;
    wake?.();
  });
  u.on('message', (msg) => {
    bytesReceived += msg.length;
    opts.onBytes?.(msg.length);
    const seq = msg.length >= 8 && msg.readUInt32BE(0) === lane ? msg.readUInt32BE(4) : -1;
    const want = seq >= 0 ? payloads[seq] : undefined;
    if (!want?.equals(msg) || received.has(seq)) corrupt++;
    else received.set(seq, msg);
    wake?.();
  });
  try {
    let next = 0;
    let lastProgress = performance.now();
    let lastCount = 0;
    while (received.size < count && !sockError) {
      while (next < count && next - received.size < window) {
        const p = payloads[next++]!;
        bytesSent += p.length;
        u.send(p, target.port, target.host, (err) => {
          if (err) sockError ??= err;
        });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
      if (received.size !== lastCount) {
        lastCount = received.size;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > idleMs) break;
    }
  } finally {
    await new Promise<void>((resolve) => u.close(() => resolve()));
  }
  if (sockError) throw sockError;
  const sentHash = createHash('sha256');
  for (const p of payloads) sentHash.update(p);
  const gotHash = createHash('sha256');
  for (let seq = 0; seq < count; seq++) {
    const r = received.get(seq);
    if (r) gotHash.update(r);
  }
  const sentSha256 = sentHash.digest('hex');
  const receivedSha256 = gotHash.digest('hex');
  return {
    sent: count,
    received: received.size,
    lost: count - received.size,
    corrupt,
    bytesSent,
    bytesReceived,
    sentSha256,
    receivedSha256,
    ok: received.size === count && corrupt === 0 && sentSha256 === receivedSha256,
    ms: performance.now() - t0,
  };
}
