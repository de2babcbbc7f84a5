/**
 * What a test case gets: the kit's client, what HELLO said, the kit's peers, and helpers that turn every
 * exchange into a pass/fail with the bytes sent and received. Helpers fail with messages that name the
 * problem and cite PROTOCOL.md.
 */
import { isIPv6 } from 'node:net';
import {
  type Addr,
  Capability,
  type CapabilityName,
  type CommandBodies,
  type CommandName,
  type EventMessage,
  FieldReader,
  type OkResponseMessage,
  RegisterWindow,
  readEntry,
  type SocketEntry,
  SocketStatus,
  SocketType,
  StatusCode,
  type StatusCodeName,
} from '../protocol/index.js';
import { type Carrier, type Exchange, type KitClient, TimeoutError } from './client.js';
import { describeBytes, hexId, socketStatusName, statusName } from './format.js';
import type { Endpoint, Peers } from './peers.js';
import { fail, type FailureDetail, notApplicable } from './types.js';

export interface DeviceInfo {
  protoVersion: number;
  caps: number;
  slots: number;
  /** HELLO maxPayload. */
  helloMaxPayload: number;
  /** Largest message either way: min(HELLO maxPayload, the link's agreed maxPayload) (§4.6). */
  maxPayload: number;
  epoch: number;
  eventSeq: number;
  sendQueueSize: number;
  recvQueueSize: number;
  firmware: string;
}

export interface ContextOptions {
  /** Address the kit connects to for sockets the device listens on (ACCEPT tests). */
  deviceHost: string;
  /** Bytes pushed through the echo peer by the data-integrity tests. */
  dataBytes: number;
  /** Most bytes pushed to reach a full send queue (SENDING held) before giving up. */
  fillBudgetBytes: number;
  /** The device's admin credential (CHANNEL_OPEN ADMIN, §11); the admin tests are not applicable without it. */
  adminCredential?: Buffer;
  /** A key provisioned on the device (§12.1); the secure tests are not applicable without it. */
  secureKey?: { keyId: number; key: Buffer };
  /** The device's channel timeout (§11, ms); the test that waits for it is not applicable without it. */
  channelTimeoutMs?: number;
}

export class TestContext {
  /** Family of the peers' addresses (4, or 6 for an IPv6 peerHost). */
  readonly family: 4 | 6;
  /** Sockets kept open across the tests of one group (closeAll leaves them until the group ends). */
  readonly kept = new Set<number>();
  /** State shared by the tests of one group (cleared when the group ends). */
  readonly shared = new Map<string, unknown>();

  constructor(
    readonly client: KitClient,
    public info: DeviceInfo,
    readonly peers: Peers,
    readonly options: ContextOptions,
    /** Re-runs HELLO (after RESET) and updates `info`. */
    readonly rehello: () => Promise<DeviceInfo>,
  ) {
    this.family = isIPv6(peers.host) ? 6 : 4;
  }

  get framing(): Carrier {
    return this.client.framing;
  }

  has(cap: CapabilityName): boolean {
    return (this.info.caps & Capability[cap]) !== 0;
  }

  require(cap: CapabilityName, why = ''): void {
    if (!this.has(cap)) notApplicable(`the device does not advertise ${cap}${why ? ` (${why})` : ''} (§14)`);
  }

  /** The admin credential, or not applicable (naming the option that gives it). */
  credential(why: string): Buffer {
    const c = this.options.adminCredential;
    if (!c) {
      notApplicable(
        `this test (${why}) needs the device's admin credential: pass --admin-credential TEXT (ConformanceOptions.adminCredential)`,
      );
    }
    return c;
  }

  /** The provisioned key, or not applicable (naming the options that give it). */
  secureKey(why: string): { keyId: number; key: Buffer } {
    const k = this.options.secureKey;
    if (!k) {
      notApplicable(
        `this test (${why}) needs a key provisioned on the device: pass --key-id N with --key-file FILE or OFFLOAD_KEY (ConformanceOptions.secureKey)`,
      );
    }
    return k;
  }

  /** A socket type the device offers (STREAM preferred); not applicable when it offers neither. */
  socketType(): 'STREAM' | 'DGRAM' {
    if (this.has('TCP')) return 'STREAM';
    if (this.has('UDP')) return 'DGRAM';
    notApplicable('the device offers neither TCP nor UDP (§14)');
  }

  addr(e: Endpoint): Addr {
    return { family: this.family, port: e.port, address: e.host };
  }

  anyAddr(port = 0): Addr {
    return { family: this.family, port, address: this.family === 6 ? '::' : '0.0.0.0' };
  }

  // ---- exchanges

  async req<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    timeoutMs?: number,
  ): Promise<Exchange<N>> {
    try {
      return await this.client.request(name, body, timeoutMs);
    } catch (err) {
      if (err instanceof TimeoutError) {
        fail(`${err.message}: every command gets exactly one response (§5.3)`, {
          sent: err.sent ? describeBytes(err.sent) : undefined,
          expected: `a ${name} response`,
          received: 'nothing',
        });
      }
      throw err;
    }
  }

  async raw(bytes: Uint8Array, tag: number, expected: string, timeoutMs?: number): Promise<Exchange> {
    try {
      return await this.client.requestRaw(bytes, tag, timeoutMs);
    } catch (err) {
      if (err instanceof TimeoutError) {
        fail(`no answer within ${timeoutMs ?? this.client.timeoutMs} ms: ${expected}`, {
          sent: describeBytes(bytes),
          expected,
          received: 'nothing',
        });
      }
      throw err;
    }
  }

  /** Sends a command and returns the OK body, failing with the exchange otherwise. */
  async ok<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    section = '§5.8',
  ): Promise<OkResponseMessage<N>['body']> {
    const ex = await this.req(name, body);
    this.expect(ex, 'OK', `${name}`, section);
    return (ex.answer as OkResponseMessage<N>).body;
  }

  /** Fails unless the answer is a response of `ex.name` with one of the status codes. */
  expect(ex: Exchange, codes: StatusCodeName | StatusCodeName[], what: string, section: string): void {
    const want = Array.isArray(codes) ? codes : [codes];
    const a = ex.answer;
    const got = a.kind === 'error' ? `ERROR_RESPONSE ${statusName(a.status)}` : statusName(a.status);
    const okKind = a.kind === 'response';
    if (okKind && want.some((c) => StatusCode[c] === a.status)) return;
    fail(
      `${what}: answered ${got}, expected ${want.join(' or ')} (${section})`,
      this.detail(ex, want.join(' or ')),
    );
  }

  detail(ex: Exchange, expected: string): FailureDetail {
    return { sent: describeBytes(ex.sent), expected, received: describeBytes(ex.raw) };
  }

  statusOf(ex: Exchange): StatusCodeName | string {
    return ex.answer.kind === 'error'
      ? `ERROR_RESPONSE ${statusName(ex.answer.status)}`
      : statusName(ex.answer.status);
  }

  // ---- sockets

  async open(type: 'STREAM' | 'DGRAM', recvCredit = 0, family: 4 | 6 = this.family): Promise<number> {
    const stream = type === 'STREAM';
    const { id } = await this.ok(
      'SOCKET_OPEN',
      { type: SocketType[type], family, protocol: stream ? 6 : 17, blocking: 0, recvCredit },
      '§5.8.2 SOCKET_OPEN',
    );
    return id;
  }

  /** The socket's entry as the device sees it: QUERY (SNAPSHOT) or the register window (REG_WINDOW). */
  async entry(id: number): Promise<{ entry: SocketEntry; bytes: Buffer } | undefined> {
    if (this.has('SNAPSHOT')) {
      const ex = await this.req('QUERY', { id });
      this.expect(ex, 'OK', `QUERY ${hexId(id)}`, '§5.8.2 QUERY');
      const bytes = ex.raw.subarray(6, 86);
      return { entry: (ex.answer as OkResponseMessage<'QUERY'>).body.entry, bytes: Buffer.from(bytes) };
    }
    if (this.has('REG_WINDOW')) {
      const bytes = (await this.windowSlot(id & 0xff)).subarray(0, 80);
      if (bytes.readUInt16LE(0) !== id) return undefined;
      return { entry: readEntry(new FieldReader(bytes)), bytes };
    }
    return undefined;
  }

  /** The 128 bytes of a slot in the register window (§9.3). */
  async windowSlot(slot: number): Promise<Buffer> {
    const offset = RegisterWindow.socketWindowOffset + slot * RegisterWindow.socketWindowStride;
    const values = await this.regRead(offset, 32);
    const out = Buffer.alloc(128);
    values.forEach((v, i) => {
      out.writeUInt32LE(v >>> 0, i * 4);
    });
    return out;
  }

  /** One register and the last event seq seen when its answer arrived (for EVENT_SEQ comparisons). */
  async regReadAt(offset: number): Promise<{ value: number; seqAtAnswer: number | undefined }> {
    const ex = await this.req('REG_READ', { offset, count: 1 });
    this.expect(ex, 'OK', `REG_READ 0x${offset.toString(16)}`, '§5.8.1 REG_READ');
    const values = (ex.answer as OkResponseMessage<'REG_READ'>).body.values;
    return { value: (values[0] ?? 0) >>> 0, seqAtAnswer: ex.seqAtAnswer };
  }

  async regRead(offset: number, count = 1): Promise<number[]> {
    const ex = await this.req('REG_READ', { offset, count });
    this.expect(ex, 'OK', `REG_READ 0x${offset.toString(16)} ×${count}`, '§5.8.1 REG_READ');
    const values = (ex.answer as OkResponseMessage<'REG_READ'>).body.values;
    if (values.length !== count) {
      fail(
        `REG_READ of ${count} registers returned ${values.length} values (§5.8.1)`,
        this.detail(ex, `${count} values`),
      );
    }
    return values;
  }

  /** Every entry of this channel via SNAPSHOT pages; `pages` keeps the raw entry bytes per page. */
  async snapshot(
    maxEntries = 255,
  ): Promise<{ entries: SocketEntry[]; bytes: Buffer; eventSeq: number; epoch: number }> {
    const entries: SocketEntry[] = [];
    const chunks: Buffer[] = [];
    let start = 0;
    let eventSeq = 0;
    let epoch = 0;
    for (let page = 0; page < 300; page++) {
      const ex = await this.req('SNAPSHOT', { startSlot: start, maxEntries, allChannels: 0 });
      this.expect(ex, 'OK', 'SNAPSHOT', '§5.8.1 SNAPSHOT');
      const body = (ex.answer as OkResponseMessage<'SNAPSHOT'>).body;
      entries.push(...body.entries);
      chunks.push(Buffer.from(ex.raw.subarray(17)));
      eventSeq = body.eventSeq;
      epoch = body.epoch;
      if (body.nextSlot === 0xffff) return { entries, bytes: Buffer.concat(chunks), eventSeq, epoch };
      if (body.nextSlot <= start && page > 0) {
        fail(
          `SNAPSHOT nextSlot ${body.nextSlot} does not advance past startSlot ${start} (§5.8.1)`,
          this.detail(ex, 'nextSlot > startSlot'),
        );
      }
      start = body.nextSlot;
    }
    fail('SNAPSHOT paging did not end after 300 pages (§5.8.1)');
  }

  /** Waits for a STATUS event of `id` satisfying `pred` (events from index `from`). */
  async waitStatus(
    id: number,
    pred: (e: EventMessage<'STATUS'>) => boolean,
    what: string,
    timeoutMs = 5000,
    from = 0,
  ): Promise<EventMessage<'STATUS'>> {
    try {
      return await this.client.waitEvent<EventMessage<'STATUS'>>(
        (e) => e.name === 'STATUS' && e.body.id === id && pred(e as EventMessage<'STATUS'>),
        timeoutMs,
        from,
        what,
      );
    } catch (err) {
      if (err instanceof TimeoutError) {
        const seen = this.client.events
          .slice(from)
          .filter((e) => e.name === 'STATUS' && e.body.id === id)
          .map((e) => {
            const b = (e as EventMessage<'STATUS'>).body;
            return `${socketStatusName(b.status)} flags 0x${b.flags.toString(16)} error ${statusName(b.error)}`;
          });
        fail(`${what}: no such STATUS event within ${timeoutMs} ms`, {
          expected: what,
          received: seen.length
            ? `STATUS events for ${hexId(id)}: ${seen.join('; ')}`
            : `no STATUS event for ${hexId(id)}`,
        });
      }
      throw err;
    }
  }

  /** CONNECT a fresh STREAM socket to `to` and wait until it leaves CONNECTING (CONNECTED, or DISCONNECTED if allowed). */
  async connected(to: Endpoint, recvCredit = 0, allowDisconnected = false): Promise<number> {
    const id = await this.open('STREAM', recvCredit);
    const from = this.client.events.length;
    await this.ok('CONNECT', { id, timeoutMs: 5000, addr: this.addr(to) }, '§5.8.2 CONNECT');
    await this.waitStatus(
      id,
      (e) => e.body.status !== SocketStatus.CONNECTING,
      `${hexId(id)} leaves CONNECTING after CONNECT to ${to.host}:${to.port}`,
      6000,
      from,
    ).then((e) => {
      if (e.body.status === SocketStatus.DISCONNECTED && !(allowDisconnected && e.body.error === 0)) {
        fail(
          `CONNECT to the kit's peer ${to.host}:${to.port} failed with ${statusName(e.body.error)}: is the peer host reachable from the device? (§5.8.2)`,
        );
      }
    });
    return id;
  }

  /** Aborts every socket the kit holds and waits for their final STATUS (TERMINATED). */
  async closeAll(timeoutMs = 3000, includeKept = false): Promise<void> {
    if (includeKept) {
      this.kept.clear();
      this.shared.clear();
    }
    const ids = [...this.client.live].filter((id) => !this.kept.has(id));
    if (ids.length === 0 || this.client.isDown) return;
    await Promise.all(ids.map((id) => this.client.request('CLOSE', { id, abort: 1 }).catch(() => undefined)));
    await this.client
      .until(
        () => ids.every((id) => !this.client.live.has(id)),
        timeoutMs,
        'TERMINATED for every closed socket',
      )
      .catch(() => undefined);
    // Sockets whose TERMINATED never came are forgotten (a later test reports what is wrong).
    for (const id of ids) {
      this.client.live.delete(id);
      this.client.mirror.delete(id);
    }
  }
}
