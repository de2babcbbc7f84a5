/**
 * NetworkBackend on the machine's real OS network (node:net, node:dgram).
 *
 * - TCP client: connect with a timeout (→ ETIMEDOUT), optional local address/port, TCP_NODELAY, keep-alive.
 * - TCP server: listen with a backlog; each accepted connection gets a handle from INCOMING_HANDLE_BASE up.
 * - UDP: bind, send, receive (IPv4 sockets are udp4, IPv6 sockets udp6 with ipv6Only).
 * - Flow control: 'tcp-pause' stops reading (socket.pause(): once Node's small read buffer is full libuv stops
 *   reading, the kernel receive buffer fills and the TCP window closes, so backpressure reaches the peer).
 * - 'sent' is reported from the write callback, i.e. when the kernel took the bytes.
 * - FIN vs RST: 'tcp-end' and a graceful 'close' send FIN after queued writes; 'close' with reset sends RST
 *   (socket.resetAndDestroy()).
 * - Errors are mapped to protocol status code names (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EADDRINUSE, ...).
 *
 * Received data is never lost to the backend: when a connection dies (e.g. the peer resets it) while Node still
 * holds bytes it read but did not hand out (because the connection was paused), those bytes are salvaged and
 * delivered, in order, before the 'closed' event, once DeviceCore resumes reading.
 *
 * Events are always delivered asynchronously (never from inside perform()), so DeviceCore is never re-entered.
 *
 * Limits of the host OS backend, documented rather than emulated:
 * - libuv always sets SO_REUSEADDR on TCP listeners, so `reuseAddr: false` cannot refuse to rebind a port that
 *   still has TIME_WAIT connections; two live listeners on one port still get EADDRINUSE either way.
 * - Node accepts every connection the kernel completes; the listen backlog a host asks for is enforced by
 *   DeviceCore's connection queue, the kernel backlog is only the value passed to listen(2).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { pino, type Logger } from 'pino';
import type { Addr, StatusCodeName } from '../../src/protocol/index.js';
import {
  INCOMING_HANDLE_BASE,
  type NetErrorCode,
  type NetworkAction,
  type NetworkBackend,
  type NetworkEvent,
} from './backend.js';

export interface HostBackendOptions {
  /** pino logger; the backend logs through a child { component: 'host-network' }. Silent by default. */
  logger?: Logger;
  /**
   * After a graceful close (FIN sent) the OS socket is kept until the FIN went out, at most this long, then
   * destroyed. Default 5000 ms.
   */
  lingerMs?: number;
}

interface ConnEntry {
  type: 'conn';
  handle: number;
  socket: net.Socket;
  connected: boolean;
  /** DeviceCore asked us to stop reading. */
  paused: boolean;
  /** Bytes read from the OS but not yet delivered (salvaged after the connection died). */
  held: Buffer[];
  /** The connection is gone; the 'closed' event waits until `held` is delivered. */
  heldClose: { error?: NetErrorCode } | null;
  error?: NetErrorCode;
  timer?: NodeJS.Timeout;
  flushScheduled: boolean;
}
interface ListenerEntry {
  type: 'listener';
  handle: number;
  server: net.Server;
  listening: boolean;
}
interface UdpEntry {
  type: 'udp';
  handle: number;
  socket: dgram.Socket;
  family: 4 | 6;
  bound: boolean;
  broadcast: boolean;
}
type Entry = ConnEntry | ListenerEntry | UdpEntry;

const NODE_ERROR_MAP: Readonly<Record<string, StatusCodeName>> = {
  ECONNREFUSED: 'ECONNREFUSED',
  ECONNRESET: 'ECONNRESET',
  ETIMEDOUT: 'ETIMEDOUT',
  EADDRINUSE: 'EADDRINUSE',
  EADDRNOTAVAIL: 'EADDRNOTAVAIL',
  ENETUNREACH: 'ENETUNREACH',
  ENETDOWN: 'ENETUNREACH',
  ENONET: 'ENETUNREACH',
  EHOSTUNREACH: 'EHOSTUNREACH',
  EHOSTDOWN: 'EHOSTUNREACH',
  ENOTFOUND: 'EHOSTUNREACH',
  EAI_AGAIN: 'EHOSTUNREACH',
  EAI_NONAME: 'EHOSTUNREACH',
  EACCES: 'EACCES',
  EPERM: 'EACCES',
  EPIPE: 'EPIPE',
  ERR_STREAM_DESTROYED: 'EPIPE',
  ERR_STREAM_WRITE_AFTER_END: 'EPIPE',
  ECONNABORTED: 'ECONNABORTED',
  ECANCELED: 'ECONNABORTED',
  EAFNOSUPPORT: 'EAFNOSUPPORT',
  ERR_SOCKET_BAD_PORT: 'E_INVALID',
  ERR_INVALID_ARG_VALUE: 'E_INVALID',
  ERR_INVALID_IP_ADDRESS: 'E_INVALID',
  EINVAL: 'E_INVALID',
  EMSGSIZE: 'EMSGSIZE',
  ENOTCONN: 'ENOTCONN',
  EISCONN: 'EISCONN',
  EALREADY: 'EALREADY',
  ENOBUFS: 'E_QUEUE_FULL',
  ENOMEM: 'E_QUEUE_FULL',
  EMFILE: 'E_NO_SLOT',
  ENFILE: 'E_NO_SLOT',
};

/** Maps a Node / libuv error to a protocol status code name (E_INTERNAL when there is no better one). */
export function mapNodeError(err: unknown): NetErrorCode {
  const code = err && typeof err === 'object' && 'code' in err ? (err as { code: unknown }).code : undefined;
  if (typeof code === 'string' && code in NODE_ERROR_MAP) return NODE_ERROR_MAP[code]!;
  return 'E_INTERNAL';
}

/** An OS address (as net/dgram report it) → protocol Addr. Zone ids (fe80::1%eth0) are dropped. */
export function toAddr(address: string | undefined, port: number | undefined): Addr {
  if (!address) return { family: 0, port: 0, address: '' };
  const text = address.replace(/%.*$/, '');
  const kind = net.isIP(text);
  if (kind === 4) return { family: 4, port: port ?? 0, address: text };
  if (kind === 6) return { family: 6, port: port ?? 0, address: text };
  return { family: 0, port: 0, address: '' };
}

/** The host text for a protocol Addr; the wildcard for its family when the address is empty. */
function hostOf(a: Addr): string | undefined {
  if (a.family === 0) return undefined;
  if (a.address !== '') return a.address;
  return a.family === 4 ? '0.0.0.0' : '::';
}

function isWildcard(a: Addr): boolean {
  return a.family === 0 || a.address === '' || a.address === '0.0.0.0' || a.address === '::';
}

export class HostBackend implements NetworkBackend {
  readonly name = 'host' as const;
  private listener: ((event: NetworkEvent) => void) | undefined;
  private readonly entries = new Map<number, Entry>();
  /** Sockets released gracefully (FIN in flight): no events, destroyed on close(). */
  private readonly lingering = new Set<net.Socket>();
  private nextIncoming = INCOMING_HANDLE_BASE;
  private closed = false;
  private readonly log: Logger;
  private readonly lingerMs: number;

  constructor(options: HostBackendOptions = {}) {
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'host-network' });
    this.lingerMs = options.lingerMs ?? 5000;
  }

  onEvent(listener: (event: NetworkEvent) => void): void {
    this.listener = listener;
  }

  /** Number of live handles (for tests and diagnostics). */
  get handleCount(): number {
    return this.entries.size;
  }

  /** The handles of live TCP connections (for fault injection: reset every peer connection). */
  connectionHandles(): number[] {
    return [...this.entries.values()].filter((e) => e.type === 'conn').map((e) => e.handle);
  }

  /**
   * Fault injection: abort a live TCP connection with RST as if the network/peer did, and report it to
   * DeviceCore as a 'closed' event with ECONNRESET (unlike the 'close' action, which is silent).
   */
  resetConnection(handle: number): boolean {
    const e = this.entries.get(handle);
    if (e?.type !== 'conn' || !e.connected) return false;
    this.log.info({ handle }, 'fault: resetting connection');
    e.error = 'ECONNRESET';
    this.abortSocket(e.socket);
    return true;
  }

  perform(action: NetworkAction): void {
    if (this.closed) return;
    try {
      this.performUnsafe(action);
    } catch (err) {
      // A bug or an unexpected synchronous throw from Node: answer what expects an answer, never throw at the core.
      this.log.error({ err, action: action.kind, handle: action.handle }, 'network action failed');
      const error = mapNodeError(err);
      switch (action.kind) {
        case 'tcp-listen':
          this.forget(action.handle);
          this.emitSoon({ kind: 'listen-result', handle: action.handle, error });
          break;
        case 'tcp-connect':
          this.forget(action.handle);
          this.emitSoon({ kind: 'connect-result', handle: action.handle, error });
          break;
        case 'udp-bind':
          this.forget(action.handle);
          this.emitSoon({ kind: 'bind-result', handle: action.handle, error });
          break;
        case 'udp-send':
          this.emitSoon({ kind: 'send-error', handle: action.handle, error });
          break;
        default:
          break;
      }
    }
  }

  private performUnsafe(action: NetworkAction): void {
    switch (action.kind) {
      case 'tcp-listen':
        this.listen(action);
        return;
      case 'tcp-connect':
        this.connect(action);
        return;
      case 'tcp-send': {
        const e = this.conn(action.handle, action.kind);
        if (!e) return;
        const bytes = action.data.length;
        if (e.socket.destroyed || e.socket.writableEnded) {
          this.emitSoon({ kind: 'send-error', handle: e.handle, error: 'EPIPE' });
          return;
        }
        e.socket.write(action.data, (err) => {
          // On failure the connection is being destroyed: its 'closed' event reports why.
          if (!err && this.entries.get(e.handle) === e) this.emit({ kind: 'sent', handle: e.handle, bytes });
        });
        return;
      }
      case 'tcp-end': {
        const e = this.conn(action.handle, action.kind);
        if (e && !e.socket.destroyed && !e.socket.writableEnded) e.socket.end();
        return;
      }
      case 'tcp-pause': {
        const e = this.conn(action.handle, action.kind);
        if (!e) return;
        e.paused = true;
        e.socket.pause();
        return;
      }
      case 'tcp-resume': {
        const e = this.conn(action.handle, action.kind);
        if (!e) return;
        e.paused = false;
        if (e.held.length > 0 || e.heldClose) this.scheduleFlush(e);
        else e.socket.resume();
        return;
      }
      case 'tcp-setopt': {
        const e = this.conn(action.handle, action.kind);
        if (!e || e.socket.destroyed) return;
        if (action.noDelay !== undefined) e.socket.setNoDelay(action.noDelay);
        if (action.keepAliveMs !== undefined)
          e.socket.setKeepAlive(action.keepAliveMs > 0, action.keepAliveMs);
        return;
      }
      case 'udp-bind':
        this.udpBind(action);
        return;
      case 'udp-send':
        this.udpSend(action);
        return;
      case 'close':
        this.release(action.handle, action.reset);
        return;
    }
  }

  private conn(handle: number, what: string): ConnEntry | undefined {
    const e = this.entries.get(handle);
    if (e?.type === 'conn') return e;
    this.log.debug({ handle, action: what }, 'action on an unknown or non-TCP-connection handle ignored');
    return undefined;
  }

  private claim(handle: number): void {
    if (this.entries.has(handle)) {
      this.log.warn({ handle }, 'handle reused while still open; releasing the old one');
      this.release(handle, true);
    }
  }

  // ---------------------------------------------------------------- TCP client

  private connect(a: Extract<NetworkAction, { kind: 'tcp-connect' }>): void {
    this.claim(a.handle);
    const host = hostOf(a.remote);
    if (host === undefined || isWildcard(a.remote)) {
      this.emitSoon({
        kind: 'connect-result',
        handle: a.handle,
        error: a.remote.family === 0 ? 'EAFNOSUPPORT' : 'E_INVALID',
      });
      return;
    }
    if (a.remote.port < 1 || a.remote.port > 65535) {
      this.emitSoon({ kind: 'connect-result', handle: a.handle, error: 'E_INVALID' });
      return;
    }
    if (a.local && a.local.family !== 0 && a.local.family !== a.remote.family) {
      this.emitSoon({ kind: 'connect-result', handle: a.handle, error: 'EAFNOSUPPORT' });
      return;
    }
    const opts: net.NetConnectOpts = {
      host,
      port: a.remote.port,
      family: a.remote.family,
      allowHalfOpen: true,
      noDelay: a.noDelay,
      keepAlive: a.keepAliveMs > 0,
      keepAliveInitialDelay: Math.max(0, a.keepAliveMs),
    };
    if (a.local && a.local.family !== 0) {
      if (!isWildcard(a.local)) opts.localAddress = a.local.address;
      if (a.local.port > 0) {
        opts.localPort = a.local.port;
        opts.localAddress ??= a.local.family === 4 ? '0.0.0.0' : '::';
      }
    }
    const socket = new net.Socket({ allowHalfOpen: true });
    const e: ConnEntry = {
      type: 'conn',
      handle: a.handle,
      socket,
      connected: false,
      paused: false,
      held: [],
      heldClose: null,
      flushScheduled: false,
    };
    this.entries.set(a.handle, e);
    if (a.timeoutMs > 0) {
      e.timer = setTimeout(() => {
        if (this.entries.get(e.handle) !== e || e.connected) return;
        this.log.debug({ handle: e.handle, timeoutMs: a.timeoutMs }, 'connect timed out');
        this.entries.delete(e.handle);
        socket.destroy();
        this.emit({ kind: 'connect-result', handle: e.handle, error: 'ETIMEDOUT' });
      }, a.timeoutMs);
    }
    socket.once('connect', () => {
      clearTimeout(e.timer);
      if (this.entries.get(e.handle) !== e) return;
      e.connected = true;
      this.emit({
        kind: 'connect-result',
        handle: e.handle,
        local: toAddr(socket.localAddress, socket.localPort),
        remote: toAddr(socket.remoteAddress, socket.remotePort),
      });
    });
    this.wireConnection(e);
    socket.connect(opts);
  }

  // ---------------------------------------------------------------- TCP server

  private listen(a: Extract<NetworkAction, { kind: 'tcp-listen' }>): void {
    this.claim(a.handle);
    const server = net.createServer({ allowHalfOpen: true });
    const e: ListenerEntry = { type: 'listener', handle: a.handle, server, listening: false };
    this.entries.set(a.handle, e);
    server.on('error', (err) => {
      if (this.entries.get(e.handle) !== e) return;
      if (!e.listening) {
        this.entries.delete(e.handle);
        server.close();
        this.emit({ kind: 'listen-result', handle: e.handle, error: mapNodeError(err) });
      } else {
        this.log.warn({ err, handle: e.handle }, 'listener error');
      }
    });
    server.on('connection', (socket) => this.incoming(e, socket));
    const host = hostOf(a.local);
    server.listen(
      {
        host,
        port: a.local.port,
        backlog: Math.max(1, a.backlog),
        // A family-6 socket accepts IPv6 only (no v4-mapped peers); family 0 means every address of both families.
        ipv6Only: a.local.family === 6,
      },
      () => {
        if (this.entries.get(e.handle) !== e) return;
        e.listening = true;
        const addr = server.address() as net.AddressInfo;
        this.emit({ kind: 'listen-result', handle: e.handle, local: toAddr(addr.address, addr.port) });
      },
    );
  }

  private incoming(listener: ListenerEntry, socket: net.Socket): void {
    if (this.entries.get(listener.handle) !== listener) {
      socket.destroy();
      return;
    }
    const handle = this.nextIncoming++;
    const e: ConnEntry = {
      type: 'conn',
      handle,
      socket,
      connected: true,
      paused: false,
      held: [],
      heldClose: null,
      flushScheduled: false,
    };
    this.entries.set(handle, e);
    this.wireConnection(e);
    this.emit({
      kind: 'incoming',
      listener: listener.handle,
      handle,
      local: toAddr(socket.localAddress, socket.localPort),
      remote: toAddr(socket.remoteAddress, socket.remotePort),
    });
  }

  // ---------------------------------------------------------------- connections (both directions)

  private wireConnection(e: ConnEntry): void {
    const { socket } = e;
    const live = () => this.entries.get(e.handle) === e;
    socket.on('data', (chunk: Buffer) => {
      if (!live()) return;
      if (e.paused || e.held.length > 0) e.held.push(chunk);
      else this.emit({ kind: 'data', handle: e.handle, data: chunk });
    });
    socket.on('end', () => {
      if (!live() || !e.connected) return;
      if (e.held.length > 0) {
        // Keep the order data → FIN: deliver the FIN after the held bytes.
        e.held.push(Buffer.alloc(0));
        return;
      }
      this.emit({ kind: 'peer-end', handle: e.handle });
    });
    socket.on('error', (err) => {
      if (!live()) return;
      e.error ??= mapNodeError(err);
      if (!e.connected) {
        clearTimeout(e.timer);
        this.entries.delete(e.handle);
        socket.destroy();
        this.emit({ kind: 'connect-result', handle: e.handle, error: e.error });
      }
    });
    socket.on('close', () => {
      clearTimeout(e.timer);
      if (!live() || !e.connected) return;
      this.salvage(e);
      e.heldClose = e.error ? { error: e.error } : {};
      if (e.paused && e.held.length > 0) {
        this.log.debug(
          { handle: e.handle, held: e.held.length },
          'connection gone while paused; holding data',
        );
        return;
      }
      this.flush(e);
    });
  }

  /** Moves bytes Node read but never handed out (paused stream) into `held`. */
  private salvage(e: ConnEntry): void {
    const s = e.socket as unknown as { readableLength: number; readableBuffer?: Iterable<unknown> };
    if (s.readableLength === 0 || !s.readableBuffer) return;
    try {
      for (const chunk of s.readableBuffer) {
        if (Buffer.isBuffer(chunk)) e.held.push(chunk);
        else if (chunk instanceof Uint8Array) e.held.push(Buffer.from(chunk));
      }
    } catch (err) {
      this.log.warn({ err, handle: e.handle }, 'could not salvage buffered bytes');
    }
  }

  private scheduleFlush(e: ConnEntry): void {
    if (e.flushScheduled) return;
    e.flushScheduled = true;
    setImmediate(() => {
      e.flushScheduled = false;
      this.flush(e);
    });
  }

  /** Delivers held bytes (an empty chunk stands for the peer's FIN) while not paused, then the held close. */
  private flush(e: ConnEntry): void {
    while (this.entries.get(e.handle) === e && !e.paused && e.held.length > 0) {
      const chunk = e.held.shift()!;
      if (chunk.length === 0) this.emit({ kind: 'peer-end', handle: e.handle });
      else this.emit({ kind: 'data', handle: e.handle, data: chunk });
    }
    if (this.entries.get(e.handle) !== e || e.paused || e.held.length > 0) return;
    if (e.heldClose) {
      this.entries.delete(e.handle);
      this.emit({ kind: 'closed', handle: e.handle, ...e.heldClose });
    } else {
      e.socket.resume();
    }
  }

  private abortSocket(socket: net.Socket): void {
    if (socket.destroyed) return;
    try {
      if (socket.connecting || socket.pending) socket.destroy();
      else socket.resetAndDestroy();
    } catch {
      socket.destroy();
    }
  }

  // ---------------------------------------------------------------- UDP

  private udpBind(a: Extract<NetworkAction, { kind: 'udp-bind' }>): void {
    this.claim(a.handle);
    const family = a.local.family === 6 ? 6 : 4;
    const socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      reuseAddr: a.reuseAddr,
      ipv6Only: family === 6,
    });
    const e: UdpEntry = {
      type: 'udp',
      handle: a.handle,
      socket,
      family,
      bound: false,
      broadcast: a.broadcast,
    };
    this.entries.set(a.handle, e);
    socket.on('error', (err) => {
      if (this.entries.get(e.handle) !== e) return;
      if (!e.bound) {
        this.entries.delete(e.handle);
        socket.close();
        this.emit({ kind: 'bind-result', handle: e.handle, error: mapNodeError(err) });
      } else {
        this.log.warn({ err, handle: e.handle }, 'UDP socket error');
      }
    });
    socket.on('message', (msg, rinfo) => {
      if (this.entries.get(e.handle) !== e) return;
      this.emit({ kind: 'datagram', handle: e.handle, from: toAddr(rinfo.address, rinfo.port), data: msg });
    });
    socket.bind({ address: hostOf({ ...a.local, family }), port: a.local.port, exclusive: true }, () => {
      if (this.entries.get(e.handle) !== e) return;
      e.bound = true;
      if (e.broadcast) socket.setBroadcast(true);
      const addr = socket.address();
      this.emit({ kind: 'bind-result', handle: e.handle, local: toAddr(addr.address, addr.port) });
    });
  }

  private udpSend(a: Extract<NetworkAction, { kind: 'udp-send' }>): void {
    const e = this.entries.get(a.handle);
    if (e?.type !== 'udp') {
      this.log.debug({ handle: a.handle }, 'udp-send on an unknown handle');
      this.emitSoon({ kind: 'send-error', handle: a.handle, error: 'E_INVALID' });
      return;
    }
    const host = hostOf(a.to);
    const family = e.family;
    if (host === undefined || a.to.family !== family || a.to.port < 1 || a.to.port > 65535) {
      this.emitSoon({
        kind: 'send-error',
        handle: a.handle,
        error: a.to.family !== family ? 'EAFNOSUPPORT' : 'E_INVALID',
      });
      return;
    }
    const bytes = a.data.length;
    e.socket.send(a.data, a.to.port, host, (err) => {
      if (this.entries.get(e.handle) !== e) return;
      if (err) this.emit({ kind: 'send-error', handle: e.handle, error: mapNodeError(err) });
      else this.emit({ kind: 'sent', handle: e.handle, bytes });
    });
  }

  // ---------------------------------------------------------------- release

  private forget(handle: number): void {
    const e = this.entries.get(handle);
    if (!e) return;
    this.entries.delete(handle);
    this.destroyEntry(e);
  }

  private release(handle: number, reset: boolean): void {
    const e = this.entries.get(handle);
    if (!e) return;
    this.entries.delete(handle);
    if (e.type !== 'conn') {
      this.destroyEntry(e);
      return;
    }
    clearTimeout(e.timer);
    const { socket } = e;
    if (socket.destroyed) return;
    if (reset || !e.connected) {
      this.abortSocket(socket);
      return;
    }
    // Graceful: FIN after everything written; unread input is discarded; the OS socket goes once FIN is out.
    this.lingering.add(socket);
    const done = () => {
      clearTimeout(timer);
      this.lingering.delete(socket);
      socket.destroy();
    };
    const timer = setTimeout(done, this.lingerMs);
    socket.once('finish', done);
    socket.once('close', done);
    socket.resume();
    if (!socket.writableEnded) socket.end();
    else if (socket.writableFinished) done();
  }

  private destroyEntry(e: Entry): void {
    switch (e.type) {
      case 'conn':
        clearTimeout(e.timer);
        e.socket.destroy();
        break;
      case 'listener':
        e.server.close();
        break;
      case 'udp':
        try {
          e.socket.close();
        } catch {
          // already closed
        }
        break;
    }
  }

  // ---------------------------------------------------------------- events

  private emit(event: NetworkEvent): void {
    if (this.closed || !this.listener) return;
    try {
      this.listener(event);
    } catch (err) {
      this.log.error({ err, event: event.kind }, 'network event listener threw');
    }
  }

  private emitSoon(event: NetworkEvent): void {
    setImmediate(() => this.emit(event));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const e of this.entries.values()) {
      if (e.type === 'listener') waits.push(new Promise((resolve) => e.server.close(() => resolve())));
      else if (e.type === 'udp') {
        waits.push(
          new Promise((resolve) => {
            try {
              e.socket.close(() => resolve());
            } catch {
              resolve();
            }
          }),
        );
      } else {
        clearTimeout(e.timer);
        if (!e.socket.destroyed)
          waits.push(new Promise((resolve) => e.socket.once('close', () => resolve())));
        e.socket.destroy();
      }
    }
    this.entries.clear();
    for (const s of this.lingering) s.destroy();
    this.lingering.clear();
    await Promise.all(waits);
  }
}
