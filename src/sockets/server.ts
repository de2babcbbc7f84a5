/**
 * OffloadServer: a TCP listener on the offload device with net.Server's API: listen(port, host, backlog, cb) or
 * listen({ port, host, backlog }, cb), address(), close(cb), getConnections(cb), and the events 'listening',
 * 'connection', 'close', 'error' (EADDRINUSE ...). It ACCEPTs whenever the listener's mirror entry shows
 * ACCEPT_PENDING, so connections are taken as fast as the device announces them and no faster.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { OffloadError } from '../errors.js';
import {
  ConditionFlag,
  type OkResponseMessage,
  SocketOption,
  SocketStatus,
  SocketType,
  StatusCode,
} from '../protocol/index.js';
import { SocketError, socketDriverError, socketStatusError } from './errors.js';
import type { SocketEndpoint } from './hub.js';
import { addrInfo, anyAddr, type SocketHost, toAddr } from './host.js';
import { OffloadSocket, type OffloadSocketOptions } from './socket.js';
import type { MirrorEntry, RemoveReason, UpdateCause } from './table.js';

export interface OffloadServerOptions {
  allowHalfOpen?: boolean;
  /** Receive window of accepted sockets. */
  recvWindow?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface OffloadListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  /** Accepted for net compatibility; the device decides. */
  exclusive?: boolean;
  ipv6Only?: boolean;
}

export interface OffloadServerEvents {
  listening: [];
  connection: [socket: OffloadSocket];
  close: [];
  error: [err: Error];
}

let serverSerial = 0;

export class OffloadServer extends EventEmitter<OffloadServerEvents> implements SocketEndpoint {
  private readonly host: SocketHost;
  private readonly options: OffloadServerOptions;
  private log: Logger;
  private _id: number | undefined;
  private entry: MirrorEntry | undefined;
  private local: ReturnType<typeof addrInfo> = {};
  private state: 'idle' | 'starting' | 'listening' | 'closing' | 'closed' = 'idle';
  private accepting = false;
  private readonly connections = new Set<OffloadSocket>();
  private closeCallbacks: ((err?: Error) => void)[] = [];
  /** Most connections at once (net.Server.maxConnections); beyond it new ones are closed at once. */
  maxConnections: number | undefined;

  constructor(
    host: SocketHost,
    options: OffloadServerOptions = {},
    connectionListener?: (socket: OffloadSocket) => void,
  ) {
    super();
    this.host = host;
    this.options = options;
    this.log = host.log.child({ server: ++serverSerial });
    if (connectionListener) this.on('connection', connectionListener);
  }

  get listening(): boolean {
    return this.state === 'listening';
  }
  get socketId(): number | undefined {
    return this._id;
  }

  address(): { address: string; family: string; port: number } | null {
    const a = this.local;
    return 'port' in a ? (a as { address: string; family: string; port: number }) : null;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this.connections.size);
    return this;
  }

  listen(port?: number, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, host?: string, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  listen(options: OffloadListenOptions, listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let opts: OffloadListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) opts = args[0] as OffloadListenOptions;
    else {
      opts = {};
      if (args[0] !== undefined) opts.port = Number(args[0]);
      if (typeof args[1] === 'string') opts.host = args[1];
      if (typeof args[1] === 'number') opts.backlog = args[1];
      if (typeof args[2] === 'number') opts.backlog = args[2];
    }
    if (this.state !== 'idle')
      throw new SocketError(
        'ERR_SERVER_ALREADY_LISTEN',
        'Listen method has been called more than once without closing.',
      );
    if (cb) this.once('listening', cb);
    this.state = 'starting';
    this.start(opts).catch((err: Error) => {
      this.state = 'closed';
      if (this._id !== undefined) this.closeOnDevice();
      this.emit('error', err);
    });
    return this;
  }

  private errFields(syscall: string, opts?: OffloadListenOptions) {
    return {
      syscall,
      address: opts?.host ?? (this.local as { address?: string }).address,
      port: opts?.port ?? (this.local as { port?: number }).port,
      socketId: this._id,
    };
  }

  private async start(opts: OffloadListenOptions): Promise<void> {
    const dev = this.host.device;
    const hostAddr = opts.host ?? (dev.hasCapability('IPV6') ? '::' : '0.0.0.0');
    if (isIP(hostAddr) === 0)
      throw new SocketError('EINVAL', `listen: host must be an IP address, got ${hostAddr}`, {
        syscall: 'listen',
      });
    const family = isIP(hostAddr) as 4 | 6;
    const port = opts.port ?? 0;
    const r = await dev
      .requestRaw(
        'SOCKET_OPEN',
        { type: SocketType.STREAM, family, protocol: 6, blocking: 0, recvCredit: 0 },
        {
          onResponse: (resp) => {
            if (resp.status !== StatusCode.OK) return;
            this._id = (resp as OkResponseMessage<'SOCKET_OPEN'>).body.id;
            this.log = this.log.child({ socketId: this._id });
            this.host.hub.register(this._id, this);
            this.entry = this.host.hub.table.get(this._id);
          },
        },
      )
      .catch((err: Error) => {
        throw socketDriverError(err, this.errFields('listen', opts));
      });
    if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.errFields('listen', opts));
    const id = this._id!;
    await this.cmd('SETOPT', { id, option: SocketOption.REUSEADDR, value: 1 }, 'setsockopt', opts);
    await this.cmd('BIND', { id, addr: toAddr(hostAddr, port) }, 'listen', opts);
    const backlog = Math.max(1, Math.min(0xffff, opts.backlog ?? this.host.defaults.backlog));
    await this.cmd('LISTEN', { id, backlog }, 'listen', opts);
    // The device may clamp the backlog: read the entry back so that the mirror shows the value used.
    if (dev.hasCapability('SNAPSHOT')) await this.cmd('QUERY', { id }, 'listen', opts);
    if ((this.state as string) !== 'starting') return;
    this.state = 'listening';
    this.local = addrInfo(this.entry?.local ?? anyAddr(family, port));
    this.log.debug({ local: this.local }, 'listening');
    this.emit('listening');
    if (this.entry) this.onEntry(undefined, this.entry);
  }

  private async cmd(
    name: 'SETOPT' | 'BIND' | 'LISTEN' | 'QUERY',
    body: object,
    syscall: string,
    opts?: OffloadListenOptions,
  ): Promise<void> {
    const r = await this.host.device
      .requestRaw(name, body as never, { socketId: this._id })
      .catch((err: Error) => {
        throw socketDriverError(err, this.errFields(syscall, opts));
      });
    if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.errFields(syscall, opts));
  }

  // ---- SocketEndpoint ----------------------------------------------------------------------------------

  onEntry(_prev: MirrorEntry | undefined, next: MirrorEntry, _cause?: UpdateCause): void {
    this.entry = next;
    if (next.local.family !== 0 && this.state === 'listening') this.local = addrInfo(next.local);
    if (
      this.state === 'listening' &&
      next.status === SocketStatus.LISTENING &&
      (next.flags & ConditionFlag.ACCEPT_PENDING) !== 0
    ) {
      void this.acceptLoop();
    }
  }

  private async acceptLoop(): Promise<void> {
    if (this.accepting) return;
    this.accepting = true;
    try {
      while (
        this.state === 'listening' &&
        this.entry &&
        (this.entry.flags & ConditionFlag.ACCEPT_PENDING) !== 0
      ) {
        const id = this._id!;
        let sock: OffloadSocket | undefined;
        const r = await this.host.device.requestRaw(
          'ACCEPT',
          { id, recvCredit: this.options.recvWindow ?? this.host.defaults.recvWindow },
          {
            socketId: id,
            onResponse: (resp) => {
              if (resp.status !== StatusCode.OK) return;
              const newId = (resp as OkResponseMessage<'ACCEPT'>).body.newId;
              const o: Partial<OffloadSocketOptions> = {};
              if (this.options.allowHalfOpen !== undefined) o.allowHalfOpen = this.options.allowHalfOpen;
              if (this.options.recvWindow !== undefined) o.recvWindow = this.options.recvWindow;
              sock = OffloadSocket.fromAccepted(this.host, newId, o);
            },
          },
        );
        if (r.status === StatusCode.E_WOULD_BLOCK) break;
        if (r.status !== StatusCode.OK || !sock) {
          this.log.warn({ status: r.status }, 'ACCEPT failed');
          if (r.status === StatusCode.E_NO_SLOT || r.status === StatusCode.E_QUOTA) {
            // Wait for the next status change on the listener rather than spinning.
            break;
          }
          continue;
        }
        this.adopt(sock);
      }
    } catch (err) {
      this.log.debug({ err }, 'accept loop stopped');
    } finally {
      this.accepting = false;
    }
  }

  private adopt(sock: OffloadSocket): void {
    sock.server = this;
    if (this.maxConnections !== undefined && this.connections.size >= this.maxConnections) {
      sock.destroy();
      return;
    }
    this.connections.add(sock);
    sock.once('close', () => {
      this.connections.delete(sock);
      this.maybeEmitClose();
    });
    if (this.options.noDelay) sock.setNoDelay(true);
    if (this.options.keepAlive) sock.setKeepAlive(true, this.options.keepAliveInitialDelay ?? 0);
    // The mirror learns about blocking mode, options and queue levels of the new socket from the device.
    if (this.host.device.hasCapability('SNAPSHOT')) {
      void this.host.device
        .requestRaw('QUERY', { id: sock.socketId! }, { socketId: sock.socketId })
        .catch(() => undefined);
    }
    this.emit('connection', sock);
  }

  onRemoved(_entry: MirrorEntry, reason: RemoveReason): void {
    this.entry = undefined;
    if (this.state === 'listening' && reason !== 'terminated') {
      this.state = 'closed';
      this.emit(
        'error',
        new SocketError(
          'ECONNABORTED',
          `the listening socket is gone from the device (${reason})`,
          this.errFields('accept'),
        ),
      );
      this.maybeEmitClose();
    } else if (this.state === 'closing') {
      this.state = 'closed';
      this.maybeEmitClose();
    }
  }

  onFatal(err: OffloadError | undefined): void {
    const wasListening = this.state === 'listening' || this.state === 'starting';
    if (this.state === 'closed') return;
    if (err === undefined) {
      if (this._id !== undefined && this.entry) this.closeOnDevice();
      this.state = 'closed';
      this.maybeEmitClose();
      return;
    }
    this.state = 'closed';
    this.entry = undefined;
    if (wasListening) this.emit('error', socketDriverError(err, this.errFields('accept')));
    this.maybeEmitClose();
  }

  // ---- close -------------------------------------------------------------------------------------------

  private closeOnDevice(): void {
    const id = this._id!;
    void this.host.device.requestRaw('CLOSE', { id, abort: 1 }, { socketId: id }).catch(() => undefined);
  }

  /** Stop listening; 'close' (and cb) once every accepted connection has closed too, as net.Server. */
  close(cb?: (err?: Error) => void): this {
    if (cb) this.closeCallbacks.push(cb);
    if (this.state === 'idle' || this.state === 'closed') {
      if (this.state === 'idle' && cb) {
        const err = new SocketError('ERR_SERVER_NOT_RUNNING', 'Server is not running.');
        this.closeCallbacks = this.closeCallbacks.filter((c) => c !== cb);
        process.nextTick(cb, err);
      } else {
        this.maybeEmitClose();
      }
      return this;
    }
    const wasListening = this.state === 'listening';
    this.state = 'closing';
    if (this._id !== undefined && this.entry && wasListening) this.closeOnDevice();
    else this.state = 'closed';
    this.maybeEmitClose();
    return this;
  }

  /** Close every accepted connection (net.Server.closeAllConnections). */
  closeAllConnections(): void {
    for (const s of this.connections) s.destroy();
  }

  private closeEmitted = false;
  private maybeEmitClose(): void {
    if (this.closeEmitted) return;
    if (this.state !== 'closed' && this.state !== 'closing') return;
    if (this.state === 'closing' && this.entry) return; // the listener's TERMINATED is still to come
    if (this.connections.size > 0) return;
    this.closeEmitted = true;
    this.state = 'closed';
    if (this._id !== undefined) this.host.hub.unregister(this._id, this);
    const cbs = this.closeCallbacks;
    this.closeCallbacks = [];
    process.nextTick(() => {
      for (const c of cbs) c();
      this.emit('close');
    });
  }
}
