import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { type Logger, pino } from 'pino';
import type { ProtocolError } from '../protocol/errors.js';
import type { Frame } from '../protocol/frame.js';
import { FrameFlag, FrameType, Limits } from '../protocol/generated.js';
import {
  decodeSync,
  decodeSyncAck,
  encodeSync,
  encodeSyncAck,
  type SyncPayload,
} from '../protocol/link-payloads.js';
import {
  encodeSerialFrame,
  encodeSerialFrameInto,
  maxEncodedFrameLength,
  SerialDeframer,
  serialWireRoom,
} from '../protocol/serial-framing.js';
import { encodeTcpRecordParts, TcpDeframer, type TcpDeframerOutput } from '../protocol/tcp-framing.js';
import type { TransportError } from '../transport/errors.js';
import type { Transport } from '../transport/transport.js';
import type { MessageChannel } from './channel.js';
import { LinkError, LinkErrorCode } from './errors.js';
import type { SecureRejection, SecureSession } from './secure-session.js';

/** What both sides agreed at the SYNC exchange. */
export interface LinkParams {
  /** Largest number of unacknowledged MSG frames either side keeps in flight (ARQ on). */
  window: number;
  /** Largest message (frame payload) either side may send. */
  maxPayload: number;
  /** Sequence / ack / retransmission on. */
  arq: boolean;
  /** The peer's incarnation nonce; a new one means the peer restarted. */
  peerNonce: number;
  /**
   * On a 'reset' only: the device itself reset (PCIe: a new BOOT_EPOCH), not just the link. Its sockets are
   * gone; what was in flight is lost to the device reset.
   */
  deviceReset?: boolean;
}

export interface LinkEvents {
  /** One message, exactly once and in order (ARQ on); the buffer is the caller's to keep. */
  message: [Buffer];
  /** The SYNC exchange completed (start() resolves with the same params). */
  up: [LinkParams];
  /**
   * The peer restarted (a SYNC with a new nonce while up): everything in flight and queued was dropped,
   * sequence numbers restarted; the link is up with the new peer. The layer above must resynchronise.
   */
  reset: [LinkParams];
  /** Terminal failure after the link had been up: dead peer, transport gone, broken framing. */
  down: [LinkError];
  /** send() returned false earlier and the send queue has fallen to half the high-water mark. */
  drain: [];
}

export type LinkFraming = 'serial' | 'tcp';
export type LinkRole = 'host' | 'device';

export interface LinkOptions {
  /** 'host' (the driver) or 'device' (the simulator / firmware side). */
  role: LinkRole;
  /** 'serial': COBS + 0x00 delimiter; 'tcp': u32 length-prefixed records. */
  framing: LinkFraming;
  /** Offer ARQ. Default: true on serial, false on tcp. The link runs ARQ if either side asks. */
  arq?: boolean;
  /** Offered window, 1..64. Default 16. */
  window?: number;
  /** Offered maximum payload, 256..65535. Default 4096 (serial) / 16384 (tcp). */
  maxPayload?: number;
  /** Channel stamped on our frames; frames of other channels go to onForeignChannel. Default 0. */
  channel?: number;
  /** Called for each valid frame of another channel (counted in counters.foreignFrames). */
  onForeignChannel?: (frame: Frame) => void;
  /** Send a HEARTBEAT after this long without sending anything. Default 1000. */
  heartbeatMs?: number;
  /** 'down' (E_OFFLOAD_LINK_DOWN) after this long without a valid frame from the peer. Default 3000. */
  deadTimeoutMs?: number;
  /**
   * start() rejects (E_OFFLOAD_NO_ANSWER / E_OFFLOAD_NOT_A_DEVICE) after this long.
   * Default 3000 for a host; 0 (wait for a host forever) for a device.
   */
  syncTimeoutMs?: number;
  /** SYNC repeat interval while not up. Default 250. */
  syncIntervalMs?: number;
  /** send() returns false once queued-but-unsent bytes reach this. Default 256 KiB. */
  highWaterMark?: number;
  /**
   * Line rate in bits/s, for the initial retransmission timeout ((2 × window + 2) frame times, §4.3). Default: the serial transport's
   * baud rate when the transport is a SerialTransport, else unknown (0).
   */
  bitRate?: number;
  /** Lower bound of the retransmission timeout. Default 200 ms. */
  rtoMinMs?: number;
  /** Upper bound of the backed-off retransmission timeout. Default 2000 ms (never below the initial RTO). */
  rtoMaxMs?: number;
  /** A received MSG is acknowledged within this long even if no MSG of ours carries the ack. Default 10 ms. */
  ackDelayMs?: number;
  /**
   * MSG frames the pump produces in one go are written to the transport together, up to this many bytes
   * per write (fewer system calls on serial ports). 0: one write per frame. Default 65536.
   */
  maxBatchBytes?: number;
  /** close() and a failure close the transport. Default true; false leaves it open for another Link. */
  closeTransport?: boolean;
  /** pino logger; the link logs through a child { link, channel }. Silent by default. */
  logger?: Logger;
  /** Name in logs and errors. Default `${role}@${transport.description}`. */
  name?: string;
}

export interface LinkCounters {
  framesSent: number;
  framesReceived: number;
  /** Wire bytes (framing included). */
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Message (payload) bytes handed to the transport the first time / delivered upward. */
  payloadBytesSent: number;
  payloadBytesReceived: number;
  /** MSG frames sent again (after a NAK or a retransmission timeout). */
  retransmits: number;
  /** Retransmission timeouts that fired. */
  timeouts: number;
  /** Tail probes: the newest unacknowledged frame sent again when no ack came for PTO (§4.3). */
  probes: number;
  acksSent: number;
  acksReceived: number;
  naksSent: number;
  naksReceived: number;
  crcErrors: number;
  /** Frames / bytes rejected by the deframer for any reason (bad CRC, bad COBS, oversize ...). */
  framingErrors: number;
  discardedBytes: number;
  /** MSG frames received again (already delivered): discarded and acknowledged. */
  duplicates: number;
  /** MSG frames received beyond a gap: discarded (go-back-N), NAKed once per retransmission round. */
  outOfOrder: number;
  /** HEARTBEAT frames sent / received. */
  heartbeats: number;
  heartbeatsReceived: number;
  /** BYE frames sent (close() of an up link) / received (the peer left: link down at once, §4.5). */
  byesSent: number;
  byesReceived: number;
  syncsSent: number;
  /** Peer restarts seen while up. */
  resets: number;
  /** Messages dropped (in flight or queued) because the peer restarted, or the link closed / went down. */
  messagesDropped: number;
  /** Times sending stopped because the window was full with messages waiting. */
  creditStalls: number;
  /** Times the transport's write() returned false. */
  writeStalls: number;
  /** Our own SYNC / SYNC_ACK frames heard back (an echoing line). */
  echoes: number;
  /** Valid frames of other channels. */
  foreignFrames: number;
  /** Valid frames ignored: non-SYNC before up, acks outside the window, SYNCs with bad parameters ... */
  ignoredFrames: number;
  /** Secure execution (§12.3): frames sealed and sent / verified and accepted. */
  secureFramesSent: number;
  secureFramesReceived: number;
  /** Dropped, never acted on: MAC wrong (altered or forged) ... */
  secureBadMac: number;
  /** ... counter already seen (a replay) ... */
  secureReplays: number;
  /** ... counter below the replay window (or 0) ... */
  secureTooOld: number;
  /** ... a plain frame (other than SYNC / SYNC_ACK) on a secure link. */
  securePlainDropped: number;
}

/** All counters at zero (every message channel keeps the same set; those without meaning stay 0). */
export function newLinkCounters(): LinkCounters {
  return {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    messagesSent: 0,
    messagesReceived: 0,
    payloadBytesSent: 0,
    payloadBytesReceived: 0,
    retransmits: 0,
    timeouts: 0,
    probes: 0,
    acksSent: 0,
    acksReceived: 0,
    naksSent: 0,
    naksReceived: 0,
    crcErrors: 0,
    framingErrors: 0,
    discardedBytes: 0,
    duplicates: 0,
    outOfOrder: 0,
    heartbeats: 0,
    heartbeatsReceived: 0,
    byesSent: 0,
    byesReceived: 0,
    syncsSent: 0,
    resets: 0,
    messagesDropped: 0,
    creditStalls: 0,
    writeStalls: 0,
    echoes: 0,
    foreignFrames: 0,
    ignoredFrames: 0,
    secureFramesSent: 0,
    secureFramesReceived: 0,
    secureBadMac: 0,
    secureReplays: 0,
    secureTooOld: 0,
    securePlainDropped: 0,
  };
}

type State = 'idle' | 'syncing' | 'up' | 'down' | 'closed';

interface Outstanding {
  seq: number;
  payload: Buffer;
  /** performance.now() when first handed to the transport: a round-trip sample unless `resent` (Karn). */
  sentAt: number;
  resent: boolean;
}

/** The retransmission timer's state (§4.3), for diagnostics. */
export interface RtoState {
  /** The timeout now (the base, or backed off after expiries). */
  rtoMs: number;
  /** What the timeout returns to when an ack releases frames: the initial RTO, or the measured one. */
  baseMs: number;
  initialMs: number;
  /** Smoothed round trip and its variation, once a frame sent once was acknowledged (RFC 6298). */
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  samples: number;
}

const SEQ_MASK = 0xffff;
const HALF_SEQ = 0x8000;
/** Echoed SYNCs (with nothing from a device) after which start() gives up: the line mirrors our bytes. */
const ECHOES_BEFORE_GIVING_UP = 3;
const DELIMITER = Buffer.from([0]);

let silent: Logger | undefined;
function silentLogger(): Logger {
  silent ??= pino({ level: 'silent' });
  return silent;
}

function newNonce(): number {
  return randomBytes(4).readUInt32LE(0) || 1;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LinkError(
      LinkErrorCode.BAD_OPTION,
      `link option ${name} = ${value} is not an integer in ${min}..${max}`,
      {
        option: name,
        value,
      },
    );
  }
  return value;
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, v));
}

function checkMs(name: string, value: number, min = 0): number {
  if (!Number.isFinite(value) || value < min) {
    throw new LinkError(
      LinkErrorCode.BAD_OPTION,
      `link option ${name} = ${value} must be a number >= ${min}`,
      {
        option: name,
        value,
      },
    );
  }
  return value;
}

/** The agreed parameters of two offers: symmetric, so both sides compute the same. */
export function agreeParams(a: Omit<SyncPayload, 'nonce'>, b: Omit<SyncPayload, 'nonce'>) {
  return {
    window: Math.min(a.window, b.window),
    arq: a.arq || b.arq ? 1 : 0,
    maxPayload: Math.min(a.maxPayload, b.maxPayload),
  };
}

/**
 * The reliable framed link. See index.ts for the protocol summary. One instance per peer incarnation
 * of ours: once closed or down it stays so; create a new Link to start again.
 */
export class Link extends EventEmitter<LinkEvents> implements MessageChannel {
  readonly role: LinkRole;
  readonly framing: LinkFraming;
  readonly channel: number;
  /** Our incarnation nonce (random). */
  readonly nonce: number;
  readonly name: string;
  readonly counters: LinkCounters = newLinkCounters();

  private readonly transport: Transport;
  private readonly log: Logger;
  private readonly offer: { window: number; arq: number; maxPayload: number };
  private readonly heartbeatMs: number;
  private readonly deadTimeoutMs: number;
  private readonly syncTimeoutMs: number;
  private readonly syncIntervalMs: number;
  private readonly highWaterMark: number;
  private readonly bitRate: number;
  private readonly rtoMinMs: number;
  private readonly rtoMaxOption: number;
  private readonly ackDelayMs: number;
  private readonly maxBatchBytes: number;
  private readonly closeTransport: boolean;
  private readonly onForeignChannel: ((frame: Frame) => void) | undefined;
  private readonly deframer: SerialDeframer | TcpDeframer;

  private state: State = 'idle';
  private agreed: LinkParams | undefined;
  private downError: LinkError | undefined;
  private startPromise: Promise<LinkParams> | undefined;
  private resolveStart: ((p: LinkParams) => void) | undefined;
  private rejectStart: ((e: LinkError) => void) | undefined;
  private closePromise: Promise<void> | undefined;
  private attached = false;
  /** Valid frames of any channel that were not our own echoes: the peer speaks the protocol. */
  private framesFromPeer = 0;
  /** A SYNC_ACK echoing our nonce arrived: stop repeating SYNC. */
  private ownSyncAcked = false;

  // Send side.
  private queue: Buffer[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private needDrain = false;
  private writable = true;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** Serial framing: batched MSG frames are encoded into this buffer, up to serialUsed. */
  private serialBatch: Buffer = NO_BYTES;
  private serialUsed = 0;
  private unacked: Outstanding[] = [];
  /** Index into unacked of the next frame to (re)transmit; unacked.length when all were sent. */
  private resendIndex = 0;
  private sndNext = 0;
  private windowStalled = false;
  private rtoInitial = 200;
  /** What the RTO returns to on progress: rtoInitial until round trips were measured (§4.3). */
  private rtoBase = 200;
  private rtoMax = 2000;
  private rto = 200;
  private srtt: number | undefined;
  private rttvar = 0;
  private rttSamples = 0;
  private pumping = false;
  private pumpAgain = false;
  /** cork() depth; input processing corks too. While corked, send() queues and the pump waits for uncork(). */
  private corked = 0;

  // Secure execution (all undefined on a plain link, so the plain path only tests for undefined).
  /** Verifies every received frame (a plain one is dropped). */
  private rxSession: SecureSession | undefined;
  /** Seals every frame we send except SYNC / SYNC_ACK. */
  private txSession: SecureSession | undefined;
  /** Host, handshake in progress: frames sealed with it are accepted; it replaces rx/tx at the switch. */
  private nextSession: SecureSession | undefined;
  /** Host: the delivered message that completes the switch-over (the SECURE_FINISH response). */
  private switchOn: ((message: Buffer) => boolean) | undefined;
  /** Device: switch once messagesSent reaches switchAt (the SECURE_FINISH response has been written). */
  private switchAt = -1;

  // Receive side.
  private rcvNext = 0;
  /** Receptions not yet acknowledged by any frame of ours. */
  private ackPending = 0;
  private ackEvery = 8;
  private ackNow = false;
  private nakNow = false;
  /** rcvNext value we NAKed in the current retransmission round (-1 none), and the highest seq seen beyond it. */
  private nakedFor = -1;
  private nakHighest = 0;

  // Timers.
  private syncTimer: NodeJS.Timeout | undefined;
  private syncDeadline: NodeJS.Timeout | undefined;
  private rtoTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** The probe timeout last armed (§4.3 tail probe). */
  private pto = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private deadTimer: NodeJS.Timeout | undefined;
  private lastSent = 0;
  private lastHeard = 0;

  constructor(transport: Transport, opts: LinkOptions) {
    super();
    if (opts.role !== 'host' && opts.role !== 'device') {
      throw new LinkError(
        LinkErrorCode.BAD_OPTION,
        `link option role must be 'host' or 'device', not ${String(opts.role)}`,
      );
    }
    if (opts.framing !== 'serial' && opts.framing !== 'tcp') {
      throw new LinkError(
        LinkErrorCode.BAD_OPTION,
        `link option framing must be 'serial' or 'tcp', not ${String(opts.framing)}`,
      );
    }
    this.transport = transport;
    this.role = opts.role;
    this.framing = opts.framing;
    const serial = opts.framing === 'serial';
    this.channel = checkInt('channel', opts.channel ?? 0, 0, 255);
    this.offer = {
      window: checkInt('window', opts.window ?? Limits.defaultWindow, 1, Limits.maxWindow),
      arq: (opts.arq ?? serial) ? 1 : 0,
      maxPayload: checkInt(
        'maxPayload',
        opts.maxPayload ?? (serial ? Limits.defaultMaxPayloadSerial : Limits.defaultMaxPayloadTcp),
        Limits.minMaxPayload,
        Limits.maxPayloadAbsolute,
      ),
    };
    this.heartbeatMs = checkMs('heartbeatMs', opts.heartbeatMs ?? 1000, 1);
    this.deadTimeoutMs = checkMs('deadTimeoutMs', opts.deadTimeoutMs ?? 3000, 1);
    this.syncTimeoutMs = checkMs('syncTimeoutMs', opts.syncTimeoutMs ?? (opts.role === 'host' ? 3000 : 0));
    this.syncIntervalMs = checkMs('syncIntervalMs', opts.syncIntervalMs ?? 250, 1);
    this.highWaterMark = checkMs('highWaterMark', opts.highWaterMark ?? 256 * 1024, 1);
    this.bitRate = checkMs('bitRate', opts.bitRate ?? serialBaudRate(transport));
    this.rtoMinMs = checkMs('rtoMinMs', opts.rtoMinMs ?? 200, 1);
    this.rtoMaxOption = checkMs('rtoMaxMs', opts.rtoMaxMs ?? 2000, 1);
    this.ackDelayMs = checkMs('ackDelayMs', opts.ackDelayMs ?? 10);
    this.maxBatchBytes = checkMs('maxBatchBytes', opts.maxBatchBytes ?? 64 * 1024);
    this.closeTransport = opts.closeTransport ?? true;
    this.onForeignChannel = opts.onForeignChannel;
    this.nonce = newNonce();
    this.name = opts.name ?? `${opts.role}@${transport.description}`;
    this.log = (opts.logger ?? silentLogger()).child({ link: this.name, channel: this.channel });
    this.deframer = serial
      ? new SerialDeframer(this.offer.maxPayload)
      : new TcpDeframer(this.offer.maxPayload);
  }

  /** The agreed parameters once up (updated on 'reset'). */
  get params(): LinkParams | undefined {
    return this.agreed ? { ...this.agreed } : undefined;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** 'idle' | 'syncing' | 'up' | 'down' | 'closed'. */
  get status(): State {
    return this.state;
  }

  /** Bytes accepted by send() and not yet handed to the transport. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** Messages sent and not yet acknowledged (ARQ on). */
  get inFlight(): number {
    return this.unacked.length;
  }

  /** Every frame (but SYNC / SYNC_ACK) is sealed and must verify: a secure session is in force. */
  get isSecure(): boolean {
    return this.rxSession !== undefined;
  }

  /**
   * Device side of the switch-over (§12.3): the messages queued so far (the SECURE_FINISH response last) go
   * out as before; from the moment the last of them is written, our frames are sealed with `session` and
   * every received frame must verify under it. Replaces any session in force (a rekey).
   */
  secureAfterQueued(session: SecureSession): void {
    this.nextSession = session;
    this.switchOn = undefined;
    this.switchAt = this.counters.messagesSent + (this.queue.length - this.queueHead);
    if (this.counters.messagesSent >= this.switchAt) this.activate(session);
  }

  /**
   * Host side of the switch-over (§12.3), called as SECURE_FINISH is sent: frames sealed with `session` are
   * accepted from now; it is required (and seals ours) from the delivered message for which `isSwitch` is true
   * (the OK response), or from the first frame that verifies under it.
   */
  expectSecure(session: SecureSession, isSwitch: (message: Buffer) => boolean): void {
    this.nextSession = session;
    this.switchOn = isSwitch;
    this.switchAt = -1;
  }

  /** Abandons a switch-over in progress (the handshake failed); a session already in force stays. */
  cancelSecure(): void {
    this.nextSession = undefined;
    this.switchOn = undefined;
    this.switchAt = -1;
  }

  private activate(session: SecureSession): void {
    this.rxSession = session;
    this.txSession = session;
    this.cancelSecure();
    this.log.info('secure session in force');
  }

  /** Back to plain frames (a link reset ends the session, §12.3). */
  private endSecure(): void {
    if (this.rxSession || this.nextSession) this.log.info('secure session ended');
    this.rxSession = undefined;
    this.txSession = undefined;
    this.cancelSecure();
  }

  /**
   * Runs the SYNC exchange on the (already open) transport. Resolves with the agreed parameters; rejects
   * with E_OFFLOAD_NO_ANSWER / E_OFFLOAD_NOT_A_DEVICE after syncTimeoutMs, with the transport's error if
   * it closes, with E_OFFLOAD_LINK_CLOSED if close() is called first. Calling it again returns the same promise.
   */
  start(): Promise<LinkParams> {
    if (this.startPromise) return this.startPromise;
    if (this.state !== 'idle') {
      return Promise.reject(
        this.downError ?? new LinkError(LinkErrorCode.CLOSED, `${this.name}: link is closed`),
      );
    }
    if (!this.transport.isOpen) {
      return Promise.reject(
        new LinkError(LinkErrorCode.NOT_OPEN, `${this.name}: open the transport before starting the link`, {
          link: this.name,
        }),
      );
    }
    this.startPromise = new Promise<LinkParams>((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
    // A failed start is reported by the promise; keep an unobserved rejection from crashing the process.
    this.startPromise.catch(() => undefined);
    this.state = 'syncing';
    this.attach();
    this.log.debug({ nonce: this.nonce, offer: this.offer, role: this.role }, 'link starting');
    this.sendSync();
    this.syncTimer = setInterval(() => this.sendSync(), this.syncIntervalMs);
    if (this.syncTimeoutMs > 0)
      this.syncDeadline = setTimeout(() => this.onSyncTimeout(), this.syncTimeoutMs);
    return this.startPromise;
  }

  /**
   * Queues one message (not copied: do not modify it afterwards). Returns false when queued-but-unsent bytes reached the high-water
   * mark: wait for 'drain'. Nothing is dropped for lack of room. Throws E_OFFLOAD_MESSAGE_TOO_LARGE for a
   * message over the negotiated maxPayload, E_OFFLOAD_LINK_NOT_UP before start() resolved, the down error
   * (or E_OFFLOAD_LINK_CLOSED) afterwards.
   */
  send(message: Uint8Array): boolean {
    if (this.state !== 'up') {
      if (this.state === 'down' && this.downError) throw this.downError;
      if (this.state === 'closed')
        throw new LinkError(LinkErrorCode.CLOSED, `${this.name}: send on a closed link`);
      throw new LinkError(LinkErrorCode.NOT_UP, `${this.name}: send before the link is up (await start())`);
    }
    const max = (this.agreed as LinkParams).maxPayload;
    if (message.length > max) {
      throw new LinkError(
        LinkErrorCode.MESSAGE_TOO_LARGE,
        `${this.name}: message of ${message.length} bytes exceeds the negotiated maximum payload ${max}`,
        { length: message.length, maxPayload: max },
      );
    }
    // No copy: the caller hands over the message (an encoder's fresh buffer) and must not modify it.
    this.queue.push(
      Buffer.isBuffer(message)
        ? message
        : Buffer.from(message.buffer, message.byteOffset, message.byteLength),
    );
    this.queuedBytes += message.length;
    if (this.corked === 0) this.pump();
    if (this.queuedBytes >= this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /**
   * Holds messages given to send() until the matching uncork(), so that what a burst of work produces (say,
   * the responses and events for every command of one received chunk) goes to the transport in one write.
   * Nests. Received input is processed corked automatically.
   */
  cork(): void {
    this.corked++;
  }

  /** Ends one cork(); the outermost one sends what was held. */
  uncork(): void {
    if (this.corked === 0) return;
    if (--this.corked === 0) this.afterInput();
  }

  /**
   * Stops everything (timers, listeners); drops unsent messages; closes the transport unless closeTransport is false.
   * An up link says BYE first (§4.5), so that the peer declares it down now instead of after 3 s of silence;
   * `{ bye: false }` leaves silently, as a crashed host would (for tests of the peer's dead timer).
   */
  close(options: { bye?: boolean } = {}): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (options.bye !== false && this.state === 'up' && this.transport.isOpen) {
      // An unbatched frame: writeFrame flushes the pending batch first, so BYE is the last frame.
      this.counters.byesSent++;
      this.writeFrame(FrameType.BYE, 0, EMPTY);
    }
    this.state = 'closed';
    this.teardown();
    this.failStart(new LinkError(LinkErrorCode.CLOSED, `${this.name}: closed before the link came up`));
    this.log.debug('link closed');
    this.closePromise = this.closeTransport
      ? this.transport.close().catch(() => undefined)
      : Promise.resolve();
    return this.closePromise;
  }

  // ---- transport plumbing ------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.state !== 'syncing' && this.state !== 'up') return;
    this.counters.bytesReceived += chunk.length;
    const outputs: TcpDeframerOutput[] = this.deframer.push(chunk);
    // Messages sent while the chunk's frames are delivered go out together, after them (afterInput pumps).
    this.corked++;
    try {
      for (const out of outputs) {
        if (this.state !== 'syncing' && this.state !== 'up') return;
        if (out.kind === 'frame') this.onFrame(out.frame);
        else if (out.kind === 'discarded') this.onDiscarded(out.error, out.byteCount);
        else {
          this.onFatal(out.error);
          return;
        }
      }
    } finally {
      this.corked--;
    }
    if (this.corked === 0) this.afterInput();
  };

  private readonly onDrain = (): void => {
    this.writable = true;
    if (this.state !== 'up') return;
    // Frames we wrote only now left our buffers: measure the retransmission timeout from here.
    this.rtoTimer?.refresh();
    this.probeTimer?.refresh();
    this.pump();
    this.maybeDrain();
  };

  private readonly onTransportClose = (err: TransportError | undefined): void => {
    if (this.state === 'closed' || this.state === 'down') return;
    const linkErr = err
      ? new LinkError(
          err.code,
          `${this.name}: ${err.message}`,
          { ...err.details, link: this.name },
          { cause: err },
        )
      : new LinkError(
          LinkErrorCode.TRANSPORT_CLOSED,
          `${this.name}: the transport was closed under the link`,
          {
            link: this.name,
          },
        );
    this.fail(linkErr);
  };

  private attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.transport.on('data', this.onData);
    this.transport.on('drain', this.onDrain);
    this.transport.on('close', this.onTransportClose);
  }

  private detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.transport.off('data', this.onData);
    this.transport.off('drain', this.onDrain);
    this.transport.off('close', this.onTransportClose);
  }

  /**
   * Encodes one frame and writes it, or (`batched`, MSG frames from the pump) adds it to the batch that
   * flush() writes in one transport write. Returns false once the transport asked us to wait for 'drain'.
   */
  private writeFrame(
    type: number,
    seq: number,
    payload: Uint8Array,
    leadingDelimiter = false,
    batched = false,
  ): boolean {
    const arq = this.agreed?.arq === true && this.state === 'up';
    const carriesAck = type !== FrameType.SYNC && type !== FrameType.SYNC_ACK;
    const ack = arq && carriesAck ? this.rcvNext : 0;
    const frame: Frame = { channel: this.channel, type, seq, ack, flags: 0, payload };
    if (this.txSession !== undefined && carriesAck) {
      try {
        this.txSession.seal(frame); // a retransmission gets a new counter and MAC
      } catch (err) {
        this.fail(err as LinkError);
        return false;
      }
      this.counters.secureFramesSent++;
    }
    const batching = batched && this.maxBatchBytes > 0;
    let parts: Buffer[] | undefined;
    let bytes = 0;
    if (batching && this.framing === 'serial') {
      // Encoded straight into the batch buffer: no buffer per frame, no concatenation.
      const room = serialWireRoom(frame);
      if (this.serialBatch.length - this.serialUsed < room) {
        this.flush();
        if (this.serialBatch.length < room) this.serialBatch = Buffer.allocUnsafe(this.maxBatchBytes + room);
      }
      const start = this.serialUsed;
      this.serialUsed = encodeSerialFrameInto(frame, this.serialBatch, start);
      bytes = this.serialUsed - start;
    } else {
      // TCP: a large payload is not copied (prefix + header, payload, CRC are written together, one writev).
      parts = this.framing === 'serial' ? [encodeSerialFrame(frame)] : encodeTcpRecordParts(frame);
      if (leadingDelimiter && this.framing === 'serial') parts.unshift(DELIMITER);
      for (const p of parts) bytes += p.length;
    }
    this.counters.framesSent++;
    this.counters.bytesSent += bytes;
    this.lastSent = performance.now();
    if (carriesAck) {
      // Every frame carries the cumulative ack (and answers a HEARTBEAT).
      this.ackPending = 0;
      this.ackNow = false;
      if (this.ackTimer) {
        clearTimeout(this.ackTimer);
        this.ackTimer = undefined;
      }
    }
    if (batching) {
      if (parts) for (const p of parts) this.batch.push(p);
      this.batchBytes += bytes;
      if (this.batchBytes >= this.maxBatchBytes) return this.flush();
      return true;
    }
    this.flush();
    return this.write(parts as Buffer[]);
  }

  /** Writes the pending batch of MSG frames, if any. */
  private flush(): boolean {
    if (this.serialUsed > 0) {
      const n = this.serialUsed;
      const buf = this.serialBatch;
      this.serialUsed = 0;
      this.batchBytes = 0;
      // A well-filled buffer is handed over (a new one is made for the next batch); a small batch is copied out
      // so that the buffer can be reused and a small write does not hold a large buffer.
      let wire: Buffer;
      if (n >= buf.length / 2) {
        wire = buf.subarray(0, n);
        this.serialBatch = NO_BYTES;
      } else {
        wire = Buffer.allocUnsafe(n);
        buf.copy(wire, 0, 0, n);
      }
      return this.write([wire]);
    }
    if (this.batch.length === 0) return this.writable;
    const parts = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    return this.write(parts);
  }

  /** Writes buffers in order: one transport write (a writev where the transport has one, else concatenated). */
  private write(parts: Buffer[]): boolean {
    let ok: boolean;
    try {
      const t = this.transport;
      if (parts.length === 1) ok = t.write(parts[0] as Buffer);
      else if (t.writev) ok = t.writev(parts);
      else ok = t.write(Buffer.concat(parts));
    } catch (err) {
      // The transport is closing / closed; its 'close' event (or our own close) finishes the link.
      this.log.debug({ err }, 'write on a closed transport');
      this.writable = false;
      return false;
    }
    if (!ok && this.writable) {
      this.writable = false;
      this.counters.writeStalls++;
    }
    return ok;
  }

  // ---- SYNC exchange -----------------------------------------------------------------------------

  private sendSync(): void {
    if (this.state !== 'syncing' && !(this.state === 'up' && !this.ownSyncAcked)) return;
    this.counters.syncsSent++;
    this.writeFrame(FrameType.SYNC, 0, encodeSync({ nonce: this.nonce, ...this.offer }), true);
  }

  /** PROTOCOL.md §4.2 step 2. */
  private onSync(frame: Frame): void {
    let sync: SyncPayload;
    try {
      sync = decodeSync(frame.payload);
    } catch {
      this.counters.ignoredFrames++;
      return;
    }
    if (sync.nonce === this.nonce) {
      this.counters.echoes++;
      if (
        this.state === 'syncing' &&
        this.framesFromPeer === 0 &&
        this.counters.echoes >= ECHOES_BEFORE_GIVING_UP
      ) {
        this.fail(this.notADevice({ link: this.name, echoes: this.counters.echoes }));
      }
      return;
    }
    this.framesFromPeer++;
    this.heard();
    // Out-of-range offers are clamped to the nearest valid value (§4.1).
    const agreed = agreeParams(this.offer, {
      window: clamp(sync.window, 1, Limits.maxWindow),
      arq: sync.arq ? 1 : 0,
      maxPayload: clamp(sync.maxPayload, Limits.minMaxPayload, Limits.maxPayloadAbsolute),
    });
    this.writeFrame(
      FrameType.SYNC_ACK,
      0,
      encodeSyncAck({ nonce: this.nonce, peerNonce: sync.nonce, ...agreed }),
      this.state === 'syncing',
    );
    const params: LinkParams = { ...agreed, arq: agreed.arq === 1, peerNonce: sync.nonce };
    if (this.state === 'syncing') {
      this.goUp(params);
    } else if (this.agreed && sync.nonce !== this.agreed.peerNonce) {
      this.peerRestarted(params);
    }
    // Same nonce while up: a repeat (the peer has not heard our SYNC_ACK yet, or the SYNCs crossed). It has
    // accepted nothing from us and sent us nothing, so our sequence state is right: answering is enough.
  }

  /** PROTOCOL.md §4.2 step 3. */
  private onSyncAck(frame: Frame): void {
    let ack: ReturnType<typeof decodeSyncAck>;
    try {
      ack = decodeSyncAck(frame.payload);
    } catch {
      this.counters.ignoredFrames++;
      return;
    }
    if (ack.nonce === this.nonce) {
      this.counters.echoes++;
      return;
    }
    this.framesFromPeer++;
    if (ack.peerNonce !== this.nonce) {
      // Answers an earlier incarnation of ours (or someone else): stale.
      this.counters.ignoredFrames++;
      return;
    }
    this.heard();
    this.ownSyncAcked = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.syncTimer = undefined;
    if (this.state === 'up' && this.agreed?.peerNonce === ack.nonce) return; // the SYNCs crossed: nothing new
    // Adopt the agreed values, kept within what we offered.
    const o = this.offer;
    const params: LinkParams = {
      window: clamp(ack.window, 1, o.window),
      maxPayload: clamp(ack.maxPayload, Limits.minMaxPayload, o.maxPayload),
      arq: ack.arq !== 0 || o.arq === 1,
      peerNonce: ack.nonce,
    };
    if (this.state === 'syncing') this.goUp(params);
    else this.peerRestarted(params); // a new peer incarnation answered our SYNC
  }

  private goUp(params: LinkParams): void {
    // Keep repeating our own SYNC until it is acknowledged (§4.2); the start deadline is over.
    if (this.syncDeadline) clearTimeout(this.syncDeadline);
    this.syncDeadline = undefined;
    if (this.ownSyncAcked) this.clearSyncTimers();
    this.state = 'up';
    this.applyParams(params);
    this.resetSequences();
    const now = performance.now();
    this.lastHeard = now;
    this.lastSent = now;
    this.heartbeatTimer = setTimeout(this.onHeartbeatTimer, this.heartbeatMs);
    this.deadTimer = setTimeout(this.onDeadTimer, this.deadTimeoutMs);
    this.log.debug({ params, rto: this.rtoInitial }, 'link up');
    const resolve = this.resolveStart;
    this.resolveStart = undefined;
    this.rejectStart = undefined;
    resolve?.({ ...params });
    this.emit('up', { ...params });
  }

  private peerRestarted(params: LinkParams): void {
    this.counters.resets++;
    this.endSecure();
    const dropped = this.dropQueues();
    this.applyParams(params);
    this.resetSequences();
    this.log.info({ params, dropped }, 'peer restarted: link reset');
    this.emit('reset', { ...params });
    this.maybeDrain();
  }

  private applyParams(params: LinkParams): void {
    this.agreed = { ...params };
    this.ackEvery = Math.max(1, Math.floor(params.window / 2));
    const frameMs =
      this.bitRate > 0 && this.framing === 'serial'
        ? ((maxEncodedFrameLength(params.maxPayload) + 1) * 10 * 1000) / this.bitRate
        : 0;
    // A frame can wait behind a window of ours, its ack behind a window of the peer's (§4.3).
    this.rtoInitial = Math.max(this.rtoMinMs, (2 * params.window + 2) * frameMs);
    this.rtoMax = Math.max(this.rtoMaxOption, this.rtoInitial);
    this.rtoBase = this.rtoInitial;
    this.rto = this.rtoInitial;
    this.srtt = undefined;
    this.rttvar = 0;
    this.rttSamples = 0;
  }

  private resetSequences(): void {
    this.sndNext = 0;
    this.rcvNext = 0;
    this.resendIndex = this.unacked.length;
    this.ackPending = 0;
    this.ackNow = false;
    this.nakNow = false;
    this.nakedFor = -1;
    this.windowStalled = false;
    this.stopRto();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private onSyncTimeout(): void {
    this.syncDeadline = undefined;
    if (this.state !== 'syncing') return;
    const c = this.counters;
    const details = {
      link: this.name,
      timeoutMs: this.syncTimeoutMs,
      bytesReceived: c.bytesReceived,
      discardedBytes: c.discardedBytes,
      echoes: c.echoes,
      framesFromPeer: this.framesFromPeer,
    };
    if (this.framesFromPeer === 0 && c.bytesReceived > 0) {
      this.fail(this.notADevice(details));
    } else {
      this.fail(
        new LinkError(
          LinkErrorCode.NO_ANSWER,
          this.framesFromPeer > 0
            ? `${this.name}: the peer sends frames but did not answer SYNC within ${this.syncTimeoutMs} ms`
            : `${this.name}: no answer to SYNC within ${this.syncTimeoutMs} ms (is the device powered, the port and baud rate right?)`,
          details,
        ),
      );
    }
  }

  private notADevice(details: Record<string, unknown>): LinkError {
    const c = this.counters;
    const why =
      c.echoes > 0
        ? `our own frames came back (${c.echoes} echoed): the line is looped back or the peer echoes`
        : `${c.bytesReceived} bytes received, none of them a valid frame`;
    return new LinkError(LinkErrorCode.NOT_A_DEVICE, `${this.name}: not an offload device: ${why}`, details);
  }

  // ---- receive path ------------------------------------------------------------------------------

  private onDiscarded(error: ProtocolError, byteCount: number): void {
    this.counters.discardedBytes += byteCount;
    this.counters.framingErrors++;
    if (error.decodeError === 'FRAME_BAD_CRC') this.counters.crcErrors++;
    this.log.trace({ err: error, byteCount }, 'bytes discarded');
  }

  private onFatal(error: ProtocolError): void {
    this.counters.framingErrors++;
    if (this.state === 'syncing' && this.framesFromPeer === 0) {
      this.fail(this.notADevice({ link: this.name, cause: error.message }));
      return;
    }
    this.fail(
      new LinkError(
        LinkErrorCode.PROTOCOL,
        `${this.name}: the peer broke the record framing: ${error.message}`,
        {
          link: this.name,
        },
        { cause: error },
      ),
    );
  }

  private onFrame(frame: Frame): void {
    this.counters.framesReceived++;
    if (frame.channel !== this.channel) {
      this.counters.foreignFrames++;
      this.framesFromPeer++;
      this.onForeignChannel?.(frame);
      return;
    }
    switch (frame.type) {
      case FrameType.SYNC:
        this.onSync(frame);
        return;
      case FrameType.SYNC_ACK:
        this.onSyncAck(frame);
        return;
    }
    this.framesFromPeer++;
    if (this.state !== 'up') {
      this.counters.ignoredFrames++;
      return;
    }
    // Secure: verified before any field (ack included) is acted on, before it even counts as a sign of life.
    if (
      (this.rxSession !== undefined ||
        this.nextSession !== undefined ||
        (frame.flags & FrameFlag.SECURE) !== 0) &&
      !this.admit(frame)
    ) {
      return;
    }
    this.heard();
    const params = this.agreed as LinkParams;
    if (frame.payload.length > params.maxPayload) {
      this.counters.ignoredFrames++;
      return;
    }
    if (params.arq) this.onAck(frame.ack);
    switch (frame.type) {
      case FrameType.MSG:
        if (params.arq) this.onMsgArq(frame);
        else this.deliver(frame.payload);
        return;
      case FrameType.ACK:
        this.counters.acksReceived++;
        return;
      case FrameType.NAK:
        this.counters.naksReceived++;
        if (params.arq) this.onNak(frame.ack);
        return;
      case FrameType.HEARTBEAT:
        this.counters.heartbeatsReceived++;
        this.ackNow = true; // answered with an ACK (with ARQ off too: it proves we are alive)
        return;
      case FrameType.BYE:
        if (frame.payload.length !== 0) {
          this.counters.ignoredFrames++; // BYE has no payload (§2.1)
          return;
        }
        // The peer left (§4.5): down now, as the dead timer would say 3 s from now.
        this.counters.byesReceived++;
        this.fail(
          new LinkError(LinkErrorCode.LINK_DOWN, `${this.name}: the peer left the link (BYE)`, {
            link: this.name,
            reason: 'bye',
          }),
        );
        return;
    }
  }

  /** §12.3 receiver: MAC, then replay window; false = drop (counted and logged). */
  private admit(frame: Frame): boolean {
    if ((frame.flags & FrameFlag.SECURE) === 0) {
      // Plain frames: fine on a plain link and (first handshake) until the switch; never once secure.
      if (this.rxSession === undefined) return true;
      return this.refuse(frame, 'plain');
    }
    const next = this.nextSession;
    const ordered = this.agreed?.arq === false; // ARQ off: a reliable, ordered transport (§12.3)
    if (next !== undefined) {
      const verdict = next.open(frame, ordered);
      if (verdict === 'ok') {
        this.counters.secureFramesReceived++;
        this.activate(next); // the device has switched: so do we
        return true;
      }
      // During a rekey frames under the session in force are still honest.
      if (this.rxSession === undefined || verdict !== 'mac') return this.refuse(frame, verdict);
    }
    const rx = this.rxSession;
    if (rx === undefined) {
      // Sealed with a key we do not have: nothing to verify it with.
      this.counters.ignoredFrames++;
      return false;
    }
    const verdict = rx.open(frame, ordered);
    if (verdict !== 'ok') return this.refuse(frame, verdict);
    this.counters.secureFramesReceived++;
    return true;
  }

  private refuse(frame: Frame, why: SecureRejection | 'plain'): false {
    const c = this.counters;
    if (why === 'mac') c.secureBadMac++;
    else if (why === 'replay') c.secureReplays++;
    else if (why === 'old') c.secureTooOld++;
    else c.securePlainDropped++;
    this.log.warn(
      { why, type: frame.type, seq: frame.seq, counter: frame.counter?.toString() },
      'secure link: frame dropped',
    );
    return false;
  }

  private heard(): void {
    this.lastHeard = performance.now();
  }

  private deliver(payload: Uint8Array): void {
    this.counters.messagesReceived++;
    this.counters.payloadBytesReceived += payload.length;
    const message = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    // Host switch-over: the SECURE_FINISH response is the last plain frame we accept.
    if (this.switchOn?.(message)) this.activate(this.nextSession as SecureSession);
    this.emit('message', message);
  }

  private onMsgArq(frame: Frame): void {
    const d = (frame.seq - this.rcvNext) & SEQ_MASK;
    if (d === 0) {
      this.rcvNext = (this.rcvNext + 1) & SEQ_MASK;
      this.ackPending++;
      if (this.ackPending >= this.ackEvery) this.ackNow = true;
      else if (!this.ackTimer) this.ackTimer = setTimeout(this.onAckTimer, this.ackDelayMs);
      this.deliver(frame.payload);
      return;
    }
    if (d < HALF_SEQ) {
      // Beyond a gap: go-back-N discards it. NAK once per retransmission round: a new round has begun
      // when a frame at or below the highest one seen since our NAK arrives (the sender went back).
      this.counters.outOfOrder++;
      if (this.nakedFor !== this.rcvNext || d <= ((this.nakHighest - this.rcvNext) & SEQ_MASK)) {
        this.nakNow = true;
        this.nakedFor = this.rcvNext;
        this.nakHighest = frame.seq;
      } else {
        this.nakHighest = frame.seq;
      }
      return;
    }
    this.counters.duplicates++;
    this.ackNow = true;
  }

  private onAck(ack: number): void {
    const outstanding = this.unacked.length;
    if (outstanding === 0) return;
    const base = (this.unacked[0] as Outstanding).seq;
    const d = (ack - base) & SEQ_MASK;
    if (d === 0) return;
    if (d > outstanding) {
      this.counters.ignoredFrames++;
      return;
    }
    const newest = this.unacked[d - 1] as Outstanding;
    if (!newest.resent) this.sampleRoundTrip(performance.now() - newest.sentAt);
    this.unacked.splice(0, d);
    this.resendIndex = Math.max(0, this.resendIndex - d);
    this.windowStalled = false;
    this.rto = this.rtoBase;
    if (this.unacked.length === 0) this.stopRto();
    else this.restartRto();
  }

  /** RFC 6298's estimator (§4.3): the RTO follows the round trips the line really has. */
  private sampleRoundTrip(r: number): void {
    this.rttSamples++;
    if (this.srtt === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rtoBase = Math.min(this.rtoMax, Math.max(this.rtoMinMs, this.srtt + 4 * this.rttvar));
  }

  /** The retransmission timer's state (§4.3). */
  get rtoState(): RtoState {
    return {
      rtoMs: this.rto,
      baseMs: this.rtoBase,
      initialMs: this.rtoInitial,
      srttMs: this.srtt,
      rttvarMs: this.srtt === undefined ? undefined : this.rttvar,
      samples: this.rttSamples,
    };
  }

  private onNak(ack: number): void {
    const first = this.unacked[0];
    if (!first || first.seq !== ack) return; // nothing outstanding from there (a late NAK)
    this.resendIndex = 0;
    this.restartRto();
  }

  /** After a chunk of input: NAK first (retransmission starts sooner), then data (carrying the ack), then a bare ACK. */
  private afterInput(): void {
    if (this.state !== 'up') return;
    if (this.nakNow) {
      this.nakNow = false;
      this.counters.naksSent++;
      this.writeFrame(FrameType.NAK, 0, EMPTY);
    }
    this.pump();
    if (this.state === 'up' && this.ackNow) this.sendAck();
    this.maybeDrain();
  }

  private sendAck(): void {
    this.counters.acksSent++;
    this.writeFrame(FrameType.ACK, 0, EMPTY);
  }

  private readonly onAckTimer = (): void => {
    this.ackTimer = undefined;
    if (this.state === 'up' && this.ackPending > 0) this.sendAck();
  };

  // ---- send path ---------------------------------------------------------------------------------

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        this.pumpOnce();
        this.flush();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private pumpOnce(): void {
    const params = this.agreed;
    if (!params) return;
    while (this.state === 'up' && this.writable) {
      if (params.arq && this.resendIndex < this.unacked.length) {
        this.resend(this.unacked[this.resendIndex++] as Outstanding, true);
        continue;
      }
      if (this.queueHead === this.queue.length) return;
      if (params.arq && this.unacked.length >= params.window) {
        if (!this.windowStalled) {
          this.windowStalled = true;
          this.counters.creditStalls++;
        }
        return;
      }
      const msg = this.queue[this.queueHead++] as Buffer;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.queuedBytes -= msg.length;
      this.counters.messagesSent++;
      this.counters.payloadBytesSent += msg.length;
      if (params.arq) {
        const seq = this.sndNext;
        this.sndNext = (seq + 1) & SEQ_MASK;
        this.unacked.push({ seq, payload: msg, sentAt: performance.now(), resent: false });
        this.resendIndex = this.unacked.length;
        this.writeFrame(FrameType.MSG, seq, msg, false, true);
        if (!this.rtoTimer) this.restartRto();
      } else {
        this.writeFrame(FrameType.MSG, 0, msg, false, true);
      }
      // Device switch-over: the SECURE_FINISH response was the last plain frame.
      if (this.switchAt >= 0 && this.counters.messagesSent >= this.switchAt) {
        this.activate(this.nextSession as SecureSession);
      }
    }
  }

  private maybeDrain(): void {
    if (this.needDrain && this.state === 'up' && this.queuedBytes <= this.highWaterMark / 2) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private restartRto(): void {
    if (this.rtoTimer) clearTimeout(this.rtoTimer);
    this.rtoTimer = setTimeout(this.onRtoTimer, this.rto);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    // Tail probe (§4.3): a lost ACK or NAK costs PTO instead of the RTO. Without a measured round trip (none yet,
    // or Karn's rule finds no frame sent once under heavy loss) half the RTO.
    this.armProbe(this.srtt !== undefined ? 2 * this.srtt + this.ackDelayMs : this.rto / 2);
  }

  /** Probes go out after `pto`, then at doubling intervals (a probe may be lost too), until the RTO fires. */
  private armProbe(pto: number): void {
    this.pto = pto;
    if (pto < this.rto) this.probeTimer = setTimeout(this.onProbeTimer, pto);
  }

  private stopRto(): void {
    if (this.rtoTimer) clearTimeout(this.rtoTimer);
    this.rtoTimer = undefined;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /**
   * No ack for PTO: the newest unacknowledged frame goes out once more (not the whole window). A receiver that has
   * it answers the duplicate with an ACK at once; one that lost frames before it NAKs again (a frame at or below
   * the highest seen since its NAK starts a new round).
   */
  private readonly onProbeTimer = (): void => {
    this.probeTimer = undefined;
    const newest = this.unacked[this.unacked.length - 1];
    if (this.state !== 'up' || !newest || !this.writable) return;
    if (this.resendIndex < this.unacked.length) return; // going back already: the pump sends them
    this.counters.probes++;
    this.resend(newest, false);
    this.armProbe(2 * this.pto);
  };

  /** Sends an unacknowledged frame again; Karn: its round trip is no sample any more. */
  private resend(f: Outstanding, batched: boolean): void {
    f.resent = true;
    this.counters.retransmits++;
    this.writeFrame(FrameType.MSG, f.seq, f.payload, false, batched);
  }

  private readonly onRtoTimer = (): void => {
    this.rtoTimer = undefined;
    if (this.state !== 'up' || this.unacked.length === 0) return;
    this.counters.timeouts++;
    this.log.debug({ rto: this.rto, outstanding: this.unacked.length }, 'retransmission timeout');
    this.rto = Math.min(this.rto * 2, this.rtoMax);
    this.resendIndex = 0;
    this.restartRto();
    this.pump();
  };

  // ---- liveness ----------------------------------------------------------------------------------

  private readonly onHeartbeatTimer = (): void => {
    this.heartbeatTimer = undefined;
    if (this.state !== 'up') return;
    const idle = performance.now() - this.lastSent;
    if (idle >= this.heartbeatMs - 1) {
      this.counters.heartbeats++;
      this.writeFrame(FrameType.HEARTBEAT, 0, EMPTY);
      this.heartbeatTimer = setTimeout(this.onHeartbeatTimer, this.heartbeatMs);
    } else {
      this.heartbeatTimer = setTimeout(this.onHeartbeatTimer, this.heartbeatMs - idle);
    }
  };

  private readonly onDeadTimer = (): void => {
    this.deadTimer = undefined;
    if (this.state !== 'up') return;
    const silentFor = performance.now() - this.lastHeard;
    if (silentFor >= this.deadTimeoutMs - 1) {
      this.fail(
        new LinkError(
          LinkErrorCode.LINK_DOWN,
          `${this.name}: no frame from the peer for ${Math.round(silentFor)} ms (dead timeout ${this.deadTimeoutMs} ms)`,
          { link: this.name, silentMs: Math.round(silentFor), deadTimeoutMs: this.deadTimeoutMs },
        ),
      );
    } else {
      this.deadTimer = setTimeout(this.onDeadTimer, this.deadTimeoutMs - silentFor);
    }
  };

  // ---- teardown ----------------------------------------------------------------------------------

  /** Terminal failure: reject a pending start(), emit 'down' if we were up, close the transport if ours. */
  private fail(err: LinkError): void {
    if (this.state === 'down' || this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.downError = err;
    this.teardown();
    this.log.debug({ err }, wasUp ? 'link down' : 'link start failed');
    this.failStart(err);
    if (this.closeTransport) void this.transport.close().catch(() => undefined);
    if (wasUp) this.emit('down', err);
  }

  private failStart(err: LinkError): void {
    const reject = this.rejectStart;
    this.resolveStart = undefined;
    this.rejectStart = undefined;
    reject?.(err);
  }

  private clearSyncTimers(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.syncDeadline) clearTimeout(this.syncDeadline);
    this.syncTimer = undefined;
    this.syncDeadline = undefined;
  }

  private dropQueues(): number {
    const dropped = this.unacked.length + (this.queue.length - this.queueHead);
    this.counters.messagesDropped += dropped;
    this.unacked = [];
    this.resendIndex = 0;
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    return dropped;
  }

  private teardown(): void {
    this.endSecure();
    this.clearSyncTimers();
    this.stopRto();
    for (const t of [this.ackTimer, this.heartbeatTimer, this.deadTimer]) if (t) clearTimeout(t);
    this.ackTimer = undefined;
    this.heartbeatTimer = undefined;
    this.deadTimer = undefined;
    this.detach();
    this.dropQueues();
    this.batch = [];
    this.batchBytes = 0;
    this.serialUsed = 0;
    this.needDrain = false;
  }
}

const EMPTY = new Uint8Array(0);
const NO_BYTES = Buffer.alloc(0);

/** The baud rate of a SerialTransport (duck-typed: transport must not be imported for its classes here). */
function serialBaudRate(transport: Transport): number {
  if (transport.kind !== 'serial') return 0;
  const rate = (transport as unknown as { options?: { baudRate?: unknown } }).options?.baudRate;
  return typeof rate === 'number' && rate > 0 ? rate : 0;
}
