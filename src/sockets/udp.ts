/**
 * OffloadUdpSocket: a UDP socket on the offload device with dgram.Socket's API: bind, send (to an address, or
 * to the connected peer), connect, close, address, remoteAddress, setBroadcast, setTTL, and the events
 * 'listening', 'message' (msg, rinfo), 'connect', 'close', 'error'.
 *
 * Credits: datagrams go out in order, each once the send credit covers it whole (never split); receive credit
 * is topped up as 'message' events are delivered (they are consumed synchronously), so the device never holds
 * back a datagram for lack of credit while the application listens.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { OffloadError } from '../errors.js';
import {
  type Addr,
  type OkResponseMessage,
  SocketOption,
  SocketType,
  StatusCode,
} from '../protocol/index.js';
import { SocketError, socketDriverError, socketStatusError } from './errors.js';
import type { SocketEndpoint } from './hub.js';
import { addrInfo, anyAddr, familyName, type SocketHost, toAddr } from './host.js';
import type { MirrorEntry, RemoveReason, UpdateCause } from './table.js';

export type UdpType = 'udp4' | 'udp6';

export interface OffloadUdpOptions {
  type: UdpType;
  /** Receive credit kept open (bytes). Default: the device's datagram window (256 KiB). */
  recvWindow?: number;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface OffloadUdpEvents {
  listening: [];
  message: [msg: Buffer, rinfo: RemoteInfo];
  connect: [];
  close: [];
  error: [err: Error];
}

type SendCallback = (err: Error | null, bytes?: number) => void;

interface QueuedDatagram {
  data: Buffer;
  to: Addr | null;
  cb: SendCallback | undefined;
}

let udpSerial = 0;

export class OffloadUdpSocket extends EventEmitter<OffloadUdpEvents> implements SocketEndpoint {
  readonly type: UdpType;
  private readonly host: SocketHost;
  private log: Logger;
  private readonly family: 4 | 6;
  private _id: number | undefined;
  private entry: MirrorEntry | undefined;
  private opening: Promise<void> | undefined;
  private binding: Promise<void> | undefined;
  private bound = false;
  private remote: Addr | undefined;
  private closed = false;
  private connectRequested = false;
  private readonly queue: QueuedDatagram[] = [];
  private sendInFlight = 0;
  readonly recvWindow: number;
  private creditInFlight = 0;

  constructor(
    host: SocketHost,
    options: UdpType | OffloadUdpOptions,
    messageListener?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ) {
    super();
    const o = typeof options === 'string' ? { type: options } : options;
    if (o.type !== 'udp4' && o.type !== 'udp6')
      throw new TypeError(`Bad socket type specified. Valid types are: udp4, udp6`);
    this.type = o.type;
    this.family = o.type === 'udp6' ? 6 : 4;
    this.host = host;
    this.recvWindow = Math.max(2048, o.recvWindow ?? host.defaults.datagramWindow);
    this.log = host.log.child({ udp: ++udpSerial });
    if (messageListener) this.on('message', messageListener);
  }

  get socketId(): number | undefined {
    return this._id;
  }

  private fields(syscall: string, to?: { address: string; port: number }) {
    return { syscall, address: to?.address, port: to?.port, socketId: this._id };
  }

  private ensureOpen(): Promise<void> {
    if (this.closed) return Promise.reject(new SocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'));
    this.opening ??= (async () => {
      this.host.hub.track(this);
      const r = await this.host.device
        .requestRaw(
          'SOCKET_OPEN',
          {
            type: SocketType.DGRAM,
            family: this.family,
            protocol: 17,
            blocking: 0,
            recvCredit: this.recvWindow,
          },
          {
            onResponse: (resp) => {
              if (resp.status !== StatusCode.OK) return;
              this._id = (resp as OkResponseMessage<'SOCKET_OPEN'>).body.id;
              this.log = this.log.child({ socketId: this._id });
              this.host.hub.register(this._id, this);
              this.entry = this.host.hub.table.get(this._id);
              if (this.closed) this.closeOnDevice();
            },
          },
        )
        .catch((err: Error) => {
          throw socketDriverError(err, this.fields('socket'));
        });
      if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.fields('socket'));
    })();
    return this.opening;
  }

  private async cmd(
    name: 'BIND' | 'CONNECT' | 'SETOPT',
    body: object,
    syscall: string,
    to?: { address: string; port: number },
  ) {
    const r = await this.host.device
      .requestRaw(name, body as never, { socketId: this._id })
      .catch((err: Error) => {
        throw socketDriverError(err, this.fields(syscall, to));
      });
    if (r.status !== StatusCode.OK) throw socketStatusError(r.status, this.fields(syscall, to));
    return r;
  }

  // ---- bind / connect ------------------------------------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(options: { port?: number; address?: string; exclusive?: boolean }, callback?: () => void): this;
  bind(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let port = 0;
    let address: string | undefined;
    if (typeof args[0] === 'object' && args[0] !== null) {
      const o = args[0] as { port?: number; address?: string };
      port = o.port ?? 0;
      address = o.address;
    } else {
      port = args[0] === undefined ? 0 : Number(args[0]);
      if (typeof args[1] === 'string') address = args[1];
    }
    if (this.binding) throw new SocketError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    if (cb) this.once('listening', cb);
    this.doBind(port, address).catch((err: Error) => this.emit('error', err));
    return this;
  }

  private doBind(port: number, address: string | undefined): Promise<void> {
    this.binding ??= (async () => {
      await this.ensureOpen();
      const a = address ?? (this.family === 6 ? '::' : '0.0.0.0');
      if (isIP(a) !== this.family)
        throw new SocketError('EINVAL', `bind: ${a} is not an ${this.type} address`, { syscall: 'bind' });
      await this.cmd('BIND', { id: this._id!, addr: toAddr(a, port) }, 'bind', { address: a, port });
      this.bound = true;
      this.emit('listening');
      this.pump();
    })();
    return this.binding;
  }

  /** Set the default peer; send() without an address goes there and only its datagrams are received. */
  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback: () => void): void;
  connect(port: number, ...rest: unknown[]): void {
    let cb: (() => void) | undefined;
    if (typeof rest[rest.length - 1] === 'function') cb = rest.pop() as () => void;
    const address = typeof rest[0] === 'string' ? rest[0] : this.family === 6 ? '::1' : '127.0.0.1';
    if (this.remote) throw new SocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (this.connectRequested) throw new SocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (cb) this.once('connect', cb);
    this.connectRequested = true;
    const to = toAddr(address, port);
    void (async () => {
      if (!this.binding) await this.doBind(0, undefined);
      else await this.binding;
      await this.cmd('CONNECT', { id: this._id!, timeoutMs: 0, addr: to }, 'connect', { address, port });
      this.remote = to;
      this.emit('connect');
      this.pump();
    })().catch((err: Error) => this.emit('error', err));
  }

  disconnect(): void {
    throw new SocketError(
      'E_OFFLOAD_NOT_SUPPORTED',
      'the offload protocol has no way to remove the default peer of a UDP socket',
    );
  }

  // ---- send ---------------------------------------------------------------------------------------------

  send(
    msg: string | Uint8Array | readonly (string | Uint8Array)[],
    port?: number,
    address?: string,
    callback?: SendCallback,
  ): void;
  send(
    msg: string | Uint8Array | readonly (string | Uint8Array)[],
    port?: number,
    callback?: SendCallback,
  ): void;
  send(msg: string | Uint8Array | readonly (string | Uint8Array)[], callback?: SendCallback): void;
  send(
    msg: string | Uint8Array,
    offset: number,
    length: number,
    port?: number,
    address?: string,
    callback?: SendCallback,
  ): void;
  send(...args: unknown[]): void {
    let cb: SendCallback | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as SendCallback;
    let data: Buffer;
    const m = args[0];
    let rest = args.slice(1);
    if (Array.isArray(m))
      data = Buffer.concat(
        m.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x as Uint8Array))),
      );
    else if (typeof m === 'string') data = Buffer.from(m);
    else data = Buffer.from(m as Uint8Array);
    if (
      rest.length >= 3 &&
      typeof rest[0] === 'number' &&
      typeof rest[1] === 'number' &&
      typeof rest[2] === 'number'
    ) {
      data = data.subarray(rest[0] as number, (rest[0] as number) + (rest[1] as number));
      rest = rest.slice(2);
    }
    const port = rest[0] as number | undefined;
    const address =
      (rest[1] as string | undefined) ??
      (port !== undefined ? (this.family === 6 ? '::1' : '127.0.0.1') : undefined);
    const fail = (err: Error) => {
      if (cb) process.nextTick(cb, err);
      else process.nextTick(() => this.emit('error', err));
    };
    if (this.closed) {
      fail(new SocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running', { syscall: 'send' }));
      return;
    }
    let to: Addr | null = null;
    if (port !== undefined) {
      if (this.connectRequested) {
        fail(new SocketError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected', { syscall: 'send' }));
        return;
      }
      try {
        to = toAddr(address!, port);
      } catch (err) {
        fail(new SocketError('EINVAL', (err as Error).message, { syscall: 'send' }));
        return;
      }
    } else if (!this.connectRequested) {
      fail(new SocketError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected', { syscall: 'send' }));
      return;
    }
    this.queue.push({ data, to, cb });
    if (!this.binding) this.doBind(0, undefined).catch((err: Error) => this.failQueue(err));
    else this.pump();
  }

  private failQueue(err: Error): void {
    const q = this.queue.splice(0);
    for (const d of q) {
      if (d.cb) d.cb(err);
      else this.emit('error', err);
    }
  }

  private get sendCredit(): number {
    return this.entry ? Math.max(0, this.entry.sendSpace - this.sendInFlight) : 0;
  }

  private pump(): void {
    if (!this.bound || this._id === undefined || this.closed) return;
    const id = this._id;
    while (this.queue.length > 0) {
      const d = this.queue[0]!;
      if (d.to === null && !this.remote) break; // connect() still in progress
      const max = d.to ? this.host.device.maxSendToData : this.host.device.maxSendData;
      if (d.data.length > max) {
        this.queue.shift();
        const err = new SocketError(
          'EMSGSIZE',
          `send EMSGSIZE: datagram of ${d.data.length} bytes exceeds ${max}`,
          this.fields('send'),
        );
        if (d.cb) process.nextTick(d.cb, err);
        else process.nextTick(() => this.emit('error', err));
        continue;
      }
      if (this.sendCredit < d.data.length) break;
      this.queue.shift();
      const n = d.data.length;
      this.sendInFlight += n;
      const onResponse = () => {
        this.sendInFlight -= n;
      };
      const p = d.to
        ? this.host.device.requestRaw(
            'SENDTO',
            { id, addr: d.to, data: d.data },
            { socketId: id, onResponse },
          )
        : this.host.device.requestRaw('SEND', { id, data: d.data }, { socketId: id, onResponse });
      const to = d.to ?? this.remote;
      p.then(
        (r) => {
          if (r.status === StatusCode.OK) d.cb?.(null, n);
          else {
            const err = socketStatusError(
              r.status,
              this.fields('send', to ? { address: to.address, port: to.port } : undefined),
            );
            if (d.cb) d.cb(err);
            else this.emit('error', err);
          }
        },
        (err: Error) => {
          const e = socketDriverError(err, this.fields('send'));
          if (d.cb) d.cb(e);
          else if (!this.closed) this.emit('error', e);
        },
      );
    }
  }

  // ---- SocketEndpoint ------------------------------------------------------------------------------------

  onEntry(_prev: MirrorEntry | undefined, next: MirrorEntry, _cause?: UpdateCause): void {
    this.entry = next;
    this.pump();
    this.topUp();
  }

  onDatagram(from: Addr, data: Buffer): void {
    if (this.closed) return;
    this.topUp();
    this.emit('message', data, {
      address: from.address,
      family: familyName(from.family) ?? 'IPv4',
      port: from.port,
      size: data.length,
    } as RemoteInfo);
  }

  private topUp(): void {
    if (this._id === undefined || this.closed || !this.entry) return;
    const outstanding = this.entry.recvCredit + this.creditInFlight;
    if (outstanding > this.recvWindow / 2) return;
    const bytes = this.recvWindow - outstanding;
    this.creditInFlight += bytes;
    const id = this._id;
    this.host.device
      .requestRaw(
        'RECV_CREDIT',
        { id, bytes },
        {
          socketId: id,
          onResponse: () => {
            this.creditInFlight -= bytes;
          },
        },
      )
      .catch(() => undefined);
  }

  onAsyncError(code: number): void {
    if (this.closed) return;
    this.emit('error', socketStatusError(code, this.fields('recvmsg')));
  }

  onRemoved(_entry: MirrorEntry, reason: RemoveReason): void {
    this.entry = undefined;
    if (this.closed) {
      this.finishClose();
      return;
    }
    this.emit(
      'error',
      new SocketError(
        'ECONNABORTED',
        `the UDP socket is gone from the device (${reason})`,
        this.fields('recvmsg'),
      ),
    );
    this.closed = true;
    this.finishClose();
  }

  onFatal(err: OffloadError | undefined): void {
    this.host.hub.untrack(this);
    if (this.closed) return;
    if (err === undefined) {
      this.close();
      return;
    }
    this.closed = true;
    this.entry = undefined;
    this.failQueue(socketDriverError(err, this.fields('send')));
    if (this.listenerCount('error') > 0) this.emit('error', socketDriverError(err, this.fields('recvmsg')));
    this.finishClose();
  }

  // ---- misc ----------------------------------------------------------------------------------------------

  address(): { address: string; family: string; port: number } {
    if (!this.bound || !this.entry) throw new SocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    return addrInfo(this.entry.local) as { address: string; family: string; port: number };
  }

  remoteAddress(): { address: string; family: string; port: number } {
    if (!this.remote) throw new SocketError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return addrInfo(this.remote) as { address: string; family: string; port: number };
  }

  private setopt(option: number, value: number): void {
    void (async () => {
      await this.ensureOpen();
      await this.cmd('SETOPT', { id: this._id!, option, value }, 'setsockopt');
    })().catch((err: Error) => this.emit('error', err));
  }

  setBroadcast(flag: boolean): void {
    this.setopt(SocketOption.BROADCAST, flag ? 1 : 0);
  }
  setTTL(ttl: number): number {
    this.setopt(SocketOption.TTL, ttl);
    return ttl;
  }
  setRecvBufferSize(size: number): void {
    this.setopt(SocketOption.RCVBUF, size);
  }
  setSendBufferSize(size: number): void {
    this.setopt(SocketOption.SNDBUF, size);
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  private closeOnDevice(): void {
    const id = this._id!;
    void this.host.device.requestRaw('CLOSE', { id, abort: 1 }, { socketId: id }).catch(() => undefined);
  }

  private closeEmitted = false;
  private finishClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.host.hub.untrack(this);
    if (this._id !== undefined) this.host.hub.unregister(this._id, this);
    process.nextTick(() => this.emit('close'));
  }

  close(callback?: () => void): this {
    if (callback) this.once('close', callback);
    if (this.closed) return this;
    this.closed = true;
    this.failQueue(
      new SocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket closed before the datagram was sent', {
        syscall: 'send',
      }),
    );
    if (this._id !== undefined && this.entry) this.closeOnDevice();
    this.finishClose();
    return this;
  }
}

export { anyAddr };
