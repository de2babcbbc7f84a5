/**
 * One extra ring pair of the simulated PCIe window (PROTOCOL.md §10.5): the rings of channel c ≥ 1, described by
 * a block of the channel ring table, with its own interrupt FIFO (`<events>.<c>`). pcie-server.ts (PcieShim) owns
 * the window file, its inotify watcher and the device reset; it places the pairs, services them in its passes
 * and resets them with channel 0's rings. A pair is the host endpoint of its channel on the board.
 *
 * The link a pair stands for: up (Board.attachEndpoint, which reports channelUp) when the host writes a new
 * non-zero HOST_SESSION; down (detach: channelDown, the channel timeout runs) when HOST_SESSION is 0 or
 * HOST_HEARTBEAT stayed unchanged for hostDeadMs. Commands in the rings while no host session is up are
 * consumed and dropped (nobody would read their answers).
 *
 * Ring handling is channel 0's (§10.3): torn or stale command descriptors are re-read and never acted on, a fault
 * after 1 s; completions are produced in order while the ring has room, never dropped; IRQ bits whose cause is
 * gone are cleared (the RW1C stand-in of a shared file, see pcie-server.ts).
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import {
  ChannelRingField,
  crc32,
  encodeMessage,
  IrqBit,
  parseRingFirstWord,
  RING_DESCRIPTOR_HEADER,
  ringFirstWord,
  StatusCode,
} from '../src/protocol/index.js';
import { CHANNEL_RING_STRIDE } from '../src/protocol/index.js';
import type { PcieBoard, PcieHostEndpoint } from './pcie-server.js';

/** Where one pair lives in the window. */
export interface ChannelPairGeometry {
  channel: number;
  /** The block in the channel ring table. */
  block: number;
  cmdOffset: number;
  cmdEntries: number;
  cplOffset: number;
  cplEntries: number;
  descSize: number;
  /** The pair's interrupt FIFO. */
  events: string;
}

export interface ChannelPairStats {
  commandsConsumed: number;
  commandsDropped: number;
  completionsProduced: number;
  interruptsRaised: number;
  interruptsDropped: number;
  tornCommands: number;
  tornFaults: number;
  sessions: number;
  hostsGone: number;
  ringResets: number;
}

/** What a pair needs of the shim that serves the window. */
export interface ChannelPairContext {
  readonly board: PcieBoard;
  readonly log: Logger;
  readonly fd: number;
  /** Service the window soon (a message to produce, a torn descriptor to re-read). */
  kick(): void;
  /** The board reset since the shim last looked: the shim resets every pair now (before a message is queued). */
  checkEpoch(): void;
  /** The window is served (not closed, not vanished). */
  live(): boolean;
  /** The epoch the rings belong to; a change during a pass stops consuming. */
  epoch(): number;
}

const IRQ_ALL = IrqBit.CPL | IrqBit.CMD_SPACE | IrqBit.RESET;
const TORN_TIMEOUT_MS = 1000;
const F = ChannelRingField;

export class PcieChannelPair implements PcieHostEndpoint {
  readonly geometry: Readonly<ChannelPairGeometry>;
  readonly stats: ChannelPairStats = {
    commandsConsumed: 0,
    commandsDropped: 0,
    completionsProduced: 0,
    interruptsRaised: 0,
    interruptsDropped: 0,
    tornCommands: 0,
    tornFaults: 0,
    sessions: 0,
    hostsGone: 0,
    ringResets: 0,
  };
  private readonly ctx: ChannelPairContext;
  private readonly hostDeadMs: number;
  private fifo = -1;
  private closed = false;
  private attached: { message(bytes: Buffer): void; detach(): void } | undefined;
  private cmdHead = 0;
  private cplTail = 0;
  private hostCmdTail = 0;
  private hostCplHead = 0;
  private irqPending = 0;
  private irqWritten = 0;
  private irqMask = 0;
  private cmdTailAtSpace = 0;
  private cplHeadAtReset: number | undefined;
  private out: Buffer[] = [];
  private tornCmd: { index: number; since: number } | undefined;
  private tornRetry: NodeJS.Timeout | undefined;
  /** HOST_SESSION last seen, the one found dead (not taken up again), HOST_HEARTBEAT and when it changed. */
  private session = 0;
  private deadSession = 0;
  private heartbeat = 0;
  private heartbeatAt = 0;
  private readonly word = Buffer.alloc(4);
  private readonly block = Buffer.alloc(CHANNEL_RING_STRIDE);

  constructor(ctx: ChannelPairContext, geometry: ChannelPairGeometry, hostDeadMs: number) {
    this.ctx = ctx;
    this.geometry = geometry;
    this.hostDeadMs = hostDeadMs;
  }

  get isUp(): boolean {
    return !this.closed && this.attached !== undefined && this.ctx.live();
  }

  private get maxMessage(): number {
    return this.geometry.descSize - RING_DESCRIPTOR_HEADER;
  }

  /** Opens the FIFO and writes the block (values after reset). `fifo` is created by the caller. */
  start(): void {
    this.fifo = fs.openSync(this.geometry.events, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    this.put(F.HOST_SESSION, 0);
    this.put(F.HOST_HEARTBEAT, 0);
    this.writeBlock();
    this.irqPending = IrqBit.RESET; // value after reset (§9.1)
    this.writeIrqStatus();
  }

  private writeBlock(): void {
    const g = this.geometry;
    this.put(F.CHANNEL, g.channel);
    this.put(F.CMD_RING_OFFSET, g.cmdOffset);
    this.put(F.CMD_RING_ENTRIES, g.cmdEntries);
    this.put(F.CPL_RING_OFFSET, g.cplOffset);
    this.put(F.CPL_RING_ENTRIES, g.cplEntries);
    this.put(F.RING_DESC_SIZE, g.descSize);
    this.put(F.IRQ_VECTOR, g.channel);
    for (const f of [F.CMD_HEAD, F.CMD_TAIL, F.CPL_HEAD, F.CPL_TAIL, F.DOORBELL, F.IRQ_MASK]) this.put(f, 0);
  }

  // ---- board side ------------------------------------------------------------------------------------

  send(message: Buffer): boolean {
    if (this.closed || !this.ctx.live()) return false;
    this.ctx.checkEpoch();
    this.out.push(message);
    this.ctx.kick();
    return true;
  }

  cork(): void {
    // completions are produced in the shim's next pass anyway
  }

  uncork(): void {
    // see cork()
  }

  // ---- window access ---------------------------------------------------------------------------------

  private put(field: number, value: number): void {
    this.word.writeUInt32LE(value >>> 0, 0);
    fs.writeSync(this.ctx.fd, this.word, 0, 4, this.geometry.block + field);
  }

  private putAt(offset: number, value: number): void {
    this.word.writeUInt32LE(value >>> 0, 0);
    fs.writeSync(this.ctx.fd, this.word, 0, 4, offset);
  }

  private get(field: number): number {
    fs.readSync(this.ctx.fd, this.word, 0, 4, this.geometry.block + field);
    return this.word.readUInt32LE(0);
  }

  /** A word the host writes: two equal reads. */
  private getStable(field: number): number {
    let a = this.get(field);
    for (let i = 0; i < 8; i++) {
      const b = this.get(field);
      if (a === b) return a;
      a = b;
    }
    return a;
  }

  private writeIrqStatus(): void {
    this.put(F.IRQ_STATUS, this.irqPending);
    this.irqWritten = this.irqPending;
  }

  private raise(bits: number): void {
    this.irqPending = (this.irqPending | bits) >>> 0;
    this.writeIrqStatus();
    if ((bits & (this.irqMask | IrqBit.RESET)) !== 0) this.interrupt(bits);
  }

  private interrupt(bits: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(bits >>> 0, 0);
    try {
      fs.writeSync(this.fifo, b);
      this.stats.interruptsRaised++;
    } catch {
      // EAGAIN: the pipe is full, the host has interrupts pending anyway
      this.stats.interruptsDropped++;
    }
  }

  // ---- service (called by the shim's pass) -----------------------------------------------------------

  service(now: number): void {
    if (this.closed) return;
    const g = this.geometry;
    fs.readSync(this.ctx.fd, this.block, 0, CHANNEL_RING_STRIDE, g.block);
    if (this.block.readUInt32LE(F.DOORBELL) !== 0) this.put(F.DOORBELL, 0);
    const irqWord = this.block.readUInt32LE(F.IRQ_STATUS);
    if (irqWord !== this.irqWritten) {
      this.irqPending = (this.irqPending & ~irqWord) >>> 0;
      this.writeIrqStatus();
    }
    this.irqMask = this.block.readUInt32LE(F.IRQ_MASK) & IRQ_ALL;
    this.hostLiveness(now);
    const cmdTail = this.getStable(F.CMD_TAIL);
    if ((cmdTail - this.cmdHead) >>> 0 <= g.cmdEntries) this.hostCmdTail = cmdTail;
    const cplHead = this.getStable(F.CPL_HEAD);
    if ((this.cplTail - cplHead) >>> 0 <= g.cplEntries) this.hostCplHead = cplHead;
    const epoch = this.ctx.epoch();
    this.consumeCommands(now);
    if (epoch !== this.ctx.epoch() || this.closed) return;
    this.produceCompletions();
    let clear = 0;
    if ((this.irqPending & IrqBit.CPL) !== 0 && this.hostCplHead === this.cplTail) clear |= IrqBit.CPL;
    if ((this.irqPending & IrqBit.CMD_SPACE) !== 0 && this.hostCmdTail !== this.cmdTailAtSpace)
      clear |= IrqBit.CMD_SPACE;
    if (
      (this.irqPending & IrqBit.RESET) !== 0 &&
      this.cplHeadAtReset !== undefined &&
      this.hostCplHead !== this.cplHeadAtReset
    )
      clear |= IrqBit.RESET;
    if (clear) {
      this.irqPending = (this.irqPending & ~clear) >>> 0;
      this.writeIrqStatus();
    }
  }

  /** §10.5: HOST_SESSION starts and ends the channel's link, HOST_HEARTBEAT shows the host alive. */
  private hostLiveness(now: number): void {
    const session = this.getStable(F.HOST_SESSION);
    const beat = this.block.readUInt32LE(F.HOST_HEARTBEAT);
    if (beat !== this.heartbeat) {
      this.heartbeat = beat;
      this.heartbeatAt = now;
    }
    if (session !== this.session) {
      this.session = session;
      if (session !== 0 && session !== this.deadSession) {
        this.heartbeatAt = now;
        this.stats.sessions++;
        this.out = []; // answers to an earlier host's tags: the new host discards its ring, and these with it
        this.ctx.log.info({ channel: this.geometry.channel, session }, 'PCIe channel host up');
        // A new session is a link start (§11), also while the previous one is still attached.
        this.attached = this.ctx.board.attachEndpoint(this, this.maxMessage, this.geometry.channel);
        return;
      }
    }
    if (!this.attached) return;
    if (session === 0) this.hostGone('the host left (HOST_SESSION 0)');
    else if (now - this.heartbeatAt > this.hostDeadMs) {
      this.deadSession = session;
      this.hostGone(`HOST_HEARTBEAT unchanged for ${this.hostDeadMs} ms`);
    }
  }

  private hostGone(why: string): void {
    this.stats.hostsGone++;
    this.ctx.log.info(
      { channel: this.geometry.channel, why },
      'PCIe channel host gone: the channel timeout runs',
    );
    const a = this.attached;
    this.attached = undefined;
    this.out = [];
    a?.detach();
  }

  private consumeCommands(now: number): void {
    const g = this.geometry;
    const epoch = this.ctx.epoch();
    const wasFull = (this.hostCmdTail - this.cmdHead) >>> 0 === g.cmdEntries;
    let consumed = 0;
    while (this.cmdHead !== this.hostCmdTail) {
      if (this.out.length >= g.cplEntries) break; // answers need room: the host is not reading
      const at = g.cmdOffset + (this.cmdHead & (g.cmdEntries - 1)) * g.descSize;
      fs.readSync(this.ctx.fd, this.word, 0, 4, at);
      const first = parseRingFirstWord(this.word.readUInt32LE(0));
      let message: Buffer | undefined;
      let problem: string | undefined;
      if (!first.valid) problem = 'not valid';
      else if (first.index !== (this.cmdHead & 0xff)) problem = `index ${first.index}`;
      else if (first.length > this.maxMessage) problem = `length ${first.length}`;
      else {
        const body = Buffer.allocUnsafe(4 + first.length); // fresh: the board keeps SEND data without copying
        fs.readSync(this.ctx.fd, body, 0, 4 + first.length, at + 4);
        message = body.subarray(4);
        if (crc32(message) !== body.readUInt32LE(0)) problem = 'bad CRC';
      }
      if (problem) {
        if (!this.tornCommandSeen(problem, now)) break;
        message = undefined;
      } else this.tornCmd = undefined;
      this.putAt(at, 0);
      this.cmdHead = (this.cmdHead + 1) >>> 0;
      consumed++;
      this.stats.commandsConsumed++;
      if (!this.attached) this.stats.commandsDropped++;
      else if (message) this.attached.message(message);
      else this.out.push(faultResponse());
      if (epoch !== this.ctx.epoch() || this.closed) return;
    }
    if (consumed) {
      this.put(F.CMD_HEAD, this.cmdHead);
      if (wasFull) {
        this.cmdTailAtSpace = this.hostCmdTail;
        this.raise(IrqBit.CMD_SPACE);
      }
    }
  }

  /** false: wait and re-read; true: torn for 1 s, consume it as a fault (§10.3). */
  private tornCommandSeen(problem: string, now: number): boolean {
    if (!this.tornCmd || this.tornCmd.index !== this.cmdHead) {
      this.tornCmd = { index: this.cmdHead, since: now };
      this.stats.tornCommands++;
    } else if (now - this.tornCmd.since > TORN_TIMEOUT_MS) {
      this.stats.tornFaults++;
      this.ctx.log.warn(
        { channel: this.geometry.channel, index: this.cmdHead, problem },
        'torn command: fault',
      );
      this.tornCmd = undefined;
      return true;
    }
    this.tornRetry ??= setTimeout(() => {
      this.tornRetry = undefined;
      this.ctx.kick();
    }, 5);
    return false;
  }

  private produceCompletions(): void {
    const g = this.geometry;
    let produced = 0;
    let i = 0;
    for (; i < this.out.length; i++) {
      if ((this.cplTail - this.hostCplHead) >>> 0 >= g.cplEntries) break;
      const msg = this.out[i] as Buffer;
      const at = g.cplOffset + (this.cplTail & (g.cplEntries - 1)) * g.descSize;
      const body = Buffer.allocUnsafe(4 + msg.length);
      body.writeUInt32LE(crc32(msg), 0);
      msg.copy(body, 4);
      fs.writeSync(this.ctx.fd, body, 0, body.length, at + 4);
      this.putAt(at, ringFirstWord(msg.length, this.cplTail)); // the first word last (§10.3)
      this.cplTail = (this.cplTail + 1) >>> 0;
      produced++;
      this.stats.completionsProduced++;
    }
    if (i > 0) this.out = this.out.slice(i);
    if (produced) {
      this.put(F.CPL_TAIL, this.cplTail);
      this.raise(IrqBit.CPL);
    }
  }

  /** §10.5: the device reset; the shim has zeroed the rings. The host's session words stay. */
  reset(): void {
    this.stats.ringResets++;
    this.out = [];
    this.tornCmd = undefined;
    this.cmdHead = 0;
    this.cplTail = 0;
    this.hostCmdTail = 0;
    this.hostCplHead = 0;
    this.irqMask = 0;
    this.cplHeadAtReset = 0;
    this.irqPending = 0;
    this.writeBlock();
    this.raise(IrqBit.RESET);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tornRetry) clearTimeout(this.tornRetry);
    const a = this.attached;
    this.attached = undefined;
    a?.detach();
    if (this.fifo >= 0) fs.closeSync(this.fifo);
    this.fifo = -1;
    try {
      fs.unlinkSync(this.geometry.events);
    } catch {
      // already gone
    }
  }
}

/** §10.3: a command descriptor that stayed invalid is answered with ERROR_RESPONSE (tag 0, E_INTERNAL). */
function faultResponse(): Buffer {
  return encodeMessage({
    kind: 'error',
    name: 'ERROR_RESPONSE',
    tag: 0,
    status: StatusCode.E_INTERNAL,
    body: { offendingOpcode: 0 },
  });
}
