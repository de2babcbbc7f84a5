/**
 * The PCIe register-window transport: a card's BAR as a file (an XDMA user BAR character device such as
 * /dev/xdma0_user, or the simulator's shared-memory window file), reached with positioned reads and writes of
 * aligned 32-bit words (PROTOCOL.md §9.2), and an optional event device on which a blocking read returns after
 * each interrupt (/dev/xdma0_events_N, or the simulator's FIFO).
 *
 * It is not a byte stream: write() is refused. The rings above it (src/link/pcie-rings.ts) use read32 / write32
 * and the word-run helpers.
 *
 * Access widths. `access: 'word'` (default) makes every access one 4-byte pread/pwrite, which any window serves
 * (XDMA's user BAR device serves exactly 4 bytes per call). `access: 'block'` lets the ring code move a
 * descriptor's body (CRC and message) as one positioned access of many words (§10: bursts of whole words), for
 * windows that allow it (the shared-memory shim, an mmap-able BAR); registers stay single words either way.
 *
 * Interrupts. A worker thread (node:worker_threads) does the blocking read on the event device and posts each
 * wake-up to the main thread (`onInterrupt`); nothing polls. Without an event device the ring code polls.
 * Stopping the reader: a blocking read cannot be interrupted from JavaScript, and Node waits for its worker
 * threads at exit, so close() must make that read return. On a FIFO the transport writes a wake-up word into it
 * itself; on a character device it asks `wakeEvents` (set by the ring code: a last PING whose completion raises an
 * interrupt). If the read still does not return (a dead card), the worker is left blocked and unreferenced.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { TransportError, TransportErrorCode, errnoCode, errorMessage } from './errors.js';
import { BaseTransport, type TransportLogOptions, type TransportState } from './transport.js';
import { formatDeviceUrl } from './url.js';

export type PcieAccess = 'word' | 'block';

export interface PcieWindowOptions extends TransportLogOptions {
  /** The window file: /dev/xdma0_user, /dev/shm/offload-sim ... */
  path: string;
  /** Event device: a blocking read returns after each interrupt. Without it the rings poll. */
  events?: string;
  /** 'word' (default): every access is one 32-bit read or write. 'block': descriptor bodies in one access. */
  access?: PcieAccess;
  /** For logs and errors; default the pcie:// URL. */
  description?: string;
  /**
   * Picks the event device to open from `events` once the window is open (its registers readable): the rings of
   * another channel use their pair's interrupt (PROTOCOL.md §10.5, see pairEventsPath in src/link/pcie-rings.ts).
   */
  resolveEvents?: (events: string, read32: (offset: number) => number) => string;
}

/** How long close() waits for the event reader thread to return from its blocking read. */
const EVENT_READER_STOP_MS = 500;

/**
 * The event reader thread (CommonJS, evaluated): blocking reads on the event device's descriptor (shared with the
 * main thread: descriptors are per process), one message per wake-up with the bytes read.
 */
const EVENT_READER = `
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const stop = new Int32Array(workerData.stop);
const buf = Buffer.alloc(4096);
for (;;) {
  let n;
  try {
    n = fs.readSync(workerData.fd, buf, 0, buf.length, null);
  } catch (err) {
    if (Atomics.load(stop, 0)) break;
    if (err && (err.code === 'EINTR' || err.code === 'EAGAIN')) continue;
    parentPort.postMessage({ kind: 'error', code: err && err.code, message: String(err && err.message) });
    break;
  }
  if (Atomics.load(stop, 0)) break;
  if (n === 0) { parentPort.postMessage({ kind: 'eof' }); break; }
  parentPort.postMessage({ kind: 'irq', bytes: n, word: n >= 4 ? buf.readUInt32LE(n - 4) : 0 });
}
`;

interface ReaderMessage {
  kind: 'irq' | 'error' | 'eof';
  bytes?: number;
  word?: number;
  code?: string;
  message?: string;
}

export interface PcieWindowCounters {
  /** 32-bit register / word reads and writes (one system call each). */
  wordReads: number;
  wordWrites: number;
  /** Multi-word accesses ('block'). */
  blockReads: number;
  blockWrites: number;
  /** Wake-ups from the event device. */
  interrupts: number;
}

function openError(what: string, path: string, err: unknown): TransportError {
  const code = errnoCode(err);
  const tcode =
    code === 'ENOENT'
      ? TransportErrorCode.PORT_NOT_FOUND
      : code === 'EACCES' || code === 'EPERM'
        ? TransportErrorCode.PORT_ACCESS
        : code === 'EBUSY'
          ? TransportErrorCode.PORT_BUSY
          : TransportErrorCode.PORT_OPEN_FAILED;
  return new TransportError(
    tcode,
    `cannot open the ${what} ${path}: ${errorMessage(err)}`,
    { path, errno: code },
    { cause: err },
  );
}

export class PcieWindowTransport extends BaseTransport {
  readonly kind = 'pcie' as const;
  readonly path: string;
  private events: string | undefined;
  private readonly resolveEvents: PcieWindowOptions['resolveEvents'];
  readonly access: PcieAccess;
  readonly counters: PcieWindowCounters = {
    wordReads: 0,
    wordWrites: 0,
    blockReads: 0,
    blockWrites: 0,
    interrupts: 0,
  };
  /** Called for each wake-up of the event device (`word`: the last 4 bytes read, e.g. the bits raised). */
  onInterrupt: ((word: number) => void) | undefined;
  /** Called once if the event device fails or ends: the rings fall back to polling. */
  onEventsLost: ((err: TransportError) => void) | undefined;
  /** Makes the device raise one interrupt (used to release the reader thread on close; see the module doc). */
  wakeEvents: (() => void) | undefined;
  private fd = -1;
  private eventsFd = -1;
  private eventsIsFifo = false;
  /** Bytes of a regular window file (reads past it give 0); undefined for a device. */
  private windowSize: number | undefined;
  private reader: Worker | undefined;
  private readerStop: Int32Array | undefined;
  private readerExited: Promise<void> | undefined;
  private readonly word = Buffer.alloc(4);

  constructor(options: PcieWindowOptions) {
    super(
      'pcie',
      options.description ??
        formatDeviceUrl({
          kind: 'pcie',
          path: options.path,
          ...(options.events !== undefined ? { events: options.events } : {}),
        }),
      options.logger,
    );
    this.path = options.path;
    this.events = options.events;
    this.resolveEvents = options.resolveEvents;
    this.access = options.access ?? 'word';
  }

  /** The event device (after open(): the one resolveEvents picked). */
  get eventsPath(): string | undefined {
    return this.events;
  }

  /** An event device is open and its reader thread running. */
  get hasEvents(): boolean {
    return this.reader !== undefined;
  }

  /** close() can release the event reader by itself (a FIFO); a device needs an interrupt (`wakeEvents`). */
  get wakesItself(): boolean {
    return this.eventsIsFifo;
  }

  /** Size of a regular window file in bytes; undefined for a character device. */
  get size(): number | undefined {
    return this.windowSize;
  }

  protected async doOpen(): Promise<void> {
    let fd: number;
    try {
      fd = fs.openSync(this.path, fs.constants.O_RDWR);
    } catch (err) {
      throw openError('register window', this.path, err);
    }
    try {
      const st = fs.fstatSync(fd);
      if (st.isFile()) this.windowSize = st.size;
      else if (!st.isCharacterDevice() && !st.isBlockDevice()) {
        throw new TransportError(
          TransportErrorCode.PORT_OPEN_FAILED,
          `${this.path} is neither a window file nor a character device`,
          { path: this.path },
        );
      }
      this.fd = fd;
      if (this.events !== undefined && this.resolveEvents)
        this.events = this.resolveEvents(this.events, (offset) => this.read32(offset));
      if (this.events !== undefined) this.startEvents();
    } catch (err) {
      this.fd = -1;
      fs.closeSync(fd);
      this.stopEventsNow();
      throw err;
    }
  }

  private startEvents(): void {
    const path = this.eventsPath as string;
    let fd: number;
    let fifo = false;
    try {
      fifo = fs.statSync(path).isFIFO();
      // A FIFO opened read-write never blocks on open and never reads end-of-file when the writer restarts (Linux);
      // it also lets close() write the wake-up word itself. A device is opened read-only.
      fd = fs.openSync(path, fifo ? fs.constants.O_RDWR : fs.constants.O_RDONLY);
    } catch (err) {
      throw openError('event device', path, err);
    }
    this.eventsFd = fd;
    this.eventsIsFifo = fifo;
    const stop = new SharedArrayBuffer(4);
    this.readerStop = new Int32Array(stop);
    const reader = new Worker(EVENT_READER, { eval: true, workerData: { fd, stop } });
    this.reader = reader;
    this.readerExited = new Promise<void>((resolve) => reader.once('exit', () => resolve()));
    reader.on('message', (m: ReaderMessage) => {
      if (m.kind === 'irq') {
        this.counters.interrupts++;
        this.onInterrupt?.(m.word ?? 0);
        return;
      }
      const err = new TransportError(
        TransportErrorCode.LINK_DOWN,
        m.kind === 'eof'
          ? `event device ${path} ended`
          : `reading the event device ${path} failed: ${m.message ?? m.code}`,
        { path, errno: m.code },
      );
      this.log.warn({ err }, 'event device lost: polling instead');
      this.onEventsLost?.(err);
    });
    reader.on('error', (err) => {
      this.log.warn({ err }, 'event reader thread failed: polling instead');
      this.onEventsLost?.(
        new TransportError(TransportErrorCode.LINK_DOWN, `event reader thread failed: ${err.message}`, {}),
      );
    });
  }

  /** Stops the reader thread and closes the event device; resolves once the thread exited (or gave up). */
  async stopEvents(): Promise<void> {
    const reader = this.reader;
    if (!reader) {
      this.closeEventsFd();
      return;
    }
    this.reader = undefined;
    Atomics.store(this.readerStop as Int32Array, 0, 1);
    if (this.eventsIsFifo) {
      try {
        // Our own descriptor is open read-write: the word lands in the FIFO and the blocked read returns.
        fs.writeSync(this.eventsFd, Buffer.alloc(4));
      } catch (err) {
        this.log.debug({ err }, 'could not write the wake-up word to the event FIFO');
      }
    } else {
      try {
        this.wakeEvents?.();
      } catch (err) {
        this.log.debug({ err }, 'could not make the device interrupt');
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      (this.readerExited as Promise<void>).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), EVENT_READER_STOP_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      this.log.warn(
        { events: this.eventsPath },
        'the event reader thread is still blocked in read() (no interrupt came): left behind',
      );
      reader.unref();
      void reader.terminate().catch(() => undefined);
      return; // its descriptor stays open: closing it under a blocked read would hand the number to someone else
    }
    this.closeEventsFd();
  }

  private stopEventsNow(): void {
    if (this.reader) {
      Atomics.store(this.readerStop as Int32Array, 0, 1);
      if (this.eventsIsFifo) {
        try {
          fs.writeSync(this.eventsFd, Buffer.alloc(4));
        } catch {
          // nothing to wake
        }
      }
      this.reader = undefined;
    }
  }

  private closeEventsFd(): void {
    if (this.eventsFd >= 0) {
      try {
        fs.closeSync(this.eventsFd);
      } catch {
        // already gone
      }
      this.eventsFd = -1;
    }
  }

  protected doWrite(_chunk: Buffer): boolean {
    throw new TransportError(
      TransportErrorCode.UNSUPPORTED_URL,
      `${this.description}: a register window is not a byte stream (the PCIe rings carry the messages)`,
      { url: this.description },
    );
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    await this.stopEvents();
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
  }

  protected override onFinished(): void {
    if (this.reader) void this.stopEvents();
  }

  // ---- access ------------------------------------------------------------------------------------------

  private checkOpen(offset: number): void {
    if (this.fd < 0) throw this.closedError('register access');
    if (offset % 4 !== 0 || offset < 0) {
      throw new TransportError(
        TransportErrorCode.PORT_OPEN_FAILED,
        `register access at ${offset}: not a multiple of 4`,
        { offset },
      );
    }
  }

  /** An access failed: the window is unusable (the card went away, the file was truncated). */
  private accessFailed(op: string, offset: number, err: unknown): TransportError {
    const e = new TransportError(
      TransportErrorCode.LINK_DOWN,
      `${op} at 0x${offset.toString(16)} of ${this.path} failed: ${errorMessage(err)}`,
      { path: this.path, offset, errno: errnoCode(err) },
      { cause: err },
    );
    this.log.warn({ err: e }, 'register window access failed');
    return e;
  }

  /** One aligned 32-bit read. Past the end of a window file it reads 0 (nothing there). */
  read32(offset: number): number {
    this.checkOpen(offset);
    this.counters.wordReads++;
    let n: number;
    try {
      n = fs.readSync(this.fd, this.word, 0, 4, offset);
    } catch (err) {
      throw this.accessFailed('read', offset, err);
    }
    if (n !== 4) {
      if (this.windowSize !== undefined && offset >= this.windowSize) return 0;
      throw this.accessFailed('read', offset, new Error(`short read (${n} of 4 bytes)`));
    }
    return this.word.readUInt32LE(0);
  }

  /** One aligned 32-bit write. */
  write32(offset: number, value: number): void {
    this.checkOpen(offset);
    this.counters.wordWrites++;
    this.word.writeUInt32LE(value >>> 0, 0);
    let n: number;
    try {
      n = fs.writeSync(this.fd, this.word, 0, 4, offset);
    } catch (err) {
      throw this.accessFailed('write', offset, err);
    }
    if (n !== 4) throw this.accessFailed('write', offset, new Error(`short write (${n} of 4 bytes)`));
  }

  /**
   * Reads `length` bytes (rounded up to whole words) from `offset` into `buf` at `at`: one access per word
   * ('word'), or one access for the run ('block'). `buf` must have room for the rounded-up length.
   */
  readRun(offset: number, buf: Buffer, at: number, length: number): void {
    this.checkOpen(offset);
    const bytes = (length + 3) & ~3;
    if (bytes === 0) return;
    if (this.access === 'block') {
      this.counters.blockReads++;
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, at, bytes, offset);
      } catch (err) {
        throw this.accessFailed('read', offset, err);
      }
      if (n !== bytes)
        throw this.accessFailed('read', offset, new Error(`short read (${n} of ${bytes} bytes)`));
      return;
    }
    for (let i = 0; i < bytes; i += 4) {
      this.counters.wordReads++;
      let n: number;
      try {
        n = fs.readSync(this.fd, buf, at + i, 4, offset + i);
      } catch (err) {
        throw this.accessFailed('read', offset + i, err);
      }
      if (n !== 4) throw this.accessFailed('read', offset + i, new Error(`short read (${n} of 4 bytes)`));
    }
  }

  /** Writes `length` bytes of `buf` from `at` (a whole number of words) at `offset`, per the access mode. */
  writeRun(offset: number, buf: Buffer, at: number, length: number): void {
    this.checkOpen(offset);
    if (length % 4 !== 0) throw new RangeError('writeRun: whole words only');
    if (length === 0) return;
    if (this.access === 'block') {
      this.counters.blockWrites++;
      let n: number;
      try {
        n = fs.writeSync(this.fd, buf, at, length, offset);
      } catch (err) {
        throw this.accessFailed('write', offset, err);
      }
      if (n !== length)
        throw this.accessFailed('write', offset, new Error(`short write (${n} of ${length} bytes)`));
      return;
    }
    for (let i = 0; i < length; i += 4) {
      this.counters.wordWrites++;
      let n: number;
      try {
        n = fs.writeSync(this.fd, buf, at + i, 4, offset + i);
      } catch (err) {
        throw this.accessFailed('write', offset + i, err);
      }
      if (n !== 4) throw this.accessFailed('write', offset + i, new Error(`short write (${n} of 4 bytes)`));
    }
  }

  /** The window went away under us (the ring code saw it): end with 'close' carrying `err`. */
  fail(err: TransportError): void {
    void this.stopEvents().finally(() => {
      if (this.fd >= 0) {
        try {
          fs.closeSync(this.fd);
        } catch {
          // already closed
        }
        this.fd = -1;
      }
      this.finish(err);
    });
  }
}

/** What a pcie: URL can set beyond the window path and `events` (PROTOCOL.md §10: overrides of the registers). */
export interface PcieUrlOptions {
  access: PcieAccess;
  /** Polling interval (ms) without an event device; `poll=`. */
  pollMs?: number;
  /** Ring geometry overrides (`cmdoffset`, `cmdentries`, `cploffset`, `cplentries`, `descsize`). */
  cmdRingOffset?: number;
  cmdRingEntries?: number;
  cplRingOffset?: number;
  cplRingEntries?: number;
  descSize?: number;
}

const PCIE_NUMERIC: Record<
  string,
  { key: Exclude<keyof PcieUrlOptions, 'access'>; min: number; max: number }
> = {
  poll: { key: 'pollMs', min: 1, max: 60_000 },
  cmdoffset: { key: 'cmdRingOffset', min: 0x10000, max: 0xfffffffc },
  cmdentries: { key: 'cmdRingEntries', min: 1, max: 0x10000 },
  cploffset: { key: 'cplRingOffset', min: 0x10000, max: 0xfffffffc },
  cplentries: { key: 'cplRingEntries', min: 1, max: 0x10000 },
  descsize: { key: 'descSize', min: 8 + 256, max: 8 + 65536 },
};

/** Reads the PCIe layer's query parameters of a pcie: URL; E_OFFLOAD_BAD_URL for unknown keys or bad values. */
export function pcieUrlOptions(url: { params: Record<string, string> }, description: string): PcieUrlOptions {
  const o: PcieUrlOptions = { access: 'word' };
  const bad = (what: string) =>
    new TransportError(
      TransportErrorCode.BAD_URL,
      `bad device URL '${description}': ${what}; example: pcie:///dev/xdma0_user?events=/dev/xdma0_events_0`,
      { url: description, problem: what, kind: 'pcie' },
    );
  for (const [k, v] of Object.entries(url.params)) {
    if (k === 'access') {
      if (v !== 'word' && v !== 'block') throw bad(`access must be 'word' or 'block', got '${v}'`);
      o.access = v;
      continue;
    }
    const spec = PCIE_NUMERIC[k];
    if (!spec) {
      throw bad(
        `unknown query parameter '${k}' for pcie: (allowed: events, access, ${Object.keys(PCIE_NUMERIC).join(', ')})`,
      );
    }
    const n = /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
      throw bad(`'${k}' must be a whole number from ${spec.min} to ${spec.max}, got '${v}'`);
    }
    if ((k === 'cmdentries' || k === 'cplentries') && (n & (n - 1)) !== 0)
      throw bad(`'${k}' must be a power of two`);
    if ((k === 'cmdoffset' || k === 'cploffset' || k === 'descsize') && n % 4 !== 0)
      throw bad(`'${k}' must be a multiple of 4`);
    o[spec.key] = n;
  }
  return o;
}
