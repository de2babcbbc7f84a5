/**
 * The PCIe ring channel (PROTOCOL.md §10): the MessageChannel of a board on PCIe. No framing and no link layer:
 * each message travels in one descriptor of the command ring (host → device) or of the completion ring
 * (device → host), in the card's register window (src/transport/pcie-window.ts).
 *
 * start()      reads MAGIC, VERSION, CAPS (PCIE_RINGS), BOOT_EPOCH, the ring registers and RING_DESC_SIZE (each
 *              overridable), waits until the device consumed what an earlier host left in the command ring,
 *              discards the completions an earlier host left, sets IRQ_MASK (event device) and is up.
 * send()       queues the message; descriptors are written in batches (a microtask later): body (CRC + message),
 *              then the first word as one 32-bit write, then CMD_TAIL once and DOORBELL once per batch. A full
 *              ring makes the sender wait (the queue holds the messages; send() returns false past the high-water
 *              mark, 'drain' follows) until CMD_HEAD moves: CMD_SPACE interrupt, poll or heartbeat.
 * completions  on an interrupt (a wake-up of the event device) or at each poll: IRQ_STATUS read and written back
 *              (RW1C), MAGIC and BOOT_EPOCH checked, then the completion ring drained until CPL_HEAD = CPL_TAIL,
 *              re-reading CPL_TAIL. A descriptor is acted on only if VALID, its index, its length and its CRC are
 *              right; otherwise it is torn or stale: it is re-read (next interrupt or poll, and on a short timer)
 *              and never acted on; still invalid after tornTimeoutMs (1 s) it is a device fault (consumed,
 *              'reset': the Device re-handshakes). Pointers are read twice (equal values) and a value implying
 *              more than `entries` descriptors is read again. Indices are free-running u32, `index mod entries`.
 * reset        a changed BOOT_EPOCH (MAGIC lost meanwhile or not; while MAGIC is lost nothing is written to the
 *              rings, and MAGIC back in the same epoch was a glitch): the ring state is discarded (messages not yet in the
 *              ring too), CMD_TAIL / CPL_HEAD restart at 0, IRQ_MASK is set again, 'reset' is emitted (the Device
 *              fails what was in flight and says HELLO again; the BOOT event in the ring shows the new epoch).
 * down         MAGIC not back within deadTimeoutMs (0xFFFFFFFF: the card is gone), UPTIME_MS stuck for
 *              deadTimeoutMs (§10.4: it must count), or the window failing: 'down'
 *              (E_OFFLOAD_LINK_DOWN), the window is closed.
 * heartbeat    every heartbeatMs the device is checked and the rings serviced even without interrupts (a lost
 *              interrupt costs at most that long).
 * channels     channel 0 uses the ring registers of §9.1. Another channel (option `channel`, §10.5) uses the block
 *              of the channel ring table whose CHANNEL matches (none: E_OFFLOAD_NO_CHANNEL): the same ring code on
 *              that block's registers, plus a fresh HOST_SESSION at start, once the command ring is empty (0 at close), and HOST_HEARTBEAT changed
 *              at every heartbeat (at most 1 s apart), by which the device tells its host alive.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { type Logger, pino } from 'pino';
import {
  Capability,
  crc32,
  encodeMessage,
  IrqBit,
  Limits,
  Opcode,
  PROTOCOL_VERSION,
  parseRingFirstWord,
  REGISTERS,
  Register,
  RING_DESCRIPTOR_HEADER,
  RegisterWindow,
  ringFirstWord,
  type StatusCodeName,
  CHANNEL0_RING_REGISTERS,
  CHANNEL_RING_STRIDE,
  ChannelRingField,
  channelBlockRegisters,
  type RingRegisters,
} from '../protocol/index.js';
import { TransportError, TransportErrorCode } from '../transport/errors.js';
import { PcieWindowTransport, pcieUrlOptions } from '../transport/pcie-window.js';
import { formatDeviceUrl, type PcieUrl, parseDeviceUrl } from '../transport/url.js';
import type { MessageChannel, RegisterPort } from './channel.js';
import { LinkError, LinkErrorCode } from './errors.js';
import { type LinkCounters, type LinkEvents, type LinkParams, newLinkCounters } from './link.js';

export interface PcieRingOptions {
  /** Polling interval (ms) when the window has no event device. Default 1. */
  pollMs?: number;
  /** Check the device and service the rings at least this often (ms). Default 1000. */
  heartbeatMs?: number;
  /** 'down' after the device is gone (MAGIC) or stopped (UPTIME_MS) this long (ms). Default 3000. */
  deadTimeoutMs?: number;
  /** start(): how long the device may take to consume what an earlier host left (ms). Default 3000. */
  startTimeoutMs?: number;
  /** A descriptor still torn after this long (ms) is a device fault. Default 1000 (PROTOCOL.md §10.3). */
  tornTimeoutMs?: number;
  /** send() returns false once this many message bytes wait for the ring. Default 256 KiB. */
  highWaterMark?: number;
  /** Overrides of the ring registers (hosts read them; these win). */
  cmdRingOffset?: number;
  cmdRingEntries?: number;
  cplRingOffset?: number;
  cplRingEntries?: number;
  descSize?: number;
  /**
   * The channel (PROTOCOL.md §10.5): 0 (default) uses the ring registers of §9.1; another the pair the device's
   * channel ring table gives it (E_OFFLOAD_NO_CHANNEL when it has none).
   */
  channel?: number;
  logger?: Logger;
  name?: string;
}

/** What the rings count beyond the LinkCounters (descriptors are counted there as frames). */
export interface PcieRingCounters {
  /** Service passes started by an interrupt, by the poll timer, by the heartbeat. */
  interruptPasses: number;
  pollPasses: number;
  heartbeatPasses: number;
  /** Interrupt passes that found nothing to do. */
  /** IRQ_STATUS.RESET found raised (and cleared, RW1C) by a service pass or a reset: the device announced a reset. */
  resetInterrupts: number;
  spuriousInterrupts: number;
  /** Times the command ring was found full with messages waiting (the sender waited). */
  ringFull: number;
  /** Descriptors found torn or stale (each counted once), and those given up on as faults. */
  tornDescriptors: number;
  tornFaults: number;
  /** Pointer reads that disagreed or were impossible, and were read again. */
  pointerRereads: number;
  /** Completions an earlier host left, discarded at start(). */
  staleDiscarded: number;
  /** Most descriptors seen in the command ring at once. */
  cmdRingHighWater: number;
}

interface Geometry {
  cmdOffset: number;
  cmdEntries: number;
  cplOffset: number;
  cplEntries: number;
  descSize: number;
  maxMessage: number;
}

const IRQ_ALL = IrqBit.CPL | IrqBit.CMD_SPACE | IrqBit.RESET;
const ACCESS = new Map(REGISTERS.map((r) => [r.offset, r.access]));
/** Registers the ring channel owns: writing them from outside would corrupt the rings. */
const RING_OWNED: ReadonlySet<number> = new Set([Register.CMD_TAIL, Register.CPL_HEAD]);
/** Completions drained in one pass before yielding to the event loop. */
const MAX_PER_PASS = 1024;
/** Update CPL_HEAD every so many completions within a pass, so a device waiting for room can go on. */
const HEAD_UPDATE_EVERY = 16;

let silent: Logger | undefined;
function silentLogger(): Logger {
  silent ??= pino({ level: 'silent' });
  return silent;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

type State = 'idle' | 'starting' | 'up' | 'down' | 'closed';

export class PcieRingChannel extends EventEmitter<LinkEvents> implements MessageChannel {
  readonly name: string;
  readonly channel: number;
  readonly counters: LinkCounters = newLinkCounters();
  readonly pcie: PcieRingCounters = {
    interruptPasses: 0,
    pollPasses: 0,
    heartbeatPasses: 0,
    resetInterrupts: 0,
    spuriousInterrupts: 0,
    ringFull: 0,
    tornDescriptors: 0,
    tornFaults: 0,
    pointerRereads: 0,
    staleDiscarded: 0,
    cmdRingHighWater: 0,
  };
  readonly registers: RegisterPort;
  private readonly log: Logger;
  private readonly w: PcieWindowTransport;
  private readonly opts: PcieRingOptions;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly deadTimeoutMs: number;
  private readonly tornTimeoutMs: number;
  private readonly highWaterMark: number;
  private state: State = 'idle';
  private geo: Geometry | undefined;
  private agreed: LinkParams | undefined;
  private epoch = 0;
  /** Next command descriptor we fill; last CMD_HEAD seen. */
  private cmdTail = 0;
  private cmdHead = 0;
  /** Next completion we consume. */
  private cplHead = 0;
  private readonly queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private needDrain = false;
  private waitingForSpace = false;
  private inPass = false;
  private passAgain = false;
  private passScheduled = false;
  private pumpScheduled = false;
  private torn: { index: number; since: number } | undefined;
  private tornTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private absentSince: number | undefined;
  private uptime = { value: -1, changedAt: 0 };
  private downError: LinkError | undefined;
  private startPromise: Promise<LinkParams> | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly body: Buffer;
  /** The registers of our pair (channel 0's of §9.1, or a block of the channel ring table). */
  private rr: Readonly<RingRegisters> = CHANNEL0_RING_REGISTERS;
  private hostBeat = 0;

  constructor(window: PcieWindowTransport, opts: PcieRingOptions = {}) {
    super();
    this.w = window;
    this.opts = opts;
    this.name = opts.name ?? `host@${window.description}`;
    this.channel = opts.channel ?? 0;
    if (!Number.isInteger(this.channel) || this.channel < 0 || this.channel > 255)
      throw new LinkError(
        LinkErrorCode.BAD_OPTION,
        `${this.name}: channel must be 0..255 (got ${this.channel})`,
      );
    this.log = (opts.logger ?? silentLogger()).child({
      link: this.name,
      channel: this.channel,
      transport: 'pcie',
    });
    this.pollMs = opts.pollMs ?? 1;
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.deadTimeoutMs = opts.deadTimeoutMs ?? 3000;
    this.tornTimeoutMs = opts.tornTimeoutMs ?? 1000;
    this.highWaterMark = opts.highWaterMark ?? 256 * 1024;
    this.body = Buffer.alloc(Limits.maxPayloadAbsolute + 8);
    this.registers = {
      read: (offset, count) => this.readRegisters(offset, count),
      write: (offset, value) => this.writeRegister(offset, value),
    };
  }

  get params(): LinkParams | undefined {
    return this.agreed ? { ...this.agreed } : undefined;
  }
  get isUp(): boolean {
    return this.state === 'up';
  }
  /** The ring geometry in use (after start). */
  get geometry(): Readonly<Geometry> | undefined {
    return this.geo;
  }
  /** Free-running indices as the host sees them. */
  get indices(): { cmdTail: number; cmdHead: number; cplHead: number } {
    return { cmdTail: this.cmdTail, cmdHead: this.cmdHead, cplHead: this.cplHead };
  }
  /** Messages waiting for room in the command ring. */
  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }
  /** The event device the rings wait on (the pair's own for another channel, §10.5); undefined: polling. */
  get eventsPath(): string | undefined {
    return this.w.hasEvents ? this.w.eventsPath : undefined;
  }

  /** Interrupt mode (event device) or polling. */
  get mode(): 'interrupt' | 'poll' {
    return this.w.hasEvents ? 'interrupt' : 'poll';
  }

  // ---- start ---------------------------------------------------------------------------------------

  start(): Promise<LinkParams> {
    if (this.startPromise) return this.startPromise;
    if (this.state !== 'idle') {
      return Promise.reject(this.downError ?? new LinkError(LinkErrorCode.CLOSED, `${this.name}: closed`));
    }
    if (!this.w.isOpen) {
      return Promise.reject(
        new LinkError(
          LinkErrorCode.NOT_OPEN,
          `${this.name}: open the register window before starting the rings`,
        ),
      );
    }
    this.state = 'starting';
    this.startPromise = this.doStart();
    this.startPromise.catch(() => undefined);
    return this.startPromise;
  }

  private async doStart(): Promise<LinkParams> {
    try {
      this.identify();
      if (this.channel !== 0) this.findPair();
      this.geo = this.readGeometry();
      this.epoch = this.w.read32(Register.BOOT_EPOCH);
      this.uptime = {
        value: this.w.read32(Register.UPTIME_MS),
        changedAt: performance.now(),
      };
      this.cmdTail = this.readPointer(this.rr.cmdTail, undefined);
      this.cmdHead = this.readPointer(this.rr.cmdHead, this.cmdTail, this.geo.cmdEntries, true);
      // What an earlier host left: commands the device is still to consume (their answers are not ours) ...
      const deadline = Date.now() + (this.opts.startTimeoutMs ?? 3000);
      while (this.cmdHead !== this.cmdTail) {
        if (Date.now() > deadline) {
          throw new LinkError(
            LinkErrorCode.NO_ANSWER,
            `${this.name}: the device does not consume its command ring (CMD_HEAD ${this.cmdHead}, CMD_TAIL ${this.cmdTail})`,
          );
        }
        await new Promise((r) => setTimeout(r, 5));
        if (this.state !== 'starting') throw this.closedError();
        this.cmdHead = this.readPointer(this.rr.cmdHead, this.cmdTail, this.geo.cmdEntries, true);
      }
      // Only now, the ring empty, the session: every command the device sees from here on is ours (§10.5).
      if (this.channel !== 0) this.writeSession();
      // And completions nobody consumed: skipped (cleared), never acted on.
      this.cplHead = this.w.read32(this.rr.cplHead);
      this.discardStale();
      this.enableInterrupts();
    } catch (err) {
      if (this.state === 'starting') this.state = 'idle';
      throw err instanceof LinkError ? err : this.asLinkError(err);
    }
    if (this.state !== 'starting') throw this.closedError();
    const geo = this.geo as Geometry;
    this.agreed = { window: geo.cmdEntries, maxPayload: geo.maxMessage, arq: false, peerNonce: this.epoch };
    this.state = 'up';
    this.w.onInterrupt = () => this.serviceSoon('irq');
    this.w.onEventsLost = () => this.startPolling();
    this.w.wakeEvents = () => this.wakeWithPing();
    this.w.once('close', this.onWindowClose);
    if (!this.w.hasEvents) this.startPolling();
    // An extra pair's host shows itself alive at least every second (§10.5).
    const beatMs = this.rr.hostHeartbeat === undefined ? this.heartbeatMs : Math.min(this.heartbeatMs, 1000);
    this.heartbeatTimer = setInterval(() => this.service('heartbeat'), beatMs);
    this.log.debug(
      { geometry: geo, epoch: this.epoch, mode: this.mode, events: this.eventsPath },
      'PCIe rings up',
    );
    this.emit('up', { ...this.agreed });
    // Anything that arrived between the discard and now.
    this.serviceSoon('poll');
    return { ...this.agreed };
  }

  /** MAGIC, VERSION, CAPS: is this a socket-offload window with rings? */
  private identify(): void {
    const magic = this.w.read32(Register.MAGIC);
    if (magic !== Limits.registerMagic) {
      if (magic === 0xffffffff) {
        throw new LinkError(
          LinkErrorCode.NO_ANSWER,
          `${this.name}: MAGIC reads 0xFFFFFFFF: no device (or a dead PCIe link)`,
          {
            magic,
          },
        );
      }
      throw new LinkError(
        LinkErrorCode.NOT_A_DEVICE,
        `${this.name}: MAGIC reads 0x${magic.toString(16).padStart(8, '0')}, not 0x${Limits.registerMagic.toString(16)}: not a socket-offload register window`,
        { magic },
      );
    }
    const version = this.w.read32(Register.VERSION);
    if (version >> 8 !== PROTOCOL_VERSION.major) {
      throw new LinkError(
        LinkErrorCode.NOT_A_DEVICE,
        `${this.name}: the window speaks protocol ${version >> 8}.${version & 0xff}, this driver ${PROTOCOL_VERSION.major}.x`,
        { version },
      );
    }
    const caps = this.w.read32(Register.CAPS);
    if ((caps & Capability.PCIE_RINGS) === 0) {
      throw new LinkError(
        LinkErrorCode.NOT_A_DEVICE,
        `${this.name}: the device does not offer PCIE_RINGS (CAPS 0x${caps.toString(16)})`,
        {
          caps,
        },
      );
    }
  }

  /** §10.5 start-up of channel c ≠ 0: the block of the channel ring table whose CHANNEL is c. */
  private findPair(): void {
    const pair = findChannelPair((offset) => this.w.read32(offset), this.channel);
    if (pair.block !== undefined) {
      this.rr = channelBlockRegisters(pair.block);
      return;
    }
    throw new LinkError(
      LinkErrorCode.NO_CHANNEL,
      `${this.name}: the device offers no ring pair for channel ${this.channel} (${pair.count} extra pair${pair.count === 1 ? '' : 's'}${pair.channels ? '' : ', no CHANNELS'})`,
      { channel: this.channel, pairs: pair.count },
    );
  }

  /**
   * §10.5: a fresh HOST_SESSION tells the device a (new) host serves the pair. Written once the command ring is
   * empty, so that the device, reading HOST_SESSION after CMD_TAIL, takes every later command for this session's.
   */
  private writeSession(): void {
    let session = 0;
    while (session === 0) session = randomBytes(4).readUInt32LE(0);
    this.w.write32(this.rr.hostSession as number, session);
    this.beat();
  }

  /** §10.5: HOST_HEARTBEAT changes while we serve an extra pair. */
  private beat(): void {
    if (this.rr.hostHeartbeat === undefined) return;
    this.hostBeat = (this.hostBeat + 1) >>> 0;
    this.w.write32(this.rr.hostHeartbeat, this.hostBeat);
  }

  private readGeometry(): Geometry {
    const o = this.opts;
    const reg = (r: number) => this.w.read32(r);
    const g = {
      cmdOffset: o.cmdRingOffset ?? reg(this.rr.cmdRingOffset),
      cmdEntries: o.cmdRingEntries ?? reg(this.rr.cmdRingEntries),
      cplOffset: o.cplRingOffset ?? reg(this.rr.cplRingOffset),
      cplEntries: o.cplRingEntries ?? reg(this.rr.cplRingEntries),
      descSize: o.descSize ?? reg(this.rr.descSize),
      maxMessage: 0,
    };
    const problems: string[] = [];
    for (const [what, off] of [
      ['CMD_RING_OFFSET', g.cmdOffset],
      ['CPL_RING_OFFSET', g.cplOffset],
    ] as const) {
      if (off < RegisterWindow.ringsOffset || off % 4 !== 0) problems.push(`${what} 0x${off.toString(16)}`);
    }
    if (!isPowerOfTwo(g.cmdEntries)) problems.push(`CMD_RING_ENTRIES ${g.cmdEntries}`);
    if (!isPowerOfTwo(g.cplEntries)) problems.push(`CPL_RING_ENTRIES ${g.cplEntries}`);
    if (g.descSize % 4 !== 0 || g.descSize < RING_DESCRIPTOR_HEADER + Limits.minMaxPayload)
      problems.push(`RING_DESC_SIZE ${g.descSize}`);
    if (problems.length) {
      throw new LinkError(
        LinkErrorCode.NOT_A_DEVICE,
        `${this.name}: impossible ring registers: ${problems.join(', ')}`,
        {
          geometry: g,
        },
      );
    }
    g.maxMessage = Math.min(Limits.maxPayloadAbsolute, g.descSize - RING_DESCRIPTOR_HEADER);
    const end = Math.max(g.cmdOffset + g.cmdEntries * g.descSize, g.cplOffset + g.cplEntries * g.descSize);
    const size = this.w.size;
    if (size !== undefined && end > size) {
      throw new LinkError(
        LinkErrorCode.NOT_A_DEVICE,
        `${this.name}: the rings end at 0x${end.toString(16)}, past the window file's ${size} bytes`,
        { geometry: g, size },
      );
    }
    return g;
  }

  private discardStale(): void {
    const g = this.geo as Geometry;
    const tail = this.readPointer(this.rr.cplTail, this.cplHead);
    let n = 0;
    while (this.cplHead !== tail) {
      this.w.write32(this.cplSlot(this.cplHead), 0);
      this.cplHead = (this.cplHead + 1) >>> 0;
      n++;
    }
    if (n) {
      this.w.write32(this.rr.cplHead, this.cplHead);
      this.pcie.staleDiscarded += n;
      this.log.info({ discarded: n, entries: g.cplEntries }, 'completions left by an earlier host discarded');
    }
  }

  private enableInterrupts(): void {
    this.w.write32(this.rr.irqStatus, IRQ_ALL); // RW1C: forget what was raised before us
    this.w.write32(this.rr.irqMask, this.w.hasEvents ? IRQ_ALL : 0);
  }

  private startPolling(): void {
    if (this.pollTimer || this.state !== 'up') return;
    this.pollTimer = setInterval(() => this.service('poll'), this.pollMs);
  }

  // ---- sending -------------------------------------------------------------------------------------

  send(message: Uint8Array): boolean {
    if (this.state !== 'up') {
      if (this.state === 'down' && this.downError) throw this.downError;
      if (this.state === 'closed')
        throw new LinkError(LinkErrorCode.CLOSED, `${this.name}: send on closed rings`);
      throw new LinkError(LinkErrorCode.NOT_UP, `${this.name}: send before the rings are up (await start())`);
    }
    const max = (this.geo as Geometry).maxMessage;
    if (message.length > max) {
      throw new LinkError(
        LinkErrorCode.MESSAGE_TOO_LARGE,
        `${this.name}: message of ${message.length} bytes exceeds the descriptor's ${max}`,
        { length: message.length, maxPayload: max },
      );
    }
    const b = Buffer.isBuffer(message)
      ? message
      : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    this.queue.push(b);
    this.queuedBytes += b.length;
    if (!this.pumpScheduled && !this.inPass) {
      this.pumpScheduled = true;
      // Everything sent in this turn goes out as one batch: one CMD_TAIL write and one doorbell.
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.guard(() => this.pump());
      });
    }
    if (this.queuedBytes >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  private cmdSlot(index: number): number {
    const g = this.geo as Geometry;
    return g.cmdOffset + (index & (g.cmdEntries - 1)) * g.descSize;
  }
  private cplSlot(index: number): number {
    const g = this.geo as Geometry;
    return g.cplOffset + (index & (g.cplEntries - 1)) * g.descSize;
  }

  /** Writes waiting messages into free command descriptors; one CMD_TAIL write and one doorbell per batch. */
  private pump(): void {
    // Nothing goes into the ring of a device that is away (resetting, or gone): it is written once MAGIC is back.
    if (this.state !== 'up' || this.absentSince !== undefined) return;
    const g = this.geo as Geometry;
    let written = 0;
    while (this.queueHead < this.queue.length) {
      if ((this.cmdTail - this.cmdHead) >>> 0 >= g.cmdEntries) {
        this.cmdHead = this.readPointer(this.rr.cmdHead, this.cmdTail, g.cmdEntries, true);
        if ((this.cmdTail - this.cmdHead) >>> 0 >= g.cmdEntries) {
          if (!this.waitingForSpace) {
            this.waitingForSpace = true;
            this.pcie.ringFull++;
            this.counters.creditStalls++;
            this.log.trace(
              { waiting: this.queuedMessages },
              'command ring full: waiting for CMD_HEAD to move',
            );
          }
          break;
        }
      }
      this.waitingForSpace = false;
      const msg = this.queue[this.queueHead] as Buffer;
      this.queue[this.queueHead++] = undefined as unknown as Buffer;
      this.queuedBytes -= msg.length;
      this.writeDescriptor(this.cmdTail, msg);
      this.cmdTail = (this.cmdTail + 1) >>> 0;
      written++;
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    } else if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    if (written) {
      this.w.write32(this.rr.cmdTail, this.cmdTail);
      this.w.write32(this.rr.doorbell, 1);
      const used = (this.cmdTail - this.cmdHead) >>> 0;
      if (used > this.pcie.cmdRingHighWater) this.pcie.cmdRingHighWater = used;
    }
    if (this.needDrain && this.queuedBytes <= this.highWaterMark / 2) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  /** §10.3 producer step 2: the body (CRC, message), then the first word, last, as one 32-bit write. */
  private writeDescriptor(index: number, msg: Buffer): void {
    const at = this.cmdSlot(index);
    const words = (msg.length + 3) & ~3;
    const b = this.body;
    b.writeUInt32LE(crc32(msg), 0);
    msg.copy(b, 4);
    b.fill(0, 4 + msg.length, 4 + words);
    this.w.writeRun(at + 4, b, 0, 4 + words);
    this.w.write32(at, ringFirstWord(msg.length, index));
    this.counters.framesSent++;
    this.counters.messagesSent++;
    this.counters.bytesSent += RING_DESCRIPTOR_HEADER + msg.length;
    this.counters.payloadBytesSent += msg.length;
  }

  // ---- service: interrupts, polls, heartbeat ------------------------------------------------------

  private serviceSoon(reason: 'irq' | 'poll' | 'torn'): void {
    if (this.state !== 'up') return;
    if (reason === 'irq') this.pendingIrq = true;
    if (this.passScheduled) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      const irq = this.pendingIrq;
      this.pendingIrq = false;
      this.service(irq ? 'irq' : reason);
    });
  }
  private pendingIrq = false;
  /** A device reset whose BOOT event has not been delivered yet (see deviceReset). */
  private resetUnannounced = false;

  private announceReset(): void {
    if (!this.resetUnannounced) return;
    this.resetUnannounced = false;
    // A new epoch with no BOOT first in the ring: announce it as what it is, a device reset (§10.4).
    this.emit('reset', { ...(this.agreed as LinkParams), deviceReset: true });
  }

  private service(reason: 'irq' | 'poll' | 'heartbeat' | 'torn'): void {
    if (this.state !== 'up') return;
    if (this.inPass) {
      this.passAgain = true;
      return;
    }
    this.inPass = true;
    try {
      if (reason === 'irq') this.pcie.interruptPasses++;
      else if (reason === 'poll') this.pcie.pollPasses++;
      else if (reason === 'heartbeat') {
        this.pcie.heartbeatPasses++;
        this.beat();
      }
      let raised = 0;
      if (this.w.hasEvents) {
        raised = this.w.read32(this.rr.irqStatus);
        if (raised !== 0) this.w.write32(this.rr.irqStatus, raised); // RW1C, before draining (§10.3)
        if ((raised & IrqBit.RESET) !== 0) this.pcie.resetInterrupts++;
      }
      if (!this.checkDevice(raised, reason)) return;
      const before = this.counters.framesReceived + this.counters.framesSent;
      do {
        this.passAgain = false;
        this.drain();
        if (this.state !== 'up') return;
        this.announceReset();
        this.pump();
      } while (this.passAgain && this.state === 'up');
      if (
        reason === 'irq' &&
        this.counters.framesReceived + this.counters.framesSent === before &&
        !this.torn
      ) {
        this.pcie.spuriousInterrupts++;
      }
    } catch (err) {
      this.fail(this.asLinkError(err));
    } finally {
      this.inPass = false;
    }
  }

  /**
   * MAGIC and BOOT_EPOCH (every pass), UPTIME_MS (heartbeat). Returns false when the rings must not be touched
   * now (the device is away, or went down).
   */
  private checkDevice(raised: number, reason: string): boolean {
    const magic = this.w.read32(Register.MAGIC);
    const now = performance.now();
    if (magic !== Limits.registerMagic) {
      if (this.absentSince === undefined) {
        this.absentSince = now;
        this.log.warn({ magic }, 'MAGIC lost: the device is resetting or gone');
      }
      if (now - this.absentSince > this.deadTimeoutMs) {
        this.fail(
          new LinkError(
            LinkErrorCode.LINK_DOWN,
            `${this.name}: the device is gone: MAGIC reads 0x${magic.toString(16).padStart(8, '0')} for ${Math.round(now - this.absentSince)} ms`,
            { magic },
          ),
        );
      } else if (!this.pollTimer) {
        // Look again soon: the reset may end without an interrupt we could see.
        setTimeout(() => this.service('poll'), Math.min(50, this.heartbeatMs)).unref?.();
      }
      return false;
    }
    const epoch = this.w.read32(Register.BOOT_EPOCH);
    if (this.absentSince !== undefined) {
      // Back. A reset shows in the epoch (§8.3: it changes at every reset); the same epoch was a glitch (a
      // read of all ones on a busy link, say) and the rings are as we left them.
      this.log.info({ ms: Math.round(now - this.absentSince), epoch }, 'MAGIC back');
      this.absentSince = undefined;
    }
    if (epoch !== this.epoch) {
      this.deviceReset(epoch, 'BOOT_EPOCH changed');
      if (this.state !== 'up') return false;
    } else if ((raised & IrqBit.RESET) !== 0) {
      this.log.debug('RESET interrupt without a new epoch (ignored)');
    }
    // Liveness: UPTIME_MS moves on a live device (§10.4 requires it: PCIe has no heartbeat). Watched on every
    // pass, judged on the heartbeat. Not only once it was seen moving: a device that hangs right after start
    // (before its first refresh) must be found dead too.
    const up = this.w.read32(Register.UPTIME_MS);
    if (up !== this.uptime.value) {
      this.uptime.value = up;
      this.uptime.changedAt = now;
    } else if (reason === 'heartbeat') {
      if (this.uptime.value !== -1 && now - this.uptime.changedAt > this.deadTimeoutMs) {
        this.fail(
          new LinkError(
            LinkErrorCode.LINK_DOWN,
            `${this.name}: the device stopped: UPTIME_MS has not advanced for ${Math.round(now - this.uptime.changedAt)} ms`,
            { uptimeMs: up },
          ),
        );
        return false;
      }
    }
    return true;
  }

  /** §10.4: the device reset; our ring state is void. */
  private deviceReset(epoch: number, why: string): void {
    const previous = this.epoch;
    this.counters.resets++;
    const dropped = this.queuedMessages;
    this.counters.messagesDropped += dropped;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.clearTorn();
    this.waitingForSpace = false;
    this.geo = this.readGeometry();
    this.epoch = epoch;
    this.cmdTail = 0;
    this.cmdHead = 0;
    this.cplHead = 0;
    this.w.write32(this.rr.cmdTail, 0);
    this.w.write32(this.rr.cplHead, 0);
    // Seen here when no service pass has read it (polling mode): enableInterrupts() clears it.
    if ((this.w.read32(this.rr.irqStatus) & IrqBit.RESET) !== 0) this.pcie.resetInterrupts++;
    this.enableInterrupts();
    this.uptime = { value: -1, changedAt: 0 };
    const params: LinkParams = {
      window: this.geo.cmdEntries,
      maxPayload: this.geo.maxMessage,
      arq: false,
      peerNonce: epoch,
    };
    this.agreed = params;
    this.log.warn({ previousEpoch: previous, epoch, why, dropped }, 'device reset: ring state discarded');
    // The new ring normally starts with BOOT (§8.1), which tells the Device of the new epoch (commands in flight
    // fail with E_OFFLOAD_DEVICE_RESET). Only if something else comes first, or nothing, is it told of a restart.
    this.resetUnannounced = true;
    if (this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  /** Consumes completions until CPL_HEAD = CPL_TAIL (re-reading CPL_TAIL), or a torn descriptor. */
  private drain(): void {
    const g = this.geo as Geometry;
    let tail = this.readPointer(this.rr.cplTail, this.cplHead, g.cplEntries);
    let consumed = 0;
    let sinceHeadWrite = 0;
    try {
      while (this.cplHead !== tail) {
        if (!this.consumeOne(g)) return;
        consumed++;
        if (this.state !== 'up') return;
        if (++sinceHeadWrite >= HEAD_UPDATE_EVERY) {
          this.w.write32(this.rr.cplHead, this.cplHead);
          sinceHeadWrite = 0;
        }
        if (consumed >= MAX_PER_PASS) {
          this.serviceSoon('poll');
          return;
        }
        if (this.cplHead === tail) tail = this.readPointer(this.rr.cplTail, this.cplHead, g.cplEntries);
      }
    } finally {
      if (sinceHeadWrite > 0 && this.state === 'up') this.w.write32(this.rr.cplHead, this.cplHead);
    }
  }

  /** One completion at cplHead: checked, cleared, advanced, delivered. False if torn (not acted on). */
  private consumeOne(g: Geometry): boolean {
    const at = this.cplSlot(this.cplHead);
    const word = this.w.read32(at);
    const first = parseRingFirstWord(word);
    let problem: string | undefined;
    if (!first.valid) problem = 'not valid';
    else if (first.index !== (this.cplHead & 0xff))
      problem = `index ${first.index}, expected ${this.cplHead & 0xff}`;
    else if (first.length > g.maxMessage) problem = `length ${first.length} > ${g.maxMessage}`;
    let msg: Buffer | undefined;
    if (!problem) {
      const len = first.length;
      const words = (len + 3) & ~3;
      const buf = Buffer.allocUnsafe(4 + words);
      this.w.readRun(at + 4, buf, 0, 4 + words);
      const crc = buf.readUInt32LE(0);
      msg = buf.subarray(4, 4 + len);
      if (crc32(msg) !== crc) {
        problem = 'bad CRC';
        this.counters.crcErrors++;
      }
    }
    if (problem) {
      this.tornSeen(problem, word);
      return false;
    }
    this.clearTorn();
    this.w.write32(at, 0); // §10.3 step 2: never mistaken for a new descriptor a lap later
    this.cplHead = (this.cplHead + 1) >>> 0;
    const m = msg as Buffer;
    if (this.resetUnannounced) {
      if (m[0] === Opcode.BOOT) this.resetUnannounced = false;
      else this.announceReset();
    }
    this.counters.framesReceived++;
    this.counters.messagesReceived++;
    this.counters.bytesReceived += RING_DESCRIPTOR_HEADER + m.length;
    this.counters.payloadBytesReceived += m.length;
    this.emit('message', m);
    return true;
  }

  /** A torn or stale descriptor at cplHead: look again soon; a fault once it stays so for tornTimeoutMs. */
  private tornSeen(problem: string, word: number): void {
    const now = performance.now();
    if (!this.torn || this.torn.index !== this.cplHead) {
      this.torn = { index: this.cplHead, since: now };
      this.pcie.tornDescriptors++;
      this.counters.ignoredFrames++;
      this.log.debug(
        { index: this.cplHead, problem, word },
        'torn or stale completion descriptor: not acted on, re-read soon',
      );
    } else if (now - this.torn.since > this.tornTimeoutMs) {
      // §10.3: a device fault. Consume it, and let the Device re-handshake.
      this.pcie.tornFaults++;
      this.log.error(
        { index: this.cplHead, problem, word },
        'completion descriptor still invalid after the torn timeout: device fault',
      );
      this.w.write32(this.cplSlot(this.cplHead), 0);
      this.cplHead = (this.cplHead + 1) >>> 0;
      this.w.write32(this.rr.cplHead, this.cplHead);
      this.clearTorn();
      this.emit('reset', { ...(this.agreed as LinkParams) });
      return;
    }
    if (!this.tornTimer) {
      const elapsed = now - this.torn.since;
      const delay = Math.min(50, Math.max(1, Math.round(elapsed / 4)));
      this.tornTimer = setTimeout(() => {
        this.tornTimer = undefined;
        this.service('torn');
      }, delay);
    }
  }

  private clearTorn(): void {
    this.torn = undefined;
    if (this.tornTimer) clearTimeout(this.tornTimer);
    this.tornTimer = undefined;
  }

  /**
   * A head or tail register read twice until two reads agree (a 4-byte read of a shared-memory file is not
   * guaranteed atomic); a value implying more than `entries` descriptors relative to `ref` is read again and, if it
   * stays so, reported (§10.2).
   */
  private readPointer(offset: number, ref: number | undefined, entries?: number, refIsTail = false): number {
    for (let attempt = 0; ; attempt++) {
      const a = this.w.read32(offset);
      const b = this.w.read32(offset);
      const sane =
        a === b &&
        (ref === undefined ||
          entries === undefined ||
          (refIsTail ? (ref - a) >>> 0 <= entries : (a - ref) >>> 0 <= entries));
      if (sane) return a;
      this.pcie.pointerRereads++;
      if (attempt >= 8) {
        throw new LinkError(
          LinkErrorCode.PROTOCOL,
          `${this.name}: impossible ring pointer at 0x${offset.toString(16)}: ${b} (reference ${ref}, ${entries} entries)`,
          { offset, value: b, ref, entries },
        );
      }
    }
  }

  // ---- registers ---------------------------------------------------------------------------------------

  private readRegisters(offset: number, count: number): number[] {
    if (this.state === 'closed' || this.state === 'down') throw this.downError ?? this.closedError();
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(this.w.read32(offset + i * 4));
    return out;
  }

  private writeRegister(offset: number, value: number): StatusCodeName {
    if (this.state === 'closed' || this.state === 'down') throw this.downError ?? this.closedError();
    if (offset % 4 !== 0) return 'E_INVALID';
    const access = ACCESS.get(offset);
    // RO, reserved, the socket window and the ring memory are not written from outside; nor are the ring
    // pointers this channel owns.
    if (access === undefined || access === 'RO' || RING_OWNED.has(offset)) return 'E_NOT_PERMITTED';
    this.w.write32(offset, value >>> 0);
    return 'OK';
  }

  // ---- end -----------------------------------------------------------------------------------------

  /** close() of a window whose event device only the device can wake: a PING raises one completion interrupt. */
  private wakeWithPing(): void {
    if (!this.geo || (this.cmdTail - this.cmdHead) >>> 0 >= this.geo.cmdEntries) return;
    const msg = encodeMessage({ kind: 'command', name: 'PING', tag: 0, body: { payload: Buffer.alloc(0) } });
    this.writeDescriptor(this.cmdTail, msg);
    this.cmdTail = (this.cmdTail + 1) >>> 0;
    this.w.write32(this.rr.cmdTail, this.cmdTail);
    this.w.write32(this.rr.doorbell, 1);
  }

  private readonly onWindowClose = (err: TransportError | undefined): void => {
    if (this.state === 'closed' || this.state === 'down') return;
    const e = new LinkError(
      err ? err.code : LinkErrorCode.TRANSPORT_CLOSED,
      err ? err.message : `${this.name}: the register window was closed`,
      {},
      err ? { cause: err } : undefined,
    );
    this.fail(e);
  };

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(this.asLinkError(err));
    }
  }

  private asLinkError(err: unknown): LinkError {
    if (err instanceof LinkError) return err;
    const e = err as Error & { code?: string };
    return new LinkError(
      (e.code?.startsWith('E_OFFLOAD_') ? e.code : LinkErrorCode.LINK_DOWN) as LinkErrorCode,
      `${this.name}: ${e.message}`,
      {},
      { cause: err },
    );
  }

  private closedError(): LinkError {
    return new LinkError(LinkErrorCode.CLOSED, `${this.name}: the rings are closed`);
  }

  private stopTimers(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.pollTimer = undefined;
    this.heartbeatTimer = undefined;
    this.clearTorn();
    this.w.onInterrupt = undefined;
    this.w.onEventsLost = undefined;
  }

  /** Terminal failure: 'down' (if we were up), the window closed. */
  private fail(err: LinkError): void {
    if (this.state === 'down' || this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.downError = err;
    this.stopTimers();
    this.counters.messagesDropped += this.queuedMessages;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.log.warn({ err }, 'PCIe rings down');
    this.w.off('close', this.onWindowClose);
    void this.w.close().catch(() => undefined);
    if (wasUp) this.emit('down', err);
  }

  /** Stops the rings (interrupts masked) and closes the window. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    const wasUp = this.state === 'up';
    this.state = 'closed';
    this.stopTimers();
    this.counters.messagesDropped += this.queuedMessages;
    this.queue.length = 0;
    this.queueHead = 0;
    this.w.off('close', this.onWindowClose);
    this.closePromise = (async () => {
      if (wasUp && this.w.isOpen) {
        try {
          // The device stops interrupting; the event reader is released by the window (FIFO) or a last PING.
          if (this.w.hasEvents && !this.w.wakesItself) this.w.write32(this.rr.irqMask, IrqBit.CPL);
          else this.w.write32(this.rr.irqMask, 0);
          // §10.5: the host leaves its pair (the device's channel timeout starts now).
          if (this.rr.hostSession !== undefined) this.w.write32(this.rr.hostSession, 0);
        } catch (err) {
          this.log.debug({ err }, 'could not mask interrupts on close');
        }
      }
      await this.w.close().catch(() => undefined);
    })();
    return this.closePromise;
  }
}

export interface OpenPcieOptions extends Omit<PcieRingOptions, 'name'> {
  /** Name in logs; default the URL. */
  name?: string;
}

/**
 * Opens the register window (and event device) of a pcie: URL and creates its ring channel (not started: the
 * Device starts it). URL query: events=PATH, access=word|block, poll=MS, cmdoffset, cmdentries, cploffset,
 * cplentries, descsize; `options` give defaults the URL's overrides win over.
 */
/** The channel ring table (§10.5), read through `read32`: each extra pair's channel and block; none without CHANNELS. */
export function channelPairs(read32: (offset: number) => number): {
  pairs: { channel: number; block: number }[];
  count: number;
  channels: boolean;
} {
  const channels = (read32(Register.CAPS) & Capability.CHANNELS) !== 0;
  if (!channels) return { pairs: [], count: 0, channels };
  const count = read32(Register.CHANNEL_RINGS_COUNT);
  const table = read32(Register.CHANNEL_RINGS_OFFSET);
  const pairs: { channel: number; block: number }[] = [];
  for (let k = 0; k < Math.min(count, 255); k++) {
    const block = table + k * CHANNEL_RING_STRIDE;
    pairs.push({ channel: read32(block + ChannelRingField.CHANNEL), block });
  }
  return { pairs, count, channels };
}

/** The block of the channel ring table whose CHANNEL is `channel` (§10.5), read through `read32`. */
export function findChannelPair(
  read32: (offset: number) => number,
  channel: number,
): { block: number | undefined; count: number; channels: boolean } {
  const { pairs, count, channels } = channelPairs(read32);
  return { block: pairs.find((p) => p.channel === channel)?.block, count, channels };
}

/**
 * The event device of channel `channel`'s ring pair, from the one the URL names (PROTOCOL.md §10.5: a host serves
 * only its own pair's interrupt, IRQ_VECTOR of the pair's block), so that one URL shape serves every channel:
 * - XDMA's `…_events_N` becomes `…_events_<IRQ_VECTOR>` (naming another vector is never right for this pair);
 * - otherwise the simulator's `<events>.<channel>` when it exists;
 * - else `events` as given (already the pair's, or no pair: the ring start reports E_OFFLOAD_NO_CHANNEL).
 */
export function pairEventsPath(
  events: string,
  channel: number,
  read32: (offset: number) => number,
  exists: (path: string) => boolean = existsSync,
): string {
  if (channel === 0) return events;
  const { block } = findChannelPair(read32, channel);
  if (block === undefined) return events;
  const xdma = /^(.*_events_)(\d+)$/.exec(events);
  if (xdma) return `${xdma[1]}${read32(block + ChannelRingField.IRQ_VECTOR)}`;
  const simFifo = `${events}.${channel}`;
  return exists(simFifo) ? simFifo : events;
}

export async function openPcieChannel(
  url: string | PcieUrl,
  options: OpenPcieOptions = {},
): Promise<{ window: PcieWindowTransport; channel: PcieRingChannel }> {
  const parsed = typeof url === 'string' ? parseDeviceUrl(url) : url;
  const description = typeof url === 'string' ? url.trim() : formatDeviceUrl(url);
  if (parsed.kind !== 'pcie') {
    throw new TransportError(TransportErrorCode.UNSUPPORTED_URL, `${description} is not a pcie: URL`, {
      url: description,
    });
  }
  const u = pcieUrlOptions(parsed, description);
  const window = new PcieWindowTransport({
    path: parsed.path,
    access: u.access,
    description,
    ...(parsed.events !== undefined ? { events: parsed.events } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.channel
      ? { resolveEvents: (events, read32) => pairEventsPath(events, options.channel as number, read32) }
      : {}),
  });
  await window.open();
  const ringOpts: PcieRingOptions = { ...options, name: options.name ?? description };
  for (const k of [
    'pollMs',
    'cmdRingOffset',
    'cmdRingEntries',
    'cplRingOffset',
    'cplRingEntries',
    'descSize',
  ] as const) {
    if (u[k] !== undefined) ringOpts[k] = u[k];
  }
  return { window, channel: new PcieRingChannel(window, ringOpts) };
}
