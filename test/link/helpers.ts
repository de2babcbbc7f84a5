import { createHash } from 'node:crypto';
import { Link, type LinkError, type LinkOptions } from '../../src/link/index.js';
import { type Frame, SerialDeframer } from '../../src/protocol/index.js';
import { BaseTransport, type Transport } from '../../src/transport/index.js';
import type { TransportState } from '../../src/transport/transport.js';
import { Prng } from '../../src/transport/prng.js';

export function sha256(...parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/**
 * A stream of `totalBytes` split into messages of 1..maxSize bytes (mostly maxSize). Each message starts
 * with its u32 index, the rest is seeded random bytes, so order, loss and duplication are all visible.
 */
export function makeMessages(totalBytes: number, maxSize: number, seed: number): Buffer[] {
  const rng = new Prng(seed);
  const out: Buffer[] = [];
  let left = totalBytes;
  while (left > 0) {
    const size = Math.min(left, rng.chance(0.2) ? 4 + rng.nextInt(maxSize - 3) : maxSize);
    const m = Buffer.allocUnsafe(Math.max(4, size));
    for (let i = 4; i < m.length; i++) m[i] = rng.nextU32() & 0xff;
    m.writeUInt32LE(out.length, 0);
    out.push(m);
    left -= m.length;
  }
  return out;
}

/** Sends every message honouring send()'s backpressure; resolves with the number of times it returned false. */
export async function sendAll(
  link: Link,
  messages: Buffer[],
): Promise<{ stalls: number; maxPending: number }> {
  let stalls = 0;
  let maxPending = 0;
  for (const m of messages) {
    const ok = link.send(m);
    maxPending = Math.max(maxPending, link.pendingBytes);
    if (!ok) {
      stalls++;
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          link.off('down', onDown);
          resolve();
        };
        const onDown = (err: LinkError): void => {
          link.off('drain', onDrain);
          reject(err);
        };
        link.once('drain', onDrain);
        link.once('down', onDown);
      });
    }
  }
  return { stalls, maxPending };
}

export interface Received {
  /** Resolves once `count` messages arrived; rejects on 'down', a message out of order, or timeout. */
  done: Promise<Buffer[]>;
  messages: Buffer[];
}

/** Collects `count` messages, checking each one's index is the next expected (no loss, no duplicate, in order). */
export function receive(link: Link, count: number, timeoutMs = 30_000, firstIndex = 0): Received {
  const messages: Buffer[] = [];
  const done = new Promise<Buffer[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new Error(`${link.name}: received ${messages.length} of ${count} messages within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    const onMessage = (m: Buffer): void => {
      const index = m.readUInt32LE(0);
      const expected = firstIndex + messages.length;
      if (index !== expected) {
        cleanup();
        reject(new Error(`${link.name}: message ${index} arrived where ${expected} was expected`));
        return;
      }
      messages.push(m);
      if (messages.length === count) {
        cleanup();
        resolve(messages);
      }
    };
    const onDown = (err: LinkError): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      link.off('message', onMessage);
      link.off('down', onDown);
    };
    link.on('message', onMessage);
    link.on('down', onDown);
  });
  done.catch(() => undefined);
  return { done, messages };
}

/** Starts both links at once and returns them up. */
export async function startPair(
  a: Transport,
  b: Transport,
  optsA: Partial<LinkOptions> & Pick<LinkOptions, 'framing'>,
  optsB: Partial<LinkOptions> = {},
): Promise<[Link, Link]> {
  const host = new Link(a, { role: 'host', ...optsA });
  const device = new Link(b, { role: 'device', ...optsA, ...optsB });
  await Promise.all([host.start(), device.start()]);
  return [host, device];
}

/** The 'down' error, or rejects after timeoutMs. */
export function nextDown(link: Link, timeoutMs: number): Promise<LinkError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${link.name}: no 'down' within ${timeoutMs} ms`)),
      timeoutMs,
    );
    link.once('down', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Number of active timers (setTimeout / setInterval) in this process. */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

export interface InjectOptions {
  seed: number;
  /** Probability per write that random garbage (no delimiter guarantee) is written before it. */
  garbageBefore: number;
  /** Probability per write that garbage is spliced into the middle of it. */
  garbageInside: number;
  /** Probability per write that a truncated copy of it (plus a 0x00) is written before it. */
  truncatedCopy: number;
}

/**
 * Wraps a transport and injects junk into what is written: random bytes before / inside writes and
 * truncated copies of frames. Everything the link wrote still goes out, possibly damaged by the junk.
 */
export class InjectingTransport extends BaseTransport {
  readonly kind = 'fault' as const;
  readonly injected = { garbageBytes: 0, truncatedFrames: 0, splicedWrites: 0 };
  private readonly rng: Prng;

  constructor(
    private readonly inner: Transport,
    private readonly opts: InjectOptions,
  ) {
    super('fault', `inject(${inner.description})`, undefined);
    this.rng = new Prng(opts.seed);
    this.state = inner.isOpen ? 'open' : 'idle';
    inner.on('data', (d) => this.emit('data', d));
    inner.on('drain', () => this.emit('drain'));
    inner.on('close', (err) => this.finish(err));
  }

  private garbage(): Buffer {
    const n = 1 + this.rng.nextInt(40);
    const g = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) g[i] = this.rng.nextU32() & 0xff;
    this.injected.garbageBytes += n;
    return g;
  }

  protected doOpen(): Promise<void> {
    return this.inner.open();
  }

  protected doWrite(chunk: Buffer): boolean {
    const parts: Buffer[] = [];
    if (this.rng.chance(this.opts.garbageBefore)) parts.push(this.garbage());
    if (chunk.length > 4 && this.rng.chance(this.opts.truncatedCopy)) {
      // A frame cut short (e.g. a device reset mid-frame), then a delimiter.
      parts.push(chunk.subarray(0, 1 + this.rng.nextInt(chunk.length - 2)), Buffer.from([0]));
      this.injected.truncatedFrames++;
    }
    if (chunk.length > 2 && this.rng.chance(this.opts.garbageInside)) {
      const at = 1 + this.rng.nextInt(chunk.length - 1);
      parts.push(chunk.subarray(0, at), this.garbage(), chunk.subarray(at));
      this.injected.splicedWrites++;
    } else {
      parts.push(chunk);
    }
    return this.inner.write(Buffer.concat(parts));
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    await this.inner.close();
  }
}

/**
 * Wraps a transport carrying serial framing and drops the frames `drop` picks, whole (delimiter included), passing
 * everything else byte for byte: a lost ACK or NAK, exactly where a test wants it.
 */
export class FrameDroppingTransport extends BaseTransport {
  readonly kind = 'fault' as const;
  readonly dropped: Frame[] = [];
  private pending = Buffer.alloc(0);
  private readonly deframer = new SerialDeframer(65535);

  constructor(
    private readonly inner: Transport,
    private readonly drop: (frame: Frame) => boolean,
  ) {
    super('fault', `drop(${inner.description})`, undefined);
    this.state = inner.isOpen ? 'open' : 'idle';
    inner.on('data', (d) => this.emit('data', d));
    inner.on('drain', () => this.emit('drain'));
    inner.on('close', (err) => this.finish(err));
  }

  protected doOpen(): Promise<void> {
    return this.inner.open();
  }

  protected doWrite(chunk: Buffer): boolean {
    const bytes = Buffer.concat([this.pending, chunk]);
    const keep: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0) continue;
      const raw = bytes.subarray(start, i + 1); // COBS: the only 0x00 is the delimiter
      start = i + 1;
      const out = this.deframer.push(raw).find((o) => o.kind === 'frame');
      if (out?.kind === 'frame' && this.drop(out.frame)) this.dropped.push(out.frame);
      else keep.push(raw);
    }
    this.pending = Buffer.from(bytes.subarray(start));
    return keep.length === 0 ? true : this.inner.write(Buffer.concat(keep));
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    await this.inner.close();
  }
}

/** Waits (bounded) until `cond()` holds, checking every few ms. */
export async function until(cond: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(5);
  }
}
