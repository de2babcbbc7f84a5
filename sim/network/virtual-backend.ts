/**
 * An in-memory network for repeatable tests: no OS sockets, no real time. A VirtualNetwork holds a clock
 * (advanced explicitly with advance()), a seeded PRNG (jitter and UDP loss), the device backends attached
 * to it (each a NetworkBackend with its own addresses) and scripted peers registered by tests:
 *
 *   echoServer(addr)              TCP and UDP echo
 *   sink(addr)                    TCP and UDP: reads everything, keeps a count and a sha256
 *   slowReader(addr, bytesPerTick) TCP: reads at most bytesPerTick per network tick
 *   resetAfter(addr, n)           TCP: echoes, then resets the connection once it has received n bytes
 *   refusing(addr)                TCP: connection refused (also the default for an address with no listener)
 *   blackhole(addr)               TCP: connect never answers (the device's timeout fires: ETIMEDOUT)
 *   udpPeer(addr)                 UDP: records datagrams, sends on request
 *   connect(addr)                 a virtual TCP client connecting into a device listener
 *
 * TCP model: each direction of a connection is a pipe with a window (windowBytes): bytes move from the
 * sender's buffer into flight only while in-flight + unread-at-the-receiver < window, and the sender's
 * backend reports 'sent' as they do. A device that pauses reading (tcp-pause) lets the window fill, so
 * backpressure reaches the remote peer exactly as with a real TCP window. Segments arrive in order after
 * latencyMs (+ jitter); FIN and RST travel in order behind the data.
 *
 * Events are never delivered from inside perform(): everything the network does happens in tasks run by
 * advance(), in time order (ties in scheduling order), so a run is a pure function of the seed and the
 * sequence of calls.
 */
import { createHash, type Hash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { Prng } from '../../src/transport/prng.js';
import type { Addr } from '../../src/protocol/index.js';
import {
  INCOMING_HANDLE_BASE,
  type NetErrorCode,
  type NetworkAction,
  type NetworkBackend,
  type NetworkEvent,
} from './backend.js';

// ============================================================================ addresses

export type AddrLike = Addr | string;

/** '10.0.0.2:7', '[fd00::2]:7' or an Addr. */
export function toAddr(a: AddrLike): Addr {
  if (typeof a !== 'string') return a;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(a);
  if (m6 && isIPv6(m6[1]!)) return { family: 6, address: m6[1]!, port: Number(m6[2]) };
  const m4 = /^([^:]+):(\d+)$/.exec(a);
  if (m4 && isIPv4(m4[1]!)) return { family: 4, address: m4[1]!, port: Number(m4[2]) };
  throw new TypeError(`not an address: ${a}`);
}

export function addrKey(a: Addr): string {
  return `${a.family}|${a.address}|${a.port}`;
}

export function formatAddr(a: Addr): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function isAny(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '';
}

// ============================================================================ clock

interface Task {
  at: number;
  seq: number;
  fn: () => void;
}

/** Deterministic virtual time: tasks run in (time, scheduling order). */
export class VirtualClock {
  private t: number;
  private seq = 0;
  private heap: Task[] = [];
  private readonly tickers: ((now: number) => void)[] = [];
  private nextTickAt: number;

  constructor(
    start: number,
    readonly tickMs: number,
  ) {
    this.t = start;
    this.nextTickAt = start + tickMs;
  }

  now(): number {
    return this.t;
  }

  /** Runs fn at time `at` (not before now). */
  schedule(at: number, fn: () => void): void {
    this.push({ at: Math.max(at, this.t), seq: this.seq++, fn });
  }

  /** Runs fn as soon as the clock is advanced (even by 0), after tasks already due. */
  later(fn: () => void): void {
    this.schedule(this.t, fn);
  }

  /** Called every tickMs of virtual time (after the tasks due at that time). */
  onTick(fn: (now: number) => void): void {
    this.tickers.push(fn);
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Advances by ms (0 = run what is due now), running tasks and tickers in time order. */
  advance(ms: number): void {
    const end = this.t + Math.max(0, ms);
    for (;;) {
      const task = this.heap[0];
      if (task && task.at <= end && task.at <= this.nextTickAt) {
        this.pop();
        this.t = task.at;
        task.fn();
        continue;
      }
      if (this.nextTickAt <= end) {
        this.t = this.nextTickAt;
        this.nextTickAt += this.tickMs;
        for (const fn of this.tickers) fn(this.t);
        continue;
      }
      break;
    }
    this.t = end;
  }

  /** Advances tick by tick until pred() holds (checked after every tick); false if maxMs passed first. */
  runUntil(pred: () => boolean, maxMs = 60_000): boolean {
    const end = this.t + maxMs;
    this.advance(0);
    while (!pred()) {
      if (this.t >= end) return false;
      this.advance(Math.min(this.tickMs, end - this.t));
    }
    return true;
  }

  private push(task: Task): void {
    const h = this.heap;
    h.push(task);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Task | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

// ============================================================================ TCP

/** Whoever owns one end of a connection: a device backend handle, a scripted peer, a virtual client. */
interface EndOwner {
  /** Data or FIN arrived in the end's inbound pipe. */
  onReadable(end: TcpEnd): void;
  /** Bytes of the end's outbound pipe entered the network (its send buffer drained by that much). */
  onDrained(end: TcpEnd, bytes: number): void;
  /** The other side reset the connection. */
  onReset(end: TcpEnd): void;
  /** Our FIN reached the other side. */
  onFinDelivered(end: TcpEnd): void;
}

/** One direction of a connection. */
class Pipe {
  unsent: Buffer[] = [];
  unsentBytes = 0;
  inflightBytes = 0;
  unread: Buffer[] = [];
  unreadBytes = 0;
  finQueued = false;
  finSent = false;
  finArrived = false;
  lastArrival = 0;
  from!: TcpEnd;
  to!: TcpEnd;
}

export class TcpEnd {
  owner: EndOwner | null = null;
  /** Reset by us or by the peer: nothing more moves. */
  dead = false;
  /** Our FIN was delivered to the other side. */
  finDelivered = false;

  constructor(
    readonly net: VirtualNetwork,
    readonly out: Pipe,
    readonly inp: Pipe,
    readonly local: Addr,
    readonly remote: Addr,
  ) {}

  get peer(): TcpEnd {
    return this.out.to;
  }

  /** Bytes waiting to be read. */
  get readable(): number {
    return this.inp.unreadBytes;
  }

  /** The other side's FIN arrived and everything before it was read. */
  get eof(): boolean {
    return this.inp.finArrived && this.inp.unreadBytes === 0;
  }

  /** Bytes written and not yet in flight. */
  get unsent(): number {
    return this.out.unsentBytes;
  }

  write(data: Buffer): void {
    if (this.dead || this.out.finQueued || data.length === 0) return;
    this.out.unsent.push(data);
    this.out.unsentBytes += data.length;
    this.net.pumpPipe(this.out);
  }

  /** FIN after everything written so far. */
  end(): void {
    if (this.dead || this.out.finQueued) return;
    this.out.finQueued = true;
    this.net.pumpPipe(this.out);
  }

  /** Takes up to max unread bytes (the window reopens by that much). */
  read(max = Number.POSITIVE_INFINITY): Buffer {
    const p = this.inp;
    const want = Math.min(max, p.unreadBytes);
    if (want <= 0) return Buffer.alloc(0);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < want) {
      const c = p.unread[0]!;
      const k = Math.min(c.length, want - got);
      parts.push(c.subarray(0, k));
      if (k === c.length) p.unread.shift();
      else p.unread[0] = c.subarray(k);
      got += k;
    }
    p.unreadBytes -= got;
    this.net.pumpPipe(p);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** RST: drops both directions; the other side learns it after the latency, behind data in flight. */
  reset(): void {
    if (this.dead) return;
    this.dead = true;
    this.out.unsent = [];
    this.out.unsentBytes = 0;
    const other = this.peer;
    this.net.clock.schedule(this.net.arrivalTime(this.out), () => {
      if (other.dead) return;
      other.dead = true;
      other.inp.unread = [];
      other.inp.unreadBytes = 0;
      other.out.unsent = [];
      other.out.unsentBytes = 0;
      other.owner?.onReset(other);
    });
  }
}

// ============================================================================ scripted peers

/** What a scripted peer saw. */
export class PeerStats {
  connections = 0;
  bytesReceived = 0;
  bytesSent = 0;
  resets = 0;
  datagramsReceived = 0;
  /** Connections on which the peer received FIN. */
  ends = 0;
  private hash: Hash = createHash('sha256');
  private kept: Buffer[] = [];
  private keptBytes = 0;

  constructor(
    readonly addr: Addr,
    /** Keep received bytes up to this many (received() returns them); the sha256 covers everything. */
    private readonly keepLimit = 4 * 1024 * 1024,
  ) {}

  record(data: Buffer): void {
    this.bytesReceived += data.length;
    this.hash.update(data);
    if (this.keptBytes + data.length <= this.keepLimit) {
      this.kept.push(Buffer.from(data));
      this.keptBytes += data.length;
    }
  }

  /** sha256 (hex) of every byte received so far, over all connections and datagrams, in order. */
  sha256(): string {
    return this.hash.copy().digest('hex');
  }

  received(): Buffer {
    return Buffer.concat(this.kept);
  }
}

type TcpBehaviour =
  | { kind: 'echo' }
  | { kind: 'sink' }
  | { kind: 'slow'; bytesPerTick: number }
  | { kind: 'resetAfter'; bytes: number }
  | { kind: 'refuse' }
  | { kind: 'blackhole' };

type UdpBehaviour = { kind: 'echo' } | { kind: 'sink' } | { kind: 'peer'; peer: UdpPeer };

interface TcpEndpoint {
  behaviour: TcpBehaviour;
  stats: PeerStats;
}

/** A scripted TCP peer's end of one connection. */
class ScriptedEnd implements EndOwner {
  private ended = false;
  private received = 0;

  constructor(
    private readonly net: VirtualNetwork,
    private readonly ep: TcpEndpoint,
  ) {}

  onReadable(end: TcpEnd): void {
    this.work(end);
  }
  onDrained(end: TcpEnd): void {
    this.work(end);
  }
  onReset(): void {
    this.ep.stats.resets++;
    this.net.slowEnds.delete(this);
  }
  onFinDelivered(): void {}

  /** Slow readers read on network ticks. */
  tick(end: TcpEnd): void {
    const b = this.ep.behaviour;
    if (b.kind !== 'slow' || end.dead) {
      this.net.slowEnds.delete(this);
      return;
    }
    const data = end.read(b.bytesPerTick);
    if (data.length > 0) this.ep.stats.record(data);
    this.finish(end);
  }

  private work(end: TcpEnd): void {
    const b = this.ep.behaviour;
    if (end.dead) return;
    if (b.kind === 'echo' || b.kind === 'resetAfter') {
      // Read only while our own send buffer has room, so backpressure propagates through the echo.
      while (end.readable > 0 && end.unsent < this.net.windowBytes) {
        const data = end.read(this.net.segmentBytes);
        this.ep.stats.record(data);
        this.received += data.length;
        if (b.kind === 'resetAfter' && this.received >= b.bytes) {
          this.ep.stats.resets++;
          end.reset();
          return;
        }
        end.write(data);
        this.ep.stats.bytesSent += data.length;
      }
    } else if (b.kind === 'sink') {
      while (end.readable > 0) this.ep.stats.record(end.read());
    }
    this.finish(end);
  }

  private finish(end: TcpEnd): void {
    if (end.eof && !this.ended) {
      this.ended = true;
      this.ep.stats.ends++;
      end.end();
    }
  }
}

/** A UDP endpoint a test can talk through. */
export class UdpPeer {
  readonly datagrams: { from: Addr; data: Buffer }[] = [];
  readonly stats: PeerStats;

  constructor(
    private readonly net: VirtualNetwork,
    readonly addr: Addr,
  ) {
    this.stats = new PeerStats(addr);
  }

  send(to: AddrLike, data: Buffer): void {
    this.stats.bytesSent += data.length;
    this.net.sendDatagram(this.addr, toAddr(to), Buffer.from(data));
  }
}

/** A virtual TCP client connecting into a device listener (or any virtual endpoint). */
export class VirtualClient implements EndOwner {
  connected = false;
  /** Connection error (ECONNREFUSED) or reset by the other side (ECONNRESET). */
  error: NetErrorCode | null = null;
  /** FIN received from the other side (all data before it read). */
  ended = false;
  local: Addr;
  private end: TcpEnd | null = null;
  private pendingWrites: Buffer[] = [];
  private pendingEnd = false;
  private pausedReading = false;
  private readonly chunks: Buffer[] = [];
  private readonly hash = createHash('sha256');
  bytesReceived = 0;
  onData: ((data: Buffer) => void) | null = null;

  constructor(
    private readonly net: VirtualNetwork,
    readonly remote: Addr,
    local: Addr,
  ) {
    this.local = local;
  }

  /** @internal */
  attach(end: TcpEnd): void {
    this.end = end;
    end.owner = this;
  }

  /** @internal */
  established(): void {
    this.connected = true;
    const end = this.end;
    if (!end) return;
    for (const w of this.pendingWrites.splice(0)) end.write(w);
    if (this.pendingEnd) end.end();
  }

  /** @internal */
  refused(code: NetErrorCode): void {
    this.error = code;
  }

  write(data: Buffer | string): void {
    const b = Buffer.from(data);
    if (this.end && this.connected) this.end.write(b);
    else this.pendingWrites.push(b);
  }

  /** Sends FIN after everything written. */
  finish(): void {
    if (this.end && this.connected) this.end.end();
    else this.pendingEnd = true;
  }

  /** Aborts the connection with RST. */
  reset(): void {
    this.end?.reset();
  }

  /** Stops reading: the window toward us fills and the device's sends back up. */
  pause(): void {
    this.pausedReading = true;
  }

  resume(): void {
    this.pausedReading = false;
    this.net.clock.later(() => this.end && this.onReadable(this.end));
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  sha256(): string {
    return this.hash.copy().digest('hex');
  }

  /** Bytes written and not yet in flight (backpressure from the other side). */
  get unsent(): number {
    return (this.end?.unsent ?? 0) + this.pendingWrites.reduce((n, b) => n + b.length, 0);
  }

  /** @internal */
  onReadable(end: TcpEnd): void {
    if (this.pausedReading) return;
    while (end.readable > 0) {
      const data = end.read();
      this.bytesReceived += data.length;
      this.hash.update(data);
      this.chunks.push(data);
      this.onData?.(data);
    }
    if (end.eof) this.ended = true;
  }
  /** @internal */
  onDrained(): void {}
  /** @internal */
  onReset(): void {
    this.error = 'ECONNRESET';
  }
  /** @internal */
  onFinDelivered(): void {}
}

// ============================================================================ device backend

interface ConnHandle {
  kind: 'tcp';
  end: TcpEnd | null;
  /** Set until the connection is established (outgoing connect). */
  connecting: boolean;
  paused: boolean;
  finReported: boolean;
  closedReported: boolean;
}
interface ListenerHandle {
  kind: 'listener';
  local: Addr;
}
interface UdpHandle {
  kind: 'udp';
  local: Addr;
  broadcast: boolean;
  reuseAddr: boolean;
}
type DeviceHandle = ConnHandle | ListenerHandle | UdpHandle;

export interface VirtualBackendOptions {
  /** The device's IPv4 address (default 10.0.0.1, 10.0.0.2 ... for further backends). */
  address?: string;
  /** The device's IPv6 address (default fd00::1, ...). */
  address6?: string;
}

/** One device's attachment to the virtual network: a NetworkBackend. */
export class VirtualBackend implements NetworkBackend {
  readonly name = 'virtual' as const;
  private listener: ((event: NetworkEvent) => void) | null = null;
  private readonly handles = new Map<number, DeviceHandle>();
  private nextIncoming = INCOMING_HANDLE_BASE;
  private closed = false;
  /** How many actions of each kind were performed (for tests). */
  readonly actionCounts: Record<string, number> = {};

  constructor(
    private readonly net: VirtualNetwork,
    readonly address: string,
    readonly address6: string,
  ) {}

  onEvent(listener: (event: NetworkEvent) => void): void {
    this.listener = listener;
  }

  ownAddress(family: number): string {
    return family === 6 ? this.address6 : this.address;
  }

  /** @internal Delivers an event now (only ever called from a clock task). */
  emit(event: NetworkEvent): void {
    if (!this.closed) this.listener?.(event);
  }

  /** @internal */
  emitLater(event: NetworkEvent): void {
    this.net.clock.later(() => this.emit(event));
  }

  perform(action: NetworkAction): void {
    if (this.closed) return;
    this.actionCounts[action.kind] = (this.actionCounts[action.kind] ?? 0) + 1;
    switch (action.kind) {
      case 'tcp-listen':
        this.listen(action.handle, action.local);
        return;
      case 'tcp-connect':
        this.connect(action.handle, action.remote, action.local, action.timeoutMs);
        return;
      case 'tcp-send': {
        const h = this.handles.get(action.handle);
        if (h?.kind === 'tcp' && h.end) h.end.write(Buffer.from(action.data));
        return;
      }
      case 'tcp-end': {
        const h = this.handles.get(action.handle);
        if (h?.kind === 'tcp' && h.end) h.end.end();
        return;
      }
      case 'tcp-pause': {
        const h = this.handles.get(action.handle);
        if (h?.kind === 'tcp') h.paused = true;
        return;
      }
      case 'tcp-resume': {
        const h = this.handles.get(action.handle);
        if (h?.kind === 'tcp') {
          h.paused = false;
          this.net.clock.later(() => this.deliver(action.handle));
        }
        return;
      }
      case 'tcp-setopt':
        return;
      case 'udp-bind':
        this.udpBind(action.handle, action.local, action.reuseAddr, action.broadcast);
        return;
      case 'udp-send':
        this.udpSend(action.handle, action.to, action.data);
        return;
      case 'close':
        this.release(action.handle, action.reset);
        return;
    }
  }

  async close(): Promise<void> {
    for (const handle of [...this.handles.keys()]) this.release(handle, true);
    this.closed = true;
    this.net.detach(this);
  }

  // ---- TCP

  private listen(handle: number, local: Addr): void {
    const err = this.checkLocal(local);
    if (err) {
      this.emitLater({ kind: 'listen-result', handle, error: err });
      return;
    }
    const port = local.port || this.net.ephemeralPort();
    const bound: Addr = { family: local.family, address: local.address, port };
    for (const h of this.handles.values()) {
      if (h.kind === 'listener' && h.local.family === bound.family && h.local.port === port) {
        this.emitLater({ kind: 'listen-result', handle, error: 'EADDRINUSE' });
        return;
      }
    }
    this.handles.set(handle, { kind: 'listener', local: bound });
    this.emitLater({ kind: 'listen-result', handle, local: bound });
  }

  private checkLocal(local: Addr): NetErrorCode | null {
    if (local.family !== 4 && local.family !== 6) return 'EAFNOSUPPORT';
    if (!isAny(local.address) && local.address !== this.ownAddress(local.family)) return 'EADDRNOTAVAIL';
    return null;
  }

  /** @internal A listener of this device accepting `to`, if any. */
  listenerFor(to: Addr): number | undefined {
    if (to.address !== this.ownAddress(to.family)) return undefined;
    for (const [handle, h] of this.handles) {
      if (h.kind === 'listener' && h.local.family === to.family && h.local.port === to.port) return handle;
    }
    return undefined;
  }

  /** @internal A UDP socket of this device bound to `to`, if any. */
  udpFor(to: Addr): number | undefined {
    if (to.address !== this.ownAddress(to.family)) return undefined;
    for (const [handle, h] of this.handles) {
      if (h.kind === 'udp' && h.local.family === to.family && h.local.port === to.port) return handle;
    }
    return undefined;
  }

  private connect(handle: number, remote: Addr, local: Addr | null, timeoutMs: number): void {
    const conn: ConnHandle = {
      kind: 'tcp',
      end: null,
      connecting: true,
      paused: false,
      finReported: false,
      closedReported: false,
    };
    this.handles.set(handle, conn);
    const src: Addr = {
      family: remote.family,
      address: local && !isAny(local.address) ? local.address : this.ownAddress(remote.family),
      port: local?.port || this.net.ephemeralPort(),
    };
    const alive = () => this.handles.get(handle) === conn;
    const result = (error: NetErrorCode) => {
      if (alive()) {
        this.handles.delete(handle);
        this.emit({ kind: 'connect-result', handle, error });
      }
    };
    const lat = this.net.latency();
    this.net.clock.schedule(this.net.clock.now() + lat, () => {
      if (!alive()) return;
      const outcome = this.net.openConnection(src, remote, (end) => {
        conn.end = end;
        end.owner = this.deviceOwner(handle);
      });
      if (outcome === 'timeout') {
        this.net.clock.schedule(this.net.clock.now() - lat + timeoutMs, () => result('ETIMEDOUT'));
        return;
      }
      // The answer (SYN-ACK or RST) travels back.
      this.net.clock.schedule(this.net.clock.now() + this.net.latency(), () => {
        if (outcome !== 'ok') return result(outcome);
        if (!alive()) {
          conn.end?.reset();
          return;
        }
        conn.connecting = false;
        this.emit({ kind: 'connect-result', handle, local: src, remote });
        this.deliver(handle);
      });
    });
  }

  /** @internal A connection arrived on one of our listeners. */
  incoming(listener: number, end: TcpEnd): void {
    const handle = this.nextIncoming++;
    const conn: ConnHandle = {
      kind: 'tcp',
      end,
      connecting: false,
      paused: false,
      finReported: false,
      closedReported: false,
    };
    this.handles.set(handle, conn);
    end.owner = this.deviceOwner(handle);
    this.emit({ kind: 'incoming', listener, handle, local: end.local, remote: end.remote });
  }

  private deviceOwner(handle: number): EndOwner {
    return {
      onReadable: () => this.deliver(handle),
      onDrained: (_end, bytes) => {
        const h = this.handles.get(handle);
        if (h?.kind === 'tcp') this.emitLater({ kind: 'sent', handle, bytes });
      },
      onReset: () => {
        const h = this.handles.get(handle);
        if (h?.kind !== 'tcp') return;
        this.handles.delete(handle);
        this.emit({ kind: 'closed', handle, error: 'ECONNRESET' });
      },
      onFinDelivered: () => this.maybeClosed(handle),
    };
  }

  /** Hands unread data (and then FIN) to the device unless it paused reading. */
  private deliver(handle: number): void {
    const h = this.handles.get(handle);
    if (h?.kind !== 'tcp' || !h.end || h.connecting || h.paused) return;
    const end = h.end;
    while (end.readable > 0 && !h.paused) {
      this.emit({ kind: 'data', handle, data: end.read(this.net.segmentBytes) });
      if (this.handles.get(handle) !== h) return; // closed by the device meanwhile
    }
    if (end.eof && !h.finReported && !h.paused) {
      h.finReported = true;
      this.emit({ kind: 'peer-end', handle });
      this.maybeClosed(handle);
    }
  }

  /** Both FINs are through: the connection is over ('closed' without error). */
  private maybeClosed(handle: number): void {
    const h = this.handles.get(handle);
    if (h?.kind !== 'tcp' || !h.end || !h.finReported || !h.end.finDelivered || h.closedReported) return;
    h.closedReported = true;
    this.handles.delete(handle);
    this.emit({ kind: 'closed', handle });
  }

  private release(handle: number, reset: boolean): void {
    const h = this.handles.get(handle);
    if (!h) return;
    this.handles.delete(handle);
    if (h.kind !== 'tcp' || !h.end) return;
    const end = h.end;
    if (reset) {
      end.reset();
      return;
    }
    // Graceful: FIN after what was written; whatever still arrives is read and discarded.
    end.owner = {
      onReadable: (e) => {
        e.read();
      },
      onDrained: () => {},
      onReset: () => {},
      onFinDelivered: () => {},
    };
    end.read();
    end.end();
  }

  // ---- UDP

  private udpBind(handle: number, local: Addr, reuseAddr: boolean, broadcast: boolean): void {
    const err = this.checkLocal(local);
    if (err) {
      this.emitLater({ kind: 'bind-result', handle, error: err });
      return;
    }
    const port = local.port || this.net.ephemeralPort();
    for (const h of this.handles.values()) {
      if (
        h.kind === 'udp' &&
        h.local.family === local.family &&
        h.local.port === port &&
        !(reuseAddr && h.reuseAddr)
      ) {
        this.emitLater({ kind: 'bind-result', handle, error: 'EADDRINUSE' });
        return;
      }
    }
    const bound: Addr = { family: local.family, address: local.address, port };
    this.handles.set(handle, { kind: 'udp', local: bound, broadcast, reuseAddr });
    this.emitLater({ kind: 'bind-result', handle, local: bound });
  }

  private udpSend(handle: number, to: Addr, data: Buffer): void {
    const h = this.handles.get(handle);
    if (h?.kind !== 'udp') return;
    if (to.address === '255.255.255.255' && !h.broadcast) {
      this.emitLater({ kind: 'send-error', handle, error: 'EACCES' });
      return;
    }
    const from: Addr = isAny(h.local.address)
      ? { ...h.local, address: this.ownAddress(h.local.family) }
      : h.local;
    this.net.sendDatagram(from, to, Buffer.from(data));
    this.emitLater({ kind: 'sent', handle, bytes: data.length });
  }

  /** @internal A datagram for one of our UDP handles. */
  datagram(handle: number, from: Addr, data: Buffer): void {
    if (this.handles.get(handle)?.kind === 'udp') this.emit({ kind: 'datagram', handle, from, data });
  }
}

// ============================================================================ the network

export interface VirtualNetworkOptions {
  /** PRNG seed (jitter, UDP loss). Default 1. */
  seed?: number;
  /** One-way latency in ms. Default 1. */
  latencyMs?: number;
  /** Up to this many extra ms per segment/datagram (random, order kept for TCP). Default 0. */
  jitterMs?: number;
  /** Probability that a UDP datagram is lost. Default 0. */
  udpLoss?: number;
  /** Network tick (slow readers, onTick hooks). Default 1 ms. */
  tickMs?: number;
  /** TCP window per direction. Default 64 KiB. */
  windowBytes?: number;
  /** Largest TCP segment. Default 16 KiB. */
  segmentBytes?: number;
  /** Clock start. Default 0. */
  startTime?: number;
}

export class VirtualNetwork {
  readonly clock: VirtualClock;
  readonly prng: Prng;
  latencyMs: number;
  jitterMs: number;
  udpLoss: number;
  readonly windowBytes: number;
  readonly segmentBytes: number;
  /** Datagrams lost to udpLoss or sent to nobody. */
  datagramsLost = 0;
  private readonly backends: VirtualBackend[] = [];
  private readonly tcpEndpoints = new Map<string, TcpEndpoint>();
  private readonly udpEndpoints = new Map<string, { behaviour: UdpBehaviour; stats: PeerStats }>();
  /** @internal */
  readonly slowEnds = new Map<ScriptedEnd, TcpEnd>();
  private nextPort = 49152;
  private backendCount = 0;

  constructor(opts: VirtualNetworkOptions = {}) {
    this.clock = new VirtualClock(opts.startTime ?? 0, opts.tickMs ?? 1);
    this.prng = new Prng(opts.seed ?? 1);
    this.latencyMs = opts.latencyMs ?? 1;
    this.jitterMs = opts.jitterMs ?? 0;
    this.udpLoss = opts.udpLoss ?? 0;
    this.windowBytes = opts.windowBytes ?? 64 * 1024;
    this.segmentBytes = opts.segmentBytes ?? 16 * 1024;
    this.clock.onTick(() => {
      for (const [owner, end] of this.slowEnds) owner.tick(end);
    });
  }

  now(): number {
    return this.clock.now();
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  runUntil(pred: () => boolean, maxMs?: number): boolean {
    return this.clock.runUntil(pred, maxMs);
  }

  onTick(fn: (now: number) => void): void {
    this.clock.onTick(fn);
  }

  /** A device attachment with its own addresses. */
  backend(opts: VirtualBackendOptions = {}): VirtualBackend {
    const n = ++this.backendCount;
    const b = new VirtualBackend(this, opts.address ?? `10.0.0.${n}`, opts.address6 ?? `fd00::${n}`);
    this.backends.push(b);
    return b;
  }

  /** @internal */
  detach(b: VirtualBackend): void {
    const i = this.backends.indexOf(b);
    if (i >= 0) this.backends.splice(i, 1);
  }

  /** @internal */
  ephemeralPort(): number {
    const p = this.nextPort;
    this.nextPort = p >= 65535 ? 49152 : p + 1;
    return p;
  }

  /** @internal One-way delay for the next segment. */
  latency(): number {
    return this.latencyMs + (this.jitterMs > 0 ? this.prng.nextInt(this.jitterMs + 1) : 0);
  }

  /** @internal In-order arrival time for the next thing sent through `pipe`. */
  arrivalTime(pipe: Pipe): number {
    const at = Math.max(this.clock.now() + this.latency(), pipe.lastArrival);
    pipe.lastArrival = at;
    return at;
  }

  // ---- scripted peers

  private addTcp(addr: AddrLike, behaviour: TcpBehaviour): PeerStats {
    const a = toAddr(addr);
    const stats = new PeerStats(a);
    this.tcpEndpoints.set(addrKey(a), { behaviour, stats });
    return stats;
  }

  /** TCP and UDP echo at addr. */
  echoServer(addr: AddrLike): PeerStats {
    const stats = this.addTcp(addr, { kind: 'echo' });
    this.udpEndpoints.set(addrKey(toAddr(addr)), { behaviour: { kind: 'echo' }, stats });
    return stats;
  }

  /** TCP and UDP: reads and counts everything (sha256 of all received bytes). */
  sink(addr: AddrLike): PeerStats {
    const stats = this.addTcp(addr, { kind: 'sink' });
    this.udpEndpoints.set(addrKey(toAddr(addr)), { behaviour: { kind: 'sink' }, stats });
    return stats;
  }

  /** TCP: reads at most bytesPerTick per network tick. */
  slowReader(addr: AddrLike, bytesPerTick: number): PeerStats {
    return this.addTcp(addr, { kind: 'slow', bytesPerTick });
  }

  /** TCP: echoes, and resets the connection once it has received `bytes` bytes. */
  resetAfter(addr: AddrLike, bytes: number): PeerStats {
    return this.addTcp(addr, { kind: 'resetAfter', bytes });
  }

  /** TCP: connections are refused (RST to the SYN). */
  refusing(addr: AddrLike): PeerStats {
    return this.addTcp(addr, { kind: 'refuse' });
  }

  /** TCP: connection attempts are never answered. */
  blackhole(addr: AddrLike): PeerStats {
    return this.addTcp(addr, { kind: 'blackhole' });
  }

  /** UDP: an endpoint a test sends from and receives at. */
  udpPeer(addr: AddrLike): UdpPeer {
    const a = toAddr(addr);
    const peer = new UdpPeer(this, a);
    this.udpEndpoints.set(addrKey(a), { behaviour: { kind: 'peer', peer }, stats: peer.stats });
    return peer;
  }

  /** Removes a scripted peer (TCP and UDP) at addr. */
  remove(addr: AddrLike): void {
    const k = addrKey(toAddr(addr));
    this.tcpEndpoints.delete(k);
    this.udpEndpoints.delete(k);
  }

  /** A virtual client connecting to `to` (a device listener or a scripted peer). */
  connect(to: AddrLike, opts: { from?: AddrLike } = {}): VirtualClient {
    const remote = toAddr(to);
    const local = opts.from ? toAddr(opts.from) : this.clientAddr(remote.family);
    const client = new VirtualClient(this, remote, local);
    this.clock.schedule(this.clock.now() + this.latency(), () => {
      const outcome = this.openConnection(local, remote, (end) => client.attach(end));
      if (outcome === 'timeout') return;
      this.clock.schedule(this.clock.now() + this.latency(), () => {
        if (outcome === 'ok') client.established();
        else client.refused(outcome);
      });
    });
    return client;
  }

  private clientAddr(family: 0 | 4 | 6): Addr {
    return family === 6
      ? { family: 6, address: 'fd00::9:9', port: this.ephemeralPort() }
      : { family: 4, address: '10.9.9.9', port: this.ephemeralPort() };
  }

  /**
   * @internal A SYN from `src` reached `dst`. Creates the connection if someone accepts it; `attachSrc`
   * receives the initiator's end. The acceptor learns about it now; the initiator after the return trip.
   */
  openConnection(src: Addr, dst: Addr, attachSrc: (end: TcpEnd) => void): 'ok' | 'timeout' | NetErrorCode {
    const ep = this.tcpEndpoints.get(addrKey(dst));
    if (ep?.behaviour.kind === 'blackhole') return 'timeout';
    if (ep && ep.behaviour.kind !== 'refuse') {
      const [a, b] = this.makeConn(src, dst);
      attachSrc(a);
      const owner = new ScriptedEnd(this, ep);
      b.owner = owner;
      ep.stats.connections++;
      if (ep.behaviour.kind === 'slow') this.slowEnds.set(owner, b);
      return 'ok';
    }
    if (!ep) {
      for (const backend of this.backends) {
        const listener = backend.listenerFor(dst);
        if (listener === undefined) continue;
        const [a, b] = this.makeConn(src, dst);
        attachSrc(a);
        backend.incoming(listener, b);
        return 'ok';
      }
    }
    return 'ECONNREFUSED';
  }

  private makeConn(src: Addr, dst: Addr): [TcpEnd, TcpEnd] {
    const ab = new Pipe();
    const ba = new Pipe();
    const a = new TcpEnd(this, ab, ba, src, dst);
    const b = new TcpEnd(this, ba, ab, dst, src);
    ab.from = a;
    ab.to = b;
    ba.from = b;
    ba.to = a;
    return [a, b];
  }

  /** @internal Moves bytes (then FIN) from the sender's buffer into flight while the window allows. */
  pumpPipe(pipe: Pipe): void {
    const from = pipe.from;
    const to = pipe.to;
    if (from.dead) return;
    let moved = 0;
    while (pipe.unsentBytes > 0) {
      const room = this.windowBytes - pipe.inflightBytes - pipe.unreadBytes;
      if (room <= 0) break;
      const n = Math.min(pipe.unsentBytes, room, this.segmentBytes);
      const chunk = takeBytes(pipe, n);
      pipe.inflightBytes += n;
      moved += n;
      this.clock.schedule(this.arrivalTime(pipe), () => {
        pipe.inflightBytes -= n;
        if (to.dead) return;
        pipe.unread.push(chunk);
        pipe.unreadBytes += n;
        to.owner?.onReadable(to);
      });
    }
    if (moved > 0) this.clock.later(() => from.owner?.onDrained(from, moved));
    if (pipe.unsentBytes === 0 && pipe.finQueued && !pipe.finSent) {
      pipe.finSent = true;
      this.clock.schedule(this.arrivalTime(pipe), () => {
        if (to.dead) return;
        pipe.finArrived = true;
        from.finDelivered = true;
        to.owner?.onReadable(to);
        from.owner?.onFinDelivered(from);
      });
    }
  }

  // ---- UDP

  /** @internal A datagram leaves `from` for `to` (lost with probability udpLoss). */
  sendDatagram(from: Addr, to: Addr, data: Buffer): void {
    if (this.prng.chance(this.udpLoss)) {
      this.datagramsLost++;
      return;
    }
    this.clock.schedule(this.clock.now() + this.latency(), () => this.arriveDatagram(from, to, data));
  }

  private arriveDatagram(from: Addr, to: Addr, data: Buffer): void {
    const ep = this.udpEndpoints.get(addrKey(to));
    if (ep) {
      ep.stats.datagramsReceived++;
      ep.stats.record(data);
      if (ep.behaviour.kind === 'echo') {
        ep.stats.bytesSent += data.length;
        this.sendDatagram(to, from, data);
      } else if (ep.behaviour.kind === 'peer') {
        ep.behaviour.peer.datagrams.push({ from, data });
      }
      return;
    }
    for (const backend of this.backends) {
      const handle = backend.udpFor(to);
      if (handle !== undefined) {
        backend.datagram(handle, from, data);
        return;
      }
    }
    this.datagramsLost++;
  }
}

function takeBytes(pipe: Pipe, n: number): Buffer {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const c = pipe.unsent[0]!;
    const k = Math.min(c.length, n - got);
    parts.push(c.subarray(0, k));
    if (k === c.length) pipe.unsent.shift();
    else pipe.unsent[0] = c.subarray(k);
    got += k;
  }
  pipe.unsentBytes -= n;
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
