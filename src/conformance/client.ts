/**
 * The kit's own raw-message client (no driver in between): a Link over the wire tap (serial, TCP shim) or the
 * PCIe rings (no link layer, no tap: §10), commands with tags,
 * every answer kept with its bytes, and a running audit of what the device sends — event sequence numbers
 * and epochs (§8.1), exactly one answer per tag (§5.3), no event for a socket before the response that
 * created it, DATA/DATAGRAM within the granted receive credit (§7) — plus a mirror of the socket table
 * built from responses and STATUS events (§6.7) and the host's send credit per socket (§7).
 */
import { type Logger, pino } from 'pino';
import { channelPairs, Link, type LinkParams, openPcieChannel, PcieRingChannel } from '../link/index.js';
import type { MessageChannel } from '../link/channel.js';
import {
  type Addr,
  type AnyCommand,
  type AnyEvent,
  type CommandBodies,
  type CommandName,
  ConditionFlag,
  command,
  decodeMessage,
  type ErrorResponseMessage,
  encodeMessage,
  NO_ADDR,
  type ResponseMessage,
  type SocketEntry,
  SocketStatus,
  StatusCode,
} from '../protocol/index.js';
import {
  formatDeviceUrl,
  type PcieWindowTransport,
  parseDeviceUrl,
  type Transport,
} from '../transport/index.js';
import { ChannelView } from './channel-view.js';
import { describeMessage, hexOf } from './format.js';
import { type Framing, TamperTransport } from './tamper.js';

export type Answer = ResponseMessage | ErrorResponseMessage;

/** One command and its answer, with the bytes both ways (for failure reports). */
export interface Exchange<N extends CommandName = CommandName> {
  name: N;
  tag: number;
  sent: Buffer;
  answer: ResponseMessage<N> | ErrorResponseMessage;
  raw: Buffer;
  /** client.events.length and client.lastSeq when the answer arrived (its place in the device's stream). */
  eventIndex: number;
  seqAtAnswer: number | undefined;
}

export interface MirrorEntry {
  id: number;
  type: number;
  status: number;
  flags: number;
  lastError: number;
  local: Addr;
  remote: Addr;
}

export interface SocketBook {
  /** Host send credit: initial + Σ SEND_CREDIT − Σ accepted (§7). */
  sendCredit: number;
  /** Receive credit granted (initial + RECV_CREDIT OK) and data bytes delivered. */
  recvGranted: number;
  recvTaken: number;
  data: Buffer[];
  datagrams: Array<{ from: Addr; data: Buffer }>;
}

export interface Violation {
  kind: 'sequence' | 'epoch' | 'answer' | 'event-before-create' | 'credit' | 'undecodable';
  message: string;
  at: number;
}

export class ClientDownError extends Error {}

/** How the kit reaches the device: a link over a byte stream with this framing, or the PCIe rings. */
export type Carrier = Framing | 'pcie';

export class KitClient {
  /** The wire tap; absent on PCIe (rings, not frames: nothing to tamper with at the link level). */
  readonly tap: TamperTransport | undefined;
  link!: MessageChannel;
  /** PCIe: the register window of the current rings (reopened by every start()). */
  private pcieWindow: PcieWindowTransport | undefined;
  params!: LinkParams;
  readonly events: AnyEvent[] = [];
  readonly violations: Violation[] = [];
  readonly mirror = new Map<number, MirrorEntry>();
  readonly books = new Map<number, SocketBook>();
  /** Ids the kit created and has not seen TERMINATED. */
  readonly live = new Set<number>();
  epoch = 0;
  /** Seq of the last event seen in the current epoch (undefined until the first HELLO). */
  lastSeq: number | undefined;
  lastMessageAt = Date.now();
  /** When the last of the kit's other-channel links (forChannel) was closed saying goodbye; 0: none. */
  otherChannelClosedAt = 0;
  /** When the last of them stopped without a goodbye (down already, or left silently); 0: none. */
  otherChannelSilentAt = 0;

  /** The link was closed saying so: BYE sent (§4.5), or on PCIe HOST_SESSION 0 (§10.5). */
  get saidGoodbye(): boolean {
    return this.link instanceof Link ? this.link.counters.byesSent > 0 : this.framing === 'pcie';
  }

  /** PCIe: RESET interrupts the kit's rings saw and acknowledged (they clear IRQ_STATUS as a host must). */
  get resetInterrupts(): number {
    return this.link instanceof PcieRingChannel ? this.link.pcie.resetInterrupts : 0;
  }
  /** ERROR_RESPONSEs / responses that matched no pending tag. */
  readonly strayAnswers: Buffer[] = [];
  private nextTag = 1;
  private readonly pending = new Map<
    number,
    {
      name: CommandName | undefined;
      body: unknown;
      sent: Buffer;
      resolve: (e: Exchange) => void;
      reject: (e: Error) => void;
      timer: NodeJS.Timeout;
    }
  >();
  /** Tags answered recently (to catch a second answer). */
  private readonly answered = new Set<number>();
  private readonly answeredOrder: number[] = [];
  private readonly waiters = new Set<() => void>();
  private down: Error | undefined;
  private readonly log: Logger;

  /** `transport` for serial/tcp framing; `pcieUrl` for the PCIe rings. */
  constructor(
    transport: Transport | undefined,
    readonly framing: Carrier,
    readonly timeoutMs: number,
    logger?: Logger,
    private readonly pcieUrl?: string,
    /** Channel of the kit's link (§11): 0 for the main session, others for the channel tests. */
    readonly channel = 0,
  ) {
    if (framing === 'pcie') {
      if (!pcieUrl) throw new TypeError('KitClient on PCIe needs the pcie: URL');
      this.tap = undefined;
    } else {
      if (!transport) throw new TypeError(`KitClient with ${framing} framing needs a transport`);
      this.tap = new TamperTransport(transport, framing);
    }
    this.log = logger ?? pino({ level: 'silent' });
  }

  /**
   * A new client for another channel (not started): over the same byte stream (the device serves several channels
   * per connection, §11), or on PCIe the ring pair of that channel in the same window (§10.5), with the pair's own
   * event device: `<events>.<channel>` beside channel 0's (the simulator's convention; without an events path the
   * pair is polled). Closing it leaves this client and the transport alone.
   */
  forChannel(channel: number): KitClient {
    if (!this.tap) {
      return new KitClient(
        undefined,
        'pcie',
        this.timeoutMs,
        this.log,
        pcieChannelUrl(this.pcieUrl!, channel),
        channel,
      );
    }
    return new KitClient(
      new ChannelView(this.tap.inner),
      this.framing,
      this.timeoutMs,
      this.log,
      undefined,
      channel,
    );
  }

  /**
   * PCIe: the channels with a ring pair in the device's channel ring table (§10.5; [] without CHANNELS), read from
   * this client's window; undefined on a byte stream (every channel is reachable there) or before start().
   */
  pcieChannels(): number[] | undefined {
    const w = this.pcieWindow;
    if (!w) return undefined;
    return channelPairs((offset) => w.read32(offset)).pairs.map((p) => p.channel);
  }

  /** Whether the kit can reach `channel` beside this one: always on a byte stream, on PCIe if it has a pair. */
  reaches(channel: number): boolean {
    const offered = this.pcieChannels();
    return offered === undefined || offered.includes(channel);
  }

  /** The Link itself (serial/TCP), for tests of the link layer. */
  get frameLink(): Link {
    if (!(this.link instanceof Link))
      throw new ClientDownError('this test needs a link layer; PCIe has none (§10)');
    return this.link;
  }

  /** The tap, for tests that need the link layer (never run on PCIe: the runner marks them not applicable). */
  get wire(): TamperTransport {
    if (!this.tap) throw new ClientDownError('this test needs a link layer; PCIe has none (§10)');
    return this.tap;
  }

  get isDown(): boolean {
    return this.down !== undefined;
  }

  /** Starts a (new) link over the tap. */
  async start(syncTimeoutMs: number): Promise<LinkParams> {
    this.down = undefined;
    if (!this.tap) return this.startRings(syncTimeoutMs);
    const bitRate = serialBaud(this.tap.inner);
    this.link = new Link(this.tap, {
      role: 'host',
      framing: this.framing as Framing, // a tap exists only for the byte-stream framings
      syncTimeoutMs,
      closeTransport: false,
      logger: this.log,
      name: this.channel === 0 ? 'conformance' : `conformance#${this.channel}`,
      channel: this.channel,
      ...(bitRate > 0 ? { bitRate } : {}),
    });
    const link = this.link;
    this.listen(link);
    try {
      this.params = await link.start();
    } catch (err) {
      await link.close();
      throw err;
    }
    return this.params;
  }

  /** PCIe: a new register window and ring channel for every start (a restart is a new host, §10.4). */
  private async startRings(startTimeoutMs: number): Promise<LinkParams> {
    await this.pcieWindow?.close().catch(() => undefined);
    this.pcieWindow = undefined;
    const { window, channel } = await openPcieChannel(this.pcieUrl!, {
      name: this.channel === 0 ? 'conformance' : `conformance#${this.channel}`,
      channel: this.channel,
      logger: this.log,
      startTimeoutMs,
    });
    this.pcieWindow = window;
    this.link = channel;
    this.listen(channel);
    try {
      this.params = await channel.start();
    } catch (err) {
      await channel.close();
      throw err;
    }
    return this.params;
  }

  private listen(link: MessageChannel): void {
    link.on('message', (bytes) => {
      if (this.link === link) this.onMessage(bytes);
    });
    link.on('down', (err) => {
      if (this.link === link) this.fail(err);
    });
    link.on('reset', () => {
      if (this.link !== link) return;
      if (this.framing === 'pcie') {
        // A device reset on PCIe shows as a ring reset (rings zeroed, new epoch, §10.4); the rings stay up and
        // what the device sends next (BOOT) arrives. The reset tests expect it (they count link.counters.resets);
        // anything else fails on the events that do not come.
        this.wakeAll();
        return;
      }
      this.fail(new ClientDownError('the device restarted the link (SYNC with a new nonce)'));
    });
  }

  /**
   * Closes the link (a serial/TCP link says BYE, §4.5; a PCIe pair writes HOST_SESSION 0, §10.5) and the transport.
   * `silently`: a serial/TCP link just stops, as a crashed host's would.
   */
  async close(silently = false): Promise<void> {
    this.fail(new ClientDownError('client closed'));
    if (silently && this.link instanceof Link) await this.link.close({ bye: false });
    else await this.link?.close();
    await this.tap?.close().catch(() => undefined);
    await this.pcieWindow?.close().catch(() => undefined);
  }

  /** Closes the current link (not the transport); a later start() makes a new incarnation. */
  async stopLink(): Promise<void> {
    this.fail(new ClientDownError('link restarted by the kit'));
    await this.link?.close();
  }

  /** The tag the next request will carry. */
  peekTag(): number {
    return this.nextTag;
  }

  allocTag(): number {
    const tag = this.nextTag;
    this.nextTag = (this.nextTag % 0xffff) + 1;
    return tag;
  }

  /** Sends one command; resolves with its answer (response or ERROR_RESPONSE), whatever the status. */
  request<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    timeoutMs = this.timeoutMs,
  ): Promise<Exchange<N>> {
    const tag = this.allocTag();
    const bytes = encodeMessage(command(name, tag, body) as AnyCommand);
    return this.exchange(bytes, tag, timeoutMs, name, body) as Promise<Exchange<N>>;
  }

  /** Sends arbitrary message bytes and resolves with the answer carrying `tag`. */
  requestRaw(bytes: Uint8Array, tag: number, timeoutMs = this.timeoutMs): Promise<Exchange> {
    return this.exchange(Buffer.from(bytes), tag, timeoutMs, undefined, undefined);
  }

  private exchange(
    sent: Buffer,
    tag: number,
    timeoutMs: number,
    name: CommandName | undefined,
    body: unknown,
  ): Promise<Exchange> {
    if (this.down) return Promise.reject(this.down);
    return new Promise<Exchange>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(tag);
        reject(
          new TimeoutError(
            `no answer to ${name ?? `message 0x${(sent[0] ?? 0).toString(16)}`} (tag ${tag}) within ${timeoutMs} ms`,
            sent,
          ),
        );
      }, timeoutMs);
      this.pending.set(tag, { name, body, sent, resolve, reject, timer });
      try {
        this.link.send(sent);
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(tag);
        reject(err as Error);
      }
    });
  }

  /** Resolves with the first event (from index `from` on) matching `pred`. */
  async waitEvent<E extends AnyEvent = AnyEvent>(
    pred: (e: AnyEvent) => boolean,
    timeoutMs = this.timeoutMs,
    from = 0,
    what = 'event',
  ): Promise<E> {
    let found: AnyEvent | undefined;
    await this.until(
      () => {
        for (let i = from; i < this.events.length; i++) {
          if (pred(this.events[i]!)) {
            found = this.events[i];
            return true;
          }
        }
        return false;
      },
      timeoutMs,
      what,
    );
    return found as E;
  }

  /** Waits until `cond()` holds (re-checked at every message and every 20 ms). */
  async until(cond: () => boolean, timeoutMs = this.timeoutMs, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.down) throw this.down;
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(`${what} not seen within ${timeoutMs} ms`);
      await this.wake(Math.min(left, 20));
    }
  }

  /**
   * Waits until `value()` reaches `target`, or stops changing for `stallMs` (then returns anyway: the caller
   * checks what it got). For data that may never all arrive on a faulty device.
   */
  async progress(value: () => number, target: number, stallMs = 1500): Promise<number> {
    let last = value();
    let lastChange = Date.now();
    while (value() < target && Date.now() - lastChange < stallMs) {
      if (this.down) throw this.down;
      await this.wake(20);
      if (value() !== last) {
        last = value();
        lastChange = Date.now();
      }
    }
    return value();
  }

  /** Resolves at the next message or after `ms`. */
  wake(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** Waits until nothing has arrived for `quietMs` (at most `maxMs`). */
  async quiet(quietMs = 60, maxMs = 2000): Promise<void> {
    const deadline = Date.now() + maxMs;
    for (;;) {
      const idle = Date.now() - this.lastMessageAt;
      if (idle >= quietMs || Date.now() >= deadline) return;
      await sleep(Math.max(5, quietMs - idle));
    }
  }

  book(id: number): SocketBook {
    let b = this.books.get(id);
    if (!b) {
      b = { sendCredit: 0, recvGranted: 0, recvTaken: 0, data: [], datagrams: [] };
      this.books.set(id, b);
    }
    return b;
  }

  /** Takes sockets found on the device (a previous host's) into the mirror, so that closing them is audited. */
  adopt(entries: readonly SocketEntry[]): void {
    for (const e of entries) {
      this.live.add(e.id);
      this.mirror.set(e.id, {
        id: e.id,
        type: e.type,
        status: e.status,
        flags: e.flags,
        lastError: e.lastError,
        local: e.local,
        remote: e.remote,
      });
      this.books.set(e.id, {
        sendCredit: e.sendSpace,
        recvGranted: e.recvCredit,
        recvTaken: 0,
        data: [],
        datagrams: [],
      });
    }
  }

  /** Sets the baseline for the event audit after a HELLO (a new epoch is adopted here). */
  adoptHello(epoch: number, eventSeq: number, first: boolean): void {
    if (first || epoch !== this.epoch) {
      this.epoch = epoch;
      this.lastSeq = eventSeq;
      return;
    }
    if (this.lastSeq !== undefined && eventSeq !== this.lastSeq) {
      this.violate(
        'sequence',
        `HELLO reports eventSeq ${eventSeq} but the last event received was seq ${this.lastSeq} (§5.8.1, §8.1)`,
      );
      this.lastSeq = eventSeq;
    }
  }

  violate(kind: Violation['kind'], message: string): void {
    this.violations.push({ kind, message, at: Date.now() });
    this.log.debug({ kind, message }, 'conformance violation seen');
  }

  private fail(err: Error): void {
    this.down ??= err;
    for (const [tag, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(tag);
    }
    for (const w of [...this.waiters]) w();
  }

  private onMessage(bytes: Buffer): void {
    this.lastMessageAt = Date.now();
    let m: ReturnType<typeof decodeMessage>;
    try {
      m = decodeMessage(bytes);
    } catch (err) {
      this.violate(
        'undecodable',
        `the device sent an undecodable message ${hexOf(bytes, 48)}: ${(err as Error).message} (§5)`,
      );
      this.wakeAll();
      return;
    }
    if (m.kind === 'event') this.onEvent(m, bytes);
    else if (m.kind === 'response' || m.kind === 'error') this.onAnswer(m, bytes);
    else this.violate('undecodable', `the device sent a command ${describeMessage(m)} (§5.3)`);
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }

  private onAnswer(m: Answer, raw: Buffer): void {
    const p = this.pending.get(m.tag);
    if (!p) {
      if (this.answered.has(m.tag)) {
        this.violate(
          'answer',
          `a second answer to tag ${m.tag}: ${hexOf(raw, 32)} (every command gets exactly one, §5.3)`,
        );
      } else this.strayAnswers.push(raw);
      return;
    }
    this.pending.delete(m.tag);
    clearTimeout(p.timer);
    this.answered.add(m.tag);
    this.answeredOrder.push(m.tag);
    if (this.answeredOrder.length > 4096) this.answered.delete(this.answeredOrder.shift()!);
    if (m.kind === 'response' && p.name) this.account(p.name, p.body, m);
    p.resolve({
      name: p.name ?? (m.name as CommandName),
      tag: m.tag,
      sent: p.sent,
      answer: m,
      raw,
      eventIndex: this.events.length,
      seqAtAnswer: this.lastSeq,
    });
  }

  /** Mirror and credit bookkeeping from responses. */
  private account(name: CommandName, body: unknown, r: ResponseMessage): void {
    const ok = r.status === StatusCode.OK;
    const b = body as Record<string, number>;
    switch (name) {
      case 'SOCKET_OPEN':
        if (ok && (r.body as { id: number }).id !== 0) {
          const { id, sendCredit } = r.body as { id: number; sendCredit: number };
          this.created(id, b.type!, sendCredit, b.recvCredit!);
        }
        break;
      case 'ACCEPT':
        if (ok && (r.body as { newId: number }).newId !== 0) {
          const a = r.body as { newId: number; sendCredit: number; local: Addr; remote: Addr };
          this.created(a.newId, 1, a.sendCredit, b.recvCredit!);
          const e = this.mirror.get(a.newId)!;
          e.status = SocketStatus.CONNECTED;
          e.local = a.local;
          e.remote = a.remote;
        }
        break;
      case 'SEND':
      case 'SENDTO': {
        const accepted = (r.body as { accepted?: number }).accepted ?? 0;
        const bk = this.books.get(b.id!);
        if (bk) bk.sendCredit -= accepted;
        break;
      }
      case 'RECV_CREDIT':
        if (ok) {
          const bk = this.books.get(b.id!);
          if (bk) bk.recvGranted += b.bytes!;
        }
        break;
      case 'UPDATE':
        if (ok) {
          const e = this.mirror.get(b.id!);
          if (e) e.flags = (r.body as { flags: number }).flags;
        }
        break;
    }
  }

  private created(id: number, type: number, sendCredit: number, recvCredit: number): void {
    this.live.add(id);
    this.mirror.set(id, {
      id,
      type,
      status: SocketStatus.UNCONNECTED,
      flags: ConditionFlag.WRITABLE,
      lastError: 0,
      local: NO_ADDR,
      remote: NO_ADDR,
    });
    this.books.set(id, { sendCredit, recvGranted: recvCredit, recvTaken: 0, data: [], datagrams: [] });
  }

  private onEvent(e: AnyEvent, raw: Buffer): void {
    this.events.push(e);
    // Sequence and epoch (§8.1, §8.3).
    if (e.name === 'BOOT' && e.seq === 1 && e.epoch !== this.epoch) {
      this.epoch = e.epoch;
      this.lastSeq = 1;
      this.deviceReset();
    } else if (e.epoch !== this.epoch) {
      this.violate(
        'epoch',
        `${e.name} event carries epoch ${e.epoch}, the device's epoch is ${this.epoch} (${hexOf(raw, 16)}; §8.3)`,
      );
    } else if (this.lastSeq !== undefined) {
      const expected = (this.lastSeq + 1) >>> 0;
      if (e.seq !== expected) {
        this.violate(
          'sequence',
          `event sequence gap: after seq ${this.lastSeq} came seq ${e.seq} (${e.name}), expected ${expected} (§8.1)`,
        );
      }
      this.lastSeq = e.seq;
    } else this.lastSeq = e.seq;
    // Per socket.
    const id = (e.body as { id?: number }).id;
    if (id === undefined || e.name === 'ERROR') return;
    const known = this.mirror.get(id);
    if (!known) {
      this.violate(
        'event-before-create',
        `${e.name} event names socket 0x${id.toString(16).padStart(4, '0')}, which no response created (§5.3, §6.8)`,
      );
      return;
    }
    switch (e.name) {
      case 'STATUS':
        known.status = e.body.status;
        known.flags = e.body.flags;
        known.lastError = e.body.error;
        known.local = e.body.local;
        known.remote = e.body.remote;
        if (e.body.status === SocketStatus.TERMINATED) {
          this.mirror.delete(id);
          this.live.delete(id);
        }
        break;
      case 'SEND_CREDIT':
        this.book(id).sendCredit += e.body.bytes;
        break;
      case 'DATA':
      case 'DATAGRAM': {
        const bk = this.book(id);
        bk.recvTaken += e.body.data.length;
        if (e.name === 'DATA') bk.data.push(Buffer.from(e.body.data));
        else bk.datagrams.push({ from: e.body.from, data: Buffer.from(e.body.data) });
        if (bk.recvTaken > bk.recvGranted) {
          this.violate(
            'credit',
            `${e.name} for 0x${id.toString(16).padStart(4, '0')} goes beyond the granted receive credit: ${bk.recvTaken} bytes delivered, ${bk.recvGranted} granted (§7)`,
          );
        }
        break;
      }
    }
  }

  /** A BOOT of a new epoch: the table is empty; forget everything of the old epoch. */
  private deviceReset(): void {
    this.mirror.clear();
    this.live.clear();
    this.books.clear();
  }
}

export class TimeoutError extends Error {
  constructor(
    message: string,
    readonly sent?: Buffer,
  ) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The URL of channel `channel`'s ring pair: the same window, and the event device `<events>.<channel>` when
 * channel 0's URL names one (§10.5, the simulator's FIFOs); without one the pair is polled as channel 0 is.
 */
export function pcieChannelUrl(url: string, channel: number): string {
  const u = parseDeviceUrl(url);
  if (u.kind !== 'pcie') throw new TypeError(`${url} is not a pcie: URL`);
  const params = { ...u.params };
  delete params.channel;
  return formatDeviceUrl({
    ...u,
    params,
    ...(u.events !== undefined ? { events: `${u.events}.${channel}` } : {}),
  });
}

/** The line rate of a serial transport (duck-typed), for the link's retransmission timeout. */
function serialBaud(t: Transport): number {
  const rate = (t as unknown as { options?: { baudRate?: unknown } }).options?.baudRate;
  return typeof rate === 'number' && rate > 0 ? rate : 0;
}
