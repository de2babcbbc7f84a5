/**
 * Test rig for DeviceCore: a raw-protocol host (encodeMessage/decodeMessage only, no driver) wired to a
 * DeviceCore on a VirtualNetwork. The host checks, for every message it receives, that it decodes, fits the
 * channel's maxPayload and (for events) carries the current epoch and the next sequence number; and it keeps
 * a mirror of the socket table built only from responses and STATUS events, as a driver would.
 */
import {
  type Addr,
  type AnyEvent,
  type AnyResponse,
  type CommandBodies,
  type CommandName,
  ConditionFlag,
  type ErrorResponseMessage,
  type Message,
  type ResponseBodies,
  SocketStatus,
  type SocketEntry,
  StatusCode,
  STATUS_NAME,
  command,
  decodeMessage,
  encodeMessage,
  PROTOCOL_VERSION_WORD,
} from '../../../src/protocol/index.js';
import { DeviceCore, type DeviceCoreOptions } from '../../../sim/core/index.js';
import {
  type VirtualBackend,
  VirtualNetwork,
  type VirtualNetworkOptions,
} from '../../../sim/network/virtual-backend.js';

export interface MirrorEntry {
  id: number;
  status: number;
  flags: number;
  lastError: number;
  local: Addr;
  remote: Addr;
}

export type Reply = AnyResponse | ErrorResponseMessage;

export class RawHost {
  private nextTag = 1;
  readonly inbox: Message[] = [];
  readonly events: AnyEvent[] = [];
  readonly replies = new Map<number, Reply>();
  /** Protocol violations seen by the host (sequence gaps, oversize messages, stale epochs...). */
  readonly violations: string[] = [];
  readonly mirror = new Map<number, MirrorEntry>();
  lastSeq = 0;
  epoch = 0;
  maxPayload: number;

  constructor(
    readonly core: DeviceCore,
    readonly net: VirtualNetwork,
    readonly channel = 0,
    maxPayload = 16384,
  ) {
    this.maxPayload = maxPayload;
    core.onOutput((ch, buf) => {
      if (ch === this.channel) this.receive(buf);
    });
  }

  private receive(buf: Buffer): void {
    if (buf.length > this.maxPayload) this.violations.push(`message of ${buf.length} bytes > maxPayload`);
    let msg: Message;
    try {
      msg = decodeMessage(buf);
    } catch (err) {
      this.violations.push(`undecodable output: ${(err as Error).message}`);
      return;
    }
    this.inbox.push(msg);
    if (msg.kind === 'event') {
      this.events.push(msg);
      if (msg.name === 'BOOT') {
        if (msg.seq !== 1) this.violations.push(`BOOT with seq ${msg.seq}`);
        this.epoch = msg.epoch;
        this.mirror.clear();
      } else {
        if (msg.seq !== this.lastSeq + 1)
          this.violations.push(`seq gap: ${this.lastSeq} -> ${msg.seq} (${msg.name})`);
        if (msg.epoch !== this.epoch) this.violations.push(`event epoch ${msg.epoch} != ${this.epoch}`);
      }
      this.lastSeq = msg.seq;
      if (msg.name === 'STATUS') {
        const b = msg.body;
        if (b.status === SocketStatus.TERMINATED) {
          if (!this.mirror.delete(b.id)) this.violations.push(`TERMINATED for unknown id ${b.id}`);
        } else {
          if (!this.mirror.has(b.id)) this.violations.push(`STATUS for unknown id ${b.id}`);
          this.mirror.set(b.id, {
            id: b.id,
            status: b.status,
            flags: b.flags,
            lastError: b.error,
            local: b.local,
            remote: b.remote,
          });
        }
      } else if ('id' in msg.body && msg.name !== 'ERROR' && !this.mirror.has(msg.body.id)) {
        this.violations.push(`${msg.name} for unknown id ${msg.body.id}`);
      }
    } else if (msg.kind === 'response' || msg.kind === 'error') {
      if (this.replies.has(msg.tag) && msg.tag !== 0) this.violations.push(`second reply for tag ${msg.tag}`);
      this.replies.set(msg.tag, msg);
      if (msg.kind === 'response' && msg.status === StatusCode.OK) this.mirrorResponse(msg);
      if (msg.kind === 'response' && msg.name === 'HELLO' && msg.status === StatusCode.OK) {
        const b = msg.body as ResponseBodies['HELLO'];
        this.epoch = b.epoch;
        this.lastSeq = b.eventSeq;
      }
    } else {
      this.violations.push(`unexpected ${msg.kind} from the device`);
    }
  }

  private mirrorResponse(msg: AnyResponse): void {
    if (msg.name === 'SOCKET_OPEN') {
      const b = msg.body as ResponseBodies['SOCKET_OPEN'];
      this.mirror.set(b.id, {
        id: b.id,
        status: SocketStatus.UNCONNECTED,
        flags: ConditionFlag.WRITABLE,
        lastError: 0,
        local: NONE,
        remote: NONE,
      });
    } else if (msg.name === 'ACCEPT') {
      const b = msg.body as ResponseBodies['ACCEPT'];
      this.mirror.set(b.newId, {
        id: b.newId,
        status: SocketStatus.CONNECTED,
        flags: ConditionFlag.WRITABLE,
        lastError: 0,
        local: b.local,
        remote: b.remote,
      });
    }
  }

  tag(): number {
    const t = this.nextTag;
    this.nextTag = t >= 0xffff ? 1 : t + 1;
    return t;
  }

  /** Sends raw bytes; returns the messages they produced synchronously. */
  sendRaw(bytes: Uint8Array): Message[] {
    const before = this.inbox.length;
    this.core.handleHostMessage(this.channel, bytes);
    return this.inbox.slice(before);
  }

  /** Sends a command; returns its tag. */
  send<N extends CommandName>(name: N, body: CommandBodies[N], tag = this.tag()): number {
    this.core.handleHostMessage(this.channel, encodeMessage(command(name, tag, body) as never));
    return tag;
  }

  /** Sends a command and returns its reply, running the network (bounded) if the reply is deferred. */
  call<N extends CommandName>(name: N, body: CommandBodies[N], maxMs = 5000): Reply {
    const tag = this.send(name, body);
    if (!this.replies.has(tag)) this.net.runUntil(() => this.replies.has(tag), maxMs);
    const r = this.replies.get(tag);
    if (!r) throw new Error(`no reply to ${name} (tag ${tag})`);
    return r;
  }

  /** call() that expects OK and returns the response body. */
  ok<N extends CommandName>(name: N, body: CommandBodies[N]): ResponseBodies[N] {
    const r = this.call(name, body);
    if (r.kind !== 'response' || r.status !== StatusCode.OK) {
      throw new Error(`${name} failed: ${r.kind} ${STATUS_NAME[r.status] ?? r.status}`);
    }
    return r.body as ResponseBodies[N];
  }

  /** The status name a call answered with. */
  code<N extends CommandName>(name: N, body: CommandBodies[N]): string {
    const r = this.call(name, body);
    return STATUS_NAME[r.status] ?? String(r.status);
  }

  hello(): ResponseBodies['HELLO'] {
    return this.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: 0 });
  }

  query(id: number): SocketEntry {
    return this.ok('QUERY', { id }).entry;
  }

  /** The whole table of this channel through SNAPSHOT pages; also checks the pages are consistent. */
  snapshot(): { entries: SocketEntry[]; eventSeq: number; epoch: number } {
    const entries: SocketEntry[] = [];
    let start = 0;
    let eventSeq = 0;
    let epoch = 0;
    for (let pages = 0; pages < 300; pages++) {
      const p = this.ok('SNAPSHOT', { startSlot: start, maxEntries: 255, allChannels: 0 });
      entries.push(...p.entries);
      eventSeq = p.eventSeq;
      epoch = p.epoch;
      if (p.nextSlot === 0xffff) return { entries, eventSeq, epoch };
      start = p.nextSlot;
    }
    throw new Error('SNAPSHOT never ended');
  }

  /** The raw bytes of the snapshot pages from slot 0 (for byte-for-byte comparisons). */
  snapshotBytes(): Buffer {
    const parts: Buffer[] = [];
    let start = 0;
    for (let pages = 0; pages < 300; pages++) {
      const tag = this.tag();
      const before = this.inbox.length;
      this.core.handleHostMessage(
        this.channel,
        encodeMessage(command('SNAPSHOT', tag, { startSlot: start, maxEntries: 255, allChannels: 0 })),
      );
      const r = this.replies.get(tag);
      if (r?.kind !== 'response' || r.status !== 0 || this.inbox.length !== before + 1) {
        throw new Error('SNAPSHOT failed');
      }
      // Re-encode with tag 0 so pages taken at different times compare on content only.
      parts.push(encodeMessage({ ...r, tag: 0 } as Message));
      const next = (r.body as ResponseBodies['SNAPSHOT']).nextSlot;
      if (next === 0xffff) return Buffer.concat(parts);
      start = next;
    }
    throw new Error('SNAPSHOT never ended');
  }

  eventsNamed<N extends AnyEvent['name']>(name: N): Extract<AnyEvent, { name: N }>[] {
    return this.events.filter((e) => e.name === name) as Extract<AnyEvent, { name: N }>[];
  }

  /** Concatenated DATA for a socket. */
  dataFor(id: number): Buffer {
    return Buffer.concat(
      this.eventsNamed('DATA')
        .filter((e) => e.body.id === id)
        .map((e) => Buffer.from(e.body.data)),
    );
  }

  creditFor(id: number): number {
    return this.eventsNamed('SEND_CREDIT')
      .filter((e) => e.body.id === id)
      .reduce((n, e) => n + e.body.bytes, 0);
  }
}

const NONE: Addr = { family: 0, port: 0, address: '' };

export interface RigOptions extends Partial<Omit<DeviceCoreOptions, 'now'>> {
  net?: VirtualNetworkOptions;
  /** Do HELLO on channel 0 (default true). */
  hello?: boolean;
  /** Call core.tick() on every network tick (default true). */
  autoTick?: boolean;
}

export interface Rig {
  net: VirtualNetwork;
  backend: VirtualBackend;
  core: DeviceCore;
  host: RawHost;
}

export function makeRig(opts: RigOptions = {}): Rig {
  const { net: netOpts, hello = true, autoTick = true, ...coreOpts } = opts;
  const net = new VirtualNetwork(netOpts);
  const backend = net.backend();
  const core = new DeviceCore({ ...coreOpts, now: () => net.now() });
  core.onNetworkAction((a) => backend.perform(a));
  backend.onEvent((e) => core.handleNetworkEvent(e));
  if (autoTick) net.onTick((now) => core.tick(now));
  const host = new RawHost(core, net, 0, coreOpts.maxPayload ?? 16384);
  if (hello) host.hello();
  return { net, backend, core, host };
}

export const STREAM = { type: 1, family: 4, protocol: 6, blocking: 0 } as const;
export const DGRAM = { type: 2, family: 4, protocol: 17, blocking: 0 } as const;

export function addr(text: string): Addr {
  const [a, p] = text.split(':');
  return { family: 4, address: a!, port: Number(p) };
}

export function openTcp(host: RawHost, recvCredit = 65536): number {
  return host.ok('SOCKET_OPEN', { ...STREAM, recvCredit }).id;
}

export function openUdp(host: RawHost, recvCredit = 65536): number {
  return host.ok('SOCKET_OPEN', { ...DGRAM, recvCredit }).id;
}

/** Connects a new TCP socket to `to` and waits for CONNECTED (or the failure). */
export function connectTcp(rig: Rig, to: string, recvCredit = 65536): number {
  const id = openTcp(rig.host, recvCredit);
  rig.host.ok('CONNECT', { id, timeoutMs: 0, addr: addr(to) });
  rig.net.runUntil(() => rig.host.mirror.get(id)?.status !== SocketStatus.CONNECTING, 5000);
  return id;
}

/** Compares the host mirror with the device's SNAPSHOT on what STATUS carries. */
export function mirrorMismatches(host: RawHost): string[] {
  const snap = host.snapshot().entries;
  const out: string[] = [];
  const ids = new Set([...host.mirror.keys(), ...snap.map((e) => e.id)]);
  for (const id of ids) {
    const m = host.mirror.get(id);
    const e = snap.find((x) => x.id === id);
    if (!m || !e) {
      out.push(`id ${id}: mirror ${m ? 'has' : 'lacks'} it, snapshot ${e ? 'has' : 'lacks'} it`);
      continue;
    }
    for (const k of ['status', 'flags', 'lastError'] as const) {
      if (m[k] !== e[k]) out.push(`id ${id}: ${k} mirror ${m[k]} device ${e[k]}`);
    }
    if (JSON.stringify(m.local) !== JSON.stringify(e.local)) out.push(`id ${id}: local differs`);
    if (JSON.stringify(m.remote) !== JSON.stringify(e.remote)) out.push(`id ${id}: remote differs`);
  }
  return out;
}
