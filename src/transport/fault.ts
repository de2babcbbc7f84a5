import { TransportError, TransportErrorCode } from './errors.js';
import { Prng } from './prng.js';
import { BaseTransport, type Transport, type TransportLogOptions, type TransportState } from './transport.js';

export type FaultDirection = 'write' | 'read' | 'both';

export interface FaultOptions extends TransportLogOptions {
  /** PRNG seed: the same seed and the same byte stream give the same faults. Default 1. */
  seed?: number;
  /** Probability per byte that it is corrupted (XORed with a random non-zero value). */
  corruptRate?: number;
  /** Probability per byte that it is dropped. */
  dropByteRate?: number;
  /** Probability per write (read path: per received chunk) that the whole chunk is dropped. */
  dropWriteRate?: number;
  /** Every chunk is delayed this long (order kept). Default 0. */
  delayMs?: number;
  /** Probability per chunk that it is held back and sent after the next one (swapped). */
  reorderRate?: number;
  /** A held-back chunk goes out after this long if no next chunk comes (never lost). Default 10 ms. */
  reorderWindowMs?: number;
  /** Cut the wire (as cut()) once this many bytes have passed, counting both directions. */
  cutAfterBytes?: number;
  /** Which path the random faults apply to. Default 'write'. */
  direction?: FaultDirection;
  /** Undelivered delayed / held bytes on the write path above which write() returns false. Default 65536. */
  highWaterMark?: number;
  /**
   * Line rate in bit/s (10 bits a byte, as 8N1): chunks on the faulted paths leave no faster than a UART at this
   * rate sends them (after delayMs), so that timing on a real serial line can be reproduced over a pair or a pty
   * (which ignore the baud rate). 0 (default): no pacing.
   */
  bitRate?: number;
}

export interface FaultCounters {
  /** Chunks entering this path. */
  chunks: number;
  bytesIn: number;
  /** Bytes passed on (written to the inner transport / emitted as 'data'). */
  bytesOut: number;
  corruptedBytes: number;
  droppedBytes: number;
  droppedChunks: number;
  reorderedChunks: number;
  delayedChunks: number;
}

export interface FaultStats {
  write: FaultCounters;
  read: FaultCounters;
  /** True once the wire was cut (cut() or cutAfterBytes). */
  cut: boolean;
}

function counters(): FaultCounters {
  return {
    chunks: 0,
    bytesIn: 0,
    bytesOut: 0,
    corruptedBytes: 0,
    droppedBytes: 0,
    droppedChunks: 0,
    reorderedChunks: 0,
    delayedChunks: 0,
  };
}

type Path = 'write' | 'read';

/**
 * Wraps a transport and injects faults: corrupted / dropped bytes, dropped, delayed and reordered
 * chunks, and a wire cut. Deterministic for a given seed and byte stream (separate PRNG streams per path).
 */
export class FaultTransport extends BaseTransport {
  readonly kind = 'fault' as const;
  readonly inner: Transport;
  readonly stats: FaultStats = { write: counters(), read: counters(), cut: false };
  private readonly opts: Required<Omit<FaultOptions, 'logger' | 'cutAfterBytes'>> & {
    cutAfterBytes: number | undefined;
  };
  private readonly prng: Record<Path, Prng>;
  private readonly held: Record<Path, { chunk: Buffer; timer: NodeJS.Timeout } | undefined> = {
    write: undefined,
    read: undefined,
  };
  private readonly timers = new Set<NodeJS.Timeout>();
  private totalBytes = 0;
  private cutError: TransportError | undefined;
  private cutPromise: Promise<void> | undefined;
  private innerBlocked = false;
  private pendingWriteBytes = 0;
  private needDrain = false;
  /** When the paced line has sent what it was given so far (performance.now() ms), per path. */
  private readonly lineFreeAt: Record<Path, number> = { write: 0, read: 0 };
  /** Delayed / paced chunks in order, each with when it leaves, and the timer for the first. */
  private readonly line: Record<Path, { due: number; chunk: Buffer }[]> = { write: [], read: [] };
  private readonly lineTimer: Record<Path, NodeJS.Timeout | undefined> = {
    write: undefined,
    read: undefined,
  };

  constructor(inner: Transport, options: FaultOptions = {}) {
    super('fault', `fault(${inner.description})`, options.logger);
    this.inner = inner;
    const seed = options.seed ?? 1;
    this.opts = {
      seed,
      corruptRate: options.corruptRate ?? 0,
      dropByteRate: options.dropByteRate ?? 0,
      dropWriteRate: options.dropWriteRate ?? 0,
      delayMs: options.delayMs ?? 0,
      reorderRate: options.reorderRate ?? 0,
      reorderWindowMs: options.reorderWindowMs ?? 10,
      cutAfterBytes: options.cutAfterBytes,
      direction: options.direction ?? 'write',
      highWaterMark: options.highWaterMark ?? 64 * 1024,
      bitRate: options.bitRate ?? 0,
    };
    this.prng = { write: new Prng(seed), read: new Prng((seed ^ 0x5bd1e995) >>> 0) };
    if (inner.isOpen) this.state = 'open';
    inner.on('data', (data) => this.onInnerData(data));
    inner.on('drain', () => {
      this.innerBlocked = false;
      this.maybeDrain();
    });
    inner.on('close', (err) => this.finish(this.cutError ?? err));
  }

  /** Cuts the wire: nothing more passes either way, in-flight delayed / held chunks are lost, the inner
   * transport is closed (its peer sees the link go down) and this transport closes with E_OFFLOAD_LINK_DOWN. */
  cut(): Promise<void> {
    if (this.cutPromise) return this.cutPromise;
    if (this.state === 'closed' || this.state === 'closing') return Promise.resolve();
    this.stats.cut = true;
    this.cutError = new TransportError(
      TransportErrorCode.LINK_DOWN,
      `wire to ${this.inner.description} was cut (fault injection)`,
      {
        url: this.description,
        reason: 'cut',
        afterBytes: this.totalBytes,
      },
    );
    this.log.debug({ afterBytes: this.totalBytes }, 'wire cut');
    this.clearPending();
    this.cutPromise = this.inner.close().then(() => this.finish(this.cutError));
    return this.cutPromise;
  }

  private enabled(path: Path): boolean {
    return this.opts.direction === 'both' || this.opts.direction === path;
  }

  private onInnerData(data: Buffer): void {
    if (this.state !== 'open' || this.cutError) return;
    this.process('read', data);
  }

  protected doOpen(): Promise<void> {
    return this.inner.open();
  }

  protected doWrite(chunk: Buffer): boolean {
    if (this.cutError) return true; // into a cut wire: gone
    this.process('write', chunk);
    const ok = !this.innerBlocked && this.pendingWriteBytes <= this.opts.highWaterMark;
    if (!ok) this.needDrain = true;
    return ok;
  }

  private process(path: Path, input: Buffer): void {
    const c = this.stats[path];
    let chunk = input;
    let cutNow = false;
    const limit = this.opts.cutAfterBytes;
    if (limit !== undefined) {
      const remaining = limit - this.totalBytes;
      if (chunk.length >= remaining) {
        chunk = chunk.subarray(0, Math.max(0, remaining));
        cutNow = true;
      }
    }
    this.totalBytes += chunk.length;
    c.chunks++;
    c.bytesIn += chunk.length;
    if (chunk.length > 0) {
      if (this.enabled(path)) this.fault(path, chunk);
      else this.output(path, chunk);
    }
    if (cutNow) {
      // What already passed (written to the inner transport) stays passed; then the wire goes.
      this.release(path);
      void this.cut();
    }
  }

  private fault(path: Path, input: Buffer): void {
    const c = this.stats[path];
    const rng = this.prng[path];
    const o = this.opts;
    if (rng.chance(o.dropWriteRate)) {
      c.droppedChunks++;
      c.droppedBytes += input.length;
      return;
    }
    let chunk = input;
    if (o.corruptRate > 0 || o.dropByteRate > 0) {
      const out = Buffer.allocUnsafe(input.length);
      let n = 0;
      for (let i = 0; i < input.length; i++) {
        let b = input[i] as number;
        if (rng.chance(o.dropByteRate)) {
          c.droppedBytes++;
          continue;
        }
        if (rng.chance(o.corruptRate)) {
          b ^= 1 + rng.nextInt(255);
          c.corruptedBytes++;
        }
        out[n++] = b;
      }
      chunk = out.subarray(0, n);
      if (n === 0) return;
    } else {
      chunk = Buffer.from(input); // the caller may reuse its buffer while we hold / delay this one
    }
    const held = this.held[path];
    if (held) {
      // Swap: this chunk overtakes the held one.
      clearTimeout(held.timer);
      this.timers.delete(held.timer);
      this.held[path] = undefined;
      this.delayed(path, chunk);
      this.delayed(path, held.chunk);
      if (path === 'write') this.pendingWriteBytes -= held.chunk.length;
      return;
    }
    if (rng.chance(o.reorderRate)) {
      c.reorderedChunks++;
      if (path === 'write') this.pendingWriteBytes += chunk.length;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.release(path);
      }, o.reorderWindowMs);
      this.timers.add(timer);
      this.held[path] = { chunk, timer };
      return;
    }
    this.delayed(path, chunk);
  }

  /** Sends a held-back chunk now (no successor came in time, or the wire is about to be cut). */
  private release(path: Path): void {
    const held = this.held[path];
    if (!held) return;
    clearTimeout(held.timer);
    this.timers.delete(held.timer);
    this.held[path] = undefined;
    if (path === 'write') this.pendingWriteBytes -= held.chunk.length;
    this.delayed(path, held.chunk);
    this.maybeDrain();
  }

  private delayed(path: Path, chunk: Buffer): void {
    const now = performance.now();
    let due = now + this.opts.delayMs;
    if (this.opts.bitRate > 0) {
      // The line sends bytes one after another: this chunk is through once those before it are, plus its own time.
      due = Math.max(now, this.lineFreeAt[path]) + (chunk.length * 10 * 1000) / this.opts.bitRate;
      this.lineFreeAt[path] = due;
      due += this.opts.delayMs;
    }
    const line = this.line[path];
    if (due <= now && line.length === 0) {
      this.output(path, chunk);
      return;
    }
    this.stats[path].delayedChunks++;
    if (path === 'write') this.pendingWriteBytes += chunk.length;
    // One queue and one timer per path: chunks leave in order whatever the timers' rounding.
    line.push({ due, chunk });
    if (!this.lineTimer[path]) this.armLine(path, now);
  }

  private armLine(path: Path, now: number): void {
    const head = this.line[path][0];
    if (!head || this.lineTimer[path]) return;
    this.lineTimer[path] = setTimeout(() => this.leaveLine(path), Math.max(0, head.due - now));
  }

  private leaveLine(path: Path): void {
    this.lineTimer[path] = undefined;
    const line = this.line[path];
    const now = performance.now();
    let n = 0;
    // What is due within half a millisecond goes now; a timer that fired early is armed again for the rest.
    while (n < line.length && (line[n] as { due: number }).due <= now + 0.5) n++;
    for (const { chunk } of line.splice(0, n)) {
      if (path === 'write') this.pendingWriteBytes -= chunk.length;
      this.output(path, chunk);
    }
    this.maybeDrain();
    this.armLine(path, now);
  }

  private output(path: Path, chunk: Buffer): void {
    if (this.cutError || this.state !== 'open') return;
    this.stats[path].bytesOut += chunk.length;
    if (path === 'read') {
      this.emit('data', chunk);
      return;
    }
    if (!this.inner.isOpen) return;
    if (!this.inner.write(chunk)) this.innerBlocked = true;
  }

  private maybeDrain(): void {
    if (
      this.needDrain &&
      !this.innerBlocked &&
      this.pendingWriteBytes <= this.opts.highWaterMark &&
      this.state === 'open'
    ) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private clearPending(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const p of ['write', 'read'] as const) {
      clearTimeout(this.lineTimer[p]);
      this.lineTimer[p] = undefined;
      this.line[p] = [];
    }
    for (const p of ['write', 'read'] as const) {
      const h = this.held[p];
      if (h) clearTimeout(h.timer);
      this.held[p] = undefined;
    }
    this.pendingWriteBytes = 0;
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    this.clearPending();
    await this.inner.close();
  }

  protected override onFinished(): void {
    this.clearPending();
  }
}
