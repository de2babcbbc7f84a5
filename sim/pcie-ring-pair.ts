/**
 * One ring pair of the simulated PCIe window, device side (PROTOCOL.md §10.3, §10.4): a command ring consumed and a
 * completion ring produced, IRQ_STATUS / IRQ_MASK / DOORBELL and an interrupt FIFO. The same code serves channel 0
 * (the §9.1 registers, CHANNEL0_RING_REGISTERS; pcie-server.ts) and every extra pair (a block of the channel ring
 * table, channelBlockRegisters; pcie-channel-rings.ts): a pair is addressed only through its RingRegisters.
 *
 * What only one kind of pair has stays with its owner and reaches the ring code through hooks: channel 0's fault
 * injection (paused commands, torn completions; spurious interrupts and the card vanishing use `interrupt` and
 * `live`), an extra pair's host liveness (`beforeRings`) and where commands go (`deliver`).
 *
 * Ring handling: torn or stale command descriptors are re-read and never acted on, a fault after 1 s (consumed,
 * answered with ERROR_RESPONSE tag 0 E_INTERNAL); commands are consumed while a ring's worth of answers at most
 * waits; completions are produced in order while the ring has room, never dropped. IRQ_STATUS is RW1C in a shared
 * file: bits clear when the word differs from what was last written (the host wrote 1s) and when their cause is
 * gone (see pcie-server.ts).
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import {
  crc32,
  encodeMessage,
  IrqBit,
  parseRingFirstWord,
  type RingRegisters,
  ringFirstWord,
  StatusCode,
} from '../src/protocol/index.js';

export const IRQ_ALL = IrqBit.CPL | IrqBit.CMD_SPACE | IrqBit.RESET;
const TORN_TIMEOUT_MS = 1000;

/** Counters a pair keeps; each owner passes its stats object, and only the counters it has are counted. */
export type RingCounter =
  | 'commandsConsumed'
  | 'completionsProduced'
  | 'interruptsRaised'
  | 'interruptsDropped'
  | 'tornCommands'
  | 'tornFaults'
  | 'ringResets'
  | 'doorbells'
  | 'cmdRingFullSeen'
  | 'completionBackpressure';
export type RingStats = Partial<Record<RingCounter, number>>;

/** Where a pair's rings lie and how big their descriptors are. */
export interface RingLayout {
  cmdOffset: number;
  cmdEntries: number;
  cplOffset: number;
  cplEntries: number;
  descSize: number;
}

export interface RingPairOptions {
  readonly registers: Readonly<RingRegisters>;
  readonly layout: Readonly<RingLayout>;
  /** The longest message a descriptor carries. */
  readonly maxMessage: number;
  /** Read in one access at the start of each pass (the register page, the channel's block). */
  readonly snapshot: { readonly offset: number; readonly length: number };
  /** The interrupt FIFO (created by the owner). */
  readonly events: string;
  readonly stats: RingStats;
  readonly log: Logger;
  /** Fields for log lines (an extra pair's channel). */
  readonly logFields?: Readonly<Record<string, unknown>>;
  /** The window file's descriptor. */
  fd(): number;
  /** Changes when the rings are reset (or the board's epoch moves): a pass in progress stops. */
  epoch(): number;
  /** The pair is served (not closed, not vanished). */
  live(): boolean;
  /** Service soon: a torn command descriptor is re-read. */
  retry(): void;
  /** A command for the board; `undefined`: a descriptor that stayed torn (enqueue faultResponse() to answer). */
  deliver(message: Buffer | undefined): void;
  /** After the ring pointers are read, before commands are consumed (an extra pair's HOST_SESSION / HOST_HEARTBEAT). */
  beforeRings?(now: number): void;
  /** Fault: do not consume commands. */
  paused?(): boolean;
  /** Fault: hold completions (a torn completion is being finished). */
  holdCompletions?(): boolean;
  /** Fault: writes the completion descriptor itself (true) instead of the ordinary producer step (false). */
  writeCompletion?(at: number, index: number, message: Buffer): boolean;
}

export class PcieRingPair {
  private readonly o: RingPairOptions;
  private readonly r: Readonly<RingRegisters>;
  private fifo = -1;
  private cmdHead = 0;
  private cplTail = 0;
  private hostCmdTail = 0;
  private hostCplHead = 0;
  private irqPending = 0;
  private irqWritten = 0;
  private irqMask = 0;
  private cmdTailAtSpace = 0;
  private cplHeadAtReset: number | undefined;
  private readonly out: Buffer[] = [];
  private outHead = 0;
  private tornCmd: { index: number; since: number } | undefined;
  private tornRetry: NodeJS.Timeout | undefined;
  private readonly word = Buffer.alloc(4);
  private readonly snap: Buffer;

  constructor(options: RingPairOptions) {
    this.o = options;
    this.r = options.registers;
    this.snap = Buffer.alloc(options.snapshot.length);
  }

  /** Messages waiting to be produced. */
  get queued(): number {
    return this.out.length - this.outHead;
  }

  // ---- setup ---------------------------------------------------------------------------------------

  openEvents(): void {
    this.fifo = fs.openSync(this.o.events, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  }

  /** Writes the ring registers (indices from `startIndex`) and IRQ_STATUS RESET, the value after reset (§9.1). */
  start(startIndex = 0): void {
    const r = this.r;
    const start = startIndex >>> 0;
    this.cmdHead = start;
    this.cplTail = start;
    this.hostCmdTail = start;
    this.hostCplHead = start;
    this.writeDescription();
    for (const reg of [r.cmdHead, r.cmdTail, r.cplHead, r.cplTail]) this.put(reg, start);
    this.irqPending = IrqBit.RESET;
    this.writeIrqStatus();
  }

  /** The registers that describe the rings. */
  writeDescription(): void {
    const r = this.r;
    const l = this.o.layout;
    this.put(r.cmdRingOffset, l.cmdOffset);
    this.put(r.cmdRingEntries, l.cmdEntries);
    this.put(r.cplRingOffset, l.cplOffset);
    this.put(r.cplRingEntries, l.cplEntries);
    this.put(r.descSize, l.descSize);
  }

  /**
   * §10.4: every index and head/tail 0, IRQ_MASK and DOORBELL 0, nothing queued, IRQ_STATUS 0 until the caller
   * raises RESET (the owner zeroes the ring memory). Returns how many queued messages were dropped.
   */
  reset(): number {
    const r = this.r;
    this.count('ringResets');
    const dropped = this.queued;
    this.clearQueue();
    this.tornCmd = undefined;
    this.cmdHead = 0;
    this.cplTail = 0;
    this.hostCmdTail = 0;
    this.hostCplHead = 0;
    for (const reg of [r.cmdHead, r.cmdTail, r.cplHead, r.cplTail]) this.put(reg, 0);
    this.put(r.irqMask, 0);
    this.irqMask = 0;
    this.put(r.doorbell, 0);
    this.cplHeadAtReset = 0;
    this.irqPending = 0;
    return dropped;
  }

  close(): void {
    if (this.tornRetry) clearTimeout(this.tornRetry);
    this.tornRetry = undefined;
    if (this.fifo >= 0) fs.closeSync(this.fifo);
    this.fifo = -1;
  }

  // ---- board side ----------------------------------------------------------------------------------

  enqueue(message: Buffer): void {
    this.out.push(message);
  }

  clearQueue(): void {
    this.out.length = 0;
    this.outHead = 0;
  }

  // ---- window access -------------------------------------------------------------------------------

  put(offset: number, value: number): void {
    this.word.writeUInt32LE(value >>> 0, 0);
    fs.writeSync(this.o.fd(), this.word, 0, 4, offset);
  }

  private get32(offset: number): number {
    fs.readSync(this.o.fd(), this.word, 0, 4, offset);
    return this.word.readUInt32LE(0);
  }

  /** A word the host writes: two equal reads (a 4-byte read of a shared file is not guaranteed atomic). */
  getStable(offset: number): number {
    let a = this.get32(offset);
    for (let i = 0; i < 8; i++) {
      const b = this.get32(offset);
      if (a === b) return a;
      a = b;
    }
    return a;
  }

  /** A word of this pass's snapshot. */
  snapshotWord(offset: number): number {
    return this.snap.readUInt32LE(offset - this.o.snapshot.offset);
  }

  // ---- interrupts ----------------------------------------------------------------------------------

  private writeIrqStatus(): void {
    this.put(this.r.irqStatus, this.irqPending);
    this.irqWritten = this.irqPending;
  }

  /** The host wrote 1s to IRQ_STATUS (RW1C). */
  clearIrq(bits: number): void {
    this.irqPending = (this.irqPending & ~bits) >>> 0;
    this.writeIrqStatus();
  }

  /** Sets `bits` in IRQ_STATUS and interrupts if any is enabled (RESET: always, §10.4). */
  raise(bits: number): void {
    this.irqPending = (this.irqPending | bits) >>> 0;
    this.writeIrqStatus();
    if ((bits & (this.irqMask | IrqBit.RESET)) !== 0) this.interrupt(bits);
  }

  /** A u32 of the bits raised into the FIFO; dropped when the pipe is full (interrupts are pending anyway). */
  interrupt(bits: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(bits >>> 0, 0);
    try {
      fs.writeSync(this.fifo, b);
      this.count('interruptsRaised');
    } catch (err) {
      this.count('interruptsDropped');
      if ((err as { code?: string }).code !== 'EAGAIN')
        this.o.log.debug({ ...this.o.logFields, err }, 'interrupt not delivered');
    }
  }

  // ---- service -------------------------------------------------------------------------------------

  /** One pass: host writes, commands, completions, IRQ bits whose cause is gone. */
  service(now: number): void {
    const r = this.r;
    const l = this.o.layout;
    fs.readSync(this.o.fd(), this.snap, 0, this.snap.length, this.o.snapshot.offset);
    if (this.snapshotWord(r.doorbell) !== 0) {
      this.count('doorbells');
      this.put(r.doorbell, 0); // WO: reads as 0
    }
    const irqWord = this.snapshotWord(r.irqStatus);
    if (irqWord !== this.irqWritten) this.clearIrq(irqWord); // the host wrote 1s: RW1C
    this.irqMask = this.snapshotWord(r.irqMask) & IRQ_ALL;
    const cmdTail = this.getStable(r.cmdTail);
    if ((cmdTail - this.cmdHead) >>> 0 <= l.cmdEntries) this.hostCmdTail = cmdTail;
    const cplHead = this.getStable(r.cplHead);
    if ((this.cplTail - cplHead) >>> 0 <= l.cplEntries) this.hostCplHead = cplHead;
    // After CMD_TAIL (§10.5): a host writes its session before its first command, so every command seen belongs
    // to the session read now (read first, a new host's HELLO could pass for the earlier host's, or be dropped).
    this.o.beforeRings?.(now);

    const epoch = this.o.epoch();
    this.consumeCommands();
    if (epoch !== this.o.epoch() || !this.o.live()) return; // a command reset the board: the next pass starts afresh
    this.produceCompletions();

    // Causes gone: clear their bits (the RW1C stand-in).
    let clear = 0;
    if ((this.irqPending & IrqBit.CPL) !== 0 && this.hostCplHead === this.cplTail) clear |= IrqBit.CPL;
    if ((this.irqPending & IrqBit.CMD_SPACE) !== 0 && this.hostCmdTail !== this.cmdTailAtSpace)
      clear |= IrqBit.CMD_SPACE;
    if (
      (this.irqPending & IrqBit.RESET) !== 0 &&
      this.cplHeadAtReset !== undefined &&
      this.hostCplHead !== this.cplHeadAtReset
    ) {
      clear |= IrqBit.RESET;
    }
    if (clear) this.clearIrq(clear);
  }

  private consumeCommands(): void {
    const l = this.o.layout;
    const epoch = this.o.epoch();
    const wasFull = (this.hostCmdTail - this.cmdHead) >>> 0 === l.cmdEntries;
    if (wasFull) this.count('cmdRingFullSeen');
    let consumed = 0;
    while (this.cmdHead !== this.hostCmdTail && !this.o.paused?.()) {
      // Answers need room: hold commands while a ring's worth of completions waits (the host is not reading).
      if (this.queued >= l.cplEntries) {
        this.count('completionBackpressure');
        break;
      }
      const at = l.cmdOffset + (this.cmdHead & (l.cmdEntries - 1)) * l.descSize;
      const first = parseRingFirstWord(this.get32(at));
      let problem: string | undefined;
      let message: Buffer | undefined;
      if (!first.valid) problem = 'not valid';
      else if (first.index !== (this.cmdHead & 0xff)) problem = `index ${first.index}`;
      else if (first.length > this.o.maxMessage) problem = `length ${first.length}`;
      else {
        // The body in one access (device memory); a fresh buffer: DeviceCore keeps SEND data without copying.
        const body = Buffer.allocUnsafe(4 + first.length);
        fs.readSync(this.o.fd(), body, 0, 4 + first.length, at + 4);
        message = body.subarray(4);
        if (crc32(message) !== body.readUInt32LE(0)) problem = 'bad CRC';
      }
      if (problem) {
        if (!this.tornCommandSeen(problem, at)) break;
        message = undefined; // a fault: consumed, answered with ERROR_RESPONSE
      } else {
        this.tornCmd = undefined;
      }
      this.put(at, 0);
      this.cmdHead = (this.cmdHead + 1) >>> 0;
      consumed++;
      this.count('commandsConsumed');
      this.o.deliver(message);
      if (epoch !== this.o.epoch() || !this.o.live()) return;
    }
    if (consumed) {
      this.put(this.r.cmdHead, this.cmdHead);
      if (wasFull) {
        this.cmdTailAtSpace = this.hostCmdTail;
        this.raise(IrqBit.CMD_SPACE);
      }
    }
  }

  /** A torn command descriptor: false = wait and re-read; true = it stayed torn for 1 s: consume it as a fault. */
  private tornCommandSeen(problem: string, at: number): boolean {
    const now = Date.now();
    const log = { ...this.o.logFields, index: this.cmdHead, problem };
    if (!this.tornCmd || this.tornCmd.index !== this.cmdHead) {
      this.tornCmd = { index: this.cmdHead, since: now };
      this.count('tornCommands');
      this.o.log.debug(log, 'torn or stale command descriptor: not acted on');
    } else if (now - this.tornCmd.since > TORN_TIMEOUT_MS) {
      this.count('tornFaults');
      this.o.log.warn({ ...log, at }, 'command descriptor still invalid after 1 s: fault');
      this.tornCmd = undefined;
      return true;
    }
    this.tornRetry ??= setTimeout(() => {
      this.tornRetry = undefined;
      this.o.retry();
    }, 5);
    return false;
  }

  private produceCompletions(): void {
    const l = this.o.layout;
    let produced = 0;
    while (this.outHead < this.out.length && !this.o.holdCompletions?.()) {
      if ((this.cplTail - this.hostCplHead) >>> 0 >= l.cplEntries) break;
      const msg = this.out[this.outHead] as Buffer;
      this.out[this.outHead++] = undefined as unknown as Buffer;
      const at = l.cplOffset + (this.cplTail & (l.cplEntries - 1)) * l.descSize;
      if (!this.o.writeCompletion?.(at, this.cplTail, msg)) this.writeDescriptor(at, this.cplTail, msg);
      this.cplTail = (this.cplTail + 1) >>> 0;
      produced++;
      this.count('completionsProduced');
    }
    if (this.outHead === this.out.length) {
      this.clearQueue();
    } else if (this.outHead > 4096) {
      this.out.splice(0, this.outHead);
      this.outHead = 0;
    }
    if (produced) {
      this.put(this.r.cplTail, this.cplTail);
      this.raise(IrqBit.CPL);
    }
  }

  /** §10.3 producer step 2: body (CRC, message) in one access, then the first word, last. */
  private writeDescriptor(at: number, index: number, msg: Buffer): void {
    const body = Buffer.allocUnsafe(4 + msg.length);
    body.writeUInt32LE(crc32(msg), 0);
    msg.copy(body, 4);
    fs.writeSync(this.o.fd(), body, 0, body.length, at + 4);
    this.put(at, ringFirstWord(msg.length, index));
  }

  private count(counter: RingCounter): void {
    const s = this.o.stats;
    const v = s[counter];
    if (v !== undefined) s[counter] = v + 1;
  }
}

/** §10.3: a command descriptor that stayed invalid is answered with ERROR_RESPONSE (tag 0, E_INTERNAL). */
export function faultResponse(): Buffer {
  return encodeMessage({
    kind: 'error',
    name: 'ERROR_RESPONSE',
    tag: 0,
    status: StatusCode.E_INTERNAL,
    body: { offendingOpcode: 0 },
  });
}
