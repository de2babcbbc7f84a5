/**
 * OffloadDevice: what openDevice() returns. One board (one channel): its mailbox client (Device), its mirrored
 * socket table (SocketHub / SocketTable) and the factories for socket objects. Several can be open in one
 * process; each has its own table, sockets and child logger.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  adminClose,
  clearEgress,
  type Device,
  type DeviceInfo,
  type DeviceResetInfo,
  type DeviceSnapshot,
  type EgressRuleInit,
  type ChannelInfo,
  type RegisterRef,
  resetChannel,
  setEgressRule,
} from '../device/index.js';
import type { DeviceError } from '../device/index.js';
import type { Transport } from '../transport/index.js';
import { diffTables, type DiffOptions, type TableDifference } from './compare.js';
import { DEFAULT_SOCKET_DEFAULTS, type SocketDefaults, type SocketHost } from './host.js';
import { SocketHub } from './hub.js';
import { OffloadServer, type OffloadServerOptions } from './server.js';
import { type OffloadConnectOptions, OffloadSocket, type OffloadSocketOptions } from './socket.js';
import type { SocketTable } from './table.js';
import { type OffloadUdpOptions, OffloadUdpSocket, type RemoteInfo, type UdpType } from './udp.js';

export interface OffloadDeviceEvents {
  /** The device rebooted: every socket failed with E_OFFLOAD_DEVICE_RESET. */
  reset: [info: DeviceResetInfo];
  /** Handshake completed again after a reset. */
  ready: [info: DeviceInfo];
  /** The link is gone: every socket failed with E_OFFLOAD_LINK_DOWN. */
  down: [err: DeviceError];
  close: [];
}

export type CreateConnectionOptions = OffloadConnectOptions & Omit<OffloadSocketOptions, 'device'>;

export class OffloadDevice extends EventEmitter<OffloadDeviceEvents> implements SocketHost {
  readonly device: Device;
  readonly hub: SocketHub;
  readonly log: Logger;
  readonly defaults: SocketDefaults;
  /** The transport under the link (a FaultTransport when the caller wrapped it). */
  readonly transport: Transport;
  /** The in-process simulator behind a 'sim:' device (fault injection in tests), else undefined. */
  readonly simulator: unknown;

  constructor(
    device: Device,
    transport: Transport,
    options: { defaults?: Partial<SocketDefaults>; simulator?: unknown } = {},
  ) {
    super();
    this.device = device;
    this.transport = transport;
    this.log = device.log;
    this.defaults = { ...DEFAULT_SOCKET_DEFAULTS, ...(options.defaults ?? {}) };
    this.simulator = options.simulator;
    this.hub = new SocketHub(device, device.log);
    device.on('reset', (info) => this.emit('reset', info));
    device.on('ready', (info) => this.emit('ready', info));
    device.on('down', (err) => this.emit('down', err));
    device.on('close', () => this.emit('close'));
  }

  /** Protocol version, capabilities, slots, epoch, maxPayload, firmware, link parameters. */
  get info(): DeviceInfo {
    return this.device.info;
  }
  get name(): string {
    return this.device.name;
  }
  /** The host-side mirror of the device's socket table. */
  get sockets(): SocketTable {
    return this.hub.table;
  }

  // ---- sockets -------------------------------------------------------------------------------------

  /** An unconnected TCP socket object (call connect() later), like `new net.Socket()`. */
  createSocketObject(options: Omit<OffloadSocketOptions, 'device'> = {}): OffloadSocket {
    return new OffloadSocket({ ...options, device: this });
  }

  /** Like net.createConnection(options, connectListener) / (port, host, connectListener). */
  createConnection(options: CreateConnectionOptions, connectListener?: () => void): OffloadSocket;
  createConnection(port: number, host?: string, connectListener?: () => void): OffloadSocket;
  createConnection(...args: unknown[]): OffloadSocket {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === 'function') cb = args.pop() as () => void;
    let opts: CreateConnectionOptions;
    if (typeof args[0] === 'object' && args[0] !== null) opts = args[0] as CreateConnectionOptions;
    else {
      opts = { port: Number(args[0]) };
      if (typeof args[1] === 'string') opts.host = args[1];
    }
    const so: Omit<OffloadSocketOptions, 'device'> = {};
    if (opts.allowHalfOpen !== undefined) so.allowHalfOpen = opts.allowHalfOpen;
    if (opts.recvWindow !== undefined) so.recvWindow = opts.recvWindow;
    if (opts.readableHighWaterMark !== undefined) so.readableHighWaterMark = opts.readableHighWaterMark;
    if (opts.writableHighWaterMark !== undefined) so.writableHighWaterMark = opts.writableHighWaterMark;
    const s = this.createSocketObject(so);
    return cb ? s.connect(opts, cb) : s.connect(opts);
  }
  /** Alias of createConnection, as net.connect. */
  connect(options: CreateConnectionOptions, connectListener?: () => void): OffloadSocket {
    return this.createConnection(options, connectListener);
  }

  /** Like net.createServer([options][, connectionListener]). */
  createServer(connectionListener?: (socket: OffloadSocket) => void): OffloadServer;
  createServer(
    options: OffloadServerOptions,
    connectionListener?: (socket: OffloadSocket) => void,
  ): OffloadServer;
  createServer(
    a?: OffloadServerOptions | ((socket: OffloadSocket) => void),
    b?: (socket: OffloadSocket) => void,
  ): OffloadServer {
    if (typeof a === 'function') return new OffloadServer(this, {}, a);
    return new OffloadServer(this, a ?? {}, b);
  }

  /** Like dgram.createSocket(type | options[, messageListener]). */
  createSocket(
    type: UdpType | OffloadUdpOptions,
    messageListener?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ): OffloadUdpSocket {
    return new OffloadUdpSocket(this, type, messageListener);
  }

  // ---- device ------------------------------------------------------------------------------------

  /**
   * The device's own view of its socket table (every SNAPSHOT page). Does not change the mirror.
   * `allChannels` (ADMIN channel only): every channel's sockets, each entry with its `channel`.
   */
  snapshot(options: { allChannels?: boolean } = {}): Promise<DeviceSnapshot> {
    return this.device.snapshot(options.allChannels ? { allChannels: true } : {});
  }

  /** Differences between the mirror and a fresh snapshot; empty at a quiet moment when all is well. */
  async diff(options: DiffOptions = {}): Promise<TableDifference[]> {
    const snap = await this.device.snapshot();
    return diffTables(this.hub.table.list(), snap.entries, { channel: this.device.channel, ...options });
  }

  // ---- channels (PROTOCOL.md §11) -------------------------------------------------------------------

  /** The channel this object speaks on: number, role (NORMAL / ADMIN) and quotas. */
  get channel(): ChannelInfo {
    return this.device.info.channel;
  }
  /** ADMIN: abort a socket of any channel (its owner sees ECONNABORTED). */
  adminClose(id: number): Promise<void> {
    return adminClose(this.device, id);
  }
  /** ADMIN: abort every socket of `channel`; resolves with how many. */
  resetChannel(channel: number): Promise<number> {
    return resetChannel(this.device, channel);
  }
  /** ADMIN with a secure session: add an egress allow rule; resolves with the channel's rule count. */
  setEgressRule(rule: EgressRuleInit): Promise<number> {
    return setEgressRule(this.device, rule);
  }
  /** ADMIN with a secure session: remove every egress rule of `channel`. */
  clearEgress(channel: number): Promise<void> {
    return clearEgress(this.device, channel);
  }

  /** Reconcile the mirror with the device now (what a sequence gap triggers). */
  sync(): Promise<void> {
    return this.hub.reconcile();
  }

  readRegister(ref: RegisterRef | string): Promise<number> {
    return this.device.readRegister(ref);
  }
  readRegisters(ref: RegisterRef | string, count: number): Promise<number[]> {
    return this.device.readRegisters(ref, count);
  }
  writeRegister(ref: RegisterRef | string, value: number): Promise<void> {
    return this.device.writeRegister(ref, value);
  }
  ping(payload?: Uint8Array): Promise<number> {
    return this.device.ping(payload);
  }
  /** Reset the board; every socket fails with E_OFFLOAD_DEVICE_RESET; resolves when the driver is ready again. */
  reset(): Promise<void> {
    return this.device.reset();
  }
  /** Close every socket (CLOSE abort, best effort), then the link and transport. */
  close(): Promise<void> {
    return this.device.close();
  }
}
