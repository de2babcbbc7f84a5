import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import { TransportError, TransportErrorCode } from './errors.js';

export type TransportKind = 'serial' | 'tcp' | 'pair' | 'fault' | 'rfc2217' | 'pcie';

export interface TransportEvents {
  /** Bytes received, in order. */
  data: [Buffer];
  /** Emitted after write() returned false, once the transport can take more. */
  drain: [];
  /**
   * Fires exactly once per transport: `undefined` after a local close(), a TransportError
   * (E_OFFLOAD_LINK_DOWN, E_OFFLOAD_PORT_VANISHED, ...) when the peer / port / wire went away.
   */
  close: [TransportError | undefined];
}

/**
 * A byte stream to a device. Transports never emit 'error': failures to open reject open(),
 * failures while open end in exactly one 'close' carrying the error.
 */
export interface Transport extends EventEmitter<TransportEvents> {
  readonly kind: TransportKind;
  /** The URL (or a descriptive equivalent), for logs and error messages. */
  readonly description: string;
  readonly isOpen: boolean;
  /**
   * Opens the transport; resolves once bytes can flow. Rejects with a TransportError.
   * A failed open leaves the transport unopened (no 'close' is emitted); it may be retried.
   * Concurrent calls share one attempt; calling it when already open resolves at once.
   */
  open(): Promise<void>;
  /**
   * Queues bytes. Returns false when the caller should wait for 'drain' (backpressure); the bytes are
   * still queued. Throws a TransportError (E_OFFLOAD_NOT_OPEN / E_OFFLOAD_TRANSPORT_CLOSED) when
   * the transport is not open. The chunk must not be modified after the call.
   */
  write(chunk: Uint8Array): boolean;
  /**
   * Optional: queues several chunks as one write (in order), without concatenating them where the transport
   * can (TCP: one writev system call). Same return value, errors and ownership rule as write().
   */
  writev?(chunks: readonly Uint8Array[]): boolean;
  /** Closes the transport; idempotent; resolves after 'close' has been emitted. */
  close(): Promise<void>;
}

export interface TransportLogOptions {
  /** A pino logger; the transport logs through a child with { transport: description }. Silent by default. */
  logger?: Logger;
}

let silent: Logger | undefined;

/** The quiet default logger (created once, logs nothing). */
export function silentLogger(): Logger {
  silent ??= pino({ level: 'silent' });
  return silent;
}

export function childLogger(logger: Logger | undefined, kind: TransportKind, description: string): Logger {
  return (logger ?? silentLogger()).child({ transport: kind, url: description });
}

export function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export type TransportState = 'idle' | 'opening' | 'open' | 'closing' | 'closed';

/**
 * Shared state machine: one open attempt at a time, 'close' emitted exactly once,
 * close() idempotent and resolving after 'close'.
 */
export abstract class BaseTransport extends EventEmitter<TransportEvents> implements Transport {
  abstract readonly kind: TransportKind;
  readonly description: string;
  protected readonly log: Logger;
  protected state: TransportState = 'idle';
  private openPromise: Promise<void> | undefined;
  private closePromise: Promise<void> | undefined;
  private resolveClosed!: () => void;
  private readonly closed: Promise<void>;
  /** Set once 'close' was emitted; the error it carried. */
  closeReason: TransportError | undefined;

  protected constructor(kind: TransportKind, description: string, logger: Logger | undefined) {
    super();
    this.description = description;
    this.log = childLogger(logger, kind, description);
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  open(): Promise<void> {
    switch (this.state) {
      case 'open':
        return Promise.resolve();
      case 'opening':
        return this.openPromise as Promise<void>;
      case 'closing':
      case 'closed':
        return Promise.reject(this.closedError('open'));
      case 'idle':
        break;
    }
    this.state = 'opening';
    const attempt = this.doOpen().then(
      () => {
        this.openPromise = undefined;
        if (this.state !== 'opening') {
          // close() was called while opening: doClose() has been / will be handled by close().
          throw this.closedError('open');
        }
        this.state = 'open';
        this.log.debug('transport open');
      },
      (err: unknown) => {
        this.openPromise = undefined;
        if (this.state === 'opening') this.state = 'idle';
        this.log.debug({ err }, 'transport open failed');
        throw err;
      },
    );
    this.openPromise = attempt;
    return attempt;
  }

  write(chunk: Uint8Array): boolean {
    if (this.state !== 'open') throw this.notWritable();
    return this.doWrite(toBuffer(chunk));
  }

  writev(chunks: readonly Uint8Array[]): boolean {
    if (this.state !== 'open') throw this.notWritable();
    if (chunks.length === 1) return this.doWrite(toBuffer(chunks[0] as Uint8Array));
    return this.doWritev(chunks.map(toBuffer));
  }

  private notWritable(): TransportError {
    return this.state === 'idle' || this.state === 'opening'
      ? new TransportError(
          TransportErrorCode.NOT_OPEN,
          `write on ${this.description}: transport is not open yet`,
          {
            url: this.description,
          },
        )
      : this.closedError('write');
  }

  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.state === 'closed') return this.closed;
    const prev = this.state;
    this.state = 'closing';
    this.closePromise = (async () => {
      if (prev === 'opening' && this.openPromise) {
        // Cut the attempt short where possible, let it settle, then release whatever it acquired.
        this.abortOpen();
        await this.openPromise.catch(() => undefined);
      }
      try {
        await this.doClose(prev);
      } catch (err) {
        this.log.debug({ err }, 'error while closing (ignored)');
      }
      this.finish(undefined);
      await this.closed;
    })();
    return this.closePromise;
  }

  /** Called by implementations when the peer, port or wire went away (or after doClose). Idempotent. */
  protected finish(err: TransportError | undefined): void {
    if (this.state === 'closed') return;
    // A local close() in progress wins over whatever the resource reports while being released.
    if (this.state === 'closing') err = undefined;
    const wasOpen = this.state === 'open' || this.state === 'closing';
    this.state = 'closed';
    this.closeReason = err;
    if (err) this.log.debug({ err }, 'transport closed by peer or failure');
    else this.log.debug('transport closed');
    this.onFinished();
    if (wasOpen || err === undefined) this.emit('close', err);
    this.resolveClosed();
  }

  protected closedError(op: string): TransportError {
    const reason = this.closeReason;
    return new TransportError(
      TransportErrorCode.TRANSPORT_CLOSED,
      `${op} on ${this.description}: transport is closed${reason ? ` (${reason.code}: ${reason.message})` : ''}`,
      { url: this.description, reason: reason?.code },
      reason ? { cause: reason } : undefined,
    );
  }

  /** Acquire the resource; throw/reject a TransportError on failure. */
  protected abstract doOpen(): Promise<void>;
  /** Write to the open resource; return false for backpressure. */
  protected abstract doWrite(chunk: Buffer): boolean;
  /** Write several chunks in order; default: concatenated into one doWrite(). */
  protected doWritev(chunks: Buffer[]): boolean {
    return this.doWrite(Buffer.concat(chunks));
  }
  /** Release the resource after a local close(); `prev` is the state close() was called in. */
  protected abstract doClose(prev: TransportState): Promise<void>;
  /** close() was called while opening: make doOpen() settle soon (default: let it finish). */
  protected abortOpen(): void {}
  /** Drop timers / listeners; called once when the transport reaches 'closed'. */
  protected onFinished(): void {}
}
