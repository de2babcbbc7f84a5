/**
 * The simulated board on PCIe (PROTOCOL.md §9, §10): its register window is a file (by default in /dev/shm) laid
 * out byte for byte as a card's BAR, and its interrupts are words written to a FIFO (named pipe) that the driver
 * opens as its event device.
 *
 *   0x00000  registers: identity and status from DeviceCore (MAGIC, VERSION, CAPS with PCIE_RINGS, STATUS,
 *            BOOT_EPOCH, SLOTS, MAX_PAYLOAD, FIRMWARE_BUILD, EVENT_SEQ, UPTIME_MS, SOCKET_WINDOW_*), and the ones
 *            this server owns (IRQ_STATUS, IRQ_MASK, DOORBELL, SCRATCH, the ring registers)
 *   0x01000  the socket-table window (DeviceCore.readWindow), refreshed at most every 10 ms while things change
 *   0x10000  command ring (CMD_RING_ENTRIES × RING_DESC_SIZE), then the completion ring (4 KiB aligned)
 *
 * **Noticing host writes (the doorbell stand-in).** Hardware sees a doorbell write at once; a process sharing a
 * file does not. This server watches the window file with inotify (fs.watch), which the kernel fires on every
 * write(2) the driver makes — doorbell, CMD_TAIL, CPL_HEAD alike — and then services the window: reads CMD_TAIL,
 * CPL_HEAD, IRQ_MASK, IRQ_STATUS, DOORBELL (set back to 0), consumes commands, produces completions. A 50 ms timer
 * services it as well (a missed notification costs at most that) and keeps UPTIME_MS moving (every 100 ms). The
 * driver does nothing special for the simulator: real cards need none of this.
 *
 * **RW1C in a file.** A host write that stores the value already there cannot be seen. IRQ_STATUS bits are
 * cleared when the word differs from what this server last wrote (the host wrote 1s: those bits clear), and when
 * their cause is gone: CPL once the completion ring is empty, CMD_SPACE once the host advanced CMD_TAIL, RESET once
 * the host consumed a completion after the reset (PROTOCOL.md §10 notes this).
 *
 * **Interrupts.** A u32 (the bits raised) written to the FIFO for each raise of an enabled bit (IRQ_MASK), RESET
 * always (§10.4). The FIFO is opened read-write and non-blocking here, so writes never block and never fail for
 * want of a reader; when the pipe is full the word is dropped (the host has interrupts pending anyway).
 *
 * **Rings.** Commands are consumed while the completion side has room for their answers (at most a ring's worth of
 * completions waits in memory); completions are produced in order while the completion ring has room; the device
 * never drops one. Torn or stale command descriptors are re-read and never acted on; after 1 s they are a fault
 * (consumed, ERROR_RESPONSE tag 0 E_INTERNAL). A device reset (any new epoch of DeviceCore: RESET command,
 * watchdog, fault injection) zeroes the rings and every head/tail, sets IRQ_MASK and SCRATCH to 0 and IRQ_STATUS
 * to RESET, and interrupts.
 *
 * The ring handling above is PcieRingPair's (pcie-ring-pair.ts), here addressed through the §9.1 registers
 * (CHANNEL0_RING_REGISTERS); this server adds the register window, the rendering and channel 0's faults (hooks).
 *
 * **Channels** (PROTOCOL.md §10.5, option `channels`): extra ring pairs for channels 1..N (or the listed channel
 * numbers, 1..255: e.g. [1, 255] for the conformance kit's host B and admin) after channel 0's rings,
 * described by the channel ring table at 0x9000 (CHANNEL_RINGS_OFFSET / CHANNEL_RINGS_COUNT), each served by a
 * PcieChannelPair (pcie-channel-rings.ts: the same PcieRingPair on the channel's block) in this server's passes,
 * with its own FIFO `<events>.<channel>`. A device reset resets them with channel 0's rings. The faults below are
 * channel 0's.
 *
 * Faults for tests (`control.faults`): pauseCommands (the command ring fills and stays full), tornCompletions
 * (the next N completions are written in two steps, tornDelayMs apart, with the interrupt raised between: first
 * the first word and a wrong body, then the right body), spuriousInterrupts(n), vanish() (the card drops off
 * the bus: every register reads 0xFFFFFFFF).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';
import {
  CHANNEL_RING_STRIDE,
  CHANNEL0_RING_REGISTERS,
  crc32,
  IrqBit,
  Limits,
  RING_DESCRIPTOR_HEADER,
  Register,
  RegisterWindow,
  ringFirstWord,
  type StatusCodeName,
} from '../src/protocol/index.js';
import type { DeviceCore } from './core/device-core.js';
import { type ChannelPairGeometry, type ChannelPairStats, PcieChannelPair } from './pcie-channel-rings.js';
import { faultResponse, IRQ_ALL, PcieRingPair } from './pcie-ring-pair.js';

export interface PcieServeOptions {
  /** Descriptors per ring (powers of two). Defaults 64 and 64. */
  cmdRingEntries?: number;
  cplRingEntries?: number;
  /** Bytes per descriptor (multiple of 4). Default 8 + the board's maxPayload, rounded up to 4. */
  descSize?: number;
  /** First free-running index of both rings at start (default 0; a reset always restarts at 0). For tests. */
  startIndex?: number;
  /** Service the window at least this often (ms) besides inotify. Default 50. */
  servicePollMs?: number;
  /**
   * Extra ring pairs (PROTOCOL.md §10.5; pcie-channel-rings.ts), each with the entries and descriptor size of
   * channel 0's: N for channels 1..N, or the channel numbers (1..255, distinct; block k of the channel ring table
   * is the k-th listed). Default 0: channel 0 only, and CHANNELS is not advertised.
   */
  channels?: number | readonly number[];
  /** An extra pair's host is gone when HOST_HEARTBEAT stays unchanged this long (ms). Default 3000. */
  hostDeadMs?: number;
}

export interface PcieFaults {
  /** Stop consuming commands: the command ring fills and the host must wait. */
  pauseCommands: boolean;
  /** The next N completions are written in two steps (first word + wrong body, then the right body). */
  tornCompletions: number;
  /** Time between the two steps (ms). */
  tornDelayMs: number;
}

export interface PcieStats {
  commandsConsumed: number;
  completionsProduced: number;
  interruptsRaised: number;
  interruptsDropped: number;
  spuriousInterrupts: number;
  doorbells: number;
  /** Passes started by inotify, by the timer, by the board's output. */
  watchPasses: number;
  timerPasses: number;
  outputPasses: number;
  tornCommands: number;
  tornFaults: number;
  tornCompletionsWritten: number;
  /** Passes that left commands unconsumed because completions were waiting for room. */
  completionBackpressure: number;
  ringResets: number;
  cmdRingFullSeen: number;
}

/** What the server needs of the board (sim/server.ts Board). */
export interface PcieBoard {
  readonly core: DeviceCore;
  readonly log: Logger;
  /** Makes `endpoint` the host of `channel` (default 0; up at once); returns how host messages reach the board. */
  attachEndpoint(
    endpoint: PcieHostEndpoint,
    maxPayload: number,
    channel?: number,
  ): { message(bytes: Buffer): void; detach(): void };
}

/** The board's view of a host connection that is not a Link. */
export interface PcieHostEndpoint {
  readonly isUp: boolean;
  send(message: Buffer): boolean;
  cork(): void;
  uncork(): void;
  close(): Promise<void>;
}

export interface PcieControl {
  /** The window file and the FIFO. */
  readonly path: string;
  readonly events: string;
  readonly geometry: Readonly<{
    cmdOffset: number;
    cmdEntries: number;
    cplOffset: number;
    cplEntries: number;
    descSize: number;
    size: number;
    /** The extra ring pairs (§10.5), in table order. */
    channelPairs: readonly Readonly<ChannelPairGeometry>[];
  }>;
  /** Stats of the extra ring pairs, by channel. */
  readonly channelStats: ReadonlyMap<number, Readonly<ChannelPairStats>>;
  readonly faults: PcieFaults;
  readonly stats: Readonly<PcieStats>;
  /** Raises `n` interrupts that announce nothing (no bit newly set, nothing in the rings). */
  spuriousInterrupts(n: number): void;
  /** The card drops off the bus: every register reads 0xFFFFFFFF, nothing is served any more. */
  vanish(): void;
  /** Service the window now (tests). */
  service(): void;
}

const REG_PAGE = 0x80;
/** Registers rendered from DeviceCore (read-only for the host). */
const CORE_REGISTERS = [
  Register.MAGIC,
  Register.VERSION,
  Register.CAPS,
  Register.STATUS,
  Register.BOOT_EPOCH,
  Register.SLOTS,
  Register.MAX_PAYLOAD,
  Register.FIRMWARE_BUILD,
  Register.EVENT_SEQ,
  Register.UPTIME_MS,
  Register.SOCKET_WINDOW_OFFSET,
  Register.SOCKET_WINDOW_STRIDE,
] as const;
/** Owned here: the host writes them (or they describe the rings). */
const OWNED: ReadonlySet<number> = new Set([
  Register.IRQ_STATUS,
  Register.IRQ_MASK,
  Register.DOORBELL,
  Register.SCRATCH,
  Register.CMD_RING_OFFSET,
  Register.CMD_RING_ENTRIES,
  Register.CMD_HEAD,
  Register.CMD_TAIL,
  Register.CPL_RING_OFFSET,
  Register.CPL_RING_ENTRIES,
  Register.CPL_HEAD,
  Register.CPL_TAIL,
  Register.RING_DESC_SIZE,
  Register.CHANNEL_RINGS_OFFSET,
  Register.CHANNEL_RINGS_COUNT,
]);
/** Where the channel ring table lies (§9.3: after the socket-table window, below the rings). */
export const CHANNEL_RINGS_TABLE = 0x9000;
/** How many extra pairs fit in the channel ring table (any channel 1..255 may have one; 255 is ADMIN-only, §11). */
export const MAX_PCIE_CHANNELS = Math.floor(
  (RegisterWindow.ringsOffset - CHANNEL_RINGS_TABLE) / CHANNEL_RING_STRIDE,
);

/**
 * The channel numbers of the extra pairs: N → 1..N; a list → those numbers (1..255, distinct, at most
 * MAX_PCIE_CHANNELS of them). RangeError otherwise.
 */
export function pcieChannelNumbers(channels: number | readonly number[] | undefined): number[] {
  const max = Math.min(MAX_PCIE_CHANNELS, 254);
  if (typeof channels === 'number' || channels === undefined) {
    const extra = channels ?? 0;
    if (!Number.isInteger(extra) || extra < 0 || extra > max)
      throw new RangeError(`PCIe extra channels must be 0..${max} (got ${extra})`);
    return Array.from({ length: extra }, (_, k) => k + 1);
  }
  const list = [...channels];
  const bad = list.find((c) => !Number.isInteger(c) || c < 1 || c > 255);
  if (bad !== undefined) throw new RangeError(`PCIe pair channels must be 1..255 (got ${bad})`);
  if (new Set(list).size !== list.length)
    throw new RangeError(`PCIe pair channels must be distinct (got ${list.join(', ')})`);
  if (list.length > max) throw new RangeError(`at most ${max} PCIe extra pairs (got ${list.length})`);
  return list;
}

const WINDOW_REFRESH_MS = 10;
const UPTIME_REFRESH_MS = 100;

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

export function ensureFifo(path: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(path);
  } catch {
    st = undefined;
  }
  if (st) {
    if (st.isFIFO()) return;
    throw new Error(`${path} exists and is not a FIFO (remove it, or give another events= path)`);
  }
  // Node has no mkfifo(3): coreutils' mkfifo(1).
  execFileSync('mkfifo', ['-m', '600', path]);
}

export class PcieShim implements PcieHostEndpoint, PcieControl {
  readonly path: string;
  readonly events: string;
  readonly geometry: PcieControl['geometry'];
  readonly faults: PcieFaults = { pauseCommands: false, tornCompletions: 0, tornDelayMs: 50 };
  readonly stats: PcieStats = {
    commandsConsumed: 0,
    completionsProduced: 0,
    interruptsRaised: 0,
    interruptsDropped: 0,
    spuriousInterrupts: 0,
    doorbells: 0,
    watchPasses: 0,
    timerPasses: 0,
    outputPasses: 0,
    tornCommands: 0,
    tornFaults: 0,
    tornCompletionsWritten: 0,
    completionBackpressure: 0,
    ringResets: 0,
    cmdRingFullSeen: 0,
  };
  private readonly board: PcieBoard;
  private readonly core: DeviceCore;
  private readonly log: Logger;
  private readonly opts: PcieServeOptions;
  private fd = -1;
  private watcher: fs.FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attached: { message(bytes: Buffer): void; detach(): void } | undefined;
  private closed = false;
  private vanished = false;
  /** Bumped by every ring reset: a pass in progress stops using its indices. */
  private generation = 0;
  private epoch = 0;
  /** Channel 0's rings (§9.1 registers). */
  private readonly rings: PcieRingPair;
  private tornWrite: { index: number; message: Buffer; timer: NodeJS.Timeout } | undefined;
  // Rendering.
  private readonly rendered = new Map<number, number>();
  private windowShown: Buffer;
  private windowAt = 0;
  private uptimeAt = 0;
  // Passes.
  private inPass = false;
  private passAgain = false;
  private passScheduled = false;
  private corks = 0;
  private readonly word = Buffer.alloc(4);
  private readonly pairs: PcieChannelPair[] = [];

  constructor(board: PcieBoard, path: string, events: string, opts: PcieServeOptions = {}) {
    this.board = board;
    this.core = board.core;
    this.log = board.log.child({ pcie: path });
    this.path = path;
    this.events = events;
    this.opts = opts;
    const maxPayload = Math.min(Limits.maxPayloadAbsolute, this.core.readRegister(Register.MAX_PAYLOAD));
    const cmdEntries = opts.cmdRingEntries ?? 64;
    const cplEntries = opts.cplRingEntries ?? 64;
    const descSize = opts.descSize ?? (RING_DESCRIPTOR_HEADER + maxPayload + 3) & ~3;
    if (
      !isPowerOfTwo(cmdEntries) ||
      !isPowerOfTwo(cplEntries) ||
      cmdEntries > 0x10000 ||
      cplEntries > 0x10000
    ) {
      throw new RangeError(
        `PCIe ring entries must be powers of two up to 65536 (got ${cmdEntries}, ${cplEntries})`,
      );
    }
    if (descSize % 4 !== 0 || descSize < RING_DESCRIPTOR_HEADER + Limits.minMaxPayload) {
      throw new RangeError(`RING_DESC_SIZE must be a multiple of 4 of at least ${8 + Limits.minMaxPayload}`);
    }
    const cmdOffset = RegisterWindow.ringsOffset;
    const cplOffset = (cmdOffset + cmdEntries * descSize + 0xfff) & ~0xfff;
    const numbers = pcieChannelNumbers(opts.channels);
    // Each extra pair after the ones before it: command ring, then completion ring, 4 KiB aligned.
    let end = cplOffset + cplEntries * descSize;
    const channelPairs: ChannelPairGeometry[] = [];
    for (const [k, channel] of numbers.entries()) {
      const cmd = (end + 0xfff) & ~0xfff;
      const cpl = (cmd + cmdEntries * descSize + 0xfff) & ~0xfff;
      end = cpl + cplEntries * descSize;
      channelPairs.push({
        channel,
        block: CHANNEL_RINGS_TABLE + k * CHANNEL_RING_STRIDE,
        cmdOffset: cmd,
        cmdEntries,
        cplOffset: cpl,
        cplEntries,
        descSize,
        events: `${events}.${channel}`,
      });
    }
    this.geometry = { cmdOffset, cmdEntries, cplOffset, cplEntries, descSize, size: end, channelPairs };
    this.windowShown = Buffer.alloc(0);
    this.rings = new PcieRingPair({
      registers: CHANNEL0_RING_REGISTERS,
      layout: this.geometry,
      maxMessage: this.maxMessage,
      snapshot: { offset: 0, length: REG_PAGE },
      events,
      stats: this.stats,
      log: this.log,
      fd: () => this.fd,
      epoch: () => this.generation,
      live: () => !this.closed && !this.vanished,
      retry: () => this.service(),
      deliver: (message) => {
        if (message) this.attached?.message(message);
        else this.rings.enqueue(faultResponse());
      },
      // Channel 0's faults.
      paused: () => this.faults.pauseCommands,
      holdCompletions: () => this.tornWrite !== undefined,
      writeCompletion: (at, index, message) => {
        if (this.faults.tornCompletions <= 0) return false;
        this.faults.tornCompletions--;
        this.writeTorn(at, index, message);
        return true;
      },
    });
  }

  get isUp(): boolean {
    return !this.closed && !this.vanished;
  }

  private get maxMessage(): number {
    return Math.min(Limits.maxPayloadAbsolute, this.geometry.descSize - RING_DESCRIPTOR_HEADER);
  }

  /** Creates the window file and the FIFO, renders the registers, attaches to the board (BOOT follows). */
  start(): void {
    const g = this.geometry;
    ensureFifo(this.events);
    this.rings.openEvents();
    try {
      this.fd = fs.openSync(
        this.path,
        fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC,
        0o600,
      );
      fs.ftruncateSync(this.fd, g.size);
    } catch (err) {
      this.rings.close();
      throw err;
    }
    this.epoch = this.core.epoch;
    this.put(Register.CHANNEL_RINGS_OFFSET, g.channelPairs.length ? CHANNEL_RINGS_TABLE : 0);
    this.put(Register.CHANNEL_RINGS_COUNT, g.channelPairs.length);
    this.rings.start(this.opts.startIndex ?? 0); // IRQ_STATUS RESET, the value after reset (§9.1)
    this.startPairs();
    this.renderRegisters(true);
    this.renderWindow(true);
    this.core.setRegisterOverlay({
      read: (offset) => this.overlayRead(offset),
      write: (offset, value) => this.overlayWrite(offset, value),
    });
    this.attached = this.board.attachEndpoint(this, this.maxMessage);
    this.watcher = fs.watch(this.path, { persistent: false }, () => {
      this.stats.watchPasses++;
      this.serviceSoon();
    });
    this.watcher.on('error', (err) =>
      this.log.warn({ err }, 'watching the window file failed; the timer serves it'),
    );
    this.timer = setInterval(() => {
      this.stats.timerPasses++;
      this.service();
    }, this.opts.servicePollMs ?? 50);
    this.log.info({ path: this.path, events: this.events, geometry: g }, 'PCIe window served');
    this.service();
  }

  get channelStats(): ReadonlyMap<number, Readonly<ChannelPairStats>> {
    return new Map(this.pairs.map((p) => [p.geometry.channel, p.stats]));
  }

  /** The extra ring pairs (§10.5): FIFOs, blocks; they attach to the board when their hosts come. */
  private startPairs(): void {
    const ctx = {
      board: this.board,
      log: this.log,
      fd: this.fd,
      kick: () => this.serviceSoon(),
      checkEpoch: () => {
        if (this.core.epoch !== this.epoch) this.ringReset();
      },
      live: () => !this.closed && !this.vanished,
      epoch: () => this.core.epoch,
    };
    for (const g of this.geometry.channelPairs) {
      ensureFifo(g.events);
      const pair = new PcieChannelPair(ctx, g, this.opts.hostDeadMs ?? 3000);
      pair.start();
      this.pairs.push(pair);
    }
  }

  // ---- board side ------------------------------------------------------------------------------------

  /** A message for the host (DeviceCore output): queued, produced into the completion ring in the next pass. */
  send(message: Buffer): boolean {
    if (this.closed || this.vanished) return false;
    if (this.core.epoch !== this.epoch) this.ringReset(); // the board reset: what was queued belongs to the old epoch
    this.rings.enqueue(message);
    if (!this.inPass && this.corks === 0) {
      this.stats.outputPasses++;
      this.serviceSoon();
    }
    return true;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks === 0 && this.rings.queued > 0 && !this.inPass) {
      this.stats.outputPasses++;
      this.serviceSoon();
    }
  }

  // ---- window access ---------------------------------------------------------------------------------

  private put(offset: number, value: number): void {
    this.word.writeUInt32LE(value >>> 0, 0);
    fs.writeSync(this.fd, this.word, 0, 4, offset);
    if (offset < REG_PAGE) this.rendered.set(offset, value >>> 0);
  }

  private get32(offset: number): number {
    fs.readSync(this.fd, this.word, 0, 4, offset);
    return this.word.readUInt32LE(0);
  }

  private overlayRead(offset: number): number | undefined {
    if (!OWNED.has(offset) || this.fd < 0) return undefined;
    if (offset === Register.DOORBELL) return 0;
    return this.get32(offset);
  }

  private overlayWrite(offset: number, value: number): StatusCodeName | undefined {
    if (!OWNED.has(offset) || this.fd < 0) return undefined;
    switch (offset) {
      case Register.IRQ_STATUS:
        this.rings.clearIrq(value);
        return 'OK';
      case Register.IRQ_MASK:
        this.put(offset, value & IRQ_ALL);
        return 'OK';
      case Register.SCRATCH:
      case Register.CMD_TAIL:
      case Register.CPL_HEAD:
        this.put(offset, value);
        this.serviceSoon();
        return 'OK';
      case Register.DOORBELL:
        this.serviceSoon();
        return 'OK';
      default:
        return 'E_NOT_PERMITTED';
    }
  }

  // ---- rendering ---------------------------------------------------------------------------------------

  /** Core-owned registers whose value changed (all of them when `all`). */
  private renderRegisters(all = false): void {
    const now = Date.now();
    const uptimeDue = now - this.uptimeAt >= UPTIME_REFRESH_MS;
    for (const off of CORE_REGISTERS) {
      if (off === Register.UPTIME_MS && !uptimeDue && !all) continue;
      const v = this.core.readRegister(off, 0) >>> 0;
      if (all || this.rendered.get(off) !== v) this.put(off, v);
    }
    if (uptimeDue) this.uptimeAt = now;
  }

  /** The socket-table window: slots whose bytes changed. */
  private renderWindow(force = false): void {
    const now = Date.now();
    if (!force && now - this.windowAt < WINDOW_REFRESH_MS) return;
    this.windowAt = now;
    const start = RegisterWindow.socketWindowOffset;
    const stride = RegisterWindow.socketWindowStride;
    const slots = this.core.readRegister(Register.SLOTS, 0) & 0xffff;
    const bytes = this.core.readWindow(start, slots * stride);
    if (this.windowShown.length !== bytes.length) {
      fs.writeSync(this.fd, bytes, 0, bytes.length, start);
      this.windowShown = bytes;
      return;
    }
    for (let s = 0; s < slots; s++) {
      const a = s * stride;
      if (bytes.compare(this.windowShown, a, a + stride, a, a + stride) !== 0) {
        fs.writeSync(this.fd, bytes, a, stride, start + a);
      }
    }
    this.windowShown = bytes;
  }

  // ---- service -------------------------------------------------------------------------------------

  private serviceSoon(): void {
    if (this.passScheduled || this.closed) return;
    this.passScheduled = true;
    setImmediate(() => {
      this.passScheduled = false;
      this.service();
    });
  }

  service(): void {
    if (this.closed || this.vanished || this.fd < 0) return;
    if (this.inPass) {
      this.passAgain = true;
      return;
    }
    this.inPass = true;
    try {
      do {
        this.passAgain = false;
        this.onePass();
      } while (this.passAgain && !this.closed && !this.vanished);
    } catch (err) {
      this.log.error({ err }, 'PCIe window service failed');
    } finally {
      this.inPass = false;
    }
  }

  private onePass(): void {
    if (this.core.epoch !== this.epoch) this.ringReset();
    const gen = this.generation;
    this.rings.service(Date.now()); // host writes, commands, completions, IRQ bits whose cause is gone
    for (const pair of this.pairs) {
      if (gen !== this.generation || this.closed || this.vanished) return;
      pair.service(Date.now());
    }
    if (gen !== this.generation) return;
    this.renderRegisters();
    this.renderWindow();
  }

  /**
   * Fault: the descriptor in two steps, with the tail advanced and the interrupt raised between them. Step one:
   * the first word (VALID, index, length) and the right CRC over a wrong body (every message byte inverted), which
   * a host acting on it would take for a different message. Step two, tornDelayMs later: the right body.
   */
  private writeTorn(at: number, index: number, msg: Buffer): void {
    const wrong = Buffer.allocUnsafe(4 + msg.length);
    wrong.writeUInt32LE(crc32(msg), 0);
    for (let i = 0; i < msg.length; i++) wrong[4 + i] = (msg[i] as number) ^ 0xff;
    fs.writeSync(this.fd, wrong, 0, wrong.length, at + 4);
    this.put(at, ringFirstWord(msg.length, index));
    this.stats.tornCompletionsWritten++;
    const gen = this.generation;
    const timer = setTimeout(() => {
      this.tornWrite = undefined;
      if (this.closed || this.vanished || gen !== this.generation) return;
      const body = Buffer.allocUnsafe(4 + msg.length);
      body.writeUInt32LE(crc32(msg), 0);
      msg.copy(body, 4);
      fs.writeSync(this.fd, body, 0, body.length, at + 4);
      this.rings.raise(IrqBit.CPL);
      this.service();
    }, this.faults.tornDelayMs);
    this.tornWrite = { index, message: msg, timer };
  }

  /** §10.4: rings and every head/tail zeroed, IRQ_MASK and SCRATCH 0, IRQ_STATUS RESET, interrupt. */
  private ringReset(): void {
    const g = this.geometry;
    this.generation++;
    if (this.tornWrite) clearTimeout(this.tornWrite.timer);
    this.tornWrite = undefined;
    this.put(Register.MAGIC, 0); // resetting
    const zeros = Buffer.alloc(64 * 1024);
    for (let off = g.cmdOffset; off < g.size; off += zeros.length) {
      fs.writeSync(this.fd, zeros, 0, Math.min(zeros.length, g.size - off), off);
    }
    const dropped = this.rings.reset(); // every head/tail, IRQ_MASK, DOORBELL 0; IRQ_STATUS 0
    this.put(Register.SCRATCH, 0);
    this.epoch = this.core.epoch;
    this.renderRegisters(true); // MAGIC back, the new epoch
    this.renderWindow(true);
    this.log.info({ epoch: this.epoch, dropped }, 'board reset: rings zeroed');
    this.rings.raise(IrqBit.RESET);
    for (const pair of this.pairs) pair.reset(); // §10.5: a device reset resets every pair
  }

  // ---- control -------------------------------------------------------------------------------------

  spuriousInterrupts(n: number): void {
    for (let i = 0; i < n; i++) {
      this.stats.spuriousInterrupts++;
      this.rings.interrupt(0);
    }
  }

  vanish(): void {
    if (this.vanished || this.fd < 0) return;
    this.vanished = true;
    const ones = Buffer.alloc(0x1000, 0xff);
    fs.writeSync(this.fd, ones, 0, ones.length, 0);
    this.log.info('the card dropped off the bus: registers read 0xFFFFFFFF');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.tornWrite) clearTimeout(this.tornWrite.timer);
    this.watcher?.close();
    this.attached?.detach();
    for (const pair of this.pairs) await pair.close();
    this.core.setRegisterOverlay(undefined);
    if (this.fd >= 0) {
      try {
        // As a card going away: all ones. A driver still attached sees the device gone.
        if (!this.vanished) fs.writeSync(this.fd, Buffer.alloc(0x1000, 0xff), 0, 0x1000, 0);
      } catch {
        // nothing to tell
      }
      fs.closeSync(this.fd);
      this.fd = -1;
    }
    this.rings.close(); // its torn-descriptor retry, the FIFO
    for (const p of [this.path, this.events]) {
      try {
        fs.unlinkSync(p);
      } catch {
        // already gone
      }
    }
  }
}
