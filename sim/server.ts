/**
 * Serving a DeviceCore over a wire, exactly as a board would:
 *
 * - `listen: 'tcp://127.0.0.1:0'`: the TCP shim. Each accepted connection gets Links (framing 'tcp'), one per
 *   channel the host opens on it (a link on channel 0 from the start, others as their SYNC frames arrive). A
 *   link's messages go to DeviceCore for its channel; DeviceCore's output for that channel goes back over
 *   that link. A link coming up on a channel another connection owns takes it over (a host restart): the old
 *   link is closed.
 * - `listen: 'serial:///dev/pts/N?baud=...'`: one serial line, framing 'serial' with ARQ. When the host goes
 *   away (the link goes down) a fresh link listens on the same line, so a new host's SYNC works; if the port
 *   itself vanishes it is reopened until close().
 * - `listen: 'pcie:///dev/shm/offload-sim[?events=FIFO&cmdentries=N&cplentries=N&descsize=N]'`: the register window
 *   as a file and interrupts through a FIFO (default events path: the window path + '.events'); see
 *   pcie-server.ts; no link layer. Channel 0, plus channels 1..N (or listed) with `pcie.channels` (PROTOCOL.md §10.5:
 *   pcie-channel-rings.ts; CHANNELS is advertised only then).
 * - createInProcessDevice(): a host-side Transport (an in-process pair) already served by DeviceCore + Link
 *   (framing 'tcp', ARQ off), for `openDevice('sim:')`.
 *
 * Time: DeviceCore's clock is Date.now(); tick() runs when DeviceCore's nextDeadline() comes due.
 * Faults: see faults.ts; `sim.faults` may be changed at any time.
 */
import { type Logger, pino } from 'pino';
import { type BootReasonName, Capability, decodeSync, FrameType } from '../src/protocol/index.js';
import { isLinkError, LinkErrorCode } from '../src/link/errors.js';
import { Link, type LinkFraming, type LinkParams } from '../src/link/link.js';
import { SecureSession } from '../src/link/secure-session.js';
import { FaultTransport } from '../src/transport/fault.js';
import { createTransportPair } from '../src/transport/pair.js';
import { SerialTransport } from '../src/transport/serial.js';
import { listenTcp, type TcpListener } from '../src/transport/tcp.js';
import type { Transport } from '../src/transport/transport.js';
import {
  type DeviceUrl,
  formatDeviceUrl,
  type PcieUrl,
  parseDeviceUrl,
  type SerialUrl,
} from '../src/transport/url.js';
import { DeviceCore } from './core/device-core.js';
import { type DefectModes, type DeviceCoreOptions, IMPLEMENTED_CAPABILITIES } from './core/options.js';
import {
  commandNameOf,
  defaultFaults,
  hasWireFaults,
  type OutputFaultStats,
  OutputFaults,
  type SimulatorFaults,
} from './faults.js';
import type { NetworkBackend } from './network/backend.js';
import { type PcieControl, type PcieHostEndpoint, type PcieServeOptions, PcieShim } from './pcie-server.js';
import { pcieUrlOptions } from '../src/transport/pcie-window.js';
import { HostBackend } from './network/host-backend.js';
import type { VirtualNetwork } from './network/virtual-backend.js';

/** How often the simulator advances a virtual network's clock in 'realtime' mode. */
const VIRTUAL_PACE_MS = 2;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The board: DeviceCore, its network and its faults (shared by every way of serving it). */
export interface DeviceOptions {
  /**
   * 'host' (default): sockets on the machine's OS network. 'virtual': sockets on `virtualNetwork` (an in-memory
   * network with scripted peers), through a backend attached to it.
   */
  network?: 'host' | 'virtual';
  /** The virtual network for network 'virtual'. */
  virtualNetwork?: VirtualNetwork;
  /**
   * Who advances the virtual network's clock: 'realtime' (default: the simulator advances it with the wall
   * clock, since hosts talk to it in real time) or 'manual' (the test calls virtualNetwork.advance()).
   */
  virtualClock?: 'realtime' | 'manual';
  /** A backend of your own (overrides `network`). The simulator closes it on close(). */
  backend?: NetworkBackend;
  /** Socket slots (default 32). */
  slots?: number;
  /** Send / receive queue bytes per socket (defaults 64 KiB). Small values make "queue full" easy to reach. */
  sendQueueSize?: number;
  recvQueueSize?: number;
  /** Largest listen backlog. */
  backlogMax?: number;
  /** Largest message the device accepts (its link offer too). */
  maxPayload?: number;
  /** Deliberate protocol defects (conformance kit self-test). */
  defects?: Partial<DefectModes>;
  /**
   * Provisioned secure-execution keys, keyId → 32 bytes (PROTOCOL.md §12.1; see sim/keys.ts for the file format).
   * Given: the board advertises SECURE.
   */
  secureKeys?: ReadonlyMap<number, Uint8Array>;
  /** Any other DeviceCore option (clock and logger excepted). */
  core?: Partial<Omit<DeviceCoreOptions, 'now' | 'logger'>>;
  /** Log level of the default logger: quiet ('silent') unless given. Ignored when `logger` is given. */
  logLevel?: LogLevel;
  logger?: Logger;
  /** Initial faults (the rest default to none); change `sim.faults` at run time. */
  faults?: Partial<SimulatorFaults>;
  /** Link timing (tests may shorten them). */
  link?: { heartbeatMs?: number; deadTimeoutMs?: number; window?: number };
}

export interface SimulatorOptions extends DeviceOptions {
  /** 'tcp://host:port' (port 0: any free port), 'serial:///dev/...?baud=...' or 'pcie:///dev/shm/NAME[?events=FIFO]'. */
  listen: string;
  /** PCIe window options beyond the URL's (ring sizes, first index, service interval). */
  pcie?: PcieServeOptions;
}

export interface SimulatorStats {
  /** Host connections accepted (TCP) or serial links started, since start. */
  connections: number;
  /** Channels with a live link now. */
  channelsUp: number[];
  /** Board resets injected (reset(), resetAt, resetOnCommand). */
  resets: number;
  /** Network connections reset by resetPeerConnections(). */
  peerResets: number;
  events: OutputFaultStats;
  /** Link counters summed over every link so far. */
  link: {
    framingErrors: number;
    crcErrors: number;
    retransmits: number;
    messagesReceived: number;
    messagesSent: number;
    /** Secure frames refused (§12.3), by kind: MAC wrong, replayed, below the window, plain on a secure link. */
    secureBadMac: number;
    secureReplays: number;
    secureTooOld: number;
    securePlainDropped: number;
  };
}

export interface SimulatedDevice {
  readonly core: DeviceCore;
  readonly backend: NetworkBackend;
  /** Live fault switches. */
  readonly faults: SimulatorFaults;
  readonly stats: SimulatorStats;
  readonly logger: Logger;
  /** Resets the board now (default reason WATCHDOG): every socket dropped, epoch + 1, BOOT on every channel. */
  reset(reason?: BootReasonName): void;
  /** Resets the board `ms` from now (sets faults.resetAt). */
  resetAfter(ms: number, reason?: BootReasonName): void;
  /** RSTs every live TCP connection on the network side, as if the peers reset them. Returns how many. */
  resetPeerConnections(): number;
  close(): Promise<void>;
}

export interface Simulator extends SimulatedDevice {
  /** Where a driver connects: tcp://127.0.0.1:PORT (the real port), the serial URL served, or pcie://WINDOW?events=FIFO. */
  readonly url: string;
  /** The PCIe window (pcie: listen URLs): its geometry, stats and test faults. */
  readonly pcie?: PcieControl;
}

export interface InProcessDevice extends SimulatedDevice {
  /** The host side: open (open() resolves at once); run a host Link (framing 'tcp') over it. */
  readonly transport: Transport;
}

function addLinkCounters(sum: SimulatorStats['link'], c: Link['counters']): void {
  for (const k of Object.keys(sum) as (keyof SimulatorStats['link'])[]) sum[k] += c[k];
}

function isValidSync(payload: Uint8Array): boolean {
  try {
    decodeSync(payload);
    return true;
  } catch {
    return false;
  }
}

/** Everything a board is, minus how it is wired to hosts. */
class Board implements SimulatedDevice {
  readonly core: DeviceCore;
  readonly backend: NetworkBackend;
  readonly faults: SimulatorFaults;
  readonly logger: Logger;
  readonly log: Logger;
  readonly maxPayload: number | undefined;
  readonly linkTiming: DeviceOptions['link'];
  private readonly output: OutputFaults;
  /** The link that serves each channel now. */
  private readonly owners = new Map<number, Link | PcieHostEndpoint>();
  private readonly links = new Set<Link>();
  /** How to take each live link out of service (closing its connection when it was the last link on it). */
  private readonly retirers = new Map<Link, () => void>();
  private tickTimer: NodeJS.Timeout | undefined;
  private tickAt = Number.POSITIVE_INFINITY;
  private resetTimer: NodeJS.Timeout | undefined;
  private paceTimer: NodeJS.Timeout | undefined;
  private resetTimerAt: number | null = null;
  private pendingResetReason: BootReasonName = 'WATCHDOG';
  private closed = false;
  private readonly linkTotals: SimulatorStats['link'] = {
    framingErrors: 0,
    crcErrors: 0,
    retransmits: 0,
    messagesReceived: 0,
    messagesSent: 0,
    secureBadMac: 0,
    secureReplays: 0,
    secureTooOld: 0,
    securePlainDropped: 0,
  };
  private counts = { connections: 0, resets: 0, peerResets: 0 };

  constructor(opts: DeviceOptions) {
    this.logger = opts.logger ?? pino({ level: opts.logLevel ?? 'silent' });
    this.log = this.logger.child({ component: 'sim' });
    this.faults = { ...defaultFaults(), ...(opts.faults ?? {}) };
    this.maxPayload = opts.maxPayload;
    this.linkTiming = opts.link;
    if (opts.backend) this.backend = opts.backend;
    else if (opts.network === 'virtual') {
      const vn = opts.virtualNetwork;
      if (!vn) throw new TypeError("network 'virtual' needs the `virtualNetwork` option (a VirtualNetwork)");
      this.backend = vn.backend();
      if ((opts.virtualClock ?? 'realtime') === 'realtime') {
        let last = Date.now();
        this.paceTimer = setInterval(() => {
          const now = Date.now();
          vn.advance(now - last);
          last = now;
        }, VIRTUAL_PACE_MS);
      }
    } else this.backend = new HostBackend({ logger: this.logger });
    const coreOpts: DeviceCoreOptions = {
      ...(opts.core ?? {}),
      now: () => Date.now(),
      logger: this.logger.child({ component: 'core' }),
    };
    if (opts.slots !== undefined) coreOpts.slots = opts.slots;
    if (opts.sendQueueSize !== undefined) coreOpts.sendQueueSize = opts.sendQueueSize;
    if (opts.recvQueueSize !== undefined) coreOpts.recvQueueSize = opts.recvQueueSize;
    if (opts.backlogMax !== undefined) coreOpts.backlogMax = opts.backlogMax;
    if (opts.maxPayload !== undefined) coreOpts.maxPayload = opts.maxPayload;
    if (opts.defects) coreOpts.defects = opts.defects;
    if (opts.secureKeys) coreOpts.secureKeys = opts.secureKeys;
    this.core = new DeviceCore(coreOpts);
    this.output = new OutputFaults(this.faults, (ch, bytes) => this.deliver(ch, bytes), this.log);
    this.core.onOutput((ch, bytes) => this.output.push(ch, bytes));
    this.core.onNetworkAction((action) => this.backend.perform(action));
    // The SECURE_FINISH response is queued on the channel's link: it is the last plain frame (§12.3).
    this.core.onSecureSession((ch, keys) => {
      const link = this.owners.get(ch);
      if (link instanceof Link) link.secureAfterQueued(SecureSession.forDevice(keys));
    });
    this.backend.onEvent((ev) => {
      if (this.closed) return;
      this.corked(() => this.core.handleNetworkEvent(ev));
      this.schedule();
    });
    this.schedule();
  }

  get stats(): SimulatorStats {
    return {
      ...this.counts,
      channelsUp: [...this.owners.keys()].sort((a, b) => a - b),
      events: { ...this.output.stats },
      link: this.linkCounters(),
    };
  }

  /** Link counters summed over retired and live links. */
  private linkCounters(): SimulatorStats['link'] {
    const sum = { ...this.linkTotals };
    for (const l of this.links) addLinkCounters(sum, l.counters);
    return sum;
  }

  // ------------------------------------------------------------------ links

  /** Serves a host on `transport`: links per channel (channel 0 at once, others when their SYNC arrives). */
  attach(transport: Transport, framing: LinkFraming, onAllDown?: () => void): { close(): Promise<void> } {
    const mine = new Map<number, Link>();
    let finished = false;
    this.counts.connections++;
    const start = (channel: number) => {
      if (mine.has(channel) || this.closed || finished) return;
      const link = new Link(transport, {
        role: 'device',
        framing,
        channel,
        closeTransport: false,
        logger: this.logger,
        ...(this.maxPayload !== undefined ? { maxPayload: this.maxPayload } : {}),
        ...(this.linkTiming ?? {}),
        onForeignChannel: (frame) => {
          if (frame.type === FrameType.SYNC && isValidSync(frame.payload)) start(frame.channel);
        },
      });
      mine.set(channel, link);
      this.links.add(link);
      this.retirers.set(link, () => gone(channel, link));
      link.on('up', (p) => this.linkUp(link, channel, p));
      link.on('reset', (p) => this.linkUp(link, channel, p));
      link.on('message', (bytes) => this.hostMessage(link, channel, bytes));
      link.on('down', (err) => {
        this.log.info({ channel, err: err.message, code: err.code }, 'host link down');
        failed(channel, link, err);
      });
      link.start().catch((err: unknown) => {
        this.log.debug({ channel, err }, 'link start ended');
        failed(channel, link, err);
      });
    };
    /** A broken byte stream (impossible TCP record length) is broken for every channel on it: drop them all. */
    const failed = (channel: number, link: Link, err: unknown) => {
      gone(channel, link);
      if (
        isLinkError(err) &&
        (err.code === LinkErrorCode.PROTOCOL || err.code === LinkErrorCode.NOT_A_DEVICE)
      ) {
        if (framing === 'tcp') for (const [ch, l] of [...mine]) gone(ch, l);
      }
    };
    const gone = (channel: number, link: Link) => {
      this.retire(link, channel);
      if (mine.get(channel) === link) mine.delete(channel);
      if (mine.size === 0 && !finished) {
        finished = true;
        transport.off('close', onClose);
        onAllDown?.();
      }
    };
    const onClose = () => {
      for (const [ch, l] of [...mine]) gone(ch, l);
    };
    transport.on('close', onClose);
    start(0);
    return {
      close: async () => {
        finished = true;
        transport.off('close', onClose);
        await Promise.all([...mine.entries()].map(([ch, l]) => this.retire(l, ch)));
        mine.clear();
      },
    };
  }

  /**
   * Makes `endpoint` (not a Link: a PCIe ring pair) the host of `channel` (default 0), up at once with messages of
   * at most `maxPayload` bytes. Returns how the endpoint hands host messages to the board, and how it leaves.
   */
  attachEndpoint(
    endpoint: PcieHostEndpoint,
    maxPayload: number,
    channel = 0,
  ): { message(bytes: Buffer): void; detach(): void } {
    this.counts.connections++;
    this.linkUp(endpoint, channel, { maxPayload });
    return {
      message: (bytes) => this.hostMessage(endpoint, channel, bytes),
      detach: () => {
        if (this.owners.get(channel) === endpoint) {
          this.owners.delete(channel);
          this.output.forget(channel);
          if (!this.closed) {
            this.core.channelDown(channel);
            this.schedule();
          }
        }
      },
    };
  }

  private linkUp(
    link: Link | PcieHostEndpoint,
    channel: number,
    params: Pick<LinkParams, 'maxPayload'>,
  ): void {
    if (this.closed) return;
    const old = this.owners.get(channel);
    if (old && old !== link) {
      this.log.info({ channel }, 'a new host took over the channel');
      this.owners.delete(channel);
      if (old instanceof Link) this.retirers.get(old)?.();
    }
    this.owners.set(channel, link);
    this.output.forget(channel);
    this.log.info({ channel, params }, 'host link up');
    this.core.setChannelMaxPayload(channel, params.maxPayload);
    this.core.channelUp(channel);
    this.schedule();
  }

  private retire(link: Link, channel: number): Promise<void> {
    if (this.owners.get(channel) === link) {
      this.owners.delete(channel);
      this.output.forget(channel);
      // No host serves the channel now: the channel timeout runs (PROTOCOL.md §11).
      if (!this.closed) {
        this.core.channelDown(channel);
        this.schedule();
      }
    }
    this.retirers.delete(link);
    if (this.links.delete(link)) addLinkCounters(this.linkTotals, link.counters);
    return link.close();
  }

  private hostMessage(link: Link | PcieHostEndpoint, channel: number, bytes: Buffer): void {
    if (this.closed) return;
    if (this.owners.get(channel) !== link) return; // a replaced host's late message
    const f = this.faults;
    if (f.resetOnCommand !== null && commandNameOf(bytes) === f.resetOnCommand) {
      // The board resets as the command arrives: the command is lost with everything else.
      this.log.info({ command: f.resetOnCommand }, 'fault: board reset on command');
      f.resetOnCommand = null;
      this.reset();
      return;
    }
    this.core.handleHostMessage(channel, bytes);
    this.schedule();
  }

  /** Runs `fn` with every host link corked: the messages it produces leave in one transport write per link. */
  private corked(fn: () => void): void {
    const links = [...this.owners.values()];
    for (const l of links) l.cork();
    try {
      fn();
    } finally {
      for (const l of links) l.uncork();
    }
  }

  private deliver(channel: number, bytes: Buffer): void {
    const link = this.owners.get(channel);
    if (!link?.isUp) {
      this.log.trace({ channel }, 'no host on the channel: message dropped');
      return;
    }
    try {
      link.send(bytes);
    } catch (err) {
      this.log.warn({ err, channel }, 'message could not be sent to the host');
    }
  }

  // ------------------------------------------------------------------ time

  /** Arms the tick timer for DeviceCore's next deadline and the reset fault's time. */
  schedule(): void {
    if (this.closed) return;
    const due = this.core.nextDeadline();
    if (due === undefined) {
      if (this.tickTimer) clearTimeout(this.tickTimer);
      this.tickTimer = undefined;
      this.tickAt = Number.POSITIVE_INFINITY;
    } else if (due < this.tickAt || !this.tickTimer) {
      if (this.tickTimer) clearTimeout(this.tickTimer);
      this.tickAt = due;
      this.tickTimer = setTimeout(
        () => {
          this.tickTimer = undefined;
          this.tickAt = Number.POSITIVE_INFINITY;
          if (this.closed) return;
          this.corked(() => this.core.tick(Date.now()));
          this.schedule();
        },
        Math.max(0, due - Date.now()),
      );
    }
    this.scheduleReset();
  }

  private scheduleReset(): void {
    const at = this.faults.resetAt;
    if (at === this.resetTimerAt) return;
    if (this.resetTimer) clearTimeout(this.resetTimer);
    this.resetTimer = undefined;
    this.resetTimerAt = at;
    if (at === null) return;
    this.resetTimer = setTimeout(
      () => {
        this.resetTimer = undefined;
        this.resetTimerAt = null;
        if (this.closed || this.faults.resetAt !== at) {
          this.scheduleReset();
          return;
        }
        this.faults.resetAt = null;
        this.log.info('fault: board reset at the chosen time');
        this.reset(this.pendingResetReason);
      },
      Math.max(0, at - Date.now()),
    );
  }

  // ------------------------------------------------------------------ faults

  reset(reason: BootReasonName = 'WATCHDOG'): void {
    if (this.closed) return;
    this.counts.resets++;
    this.log.info({ reason }, 'board reset');
    this.core.reset(reason);
    this.schedule();
  }

  resetAfter(ms: number, reason: BootReasonName = 'WATCHDOG'): void {
    this.pendingResetReason = reason;
    this.faults.resetAt = Date.now() + ms;
    this.schedule();
  }

  resetPeerConnections(): number {
    const b = this.backend as Partial<{ connectionHandles(): number[]; resetConnection(h: number): boolean }>;
    if (typeof b.connectionHandles !== 'function' || typeof b.resetConnection !== 'function') {
      this.log.warn({ backend: this.backend.name }, 'this network backend cannot reset peer connections');
      return 0;
    }
    let n = 0;
    for (const h of b.connectionHandles()) if (b.resetConnection(h)) n++;
    this.counts.peerResets += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.resetTimer) clearTimeout(this.resetTimer);
    if (this.paceTimer) clearInterval(this.paceTimer);
    this.output.close();
    await Promise.all([...this.links].map((l) => l.close()));
    this.links.clear();
    this.owners.clear();
    await this.backend.close();
  }
}

function wrapWire(board: Board, t: Transport): Transport {
  const w = board.faults.wire;
  if (!hasWireFaults(w)) return t;
  board.log.info({ wire: w }, 'fault: wire faults on this connection');
  return new FaultTransport(t, {
    seed: w.seed ?? board.faults.seed,
    corruptRate: w.corruptRate ?? 0,
    dropByteRate: w.dropByteRate ?? 0,
    dropWriteRate: w.dropWriteRate ?? 0,
    delayMs: w.delayMs ?? 0,
    direction: w.direction ?? 'both',
    logger: board.logger,
  });
}

/** Starts a simulated board serving `listen`; resolves once it listens (TCP) or the serial line is open. */
export async function startSimulator(opts: SimulatorOptions): Promise<Simulator> {
  const url = parseListenUrl(opts.listen);
  if (url.kind !== 'tcp' && url.kind !== 'serial' && url.kind !== 'pcie') {
    throw new TypeError(
      `startSimulator listens on tcp://, serial:// or pcie:// URLs, not '${url.kind}:' (${opts.listen})`,
    );
  }
  const board = new Board(url.kind === 'pcie' ? pcieBoardOptions(opts) : opts);
  try {
    if (url.kind === 'tcp') return await serveTcp(board, url.host, url.port);
    if (url.kind === 'pcie') return servePcie(board, url, opts);
    return await serveSerial(board, url);
  } catch (err) {
    await board.close();
    throw err;
  }
}

/** PCIE_RINGS; CHANNELS only with extra ring pairs (PROTOCOL.md §10.5: descriptors name no channel). */
function pcieBoardOptions(opts: SimulatorOptions): SimulatorOptions {
  const core: NonNullable<SimulatorOptions['core']> = { ...(opts.core ?? {}), pcieRings: true };
  const pairs = opts.pcie?.channels;
  if (pairs === undefined || pairs === 0 || (Array.isArray(pairs) && pairs.length === 0))
    core.capabilities = (core.capabilities ?? IMPLEMENTED_CAPABILITIES) & ~Capability.CHANNELS;
  return { ...opts, core };
}

/** A device URL, except that a tcp:// listen URL may name port 0 (any free port). */
export function parseListenUrl(listen: string): DeviceUrl {
  const anyPort = /^\s*tcp:\/\/(\[[^\]]*\]|[^/?:]*):0(?=$|[/?]|\s)/i;
  if (anyPort.test(listen)) {
    // parseDeviceUrl is for URLs a driver connects to (port 1..65535): validate with a stand-in port.
    const url = parseDeviceUrl(listen.replace(/:0(?=$|[/?]|\s)/, ':1'));
    if (url.kind === 'tcp') return { ...url, port: 0 };
  }
  return parseDeviceUrl(listen);
}

async function serveTcp(board: Board, host: string, port: number): Promise<Simulator> {
  const listener: TcpListener = await listenTcp({ host, port, logger: board.logger });
  const attached = new Set<{ close(): Promise<void> }>();
  listener.on('connection', (t) => {
    board.log.info({ remote: t.description }, 'host connected');
    const a = board.attach(wrapWire(board, t), 'tcp', () => {
      attached.delete(a);
      void t.close();
    });
    attached.add(a);
  });
  board.log.info({ url: listener.url }, 'simulator listening');
  return facade(board, listener.url, async () => {
    await listener.close();
    await Promise.all([...attached].map((a) => a.close()));
  });
}

async function serveSerial(board: Board, url: SerialUrl): Promise<Simulator> {
  const description = formatDeviceUrl(url);
  let stopped = false;
  let current: { transport: Transport; attached: { close(): Promise<void> } } | undefined;
  let retry: NodeJS.Timeout | undefined;

  const open = async (): Promise<void> => {
    const port = new SerialTransport({
      path: url.path,
      baudRate: url.baudRate,
      dataBits: url.dataBits,
      parity: url.parity,
      stopBits: url.stopBits,
      rtscts: url.rtscts,
      lock: url.lock,
      description,
      logger: board.logger,
    });
    await port.open();
    if (stopped) {
      await port.close();
      return;
    }
    const t = wrapWire(board, port);
    const serve = () => {
      if (stopped || !t.isOpen) return;
      // A board's UART never stops listening: when a host goes away, a fresh link waits for the next SYNC.
      const attached = board.attach(t, 'serial', () => {
        if (!stopped && t.isOpen) setImmediate(serve);
      });
      current = { transport: t, attached };
    };
    t.on('close', (err) => {
      if (stopped) return;
      board.log.warn({ err }, 'serial line closed; reopening');
      retry = setTimeout(reopen, 500);
    });
    serve();
  };
  const reopen = () => {
    retry = undefined;
    if (stopped) return;
    open().catch((err: unknown) => {
      board.log.debug({ err }, 'serial line not back yet');
      if (!stopped) retry = setTimeout(reopen, 500);
    });
  };
  await open();
  board.log.info({ url: description }, 'simulator serving the serial line');
  return facade(board, description, async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await current?.attached.close();
    await current?.transport.close();
  });
}

/** The register window as a file and interrupts through a FIFO (pcie-server.ts). */
function servePcie(board: Board, url: PcieUrl, opts: SimulatorOptions): Simulator {
  const description = formatDeviceUrl(url);
  const u = pcieUrlOptions(url, description);
  if (u.cmdRingOffset !== undefined || u.cplRingOffset !== undefined || u.pollMs !== undefined) {
    throw new TypeError(
      `the simulator places its rings itself: cmdoffset, cploffset and poll are for drivers (${description})`,
    );
  }
  const events = url.events ?? `${url.path}.events`;
  const shim = new PcieShim(board, url.path, events, {
    ...(opts.pcie ?? {}),
    ...(u.cmdRingEntries !== undefined ? { cmdRingEntries: u.cmdRingEntries } : {}),
    ...(u.cplRingEntries !== undefined ? { cplRingEntries: u.cplRingEntries } : {}),
    ...(u.descSize !== undefined ? { descSize: u.descSize } : {}),
  });
  shim.start();
  const served = formatDeviceUrl({ kind: 'pcie', path: url.path, events });
  board.log.info({ url: served }, 'simulator serving a PCIe window');
  return facade(board, served, () => shim.close(), shim);
}

function facade(board: Board, url: string, stopServing: () => Promise<void>, pcie?: PcieControl): Simulator {
  let closing: Promise<void> | undefined;
  return {
    url,
    ...(pcie ? { pcie } : {}),
    core: board.core,
    backend: board.backend,
    faults: board.faults,
    logger: board.logger,
    get stats() {
      return board.stats;
    },
    reset: (reason) => board.reset(reason),
    resetAfter: (ms, reason) => board.resetAfter(ms, reason),
    resetPeerConnections: () => board.resetPeerConnections(),
    close: () => {
      closing ??= (async () => {
        await stopServing();
        await board.close();
        board.log.info('simulator closed');
      })();
      return closing;
    },
  };
}

/**
 * A board in this process, wired to a host-side Transport (an in-process pair): the device side runs a Link
 * (framing 'tcp', ARQ off) over the other end. Wire faults apply to the device end.
 */
export function createInProcessDevice(opts: DeviceOptions & { name?: string } = {}): InProcessDevice {
  const board = new Board(opts);
  const [host, device] = createTransportPair({ name: opts.name ?? 'sim', logger: board.logger });
  const attached = board.attach(wrapWire(board, device), 'tcp');
  let closing: Promise<void> | undefined;
  return {
    transport: host,
    core: board.core,
    backend: board.backend,
    faults: board.faults,
    logger: board.logger,
    get stats() {
      return board.stats;
    },
    reset: (reason) => board.reset(reason),
    resetAfter: (ms, reason) => board.resetAfter(ms, reason),
    resetPeerConnections: () => board.resetPeerConnections(),
    close: () => {
      closing ??= (async () => {
        await attached.close();
        await device.close();
        await host.close();
        await board.close();
      })();
      return closing;
    },
  };
}
