/**
 * DeviceCore's internal state and the machinery every handler shares: channels and event sequencing,
 * output of messages and network actions, credits in both directions, status announcements, socket
 * termination and device reset. Command handlers (commands.ts, socket-commands.ts) and network event
 * handlers (network-events.ts) operate on it; DeviceCore (device-core.ts) is the public facade.
 */
import type { Logger } from 'pino';
import type { NetworkAction } from '../network/backend.js';
import {
  type Addr,
  BootReason,
  type BootReasonName,
  ChannelRole,
  type CommandName,
  ConditionFlag,
  type ErrorBodies,
  type EventBodies,
  type EventName,
  encodeMessage,
  event,
  failedResponse,
  Limits,
  type Message,
  okResponse,
  Opcode,
  type ResponseBodies,
  type SessionKeys,
  STATUS_NAME,
  SocketStatus,
  StatusCode,
  type StatusCodeName,
} from '../../src/protocol/index.js';
import type { ResolvedOptions } from './options.js';
import { RegisterFile } from './registers.js';
import { DERIVED_FLAGS, type Socket, announceDiff, clampU32 } from './socket.js';
import { SocketTable } from './socket-table.js';
import { EgressPolicy } from './egress.js';

export class ChannelState {
  /** Has sent anything, or was announced with channelUp(): gets BOOT events. */
  active = false;
  /** HELLO done in this epoch. */
  hello = false;
  /** Sequence number of the last event sent on this channel in this epoch. */
  seq = 0;
  /** Claimed with CHANNEL_OPEN (channel 0: always), PROTOCOL.md §11. */
  open: boolean;
  /** channelRoles value while open. */
  role: number = ChannelRole.NORMAL;
  /** A secure session is established (§12): the link authenticates every frame. Egress policy reads it. */
  secure = false;
  /** The session ended by a link reset or device reset: only the commands of a new handshake are accepted (§12.3). */
  locked = false;
  /** SECURE_INIT answered, SECURE_FINISH awaited. */
  handshake: SecureHandshake | undefined;
  /** A host link serves the channel (channelUp or a message seen, until channelDown). */
  linkUp = false;
  /** When the link went down (for the channel timeout), null while up or already timed out. */
  downSince: number | null = null;
  constructor(
    readonly id: number,
    public maxPayload: number,
  ) {
    this.open = id === 0;
  }

  /**
   * Back to not-open (RESET, channel timeout); channel 0 stays open with role NORMAL. The secure session is the
   * caller's to end: RESET locks the channel (endSecureSession), the timeout ends it with the sockets.
   */
  close(): void {
    this.open = this.id === 0;
    this.role = ChannelRole.NORMAL;
  }
}

/** What SECURE_INIT leaves for SECURE_FINISH. */
export interface SecureHandshake {
  key: Buffer;
  hostNonce: Buffer;
  deviceNonce: Buffer;
}

/** Ends the channel's secure session (link or device reset): it stays locked until a new handshake. */
export function endSecureSession(ch: ChannelState): void {
  if (ch.secure) ch.locked = true;
  ch.secure = false;
  ch.handshake = undefined;
}

export interface DeviceCounters {
  /** Messages received from the host (decodable or not). */
  messagesIn: number;
  /** Commands decoded and dispatched. */
  commands: number;
  commandsByName: Record<string, number>;
  /** Responses sent (OK and failed), ERROR_RESPONSEs included. */
  responses: number;
  /** Non-OK responses and ERROR_RESPONSEs, by status name. */
  errorsByCode: Record<string, number>;
  /** Messages that could not be decoded (answered with ERROR_RESPONSE). */
  undecodable: number;
  events: number;
  eventsByName: Record<string, number>;
  /** Message bytes from / to the host. */
  bytesIn: number;
  bytesOut: number;
  /** Payload bytes: accepted from the host for the network, from the network, delivered to the host. */
  dataToNetwork: number;
  dataFromNetwork: number;
  dataToHost: number;
  /** Received bytes thrown away because the host shut the read side or closed. */
  dataDiscarded: number;
  /** UDP datagrams dropped at the network side: receive queue full or too large to deliver. */
  datagramsDropped: number;
  /** Network events naming a handle DeviceCore no longer knows (late events after a close). */
  strayNetworkEvents: number;
  /** Exceptions caught inside DeviceCore (bugs); each also logged. */
  internalErrors: number;
  /** Commands held back behind a pending network operation on the same socket. */
  deferredCommands: number;
}

function newCounters(): DeviceCounters {
  return {
    messagesIn: 0,
    commands: 0,
    commandsByName: {},
    responses: 0,
    errorsByCode: {},
    undecodable: 0,
    events: 0,
    eventsByName: {},
    bytesIn: 0,
    bytesOut: 0,
    dataToNetwork: 0,
    dataFromNetwork: 0,
    dataToHost: 0,
    dataDiscarded: 0,
    datagramsDropped: 0,
    strayNetworkEvents: 0,
    internalErrors: 0,
    deferredCommands: 0,
  };
}

/** DATA: event header + id. DATAGRAM: event header + id + addr. */
export const DATA_OVERHEAD = Limits.eventHeaderSize + 2;
export const DATAGRAM_OVERHEAD = Limits.eventHeaderSize + 2 + Limits.addrSize;
/** Largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65507;

/** One command being answered: exactly one response per tag. */
export class Reply<N extends CommandName = CommandName> {
  responded = false;
  constructor(
    private readonly core: CoreState,
    readonly channel: number,
    readonly name: N,
    readonly tag: number,
  ) {}

  ok(body: ResponseBodies[N]): void {
    if (this.responded) return;
    this.responded = true;
    this.core.send(this.channel, okResponse(this.name, this.tag, body) as unknown as Message);
    this.core.countResponse('OK');
  }

  fail(code: StatusCodeName, accepted = 0): void {
    if (this.responded) return;
    this.responded = true;
    const body = (this.name === 'SEND' || this.name === 'SENDTO' ? { accepted } : {}) as ErrorBodies[N];
    this.core.send(
      this.channel,
      failedResponse(this.name, this.tag, StatusCode[code], body) as unknown as Message,
    );
    this.core.countResponse(code);
  }
}

export class CoreState {
  readonly table: SocketTable;
  readonly channels = new Map<number, ChannelState>();
  readonly registers: RegisterFile;
  readonly counters: DeviceCounters = newCounters();
  /** Egress rules: configuration, they survive RESET (§12.5). */
  readonly egress: EgressPolicy;
  readonly log: Logger;
  epoch: number;
  bootTime: number;
  bootReason: BootReasonName = 'POWER_ON';
  readonly outputs: ((channel: number, message: Buffer) => void)[] = [];
  readonly actionListeners: ((action: NetworkAction) => void)[] = [];
  /** Told when a handshake completes: the channel's link must switch to these keys after the response. */
  readonly secureListeners: ((channel: number, keys: SessionKeys) => void)[] = [];

  constructor(readonly opts: ResolvedOptions) {
    this.log = opts.logger;
    this.table = new SocketTable(opts.slots);
    this.egress = new EgressPolicy(opts.egressRuleMax);
    this.epoch = opts.epoch;
    this.bootTime = opts.now();
    this.registers = new RegisterFile({
      capabilities: () => this.opts.capabilities,
      epoch: () => this.epoch,
      slotsTotal: () => this.opts.slots,
      slotsUsed: () => this.table.used,
      maxPayload: (ch) => (ch === undefined ? this.opts.maxPayload : this.channel(ch).maxPayload),
      firmwareBuild: () => this.opts.firmwareBuild,
      eventSeq: (ch) => (ch === undefined ? 0 : (this.channels.get(ch)?.seq ?? 0)),
      uptimeMs: () => (this.now() - this.bootTime) >>> 0,
      linkUp: () => [...this.channels.values()].some((c) => c.active),
      entryAt: (slot, ch) => {
        const s = this.table.atSlot(slot);
        if (!s || (ch !== undefined && s.channel !== ch)) return undefined;
        return s.toEntry();
      },
    });
    this.registers.boot();
  }

  now(): number {
    return this.opts.now();
  }

  channel(n: number): ChannelState {
    let c = this.channels.get(n);
    if (!c) {
      c = new ChannelState(n, this.opts.maxPayload);
      this.channels.set(n, c);
    }
    return c;
  }

  // ------------------------------------------------------------------ output

  send(channel: number, msg: Message): void {
    let buf: Buffer;
    try {
      buf = encodeMessage(msg);
    } catch (err) {
      this.internalError(err, { what: 'encode', name: msg.name });
      return;
    }
    this.sendEncoded(channel, msg.name, buf);
  }

  /** Hands an encoded message to the outputs. */
  private sendEncoded(channel: number, name: string, buf: Buffer): void {
    const max = this.channel(channel).maxPayload;
    if (buf.length > max) {
      this.internalError(new Error(`${name} of ${buf.length} bytes exceeds maxPayload ${max}`), {
        channel,
      });
    }
    this.counters.bytesOut += buf.length;
    for (const fn of this.outputs) {
      try {
        fn(channel, buf);
      } catch (err) {
        this.log.error({ err, channel }, 'output listener threw');
      }
    }
  }

  countResponse(code: StatusCodeName): void {
    this.counters.responses++;
    if (code !== 'OK') this.counters.errorsByCode[code] = (this.counters.errorsByCode[code] ?? 0) + 1;
  }

  errorResponse(channel: number, tag: number, code: StatusCodeName, offendingOpcode: number): void {
    this.send(channel, {
      kind: 'error',
      name: 'ERROR_RESPONSE',
      tag,
      status: StatusCode[code],
      body: { offendingOpcode },
    });
    this.countResponse(code);
  }

  /** Sends an event with the channel's next sequence number and the current epoch. */
  emit<N extends EventName>(channel: number, name: N, body: EventBodies[N]): void {
    const seq = this.nextEventSeq(channel, name);
    this.send(channel, event(name, this.epoch, seq, body) as unknown as Message);
  }

  private nextEventSeq(channel: number, name: EventName): number {
    const ch = this.channel(channel);
    let seq = (ch.seq + 1) >>> 0;
    // ---- DEFECT skipEventSeq: a gap in the sequence every 4th event.
    if (this.opts.defects.skipEventSeq && seq % 4 === 0) seq = (seq + 1) >>> 0;
    ch.seq = seq;
    this.counters.events++;
    this.counters.eventsByName[name] = (this.counters.eventsByName[name] ?? 0) + 1;
    return seq;
  }

  /**
   * A DATA event carrying the next `n` bytes of the socket's receive queue, laid out directly (event header,
   * id, then the bytes copied once out of the queue's chunks): what emit('DATA', ...) encodes, without taking
   * the bytes into a buffer of their own first.
   */
  private emitData(s: Socket, n: number): void {
    const seq = this.nextEventSeq(s.channel, 'DATA');
    const buf = Buffer.allocUnsafe(DATA_OVERHEAD + n);
    buf[0] = Opcode.DATA;
    buf[1] = 0;
    buf.writeUInt16LE(0, 2);
    buf.writeUInt32LE(this.epoch >>> 0, 4);
    buf.writeUInt32LE(seq, 8);
    buf.writeUInt16LE(s.id, Limits.eventHeaderSize);
    s.recvQueue.takeInto(buf, DATA_OVERHEAD, n);
    this.sendEncoded(s.channel, 'DATA', buf);
  }

  perform(action: NetworkAction): void {
    this.log.trace({ action: action.kind, handle: action.handle }, 'network action');
    for (const fn of this.actionListeners) {
      try {
        fn(action);
      } catch (err) {
        this.log.error({ err, action: action.kind }, 'network action listener threw');
      }
    }
  }

  internalError(err: unknown, details: Record<string, unknown> = {}): void {
    this.counters.internalErrors++;
    this.log.error({ err, ...details }, 'DeviceCore internal error');
  }

  // ------------------------------------------------------------------ handles

  newHandle(s: Socket, kind: 'tcp' | 'listener' | 'udp'): number {
    const h = this.table.allocHandle();
    s.handle = h;
    s.handleKind = kind;
    s.handleLive = true;
    this.table.mapHandle(h, s);
    return h;
  }

  /** The backend says the handle is gone: no close action will be sent for it. */
  handleGone(s: Socket): void {
    s.handleLive = false;
    s.paused = false;
    this.table.unmapHandle(s);
  }

  /** Releases a socket's handle with a close action, if it is still alive. */
  closeHandle(s: Socket, reset: boolean): void {
    if (s.handleKind !== 'none' && s.handleLive) {
      this.perform({ kind: 'close', handle: s.handle, reset: reset && s.handleKind === 'tcp' });
    }
    this.handleGone(s);
  }

  // ------------------------------------------------------------------ send credit (device → host)

  /** `n` bytes accepted from the host into the send queue. */
  consumeSend(s: Socket, n: number): void {
    s.sendQueued += n;
    if (s.hostCredit >= n) s.hostCredit -= n;
    else {
      // The host sent beyond its credit but the queue had room: it used credit not yet granted.
      s.pendingCredit -= n - s.hostCredit;
      s.hostCredit = 0;
    }
    this.counters.dataToNetwork += n;
  }

  /** `n` bytes left the send queue (sent, or a UDP datagram failed). */
  releaseSend(s: Socket, n: number): void {
    const k = Math.min(n, s.sendQueued);
    s.sendQueued -= k;
    let freed = k;
    if (s.sendCap > s.sendCapTarget) {
      // SNDBUF was lowered: the queue shrinks as it drains instead of granting credit.
      const d = Math.min(freed, s.sendCap - s.sendCapTarget);
      s.sendCap -= d;
      freed -= d;
    }
    if (freed > 0) {
      s.pendingCredit += freed;
      s.pendingCreditSince ??= this.now();
    }
  }

  /** Grants batched credit: when ≥ 1/4 of the queue is free to grant, the queue emptied, or forced. */
  flushCredit(s: Socket, force: boolean): void {
    if (s.pendingCredit <= 0 || s.closing || s.id === 0) return;
    if (!force && s.pendingCredit < s.sendCap / 4 && s.sendQueued > 0) return;
    let grant = s.pendingCredit;
    // ---- DEFECT overGrantCredit: tell the host it may send twice what was freed.
    if (this.opts.defects.overGrantCredit) grant *= 2;
    s.hostCredit += s.pendingCredit;
    s.pendingCredit = 0;
    s.pendingCreditSince = null;
    this.emit(s.channel, 'SEND_CREDIT', { id: s.id, bytes: clampU32(grant) });
  }

  // ------------------------------------------------------------------ receive (network → host)

  maxData(channel: number): number {
    return this.channel(channel).maxPayload - DATA_OVERHEAD;
  }

  maxDatagramDelivery(channel: number): number {
    return Math.min(MAX_DATAGRAM, this.channel(channel).maxPayload - DATAGRAM_OVERHEAD);
  }

  /** Delivers queued data within the host's receive credit, split to fit maxPayload. */
  deliver(s: Socket): void {
    if (s.id === 0 || s.closing) return;
    if (s.isStream) {
      const max = this.maxData(s.channel);
      while (s.recvQueue.length > 0 && s.recvCredit > 0) {
        const n = Math.min(s.recvCredit, max, s.recvQueue.length);
        s.recvCredit -= n;
        this.counters.dataToHost += n;
        this.emitData(s, n);
        this.refillFromNetwork(s);
      }
    } else {
      for (let d = s.datagrams.peek(); d && d.data.length <= s.recvCredit; d = s.datagrams.peek()) {
        s.datagrams.shift();
        s.recvCredit -= d.data.length;
        this.counters.dataToHost += d.data.length;
        this.emit(s.channel, 'DATAGRAM', { id: s.id, from: d.from, data: d.data });
      }
    }
  }

  /** Moves bytes held back in the network (Socket.netHeld) into the receive queue, as far as it has room. */
  refillFromNetwork(s: Socket): void {
    const room = s.recvCap - s.recvQueue.length;
    if (s.netHeld.length > 0 && room > 0) s.recvQueue.push(s.netHeld.take(Math.min(room, s.netHeld.length)));
  }

  /** Stops reading from the network when the receive queue is full; resumes once ≥ 1/4 is free. */
  flowControl(s: Socket): void {
    if (!s.isStream || !s.connLive) return;
    this.refillFromNetwork(s);
    const q = s.recvQueue.length;
    if (!s.paused && (q >= s.recvCap || s.netHeld.length > 0)) {
      s.paused = true;
      this.perform({ kind: 'tcp-pause', handle: s.handle });
    } else if (s.paused && s.netHeld.length === 0 && q <= s.recvCap - Math.ceil(s.recvCap / 4)) {
      s.paused = false;
      this.perform({ kind: 'tcp-resume', handle: s.handle });
    }
  }

  discardReceived(s: Socket): void {
    this.counters.dataDiscarded += s.recvQueue.clear() + s.netHeld.clear() + s.datagrams.clear();
  }

  // ------------------------------------------------------------------ status announcements

  emitStatus(s: Socket): void {
    this.emit(s.channel, 'STATUS', {
      id: s.id,
      status: s.status,
      flags: s.flags,
      error: s.lastError,
      local: s.local,
      remote: s.remote,
    });
    s.announced = s.announcement();
    s.minorSince = null;
  }

  /** Tells the host what changed: major changes at once, minor ones after statusCoalesceMs (or forced). */
  syncStatus(s: Socket, force: boolean): void {
    if (s.id === 0) return;
    s.refresh();
    const d = announceDiff(s);
    if (d === 'none') {
      s.minorSince = null;
      return;
    }
    if (d === 'major' || force || this.opts.statusCoalesceMs === 0) this.emitStatus(s);
    else s.minorSince ??= this.now();
  }

  /** Records an asynchronous error: lastError, ERROR_PENDING. */
  setError(s: Socket, code: StatusCodeName): void {
    s.lastError = StatusCode[code];
    s.flags |= ConditionFlag.ERROR_PENDING;
  }

  /** Everything that follows an input for one socket: delivery, flow control, close completion, credits, STATUS. */
  pump(s: Socket): void {
    if (this.table.get(s.id) !== s) return;
    this.deliver(s);
    this.flowControl(s);
    if (s.closing && (s.sendQueued === 0 || !s.connLive)) {
      this.closeHandle(s, false);
      this.terminate(s, s.connLive ? 0 : s.lastError);
      return;
    }
    this.flushCredit(s, false);
    this.syncStatus(s, false);
  }

  // ------------------------------------------------------------------ termination and reset

  /**
   * Frees the slot and sends the final STATUS (TERMINATED) carrying `error` (0 after a graceful close,
   * ECONNABORTED after an abort). The id no longer exists.
   */
  terminate(s: Socket, error: number): void {
    for (const c of s.conns.splice(0)) this.closeHandle(c, true);
    this.closeHandle(s, false);
    this.table.remove(s);
    s.status = SocketStatus.TERMINATED;
    s.lastError = error;
    s.flags &= ~DERIVED_FLAGS;
    s.closing = false;
    this.emitStatus(s);
    for (const d of s.deferred.splice(0)) {
      new Reply(this, d.channel, d.msg.name, d.msg.tag).fail('E_UNKNOWN_SOCKET');
    }
    s.pendingOp = null;
  }

  /** Drops every socket (closing network handles), bumps the epoch, BOOT (seq 1) on every active channel. */
  reset(reason: BootReasonName): void {
    for (const s of this.table.all()) {
      for (const c of s.conns.splice(0)) this.closeHandle(c, true);
      this.closeHandle(s, true);
    }
    this.table.clear();
    this.epoch = this.epoch >= 0xffffffff ? 1 : this.epoch + 1;
    this.bootTime = this.now();
    this.bootReason = reason;
    this.registers.boot();
    for (const ch of this.channels.values()) {
      ch.hello = false;
      ch.seq = 0;
      endSecureSession(ch);
      ch.close(); // every channel must be opened again (§5.8.1 RESET)
    }
    this.log.info({ reason, epoch: this.epoch }, 'device reset');
    for (const ch of this.channels.values()) {
      if (ch.active) this.emit(ch.id, 'BOOT', { reason: BootReason[reason], slots: this.opts.slots });
    }
  }
}

export function statusName(code: number): string {
  return STATUS_NAME[code] ?? String(code);
}

export function anyAddr(family: 4 | 6): Addr {
  return { family, port: 0, address: family === 4 ? '0.0.0.0' : '::' };
}

export function isAnyAddress(a: Addr): boolean {
  return a.address === '0.0.0.0' || a.address === '::';
}
