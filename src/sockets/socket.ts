/**
 * OffloadSocket: a TCP socket that lives on the offload device, with net.Socket's API (a stream.Duplex with
 * connect, write/end with backpressure, setNoDelay, setKeepAlive, setTimeout, destroy, half-close, addresses,
 * byte counts, and the events connect, ready, data, end, close, timeout, error with Node's codes).
 *
 * Flow control follows the protocol's credits end to end:
 *   send     write() data goes out in SEND commands only within the device's send credit (mirror.sendSpace
 *            minus what is in flight); with no credit, writes wait on the host, write() returns false once
 *            writableHighWaterMark bytes wait, and 'drain' follows when SEND_CREDIT lets them go.
 *   receive  receive credit is granted as the application consumes (_read): a paused consumer stops credit,
 *            the device stops delivering and, its receive queue full, stops reading from the network, so the
 *            remote peer is throttled; host memory stays within recvWindow + readableHighWaterMark.
 *
 * Everything the socket knows about its state comes from its mirror entry (SocketTable), whatever updated it
 * (a response, a STATUS event, a snapshot after lost events).
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { DeviceErrorCode } from '../device/index.js';
import type { OffloadError } from '../errors.js';
import {
  type Addr,
  ConditionFlag,
  Limits,
  type OkResponseMessage,
  Opcode,
  ShutdownHow,
  SocketOption,
  SocketStatus,
  SocketType,
  StatusCode,
} from '../protocol/index.js';
import { SocketError, socketDriverError, socketStatusError } from './errors.js';
import type { SocketEndpoint } from './hub.js';
import { addrInfo, anyAddr, familyName, type SocketHost, toAddr } from './host.js';
import type { MirrorEntry, RemoveReason, UpdateCause } from './table.js';

export interface OffloadSocketOptions {
  /** The device to run on (an OffloadDevice). */
  device: SocketHost;
  /** Keep the writable side open after the peer ended (net.Socket's allowHalfOpen). Default false. */
  allowHalfOpen?: boolean;
  /** Receive credit kept open to the device, bytes. Default: the device's default (256 KiB). */
  recvWindow?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Idle timeout (setTimeout) in ms. */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export interface OffloadConnectOptions {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
  /** 4, 6 or 0 (either) for name lookups. */
  family?: number;
  /** Idle timeout (setTimeout), as net.createConnection's `timeout`. */
  timeout?: number;
  /** The device gives up connecting after this long with ETIMEDOUT (CONNECT timeoutMs). Default: device default (30 s). */
  connectTimeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  lookup?: typeof lookup;
}

type Phase = 'idle' | 'resolving' | 'opening' | 'connecting' | 'open' | 'closed';

interface PendingWrite {
  buf: Buffer;
  off: number;
  cb: (err?: Error | null) => void;
  /** A small remainder held back for the next write; its callback was called already. */
  held?: boolean;
}

const KEEPALIVE_DEFAULT_MS = 60_000;
const noop = () => undefined;
/** Largest remainder of a cut write held back to go out with the next write (see flushWrites). */
const HOLD_MAX = 4096;
/** SEND: message header, then the socket id; the data follows. */
const SEND_HEADER = Limits.messageHeaderSize + 2;
let socketSerial = 0;

function normalizeConnectArgs(args: unknown[]): [OffloadConnectOptions, (() => void) | undefined] {
  let cb: (() => void) | undefined;
  if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
  if (typeof args[0] === 'object' && args[0] !== null) return [args[0] as OffloadConnectOptions, cb];
  const port = Number(args[0]);
  const host = typeof args[1] === 'string' ? args[1] : undefined;
  return [host !== undefined ? { port, host } : { port }, cb];
}

export class OffloadSocket extends Duplex implements SocketEndpoint {
  private readonly host: SocketHost;
  private log: Logger;
  private phase: Phase = 'idle';
  private _id: number | undefined;
  private entry: MirrorEntry | undefined;
  /** Last known endpoints (kept after close, like net.Socket). */
  private lastLocal: Addr | undefined;
  private lastRemote: Addr | undefined;
  private connectTarget: { address: string; port: number } | undefined;

  // send
  private readonly pendingWrites: PendingWrite[] = [];
  private sendInFlight = 0;
  private _bytesSent = 0;
  private shutdownSent = false;
  private finalCallback: ((err?: Error | null) => void) | undefined;
  private heldTimer: NodeJS.Immediate | undefined;

  // receive
  readonly recvWindow: number;
  /** RECV_CREDIT bytes sent and not yet answered (the mirror's recvCredit counts them once answered). */
  private creditInFlight = 0;
  private eofPushed = false;
  /** _read() asked for data and nothing was pushed since. */
  private readWanted = false;
  private deferredError: Error | undefined;
  /** Bytes received from the device. */
  bytesRead = 0;

  // options applied once the socket exists on the device
  private wantNoDelay: boolean | undefined;
  private wantKeepAliveMs: number | undefined;

  // idle timeout
  timeout: number | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  /** True from connect() until 'connect' (or failure). */
  connecting = false;
  /** Set for sockets accepted by an OffloadServer. */
  server: unknown;
  private closeRequested = false;
  private abortOnClose = false;

  constructor(options: OffloadSocketOptions) {
    const o = options ?? ({} as OffloadSocketOptions);
    if (!o.device || !('hub' in o.device)) {
      throw new TypeError(
        'new OffloadSocket({ device }) needs the OffloadDevice to run on (from openDevice())',
      );
    }
    super({
      allowHalfOpen: o.allowHalfOpen ?? false,
      readableHighWaterMark: o.readableHighWaterMark ?? 64 * 1024,
      writableHighWaterMark: o.writableHighWaterMark ?? 16 * 1024,
      decodeStrings: true,
      emitClose: true,
      autoDestroy: true,
    });
    this.host = o.device;
    this.recvWindow = Math.max(1024, o.recvWindow ?? this.host.defaults.recvWindow);
    this.log = this.host.log.child({ socket: ++socketSerial });
    if (o.timeout !== undefined) this.setTimeout(o.timeout);
    if (o.noDelay) this.wantNoDelay = true;
    if (o.keepAlive) this.wantKeepAliveMs = o.keepAliveInitialDelay || KEEPALIVE_DEFAULT_MS;
  }

  /** @internal Build the socket object for a connection an OffloadServer accepted (already registered). */
  static fromAccepted(
    host: SocketHost,
    id: number,
    options: Partial<OffloadSocketOptions> = {},
  ): OffloadSocket {
    const s = new OffloadSocket({ ...options, device: host });
    s.adoptId(id);
    s.phase = 'open';
    s.entry = host.hub.table.get(id);
    s.remember();
    return s;
  }

  /** The device's socket id, once it exists on the device. */
  get socketId(): number | undefined {
    return this._id;
  }
  /** The mirror entry (undefined before the device socket exists or after it is gone). */
  get mirrorEntry(): MirrorEntry | undefined {
    return this.entry;
  }

  // ---- net.Socket properties --------------------------------------------------------------------------

  get pending(): boolean {
    return this.phase !== 'open';
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.phase !== 'open') return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  get remoteAddress(): string | undefined {
    return this.lastRemote && this.lastRemote.family !== 0 ? this.lastRemote.address : undefined;
  }
  get remotePort(): number | undefined {
    return this.lastRemote && this.lastRemote.family !== 0 ? this.lastRemote.port : undefined;
  }
  get remoteFamily(): string | undefined {
    return this.lastRemote ? familyName(this.lastRemote.family) : undefined;
  }
  get localAddress(): string | undefined {
    return this.lastLocal && this.lastLocal.family !== 0 ? this.lastLocal.address : undefined;
  }
  get localPort(): number | undefined {
    return this.lastLocal && this.lastLocal.family !== 0 ? this.lastLocal.port : undefined;
  }
  get localFamily(): string | undefined {
    return this.lastLocal ? familyName(this.lastLocal.family) : undefined;
  }
  /** Bytes handed to the device, plus bytes still waiting on the host (as net.Socket counts). */
  get bytesWritten(): number {
    let waiting = 0;
    for (const w of this.pendingWrites) waiting += w.buf.length - w.off;
    return this._bytesSent + waiting + this.writableLength;
  }
  /** @deprecated as in net: writableLength. */
  get bufferSize(): number {
    return this.writableLength;
  }
  address(): { address: string; family: string; port: number } | Record<string, never> {
    return addrInfo(this.lastLocal);
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // ---- connect -------------------------------------------------------------------------------------------

  connect(options: OffloadConnectOptions, connectListener?: () => void): this;
  connect(port: number, host?: string, connectListener?: () => void): this;
  connect(port: number, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    if (this.phase !== 'idle') {
      const err = new SocketError('ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected', {
        syscall: 'connect',
      });
      process.nextTick(() => this.destroy(err));
      return this;
    }
    if (!Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535) {
      throw new RangeError(`port should be >= 1 and < 65536. Received ${String(opts.port)}.`);
    }
    if (cb) this.once('connect', cb);
    if (opts.timeout !== undefined) this.setTimeout(opts.timeout);
    if (opts.noDelay) this.wantNoDelay = true;
    if (opts.keepAlive) this.wantKeepAliveMs = opts.keepAliveInitialDelay || KEEPALIVE_DEFAULT_MS;
    this.connecting = true;
    this.phase = 'resolving';
    this.doConnect(opts).catch((err: Error) => this.failConnect(err));
    return this;
  }

  private async doConnect(opts: OffloadConnectOptions): Promise<void> {
    const host = opts.host ?? 'localhost';
    let address = host;
    let family = isIP(host);
    if (family === 0) {
      const fn = opts.lookup ?? lookup;
      const want =
        opts.family === 4 || opts.family === 6 ? opts.family : this.host.device.hasCapability('IPV6') ? 0 : 4;
      const r = await new Promise<{ address: string; family: number }>((resolve, reject) => {
        fn(host, { family: want }, (err, addr, fam) => {
          this.emit('lookup', err, addr, fam, host);
          if (err) reject(err);
          else resolve({ address: addr as string, family: fam as number });
        });
      });
      address = r.address;
      family = r.family;
    }
    this.connectTarget = { address, port: opts.port };
    if (this.destroyed) return;
    this.phase = 'opening';
    await this.open(family as 4 | 6, 'connect');
    if (this.destroyed) return;
    const id = this._id!;
    if (opts.localAddress !== undefined || opts.localPort !== undefined) {
      const la = opts.localAddress ?? (family === 6 ? '::' : '0.0.0.0');
      await this.cmd('BIND', { id, addr: toAddr(la, opts.localPort ?? 0) }, 'bind');
    }
    await this.applyOptions();
    if (this.destroyed) return;
    this.phase = 'connecting';
    this.lastRemote = toAddr(address, opts.port);
    await this.cmd('CONNECT', { id, timeoutMs: opts.connectTimeout ?? 0, addr: this.lastRemote }, 'connect');
    // Completion comes as a STATUS (CONNECTED, or DISCONNECTED with lastError): onEntry.
    if (this.entry) this.onEntry(undefined, this.entry, 'response');
  }

  /** SOCKET_OPEN; the id is registered synchronously as the response arrives (before any event for it). */
  private async open(family: 4 | 6, syscall: string): Promise<void> {
    // From now on a device reset or link loss concerns this socket, even before it has an id.
    this.host.hub.track(this);
    const r = await this.host.device
      .requestRaw(
        'SOCKET_OPEN',
        { type: SocketType.STREAM, family, protocol: 6, blocking: 0, recvCredit: this.recvWindow },
        {
          onResponse: (resp) => {
            if (resp.status !== StatusCode.OK) return;
            const id = (resp as OkResponseMessage<'SOCKET_OPEN'>).body.id;
            this.adoptId(id);
            if (this.destroyed) this.sendClose(true);
          },
        },
      )
      .catch((err: Error) => {
        throw socketDriverError(err, this.errFields(syscall));
      });
    if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.errFields(syscall));
  }

  private adoptId(id: number): void {
    this._id = id;
    this.log = this.log.child({ socketId: id });
    this.host.hub.register(id, this);
    this.entry = this.host.hub.table.get(id);
  }

  private async applyOptions(): Promise<void> {
    const id = this._id!;
    const jobs: Promise<unknown>[] = [];
    if (this.wantNoDelay !== undefined) {
      jobs.push(
        this.cmd(
          'SETOPT',
          { id, option: SocketOption.NODELAY, value: this.wantNoDelay ? 1 : 0 },
          'setsockopt',
        ),
      );
    }
    if (this.wantKeepAliveMs !== undefined && this.host.device.hasCapability('KEEPALIVE')) {
      jobs.push(
        this.cmd('SETOPT', { id, option: SocketOption.KEEPALIVE, value: this.wantKeepAliveMs }, 'setsockopt'),
      );
    }
    await Promise.all(jobs);
  }

  /** One command for this socket; a non-OK status becomes a SocketError with Node's code. */
  private async cmd<N extends 'BIND' | 'CONNECT' | 'SETOPT' | 'SHUTDOWN' | 'RECV_CREDIT' | 'GETOPT'>(
    name: N,
    body: Parameters<SocketHost['device']['request']>[1] & object,
    syscall: string,
  ): Promise<void> {
    const r = await this.host.device
      .requestRaw(name, body as never, { socketId: this._id })
      .catch((err: Error) => {
        throw socketDriverError(err, this.errFields(syscall));
      });
    if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.errFields(syscall));
  }

  private errFields(syscall: string): {
    syscall: string;
    address?: string;
    port?: number;
    socketId?: number;
  } {
    const f: { syscall: string; address?: string; port?: number; socketId?: number } = { syscall };
    if (this.connectTarget) {
      f.address = this.connectTarget.address;
      f.port = this.connectTarget.port;
    }
    if (this._id !== undefined) f.socketId = this._id;
    return f;
  }

  private failConnect(err: Error): void {
    this.connecting = false;
    if (!this.destroyed) this.destroy(err);
  }

  private connected(): void {
    this.phase = 'open';
    this.connecting = false;
    this.remember();
    this.log.debug({ local: this.lastLocal, remote: this.lastRemote }, 'connected');
    this.touch();
    this.emit('connect');
    this.emit('ready');
    this.flushWrites();
    if (this.finalCallback) this.doShutdown();
  }

  private remember(): void {
    if (!this.entry) return;
    if (this.entry.local.family !== 0) this.lastLocal = this.entry.local;
    if (this.entry.remote.family !== 0) this.lastRemote = this.entry.remote;
  }

  // ---- mirror updates (SocketEndpoint) ---------------------------------------------------------------

  onEntry(prev: MirrorEntry | undefined, next: MirrorEntry, cause: UpdateCause = 'event'): void {
    this.entry = next;
    if (
      cause === 'snapshot' &&
      prev &&
      next.recvCredit < prev.recvCredit &&
      !this.destroyed &&
      !this.closeRequested
    ) {
      // The device used credit for DATA events that never arrived: bytes are missing from the stream.
      this.destroy(
        new SocketError(
          'E_OFFLOAD_DATA_LOST',
          `${prev.recvCredit - next.recvCredit} received bytes were lost on the way from the device (lost DATA events)`,
          this.errFields('read'),
        ),
      );
      return;
    }
    this.remember();
    if (this.destroyed) return;
    const st = next.status;
    if (this.phase === 'connecting') {
      if (st === SocketStatus.CONNECTED || st === SocketStatus.SENDING || st === SocketStatus.RECEIVING) {
        this.connected();
      } else if (st === SocketStatus.DISCONNECTED && (next.flags & ConditionFlag.PEER_CLOSED) === 0) {
        this.failConnect(
          socketStatusError(next.lastError || StatusCode.ECONNREFUSED, this.errFields('connect')),
        );
        return;
      } else if (st === SocketStatus.DISCONNECTED || st === SocketStatus.SHUTDOWN) {
        // Connected and already closed by the peer before we heard of it.
        this.connected();
      } else {
        return;
      }
    }
    if (this.phase !== 'open') return;
    this.flushWrites();
    this.checkReadEnd(next);
  }

  /** EOF when the peer closed and every byte is in (READABLE clear); a reset error after the data, likewise. */
  private checkReadEnd(e: MirrorEntry): void {
    if ((e.flags & ConditionFlag.READABLE) !== 0) return;
    if (e.lastError !== 0 && (e.flags & ConditionFlag.ERROR_PENDING) !== 0) {
      if (this.deferredError) return;
      this.deferredError = socketStatusError(e.lastError, this.errFields('read'));
      this.log.debug(
        { code: (this.deferredError as OffloadError).code },
        'connection failed; delivering what was received first',
      );
      this.maybeRaiseDeferred();
      return;
    }
    if ((e.flags & ConditionFlag.PEER_CLOSED) !== 0 && !this.eofPushed) {
      this.eofPushed = true;
      this.push(null);
    }
  }

  /** Raise a deferred (reset) error once the application has taken every byte received before it. */
  private maybeRaiseDeferred(): void {
    if (this.deferredError && this.readableLength === 0 && !this.destroyed) {
      const err = this.deferredError;
      process.nextTick(() => {
        if (!this.destroyed) this.destroy(err);
      });
    }
  }

  /**
   * Every way of consuming (flowing 'data', read(), pipe, async iteration) goes through read(): after it the
   * buffer is smaller, so this is where receive credit follows the application (and where a deferred reset
   * error is raised once the buffer is empty).
   */
  override read(size?: number): any {
    const chunk = super.read(size);
    if (this.deferredError) this.maybeRaiseDeferred();
    else if (this.readWanted) this.grantCredit();
    return chunk;
  }

  onData(data: Buffer): void {
    if (this.destroyed || this.eofPushed) return;
    this.bytesRead += data.length;
    this.touch();
    this.readWanted = false;
    this.push(data);
  }

  onAsyncError(code: number): void {
    this.log.debug({ code }, 'asynchronous socket error');
  }

  onRemoved(entry: MirrorEntry, reason: RemoveReason): void {
    this.entry = undefined;
    if (this.destroyed || this.closeRequested) return;
    if (reason === 'terminated') {
      // The device closed it without being asked: a local (device-side) abort.
      const code = entry.lastError || StatusCode.ECONNABORTED;
      this.destroy(socketStatusError(code, this.errFields('read')));
    } else if (reason === 'reconcile') {
      this.destroy(
        new SocketError(
          'ECONNABORTED',
          'the socket no longer exists on the device (found while reconciling)',
          this.errFields('read'),
        ),
      );
    }
  }

  onFatal(err: OffloadError | undefined): void {
    this.host.hub.untrack(this);
    if (this.destroyed) return;
    if (err === undefined) {
      // The device is closing: abort on the device (best effort) and release quietly.
      if (this.entry) this.sendClose(true);
      this.closeRequested = true;
      this.destroy();
      return;
    }
    this.entry = undefined;
    this.closeRequested = true; // nothing to close on the device any more
    this.destroy(socketDriverError(err, this.errFields(this.connecting ? 'connect' : 'read')));
  }

  // ---- receive credit ------------------------------------------------------------------------------

  override _read(): void {
    this.readWanted = true;
    if (this.deferredError) {
      this.maybeRaiseDeferred();
      return;
    }
    this.grantCredit();
  }

  private grantCredit(): void {
    if (this._id === undefined || this.destroyed || this.eofPushed || this.closeRequested || !this.entry)
      return;
    // Credit the device holds (mirror, kept right by events and snapshots) plus grants still on their way.
    const outstanding = this.entry.recvCredit + this.creditInFlight;
    const want = this.recvWindow - outstanding - this.readableLength;
    if (want <= 0) return;
    const quarter = this.recvWindow >>> 2;
    if (want < quarter && outstanding >= quarter) return;
    this.creditInFlight += want;
    const id = this._id;
    this.host.device
      .requestRaw(
        'RECV_CREDIT',
        { id, bytes: want },
        {
          socketId: id,
          captureStack: false,
          onResponse: () => {
            this.creditInFlight -= want;
          },
        },
      )
      .then(
        (r) => {
          if (r.status !== StatusCode.OK && !this.destroyed && r.status !== StatusCode.E_UNKNOWN_SOCKET) {
            this.log.debug({ status: r.status }, 'RECV_CREDIT refused');
          }
        },
        (err: Error) => {
          this.creditInFlight = 0;
          this.driverFailure(err, 'read');
        },
      );
  }

  private driverFailure(err: Error & { code?: string }, syscall: string): void {
    if (this.destroyed) return;
    if (err.code === DeviceErrorCode.DEVICE_CLOSED) return;
    this.destroy(socketDriverError(err, this.errFields(syscall)));
  }

  // ---- send --------------------------------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pendingWrites.push({ buf: chunk, off: 0, cb });
    this.flushWrites();
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    // No concatenation: each chunk goes out as it is (SENDs are cut at maxPayload anyway); cb after the last.
    const last = chunks.length - 1;
    chunks.forEach((c, i) => {
      this.pendingWrites.push({ buf: c.chunk, off: 0, cb: i === last ? cb : noop });
    });
    this.flushWrites();
  }

  /** Send credit the host holds now: the mirror's sendSpace minus SENDs not yet answered. */
  get sendCredit(): number {
    return this.entry ? Math.max(0, this.entry.sendSpace - this.sendInFlight) : 0;
  }

  /**
   * Sends pending writes as SENDs within the send credit, at most maxSendData bytes each. A SEND gathers the
   * end of one write and the start of the next when both are here, so that writes larger than maxSendData
   * (64 KiB writes with 65535-byte messages) do not leave a tiny SEND after every write. For that, a small
   * remainder (<= HOLD_MAX bytes) of a write that was just cut is held back, its callback called, until the
   * next write arrives or the current tick's I/O is over (setImmediate), whichever comes first; end(),
   * destroy() and `force` send it at once.
   */
  private flushWrites(force = false): void {
    if (
      this.phase !== 'open' ||
      this._id === undefined ||
      this.destroyed ||
      !this.entry ||
      this.deferredError
    )
      return;
    const max = this.host.device.maxSendData;
    while (this.pendingWrites.length > 0) {
      const w = this.pendingWrites[0]!;
      if (w.off >= w.buf.length) {
        // An empty write (http writes some): nothing to send, done at once.
        this.pendingWrites.shift();
        w.cb();
        continue;
      }
      const credit = this.sendCredit;
      if (credit <= 0) break;
      const limit = Math.min(credit, max);
      const avail = w.buf.length - w.off;
      if (avail < limit && this.pendingWrites.length > 1) {
        this.sendGathered(limit);
        continue;
      }
      if (
        !force &&
        avail < limit &&
        avail <= HOLD_MAX &&
        w.off > 0 &&
        !w.held &&
        !this.writableEnded &&
        this.finalCallback === undefined
      ) {
        // The small end of a write we just cut: wait for the next write to send it with.
        w.held = true;
        const cb = w.cb;
        w.cb = noop;
        this.heldTimer ??= setImmediate(() => {
          this.heldTimer = undefined;
          this.flushWrites(true);
        });
        this.touch();
        cb(); // may hand us the next write at once (re-entering flushWrites, which sends both)
        return;
      }
      const n = Math.min(limit, avail);
      const data = w.buf.subarray(w.off, w.off + n);
      w.off += n;
      this.sendData(data);
      if (w.off >= w.buf.length) {
        this.pendingWrites.shift();
        this.touch();
        w.cb();
      }
    }
    if (this.pendingWrites.length === 0 && this.finalCallback) this.doShutdown();
  }

  /** One SEND of up to `limit` bytes taken from the head writes in order; completes the writes it finishes. */
  private sendGathered(limit: number): void {
    const pieces: Buffer[] = [];
    let n = 0;
    for (const w of this.pendingWrites) {
      if (n >= limit) break;
      const k = Math.min(w.buf.length - w.off, limit - n);
      if (k <= 0) continue;
      pieces.push(w.buf.subarray(w.off, w.off + k));
      w.off += k;
      n += k;
    }
    // The SEND message is laid out here (header, then the pieces): one copy, no intermediate buffer.
    const msg = Buffer.allocUnsafe(SEND_HEADER + n);
    let o = SEND_HEADER;
    for (const p of pieces) o += p.copy(msg, o);
    msg[0] = Opcode.SEND;
    msg[1] = 0;
    msg.writeUInt16LE(this._id as number, Limits.messageHeaderSize);
    this.sendData(msg.subarray(SEND_HEADER), (tag) => {
      msg.writeUInt16LE(tag, 2);
      return msg;
    });
    while (this.pendingWrites.length > 0) {
      const w = this.pendingWrites[0]!;
      if (w.off < w.buf.length) break;
      this.pendingWrites.shift();
      this.touch();
      w.cb();
    }
  }

  private sendData(data: Buffer, encode?: (tag: number) => Buffer): void {
    const id = this._id as number;
    const n = data.length;
    this.sendInFlight += n;
    this._bytesSent += n;
    this.host.device
      .requestRaw(
        'SEND',
        { id, data },
        {
          socketId: id,
          captureStack: false,
          onResponse: () => {
            this.sendInFlight -= n;
          },
          ...(encode ? { encode } : {}),
        },
      )
      .then(
        (r) => {
          if (r.status === StatusCode.OK) return;
          if (this.destroyed) return;
          this.sendFailed(r.status);
        },
        (err: Error) => {
          this.driverFailure(err, 'write');
        },
      );
  }

  private sendFailed(status: number): void {
    if (status === StatusCode.E_QUEUE_FULL) {
      // We never send beyond our credit: the device and the mirror disagree; bytes cannot be re-ordered safely.
      this.destroy(
        new SocketError(
          'E_OFFLOAD_QUEUE_FULL',
          'the device refused data within the send credit it granted',
          this.errFields('write'),
        ),
      );
      return;
    }
    // After a reset the error is raised when the received data has been read (checkReadEnd); a SEND that
    // raced it fails the writes now.
    const err = socketStatusError(status, this.errFields('write'));
    if (status === StatusCode.EPIPE && this.entry && this.entry.lastError !== 0) return;
    this.destroy(err);
  }

  private failWrites(err: Error): void {
    const writes = this.pendingWrites.splice(0);
    for (const w of writes) w.cb(err);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.finalCallback = cb;
    if (this.phase === 'open') this.doShutdown();
    // else: connected() will do it; a socket never connected just finishes when destroyed.
    else if (this.phase === 'idle') {
      this.finalCallback = undefined;
      cb();
    }
  }

  private doShutdown(): void {
    if (this.pendingWrites.length > 0) {
      // A held remainder goes first; flushWrites() calls us again once every write is out.
      this.flushWrites(true);
      return;
    }
    const cb = this.finalCallback;
    if (!cb || this.shutdownSent || this._id === undefined) return;
    this.finalCallback = undefined;
    this.shutdownSent = true;
    const id = this._id;
    if (this.entry && (this.entry.lastError !== 0 || (this.entry.flags & ConditionFlag.WRITE_SHUT) !== 0)) {
      cb();
      return;
    }
    this.host.device.requestRaw('SHUTDOWN', { id, how: ShutdownHow.WRITE }, { socketId: id }).then(
      (r) => {
        // ENOTCONN/EPIPE after the peer reset: the error (if any) is reported on the read side.
        if (r.status !== StatusCode.OK) this.log.debug({ status: r.status }, 'SHUTDOWN refused');
        cb();
      },
      (err: Error) => cb(socketDriverError(err, this.errFields('shutdown'))),
    );
  }

  // ---- options -------------------------------------------------------------------------------------------

  setNoDelay(noDelay = true): this {
    this.wantNoDelay = noDelay;
    if (this._id !== undefined && this.phase === 'open') {
      this.cmd(
        'SETOPT',
        { id: this._id, option: SocketOption.NODELAY, value: noDelay ? 1 : 0 },
        'setsockopt',
      ).catch((err: Error) => this.log.debug({ err }, 'setNoDelay failed'));
    }
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    const ms = enable ? initialDelay || KEEPALIVE_DEFAULT_MS : 0;
    this.wantKeepAliveMs = ms;
    if (this._id !== undefined && this.phase === 'open' && this.host.device.hasCapability('KEEPALIVE')) {
      this.cmd('SETOPT', { id: this._id, option: SocketOption.KEEPALIVE, value: ms }, 'setsockopt').catch(
        (err: Error) => this.log.debug({ err }, 'setKeepAlive failed'),
      );
    }
    return this;
  }

  /** Idle timeout: 'timeout' after `ms` without data in or out (0 disables), as net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0)
      throw new RangeError(`timeout must be a non-negative number, got ${ms}`);
    this.timeout = ms;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (ms > 0) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
      this.idleTimer.unref?.();
      if (callback) this.once('timeout', callback);
    } else if (callback) {
      this.removeListener('timeout', callback);
    }
    return this;
  }

  private touch(): void {
    this.idleTimer?.refresh();
  }

  /** Abort: RST to the peer, queued data dropped (net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    this.abortOnClose = true;
    this.destroy();
    return this;
  }

  // ---- typed events (as net.Socket declares them) ------------------------------------------------

  override on(
    event: 'connect' | 'ready' | 'end' | 'timeout' | 'drain' | 'finish',
    listener: () => void,
  ): this;
  override on(event: 'data', listener: (data: Buffer) => void): this;
  override on(event: 'close', listener: (hadError: boolean) => void): this;
  override on(event: 'error', listener: (err: SocketError) => void): this;
  override on(
    event: 'lookup',
    listener: (err: Error | null, address: string, family: number, host: string) => void,
  ): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }
  override once(
    event: 'connect' | 'ready' | 'end' | 'timeout' | 'drain' | 'finish',
    listener: () => void,
  ): this;
  override once(event: 'data', listener: (data: Buffer) => void): this;
  override once(event: 'close', listener: (hadError: boolean) => void): this;
  override once(event: 'error', listener: (err: SocketError) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }

  // ---- destroy ---------------------------------------------------------------------------------------

  /** On a graceful destroy(): a held remainder (whose write was reported done) still goes out before CLOSE. */
  private sendHeld(): void {
    const w = this.pendingWrites[0];
    if (!w?.held || this.pendingWrites.length !== 1 || this._id === undefined || !this.entry) return;
    if (this.phase !== 'open' || this.closeRequested || this.sendCredit < w.buf.length - w.off) return;
    this.pendingWrites.shift();
    this.sendData(w.buf.subarray(w.off));
  }

  private sendClose(abort: boolean): void {
    if (this._id === undefined || this.closeRequested) return;
    this.closeRequested = true;
    const id = this._id;
    this.host.device.requestRaw('CLOSE', { id, abort: abort ? 1 : 0 }, { socketId: id }).then(
      (r) => {
        if (r.status !== StatusCode.OK) this.log.debug({ status: r.status }, 'CLOSE refused');
      },
      (err: Error) => this.log.debug({ err }, 'CLOSE failed'),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.heldTimer) clearImmediate(this.heldTimer);
    this.heldTimer = undefined;
    this.connecting = false;
    if (!err && !this.abortOnClose) this.sendHeld();
    this.failWrites(
      err ?? new SocketError('ERR_STREAM_DESTROYED', 'socket destroyed', this.errFields('write')),
    );
    const fc = this.finalCallback;
    this.finalCallback = undefined;
    fc?.(err ?? undefined);
    if (this.entry && !this.closeRequested) {
      // destroy() closes gracefully (queued data still goes out, then FIN), like closing a file descriptor;
      // destroy(err) and resetAndDestroy() abort (RST).
      this.sendClose(this.abortOnClose || !!err);
    }
    this.phase = 'closed';
    this.host.hub.untrack(this);
    cb(err);
  }
}

export { anyAddr };
