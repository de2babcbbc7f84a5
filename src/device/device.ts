/**
 * Device: the mailbox client of one board (one channel). It composes
 *   - a MessageChannel (messages in order, exactly once; 'reset' when the peer restarted, 'down' when it is gone):
 *     the Link on serial/TCP, the rings on PCIe (src/link/channel.ts) — the Device does not know which,
 *   - the handshake (handshake.ts: link start, then HELLO),
 *   - request correlation (requests.ts),
 *   - event sequencing (sequencer.ts),
 * and dispatches events by type. Socket bookkeeping lives one layer up (src/sockets), which subscribes to
 * the typed events and to the synchronous 'response' hook.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { MessageChannel } from '../link/channel.js';
import {
  type AnyEvent,
  type AnyResponse,
  type CommandBodies,
  type CommandName,
  decodeMessage,
  type EventBodies,
  Limits,
  type Message,
  type OkResponseMessage,
  type ResponseBodies,
  type ResponseMessage,
  Capability,
  Register,
  type SocketEntry,
  StatusCode,
} from '../protocol/index.js';
import { silentLogger } from '../transport/index.js';
import { DeviceError, DeviceErrorCode, statusError } from './errors.js';
import { type DeviceInfo, handshake, HOST_CAPS, type HandshakeOptions } from './handshake.js';
import { type RegisterRef, resolveRegister } from './registers.js';
import { type RequestCounters, type RequestOptions, RequestTracker, type SentCommand } from './requests.js';
import { secureHandshake, type SecureOptions } from './secure-handshake.js';
import { EventSequencer } from './sequencer.js';

export type DeviceState = 'opening' | 'ready' | 'resyncing' | 'down' | 'closed';

export interface DeviceResetInfo {
  previousEpoch: number;
  epoch: number;
  /** 'boot-event' (BOOT or another epoch seen in an event) or 'link-reset' (the link restarted, HELLO showed a new epoch). */
  cause: 'boot-event' | 'link-reset';
  /** bootReasons value from the BOOT event, when there was one. */
  reason?: number;
}

export interface DeviceEvents {
  /** Every response, synchronously, before its waiter settles: the command as sent and the answer. */
  response: [command: SentCommand, response: AnyResponse];
  status: [body: EventBodies['STATUS'], event: AnyEvent];
  data: [body: EventBodies['DATA']];
  datagram: [body: EventBodies['DATAGRAM']];
  sendCredit: [body: EventBodies['SEND_CREDIT']];
  /** ERROR event (asynchronous error; id 0xFFFF = device level). */
  deviceError: [body: EventBodies['ERROR']];
  boot: [body: EventBodies['BOOT'], epoch: number];
  /** Events were lost (sequence gap); upper layers reconcile from a snapshot. */
  gap: [info: { expected: number; got: number; missing: number }];
  /** The device rebooted: every socket of the previous epoch is gone. Emitted before the re-handshake. */
  reset: [info: DeviceResetInfo];
  /** Handshake completed (first open and every re-handshake). */
  ready: [info: DeviceInfo];
  /** The link is gone: every pending request has failed; the device is unusable. */
  down: [error: DeviceError];
  /** close() was called (emitted first, while the link still works). */
  closing: [];
  close: [];
}

export interface DeviceOptions extends HandshakeOptions {
  /** pino logger; the device logs through a child { device: name }. Silent by default. */
  logger?: Logger;
  /** Name for logs (default: the transport description). */
  name?: string;
  /** Default per-request timeout (ms). Default 10000. */
  requestTimeoutMs?: number;
  /** Most commands outstanding at once; more wait in a queue. Default 64. */
  maxInFlight?: number;
  /** Channel number: the link's channel (logs, and CHANNEL_OPEN after HELLO). Default 0. */
  channel?: number;
  /** Called on close() after the link stops, e.g. to close the transport or an in-process simulator. */
  onClose?: () => Promise<void> | void;
  /** Secure execution (§12): after HELLO (and after every link reset or device reset) the secure handshake. */
  secure?: SecureOptions;
}

export interface DeviceSnapshot {
  epoch: number;
  /** Sequence number of the last event reflected by the last page. */
  eventSeq: number;
  entries: SocketEntry[];
  pages: number;
}

export interface SnapshotPage {
  epoch: number;
  eventSeq: number;
  startSlot: number;
  /** Slot to continue from; 0xFFFF = no more. */
  nextSlot: number;
  entries: SocketEntry[];
}

export interface DeviceCounters {
  messagesIn: number;
  events: number;
  undecodable: number;
  /** Application listeners that threw while an event was dispatched (rethrown as uncaught, driver unharmed). */
  listenerErrors: number;
  gaps: number;
  missedEvents: number;
  staleEvents: number;
  resets: number;
  requests: RequestCounters;
}

let deviceCount = 0;

export class Device extends EventEmitter<DeviceEvents> {
  readonly name: string;
  readonly log: Logger;
  /** What carries the messages: a Link (serial, TCP) or the PCIe rings. */
  readonly link: MessageChannel;
  private _info: DeviceInfo | undefined;
  private _state: DeviceState = 'opening';
  private readonly tracker: RequestTracker;
  private readonly sequencer = new EventSequencer();
  private readonly options: DeviceOptions;
  private downError: DeviceError | undefined;
  private rehandshaking: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private readonly counters = { messagesIn: 0, events: 0, undecodable: 0, listenerErrors: 0, resets: 0 };

  constructor(link: MessageChannel, options: DeviceOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.link = link;
    this.options = options;
    this.name = options.name ?? `device${++deviceCount}`;
    this.log = (options.logger ?? silentLogger()).child({ device: this.name, channel: options.channel ?? 0 });
    this.tracker = new RequestTracker({
      maxInFlight: options.maxInFlight ?? 64,
      defaultTimeoutMs: options.requestTimeoutMs ?? 10_000,
      channel: options.channel ?? 0,
      log: this.log,
      send: (bytes) => this.link.send(bytes),
      observe: (cmd, resp) => this.emit('response', cmd, resp),
    });
    this.tracker.pause();
    this.onMessage = this.onMessage.bind(this);
    link.on('message', this.onMessage);
    link.on('drain', () => this.tracker.drained());
    link.on('reset', (params) => this.onLinkReset(params.deviceReset === true));
    link.on('down', (err: Error) => this.onLinkDown(err));
  }

  /** Start the link and handshake. Rejects with E_OFFLOAD_NOT_A_DEVICE / _BAD_VERSION / _NO_ANSWER. */
  async open(): Promise<DeviceInfo> {
    try {
      const info = await handshake(this.link, this.tracker, this.options, this.log, (caps) =>
        this.secureIfAsked(caps),
      );
      this.adopt(info);
      this._state = 'ready';
      this.tracker.resume();
      this.log.info({ epoch: info.epoch, firmware: info.firmware, slots: info.slots }, 'device ready');
      this.emit('ready', info);
      return info;
    } catch (err) {
      this._state = 'closed';
      this.tracker.failAll(() => new DeviceError(DeviceErrorCode.DEVICE_CLOSED, 'device open failed'));
      // Release in the background: a silent peer may take a while to acknowledge the close.
      void (async () => {
        await this.link.close().catch(() => undefined);
        await this.options.onClose?.();
      })().catch(() => undefined);
      throw err;
    }
  }

  /** The secure handshake when the application asked for it; nothing else goes out before it completes. */
  private async secureIfAsked(capabilities: number): Promise<boolean> {
    const secure = this.options.secure;
    if (!secure) return false;
    await secureHandshake(
      this.link,
      this.tracker,
      secure,
      capabilities,
      this.log,
      this.options.handshakeTimeoutMs ?? 5000,
    );
    return true;
  }

  private adopt(info: DeviceInfo): void {
    this._info = info;
    this.sequencer.reset(info.epoch, info.eventSeq);
  }

  get info(): DeviceInfo {
    if (!this._info) throw new DeviceError(DeviceErrorCode.DEVICE_CLOSED, 'device not open yet');
    return this._info;
  }
  get state(): DeviceState {
    return this._state;
  }
  /** The channel this device object speaks on. */
  get channel(): number {
    return this.options.channel ?? 0;
  }
  get epoch(): number {
    return this.sequencer.epoch;
  }
  /** Sequence number of the last event received. */
  get eventSeq(): number {
    return this.sequencer.lastSeq;
  }
  get inFlight(): number {
    return this.tracker.inFlightCount;
  }
  get queued(): number {
    return this.tracker.queuedCount;
  }
  hasCapability(name: keyof typeof Capability): boolean {
    return ((this._info?.capabilities ?? 0) & Capability[name]) !== 0;
  }
  /** Largest data in one SEND (maxPayload − 6, §4.6). */
  get maxSendData(): number {
    return this.info.maxPayload - Limits.messageHeaderSize - 2;
  }
  /** Largest datagram in one SENDTO (maxPayload − 26). */
  get maxSendToData(): number {
    return this.info.maxPayload - Limits.messageHeaderSize - 2 - Limits.addrSize;
  }

  stats(): DeviceCounters {
    return {
      ...this.counters,
      gaps: this.sequencer.gaps,
      missedEvents: this.sequencer.missed,
      staleEvents: this.sequencer.stale,
      requests: { ...this.tracker.counters },
    };
  }

  private unusableError(): DeviceError | undefined {
    if (this._state === 'closed')
      return new DeviceError(DeviceErrorCode.DEVICE_CLOSED, `device ${this.name} is closed`);
    if (this._state === 'down') return this.downError;
    return undefined;
  }

  /** Send a command; resolves with the response whatever its status. */
  requestRaw<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    options?: RequestOptions,
  ): Promise<ResponseMessage<N>> {
    const err = this.unusableError();
    if (err) return Promise.reject(err);
    return this.tracker.submit(name, body, options);
  }

  /** Send a command; resolves with the OK body, rejects with a DeviceStatusError for any other status. */
  async request<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    options?: RequestOptions,
  ): Promise<ResponseBodies[N]> {
    const r = await this.requestRaw(name, body, options);
    if (r.status !== StatusCode.OK) {
      throw statusError(
        r.status,
        `${name}${options?.socketId !== undefined ? ` on socket ${options.socketId}` : ''}`,
        {
          opcode: name,
          tag: r.tag,
          socketId: options?.socketId,
          channel: this.options.channel ?? 0,
        },
      );
    }
    return (r as OkResponseMessage<N>).body;
  }

  /** Round-trip time of a PING in ms. */
  async ping(payload: Uint8Array = Buffer.alloc(0)): Promise<number> {
    const t0 = performance.now();
    const r = await this.request('PING', { payload });
    if (Buffer.compare(Buffer.from(r.payload), Buffer.from(payload)) !== 0) {
      throw new DeviceError(DeviceErrorCode.PROTOCOL_VIOLATION, 'PING echoed a different payload');
    }
    return performance.now() - t0;
  }

  /** One register: a REG_READ, or a direct read where the channel has real registers (PCIe). */
  async readRegister(ref: RegisterRef | string): Promise<number> {
    const reg = resolveRegister(ref);
    const port = this.link.registers;
    if (port) {
      const err = this.unusableError();
      if (err) throw err;
      return port.read(reg.offset, 1)[0]! >>> 0;
    }
    const r = await this.request('REG_READ', { offset: reg.offset, count: 1 });
    return r.values[0]! >>> 0;
  }

  /**
   * Read `count` consecutive registers, in REG_READ commands of at most Limits.maxRegisterRead each, or directly
   * where the channel has real registers (PCIe: the window itself, ring memory included).
   */
  async readRegisters(ref: RegisterRef | string, count: number): Promise<number[]> {
    const reg = resolveRegister(ref);
    const port = this.link.registers;
    if (port) {
      const err = this.unusableError();
      if (err) throw err;
      return port.read(reg.offset, count).map((v) => v >>> 0);
    }
    const out: number[] = [];
    for (let done = 0; done < count; ) {
      const n = Math.min(Limits.maxRegisterRead, count - done);
      const r = await this.request('REG_READ', { offset: reg.offset + done * 4, count: n });
      out.push(...r.values.map((v) => v >>> 0));
      done += n;
    }
    return out;
  }

  /** One register: a REG_WRITE, or a direct write (PCIe) refused as the device would refuse a REG_WRITE. */
  async writeRegister(ref: RegisterRef | string, value: number): Promise<void> {
    const reg = resolveRegister(ref);
    const port = this.link.registers;
    if (port) {
      const err = this.unusableError();
      if (err) throw err;
      const status = port.write(reg.offset, value >>> 0);
      if (status !== 'OK') {
        throw statusError(StatusCode[status], `REG_WRITE ${reg.name}`, {
          opcode: 'REG_WRITE',
          channel: this.options.channel ?? 0,
        });
      }
      return;
    }
    await this.request('REG_WRITE', { offset: reg.offset, value: value >>> 0 });
  }

  /** Entries per SNAPSHOT page that fit the negotiated payload. */
  private get pageSize(): number {
    const room = this.info.maxPayload - 6 - 11;
    return Math.max(1, Math.min(255, Math.floor(room / Limits.entrySize)));
  }

  /**
   * Read the device's socket table, page by page. `onPage` runs synchronously as each page arrives (in
   * order with the events), which is what reconciliation needs. No side effect on the mirror otherwise.
   */
  async snapshot(
    options: { onPage?: (page: SnapshotPage) => void; allChannels?: boolean } = {},
  ): Promise<DeviceSnapshot> {
    if (!this.hasCapability('SNAPSHOT')) {
      throw new DeviceError(DeviceErrorCode.NOT_SUPPORTED, 'the device does not offer SNAPSHOT');
    }
    const entries: SocketEntry[] = [];
    let startSlot = 0;
    let epoch = this.epoch;
    let eventSeq = 0;
    let pages = 0;
    for (;;) {
      const start = startSlot;
      const r = await this.request(
        'SNAPSHOT',
        { startSlot, maxEntries: this.pageSize, allChannels: options.allChannels ? 1 : 0 },
        {
          onResponse: (resp) => {
            if (resp.status !== StatusCode.OK || resp.name !== 'SNAPSHOT') return;
            const b = (resp as OkResponseMessage<'SNAPSHOT'>).body;
            this.pageSeen(b.epoch, b.eventSeq);
            options.onPage?.({
              epoch: b.epoch,
              eventSeq: b.eventSeq,
              startSlot: start,
              nextSlot: b.nextSlot,
              entries: b.entries,
            });
          },
        },
      );
      pages++;
      epoch = r.epoch;
      eventSeq = r.eventSeq;
      entries.push(...r.entries);
      if (r.nextSlot === 0xffff || r.nextSlot <= startSlot) break;
      startSlot = r.nextSlot;
    }
    return { epoch, eventSeq, entries, pages };
  }

  /**
   * Ask the device for its last event sequence number (EVENT_SEQ register, answered in order with the events):
   * reveals events lost at the tail of the stream, which no later event would show. Emits 'gap' if so.
   */
  async probeEvents(): Promise<boolean> {
    let lost = false;
    await this.request(
      'REG_READ',
      { offset: Register.EVENT_SEQ, count: 1 },
      {
        onResponse: (resp) => {
          if (resp.status !== StatusCode.OK || resp.name !== 'REG_READ') return;
          const seq = (resp as OkResponseMessage<'REG_READ'>).body.values[0]! >>> 0;
          const expected = (this.sequencer.lastSeq + 1) >>> 0;
          const missing = this.sequencer.skipTo(seq);
          if (missing > 0) {
            lost = true;
            this.log.warn({ expected, eventSeq: seq, missing }, 'events lost at the tail of the stream');
            this.emit('gap', { expected, got: seq, missing });
          }
        },
      },
    );
    return lost;
  }

  /** Reset the board: the epoch changes, every socket fails with E_OFFLOAD_DEVICE_RESET; resolves when the driver is ready again. */
  async reset(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        this.off('down', onDown);
        resolve();
      };
      const onDown = (err: Error) => {
        this.off('ready', onReady);
        reject(err);
      };
      this.once('ready', onReady);
      this.once('down', onDown);
    });
    try {
      await this.request('RESET', { magic: Limits.resetMagic });
    } catch (err) {
      // The RESET command's response may be lost in the reset it causes (PROTOCOL.md §10.4): the reset shows
      // as a link reset or a new epoch, and 'ready' follows all the same.
      const code = (err as { code?: string }).code;
      if (code !== DeviceErrorCode.LINK_RESET && code !== DeviceErrorCode.DEVICE_RESET) {
        ready.catch(() => undefined);
        throw err;
      }
    }
    await ready;
  }

  // ---- inbound -------------------------------------------------------------------------------------

  private onMessage(bytes: Buffer): void {
    this.counters.messagesIn++;
    let msg: Message;
    try {
      // The link's message is ours to keep: DATA (and other byte fields) are views into it, not copies.
      msg = decodeMessage(bytes, { bytesView: true });
    } catch (err) {
      this.counters.undecodable++;
      this.log.warn({ err, length: bytes.length }, 'undecodable message from the device (dropped)');
      return;
    }
    try {
      switch (msg.kind) {
        case 'response':
        case 'error':
          this.tracker.settle(msg);
          return;
        case 'event':
          this.onEvent(msg);
          return;
        case 'command':
          this.log.warn({ opcode: msg.name, tag: msg.tag }, 'the device sent a command (ignored)');
          return;
      }
    } catch (err) {
      // An application listener threw (a socket's 'data' handler, say). Unwinding through here would lose the
      // rest of the link's input (later frames of the same read) and, on a shared line, every other channel's.
      // The driver carries on; the exception still surfaces as uncaught, as it would from a net.Socket.
      this.counters.listenerErrors++;
      this.log.error({ err, opcode: msg.name }, 'an event listener threw');
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private onEvent(ev: AnyEvent): void {
    this.counters.events++;
    if (this._state === 'opening') {
      // Before the HELLO answer there are no sockets; HELLO's eventSeq accounts for these (BOOT).
      this.log.debug({ opcode: ev.name, seq: ev.seq, epoch: ev.epoch }, 'event before HELLO');
      return;
    }
    const v = this.sequencer.check(ev.epoch, ev.seq);
    if (v.kind === 'new-epoch') {
      this.sequencer.reset(ev.epoch, ev.seq);
      this.deviceRebooted(
        v.previousEpoch,
        ev.epoch,
        'boot-event',
        ev.name === 'BOOT' ? ev.body.reason : undefined,
      );
      if (ev.name === 'BOOT') {
        this.emit('boot', ev.body, ev.epoch);
        return;
      }
    } else if (v.kind === 'gap') {
      this.log.warn(
        { expected: v.expected, got: v.got, missing: v.missing, opcode: ev.name },
        'event sequence gap',
      );
      this.emit('gap', { expected: v.expected, got: v.got, missing: v.missing });
    } else if (v.kind === 'stale') {
      this.log.warn(
        { expected: v.expected, got: v.got, opcode: ev.name },
        'stale or duplicate event (dropped)',
      );
      return;
    }
    switch (ev.name) {
      case 'STATUS':
        this.emit('status', ev.body, ev);
        break;
      case 'DATA':
        this.emit('data', ev.body);
        break;
      case 'DATAGRAM':
        this.emit('datagram', ev.body);
        break;
      case 'SEND_CREDIT':
        this.emit('sendCredit', ev.body);
        break;
      case 'ERROR':
        this.log.debug({ socketId: ev.body.id, code: ev.body.code }, 'device error event');
        this.emit('deviceError', ev.body);
        break;
      case 'BOOT':
        // A BOOT within the current epoch (first event after HELLO raced it): nothing was lost.
        this.emit('boot', ev.body, ev.epoch);
        break;
    }
  }

  // ---- resets, link state ----------------------------------------------------------------------------

  /** A SNAPSHOT page sits after event `eventSeq` in the stream (§8.2): anything else seen means lost events. */
  private pageSeen(epoch: number, eventSeq: number): void {
    if (epoch !== this.sequencer.epoch) return;
    const expected = (this.sequencer.lastSeq + 1) >>> 0;
    const missing = this.sequencer.skipTo(eventSeq);
    if (missing > 0) {
      this.log.warn({ expected, eventSeq, missing }, 'snapshot shows events that never arrived');
      this.emit('gap', { expected, got: eventSeq, missing });
    }
  }

  private deviceRebooted(
    previousEpoch: number,
    epoch: number,
    cause: DeviceResetInfo['cause'],
    reason?: number,
  ): void {
    this.counters.resets++;
    this.log.warn({ previousEpoch, epoch, cause, reason }, 'device reset: new boot epoch');
    // §8.3: commands in flight belong to the old epoch.
    this.tracker.failInFlight(
      (p) =>
        new DeviceError(DeviceErrorCode.DEVICE_RESET, `${p.name} (tag ${p.tag}) lost: the device was reset`, {
          opcode: p.name,
          tag: p.tag,
          socketId: p.socketId,
          epoch,
        }),
    );
    const info: DeviceResetInfo = { previousEpoch, epoch, cause };
    if (reason !== undefined) info.reason = reason;
    this.emit('reset', info);
    if (cause === 'boot-event') void this.rehandshake();
  }

  /** Pause new commands, HELLO again, resume. Concurrent calls share one attempt. */
  private rehandshake(): Promise<void> {
    if (this.rehandshaking) {
      this.rehandshakeAgain = true;
      return this.rehandshaking;
    }
    if (this._state === 'down' || this._state === 'closed') return Promise.resolve();
    this._state = 'resyncing';
    this.tracker.pause();
    this.rehandshaking = (async () => {
      try {
        let info: DeviceInfo | undefined;
        for (let attempt = 1; !info || this.rehandshakeAgain; attempt++) {
          this.rehandshakeAgain = false;
          try {
            // A link reset or device reset ended the session (the channel is locked): authenticate again,
            // before CHANNEL_OPEN.
            info = await handshake(
              this.link,
              this.tracker,
              { ...this.options, linkAlreadyUp: true },
              this.log,
              (caps) => this.secureIfAsked(caps),
            );
          } catch (err) {
            // The HELLO itself was lost to another link reset or a BOOT that overtook it: say HELLO again.
            const code = (err as { code?: string }).code;
            if (attempt < 5 && (code === DeviceErrorCode.LINK_RESET || code === DeviceErrorCode.DEVICE_RESET))
              continue;
            throw err;
          }
        }
        const previousEpoch = this.sequencer.epoch;
        const lastSeq = this.sequencer.lastSeq;
        const wentBack = info.epoch === previousEpoch && (info.eventSeq - lastSeq) >>> 0 >= 0x80000000;
        if (info.epoch !== previousEpoch || wentBack) {
          // A new epoch is a reset (§8.3). The same epoch with the event sequence gone backwards is a board that
          // restarted without changing its epoch (not conforming, but seen in practice): a reset all the same.
          if (wentBack)
            this.log.warn(
              { epoch: info.epoch, lastSeq, eventSeq: info.eventSeq },
              'event sequence went back: the device restarted',
            );
          this.adopt(info);
          this.deviceRebooted(previousEpoch, info.epoch, 'link-reset');
        } else {
          this._info = info;
          const missing = this.sequencer.skipTo(info.eventSeq);
          if (missing > 0) {
            this.log.warn({ lastSeq, eventSeq: info.eventSeq }, 'events lost across the link reset');
            this.emit('gap', { expected: (lastSeq + 1) >>> 0, got: info.eventSeq, missing });
          }
        }
        if ((this._state as DeviceState) === 'down' || (this._state as DeviceState) === 'closed') return;
        this._state = 'ready';
        this.tracker.resume();
        this.log.info({ epoch: info.epoch }, 'device ready again');
        this.emit('ready', info);
      } catch (err) {
        if ((this._state as DeviceState) === 'down' || (this._state as DeviceState) === 'closed') return;
        this.log.error({ err }, 're-handshake failed');
        this.onLinkDown(err as Error);
      } finally {
        this.rehandshaking = undefined;
        if (this.rehandshakeAgain && this._state === 'resyncing') void this.rehandshake();
      }
    })();
    return this.rehandshaking;
  }

  private rehandshakeAgain = false;

  /** The peer restarted its link (it is up again already): commands in flight are lost; HELLO again. */
  private onLinkReset(deviceReset: boolean): void {
    if (this._state === 'down' || this._state === 'closed') return;
    this.log.warn({ deviceReset }, 'link reset by the peer: commands in flight are lost');
    this.tracker.pause();
    this.tracker.failInFlight(
      (p) =>
        new DeviceError(
          deviceReset ? DeviceErrorCode.DEVICE_RESET : DeviceErrorCode.LINK_RESET,
          deviceReset
            ? `${p.name} (tag ${p.tag}) lost: ${this.name} reset (new boot epoch)`
            : `${p.name} (tag ${p.tag}) lost: the link to ${this.name} restarted`,
          {
            opcode: p.name,
            tag: p.tag,
            socketId: p.socketId,
          },
        ),
    );
    if (this._state === 'opening') return;
    void this.rehandshake();
  }

  private onLinkDown(err: Error): void {
    if (this._state === 'down' || this._state === 'closed') return;
    const down =
      err instanceof DeviceError &&
      (err.code === DeviceErrorCode.LINK_DOWN || err.code === DeviceErrorCode.AUTH)
        ? err
        : new DeviceError(
            DeviceErrorCode.LINK_DOWN,
            `link to ${this.name} is down: ${err.message}`,
            { device: this.name },
            { cause: err },
          );
    this._state = 'down';
    this.downError = down;
    this.log.error({ err }, 'link down');
    this.tracker.failAll(
      (p) =>
        new DeviceError(
          DeviceErrorCode.LINK_DOWN,
          `${p.name} (tag ${p.tag}) failed: link to ${this.name} is down`,
          { opcode: p.name, tag: p.tag, socketId: p.socketId },
          { cause: err },
        ),
    );
    this.emit('down', down);
    // The link closed the transport; release whatever else the device owns (an in-process simulator).
    void Promise.resolve(this.options.onClose?.()).catch(() => undefined);
  }

  /** Close: upper layers release their sockets ('closing'), pending commands fail, the link and transport close. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closePromise = (async () => {
      this.emit('closing');
      // Let best-effort cleanup commands issued on 'closing' go out and be answered.
      if (this._state === 'ready') await this.idle(1000);
      const wasDown = this._state === 'down';
      this._state = 'closed';
      this.tracker.failAll(
        (p) =>
          new DeviceError(
            DeviceErrorCode.DEVICE_CLOSED,
            `${p.name} (tag ${p.tag}) cancelled: device ${this.name} closed`,
            {
              opcode: p.name,
              tag: p.tag,
              socketId: p.socketId,
            },
          ),
      );
      if (!wasDown) {
        await this.link.close().catch((err: unknown) => this.log.debug({ err }, 'link close failed'));
        await this.options.onClose?.();
      }
      this.emit('close');
    })();
    return this.closePromise;
  }

  /** Resolves once nothing is in flight or queued (or after timeoutMs). */
  async idle(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.tracker.whenIdle(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

export { HOST_CAPS };
