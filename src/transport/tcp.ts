import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from 'pino';
import { TransportError, TransportErrorCode, errnoCode, errorMessage } from './errors.js';
import {
  BaseTransport,
  childLogger,
  type Transport,
  type TransportLogOptions,
  type TransportState,
} from './transport.js';
import { TCP_DEFAULTS, formatDeviceUrl } from './url.js';

export interface TcpTransportOptions extends TransportLogOptions {
  host: string;
  port: number;
  /** Give up connecting after this long (E_OFFLOAD_CONNECT_TIMEOUT). Default 5000. */
  connectTimeoutMs?: number;
  /** Disable Nagle (frames go out at once). Default true. */
  noDelay?: boolean;
  /** For logs and errors; default the tcp:// URL. */
  description?: string;
}

/**
 * TCP client transport (the "TCP shim" to a board or simulator), or one accepted connection of a TcpListener.
 * Peer close or reset while open ends in 'close' with E_OFFLOAD_LINK_DOWN.
 */
export class TcpTransport extends BaseTransport {
  readonly kind = 'tcp' as const;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly noDelay: boolean;
  private socket: net.Socket | undefined;
  private socketError: Error | undefined;
  private abortConnect: (() => void) | undefined;

  constructor(options: TcpTransportOptions) {
    const connectTimeoutMs = options.connectTimeoutMs ?? TCP_DEFAULTS.connectTimeoutMs;
    const noDelay = options.noDelay ?? TCP_DEFAULTS.noDelay;
    super(
      'tcp',
      options.description ??
        formatDeviceUrl({ kind: 'tcp', host: options.host, port: options.port, connectTimeoutMs, noDelay }),
      options.logger,
    );
    this.host = options.host;
    this.port = options.port;
    this.connectTimeoutMs = connectTimeoutMs;
    this.noDelay = noDelay;
  }

  /** Wraps an already connected socket (used by listenTcp); the transport is open at once. */
  static fromSocket(
    socket: net.Socket,
    options: { description?: string; noDelay?: boolean; logger?: Logger } = {},
  ): TcpTransport {
    const t = new TcpTransport({
      host: socket.remoteAddress ?? 'unknown',
      port: socket.remotePort ?? 0,
      noDelay: options.noDelay ?? true,
      description:
        options.description ??
        `tcp://${formatRemote(socket.remoteAddress, socket.remotePort)} (accepted on ${formatRemote(socket.localAddress, socket.localPort)})`,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    socket.setNoDelay(t.noDelay);
    t.attach(socket);
    t.state = 'open';
    return t;
  }

  /** Local address of the connection, once open. */
  get localAddress(): { address: string; port: number } | undefined {
    const s = this.socket;
    return s?.localAddress && s.localPort ? { address: s.localAddress, port: s.localPort } : undefined;
  }

  protected doOpen(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = new net.Socket();
      let settled = false;
      const settle = (err?: TransportError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.abortConnect = undefined;
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', onError);
        if (err) {
          socket.on('error', () => undefined);
          socket.destroy();
          reject(err);
        } else {
          resolve();
        }
      };
      const onConnect = (): void => {
        socket.setNoDelay(this.noDelay);
        this.attach(socket);
        settle();
      };
      const onError = (err: Error): void => settle(this.connectError(err));
      const timer = setTimeout(
        () =>
          settle(
            new TransportError(
              TransportErrorCode.CONNECT_TIMEOUT,
              `connecting to ${this.description} timed out after ${this.connectTimeoutMs} ms`,
              { url: this.description, host: this.host, port: this.port, timeoutMs: this.connectTimeoutMs },
            ),
          ),
        this.connectTimeoutMs,
      );
      this.abortConnect = () => settle(this.closedError('open'));
      socket.once('connect', onConnect);
      socket.once('error', onError);
      socket.connect({ host: this.host, port: this.port });
    });
  }

  protected override abortOpen(): void {
    this.abortConnect?.();
  }

  private connectError(err: Error): TransportError {
    const code = errnoCode(err);
    const details = { url: this.description, host: this.host, port: this.port, errno: code };
    if (code === 'ECONNREFUSED') {
      return new TransportError(
        TransportErrorCode.CONNECT_REFUSED,
        `connection to ${this.description} refused (is the board / simulator listening on port ${this.port}?)`,
        details,
        { cause: err },
      );
    }
    if (code === 'ETIMEDOUT') {
      return new TransportError(
        TransportErrorCode.CONNECT_TIMEOUT,
        `connecting to ${this.description} timed out`,
        details,
        {
          cause: err,
        },
      );
    }
    return new TransportError(
      TransportErrorCode.CONNECT_FAILED,
      `cannot connect to ${this.description}: ${errorMessage(err)}`,
      details,
      { cause: err },
    );
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    socket.on('data', (data: Buffer) => {
      if (this.state === 'open') this.emit('data', data);
    });
    socket.on('drain', () => {
      if (this.state === 'open') this.emit('drain');
    });
    socket.on('error', (err: Error) => {
      this.log.debug({ err }, 'socket error');
      this.socketError ??= err;
    });
    socket.on('close', () => {
      const cause = this.socketError;
      const code = cause ? errnoCode(cause) : undefined;
      this.finish(
        new TransportError(
          TransportErrorCode.LINK_DOWN,
          `connection to ${this.description} lost: ${cause ? `${code ?? ''} ${errorMessage(cause)}`.trim() : 'peer closed the connection'}`,
          { url: this.description, errno: code },
          cause ? { cause } : undefined,
        ),
      );
    });
  }

  protected doWrite(chunk: Buffer): boolean {
    return (this.socket as net.Socket).write(chunk);
  }

  /** Corked writes: one writev system call, no concatenation. */
  protected override doWritev(chunks: Buffer[]): boolean {
    const socket = this.socket as net.Socket;
    socket.cork();
    let ok = true;
    for (const c of chunks) ok = socket.write(c);
    socket.uncork();
    return ok;
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      // Send what was written, then FIN; don't wait forever for a peer that never reads.
      socket.end();
      const t = setTimeout(() => socket.destroy(), 1000);
      socket.once('close', () => clearTimeout(t));
    });
  }
}

function formatRemote(address: string | undefined, port: number | undefined): string {
  const a = address ?? 'unknown';
  return `${a.includes(':') ? `[${a}]` : a}:${port ?? 0}`;
}

export interface ListenTcpOptions extends TransportLogOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (the OS picks a free port; read it from `.port`). */
  port?: number;
  /** Set TCP_NODELAY on accepted connections. Default true. */
  noDelay?: boolean;
}

export interface TcpListenerEvents {
  /** One open Transport per accepted connection. */
  connection: [Transport];
}

/** Device side of the TCP shim: listens and hands out one Transport per accepted connection. */
export interface TcpListener extends EventEmitter<TcpListenerEvents> {
  /** tcp:// URL clients can pass to openTransport(). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every accepted connection still open. Idempotent. */
  close(): Promise<void>;
}

class TcpListenerImpl extends EventEmitter<TcpListenerEvents> implements TcpListener {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  private readonly accepted = new Set<TcpTransport>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly server: net.Server,
    host: string,
    port: number,
    private readonly noDelay: boolean,
    private readonly log: Logger,
    private readonly logger: Logger | undefined,
  ) {
    super();
    this.host = host;
    this.port = port;
    this.url = formatDeviceUrl({ kind: 'tcp', host, port });
    server.on('connection', (socket) => this.onConnection(socket));
    server.on('error', (err) => this.log.warn({ err }, 'listener error'));
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const t = TcpTransport.fromSocket(socket, {
      noDelay: this.noDelay,
      ...(this.logger ? { logger: this.logger } : {}),
    });
    this.accepted.add(t);
    t.once('close', () => this.accepted.delete(t));
    this.log.debug({ remote: t.description }, 'accepted connection');
    if (this.listenerCount('connection') === 0) {
      this.log.warn('connection accepted with no listener: closing it');
      void t.close();
      return;
    }
    this.emit('connection', t);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await Promise.all([...this.accepted].map((t) => t.close()));
      await serverClosed;
    })();
    return this.closing;
  }
}

/** Listens on host:port (loopback by default) and resolves once listening. Rejects with E_OFFLOAD_LISTEN_FAILED. */
export function listenTcp(options: ListenTcpOptions = {}): Promise<TcpListener> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  const log = childLogger(options.logger, 'tcp', `tcp-listen://${formatRemote(host, port)}`);
  return new Promise<TcpListener>((resolve, reject) => {
    const server = net.createServer();
    const onError = (err: Error): void => {
      const code = errnoCode(err);
      reject(
        new TransportError(
          TransportErrorCode.LISTEN_FAILED,
          `cannot listen on ${formatRemote(host, port)}: ${code === 'EADDRINUSE' ? 'address already in use' : errorMessage(err)}`,
          { host, port, errno: code },
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.removeListener('error', onError);
      const addr = server.address() as net.AddressInfo;
      resolve(new TcpListenerImpl(server, host, addr.port, options.noDelay ?? true, log, options.logger));
    });
  });
}
