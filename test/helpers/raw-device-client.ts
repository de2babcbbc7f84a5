/**
 * TEST TOOL ONLY — not a driver. Speaks raw protocol messages to a device (simulator or board) over a real
 * Link: sends commands with tags, collects responses, events and ERROR_RESPONSEs. Tests use it to drive the
 * simulator before (and independently of) src/device.
 *
 *   const c = await RawDeviceClient.connect('tcp://127.0.0.1:7070');
 *   await c.hello();
 *   const { id } = await c.ok('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 65536 });
 *   const ev = await c.waitEvent((e) => e.name === 'STATUS' && e.body.id === id);
 */
import { Link, type LinkFraming, type LinkOptions, type LinkParams } from '../../src/link/link.js';
import {
  type AnyCommand,
  type AnyEvent,
  type CommandBodies,
  type CommandName,
  command,
  decodeMessage,
  type ErrorResponseMessage,
  encodeMessage,
  type OkResponseMessage,
  PROTOCOL_VERSION_WORD,
  type ResponseMessage,
  STATUS_NAME,
  StatusCode,
} from '../../src/protocol/index.js';
import { openTransport } from '../../src/transport/factory.js';
import type { Transport } from '../../src/transport/transport.js';

export interface RawClientOptions {
  channel?: number;
  /** Default: 'serial' for serial: URLs, 'tcp' otherwise. */
  framing?: LinkFraming;
  link?: Partial<LinkOptions>;
  /** Default per-request timeout. 5000 ms. */
  timeoutMs?: number;
}

type Answer = ResponseMessage | ErrorResponseMessage;

export class RawDeviceClient {
  readonly events: AnyEvent[] = [];
  /** Messages the client could not decode (should stay empty with a correct device). */
  readonly undecodable: Buffer[] = [];
  readonly link: Link;
  params!: LinkParams;
  private nextTag = 1;
  private readonly pending = new Map<
    number,
    { resolve: (m: Answer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private waiters = new Set<() => void>();
  private down: Error | undefined;
  private readonly timeoutMs: number;

  private constructor(
    readonly transport: Transport,
    framing: LinkFraming,
    opts: RawClientOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.link = new Link(transport, {
      role: 'host',
      framing,
      channel: opts.channel ?? 0,
      ...(opts.link ?? {}),
    });
    this.link.on('message', (bytes) => this.onMessage(bytes));
    this.link.on('down', (err) => this.fail(err));
    this.link.on('reset', () => this.fail(new Error('link reset by the device')));
  }

  /** Opens `url` (tcp:// or serial://) and starts the link. */
  static async connect(url: string, opts: RawClientOptions = {}): Promise<RawDeviceClient> {
    const transport = await openTransport(url);
    return RawDeviceClient.over(
      transport,
      opts.framing ?? (url.startsWith('serial:') ? 'serial' : 'tcp'),
      opts,
    );
  }

  /** Starts the link over an already open transport. */
  static async over(
    transport: Transport,
    framing: LinkFraming,
    opts: RawClientOptions = {},
  ): Promise<RawDeviceClient> {
    const c = new RawDeviceClient(transport, framing, opts);
    try {
      c.params = await c.link.start();
    } catch (err) {
      await c.link.close();
      throw err;
    }
    return c;
  }

  /** Sends one command and resolves with its response (or ERROR_RESPONSE), whatever the status. */
  request<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    timeoutMs = this.timeoutMs,
  ): Promise<ResponseMessage<N>> {
    const tag = this.nextTag;
    this.nextTag = (this.nextTag % 0xffff) + 1;
    return this.requestRaw(encodeMessage(command(name, tag, body) as AnyCommand), tag, timeoutMs) as Promise<
      ResponseMessage<N>
    >;
  }

  /** Sends arbitrary message bytes; resolves with the answer carrying `tag`. */
  requestRaw(bytes: Uint8Array, tag: number, timeoutMs = this.timeoutMs): Promise<Answer> {
    if (this.down) return Promise.reject(this.down);
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(tag);
        reject(new Error(`no answer to tag ${tag} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(tag, { resolve, reject, timer });
      this.link.send(bytes);
    });
  }

  /** Sends message bytes without waiting for anything. */
  sendRaw(bytes: Uint8Array): void {
    this.link.send(bytes);
  }

  /** Sends a command and returns the OK body; throws an error naming the status otherwise. */
  async ok<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    timeoutMs?: number,
  ): Promise<OkResponseMessage<N>['body']> {
    const r = await this.request(name, body, timeoutMs);
    if (r.status !== StatusCode.OK) {
      throw Object.assign(new Error(`${name} failed: ${STATUS_NAME[r.status] ?? r.status}`), {
        status: STATUS_NAME[r.status],
      });
    }
    return (r as OkResponseMessage<N>).body;
  }

  /** The status name of a command's response. */
  async status<N extends CommandName>(name: N, body: CommandBodies[N]): Promise<string> {
    const r = await this.request(name, body);
    return STATUS_NAME[r.status] ?? String(r.status);
  }

  hello() {
    return this.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: 0xffff });
  }

  /** Resolves with the first event (received so far or later) matching `pred`. */
  async waitEvent<E extends AnyEvent = AnyEvent>(
    pred: (e: AnyEvent) => boolean,
    timeoutMs = this.timeoutMs,
  ): Promise<E> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit as E;
      if (this.down) throw this.down;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `event not seen within ${timeoutMs} ms; got ${this.events.map((e) => e.name).join(',')}`,
        );
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** Waits until `cond()` holds, re-checking at every message. */
  async until(cond: () => boolean, timeoutMs = this.timeoutMs, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.down) throw this.down;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} not reached within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 50));
        this.waiters.add(done);
      });
    }
  }

  statusEvents(id: number) {
    return this.events.filter((e) => e.name === 'STATUS' && e.body.id === id) as Extract<
      AnyEvent,
      { name: 'STATUS' }
    >[];
  }

  async close(): Promise<void> {
    this.fail(new Error('client closed'));
    await this.link.close();
  }

  private onMessage(bytes: Buffer): void {
    let m: ReturnType<typeof decodeMessage>;
    try {
      m = decodeMessage(bytes);
    } catch {
      this.undecodable.push(bytes);
      return;
    }
    if (m.kind === 'event') this.events.push(m);
    else if (m.kind === 'response' || m.kind === 'error') {
      const p = this.pending.get(m.tag);
      if (p) {
        this.pending.delete(m.tag);
        clearTimeout(p.timer);
        p.resolve(m);
      }
    }
    for (const w of [...this.waiters]) w();
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
}

/**
 * One stream socket seen through raw messages, honouring credits both ways: write() sends only what the
 * device's send credit allows (waiting for SEND_CREDIT events), received DATA is collected and the receive
 * credit is granted back as it is taken.
 */
export class RawStream {
  sendCredit: number;
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  private seenEvents = 0;
  private peerClosed = false;

  constructor(
    readonly client: RawDeviceClient,
    readonly id: number,
    initialSendCredit: number,
  ) {
    this.sendCredit = initialSendCredit;
  }

  /** Processes events seen since the last call: SEND_CREDIT, DATA (granting the credit back), STATUS. */
  poll(): void {
    const evs = this.client.events;
    for (; this.seenEvents < evs.length; this.seenEvents++) {
      const e = evs[this.seenEvents]!;
      if (e.name === 'SEND_CREDIT' && e.body.id === this.id) this.sendCredit += e.body.bytes;
      else if (e.name === 'DATA' && e.body.id === this.id) {
        const data = Buffer.from(e.body.data);
        this.received.push(data);
        this.receivedBytes += data.length;
        void this.client.request('RECV_CREDIT', { id: this.id, bytes: data.length }).catch(() => undefined);
      } else if (e.name === 'STATUS' && e.body.id === this.id && (e.body.flags & 0x4) !== 0)
        this.peerClosed = true;
    }
  }

  get ended(): boolean {
    this.poll();
    return this.peerClosed;
  }

  /** Sends everything, in SENDs no larger than the credit and the link's maximum message. */
  async write(data: Uint8Array, timeoutMs = 20_000): Promise<void> {
    const maxChunk = this.client.params.maxPayload - 6;
    let off = 0;
    while (off < data.length) {
      this.poll();
      if (this.sendCredit <= 0) {
        await this.client.until(
          () => {
            this.poll();
            return this.sendCredit > 0;
          },
          timeoutMs,
          'send credit',
        );
        continue;
      }
      const n = Math.min(this.sendCredit, maxChunk, data.length - off);
      this.sendCredit -= n;
      const r = await this.client.request('SEND', { id: this.id, data: data.subarray(off, off + n) });
      if (r.status !== StatusCode.OK) throw new Error(`SEND failed: ${STATUS_NAME[r.status]}`);
      const accepted = (r.body as { accepted: number }).accepted;
      if (accepted !== n) throw new Error(`SEND accepted ${accepted} of ${n} bytes within credit`);
      off += n;
    }
  }

  /** Waits until `n` bytes have been received (or the peer closed, if `orEnd`). */
  async readBytes(n: number, timeoutMs = 20_000): Promise<Buffer> {
    await this.client.until(
      () => {
        this.poll();
        return this.receivedBytes >= n;
      },
      timeoutMs,
      `${n} bytes received`,
    );
    return Buffer.concat(this.received);
  }
}
