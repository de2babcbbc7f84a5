/**
 * socket-offload: run Node sockets on a network-offload board (or on the simulator).
 *
 *   import { openDevice } from 'socket-offload';
 *   const dev = await openDevice('sim:');               // or 'tcp://127.0.0.1:7070', 'serial:///dev/ttyUSB0?baud=921600',
 *                                                       //    'pcie:///dev/xdma0_user?events=/dev/xdma0_events_0'
 *   const sock = dev.createConnection({ host: '127.0.0.1', port: 80 }, () => sock.write('GET / HTTP/1.0\r\n\r\n'));
 *   const srv = dev.createServer((conn) => conn.pipe(conn)).listen(8080, '127.0.0.1');
 *   const udp = dev.createSocket('udp4');
 *   dev.sockets;               // the mirror of the device's socket table
 *   await dev.snapshot();      // the device's own view
 *   await dev.readRegister('STATUS');
 *   await dev.close();
 *
 * Channels (several hosts on one board): openDevice('tcp://127.0.0.1:7070', { channel: 2 }) or '...?channel=2';
 * the admin channel: { channel: 255, credential } or '...?channel=255&credential=...' or $OFFLOAD_CREDENTIAL.
 */
import type { Logger } from 'pino';
import { channelRole, Device, type DeviceOptions, type SecureOptions } from './device/index.js';
import type { ChannelRoleName } from './protocol/index.js';
import { Link, type LinkFraming, type LinkOptions, openPcieChannel } from './link/index.js';
import type { MessageChannel } from './link/channel.js';
import { secureFromUrl } from './secure-url.js';
import { OffloadDevice, type SocketDefaults } from './sockets/index.js';
import {
  createTransport,
  parseDeviceUrl,
  type SimUrl,
  type Transport,
  type OpenTransportOptions,
  extractChannelParams,
} from './transport/index.js';

/** Where the admin credential comes from when neither the options nor the URL give one. */
export const CREDENTIAL_ENV = 'OFFLOAD_CREDENTIAL';

export interface OpenDeviceOptions {
  /**
   * Device URL: 'sim:[name][?slots=N&sendQueueSize=..&recvQueueSize=..&maxPayload=..&backlogMax=..]', 'tcp://host:port',
   * 'serial:///dev/...?baud=...', 'rfc2217://host:port?baud=...',
   * 'pcie:///dev/xdma0_user?events=/dev/xdma0_events_0[&access=word|block][&poll=ms][&cmdentries=..]' (no events: polling).
   */
  url?: string;
  /** An already created transport (not yet opened, or open) instead of a URL; give `framing` too. */
  transport?: Transport;
  /** Link framing for `transport` (default 'tcp'); URLs choose it themselves (serial → 'serial' with ARQ). */
  framing?: LinkFraming;
  /** Wrap the transport before the link starts (e.g. a FaultTransport in tests). */
  wrapTransport?: (t: Transport) => Transport;
  /** pino logger; the device logs through a child { device: name }. Quiet by default. */
  logger?: Logger;
  /** Name in logs (default: the URL). */
  name?: string;
  /** Link start + HELLO must complete within this (ms). Default 5000. */
  handshakeTimeoutMs?: number;
  /** Default per-command response timeout (ms). Default 10000. */
  requestTimeoutMs?: number;
  /** Commands in flight at most (more wait in a queue). Default 64. */
  maxInFlight?: number;
  /** Link options (window, maxPayload, arq, heartbeatMs, deadTimeoutMs ...); on PCIe heartbeatMs and deadTimeoutMs. */
  link?: Partial<Omit<LinkOptions, 'role' | 'framing' | 'logger'>>;
  /** Transport options for tcp:/serial:/rfc2217: URLs. */
  transportOptions?: Omit<OpenTransportOptions, 'logger'>;
  /** In-process simulator options for 'sim:' (slots, queue sizes, faults, network ...); URL parameters override. */
  sim?: Record<string, unknown>;
  /** Socket defaults: receive window per stream socket, datagram window, listen backlog. */
  sockets?: Partial<SocketDefaults>;
  /**
   * Secure execution (PROTOCOL.md §12): the key-based handshake after HELLO, then every frame authenticated.
   * A wrong key or unknown keyId rejects with E_OFFLOAD_AUTH. Also from the URL: `?keyId=N` with the key in
   * OFFLOAD_KEY or OFFLOAD_KEY_FILE (src/secure-url.ts). Not on pcie: URLs.
   */
  secure?: SecureOptions;
  /** Channel to open (default 0, or the URL's ?channel=N); on pcie: a channel with a ring pair (§10.5). */
  channel?: number;
  /**
   * Admin credential (or the URL's &credential=, or $OFFLOAD_CREDENTIAL for an ADMIN channel): opens the channel
   * with role ADMIN.
   */
  credential?: string | Uint8Array;
  /** Role (default ADMIN with a credential or on channel 255, else NORMAL). */
  role?: ChannelRoleName;
}

/** Channel, role and credential from the options, the URL and the environment; the URL without them. */
export function resolveChannel(opts: OpenDeviceOptions): OpenDeviceOptions {
  const out: OpenDeviceOptions = { ...opts };
  if (opts.url) {
    const p = extractChannelParams(opts.url);
    out.url = p.url;
    if (out.channel === undefined && p.channel !== undefined) out.channel = p.channel;
    if (out.credential === undefined && p.credential !== undefined) out.credential = p.credential;
  }
  if (out.channel === undefined && opts.link?.channel !== undefined) out.channel = opts.link.channel;
  const env = process.env[CREDENTIAL_ENV];
  if (out.credential === undefined && env && channelRole(out) === 'ADMIN') out.credential = env;
  return out;
}

const SIM_NUMERIC_PARAMS = ['slots', 'sendQueueSize', 'recvQueueSize', 'maxPayload', 'backlogMax'] as const;

function simOptionsFromUrl(url: SimUrl, base: Record<string, unknown>): Record<string, unknown> {
  const o: Record<string, unknown> = { network: 'host', name: url.name, ...base };
  for (const [k, v] of Object.entries(url.params)) {
    const key = SIM_NUMERIC_PARAMS.find((p) => p.toLowerCase() === k.toLowerCase());
    if (key) {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new TypeError(`sim: parameter ${k} must be a whole number, got '${v}'`);
      o[key] = n;
    } else if (k.toLowerCase() === 'network') {
      o.network = v;
    } else if (k.toLowerCase() === 'loglevel') {
      o.logLevel = v;
    } else {
      throw new TypeError(
        `sim: unknown parameter '${k}' (known: ${[...SIM_NUMERIC_PARAMS, 'network', 'logLevel'].join(', ')})`,
      );
    }
  }
  return o;
}

/**
 * Open a device: create and open the transport, start the link, HELLO. Rejects with E_OFFLOAD_NO_ANSWER (nothing
 * answered), E_OFFLOAD_NOT_A_DEVICE (something answered, not this protocol), E_OFFLOAD_BAD_VERSION, or the
 * transport's error (E_OFFLOAD_PORT_NOT_FOUND, E_OFFLOAD_CONNECT_REFUSED, E_OFFLOAD_BAD_URL ...).
 */
export async function openDevice(
  target: string | OpenDeviceOptions,
  more: Omit<OpenDeviceOptions, 'url'> = {},
): Promise<OffloadDevice> {
  const opts = resolveChannel({ ...(typeof target === 'string' ? { url: target } : target), ...more });
  if (opts.url) {
    const fromUrl = secureFromUrl(opts.url);
    opts.url = fromUrl.url;
    if (fromUrl.secure && !opts.secure) opts.secure = fromUrl.secure;
  }
  if (!opts.transport && opts.url && parseDeviceUrl(opts.url).kind === 'pcie') return openPcieDevice(opts);
  let transport: Transport;
  let framing: LinkFraming = opts.framing ?? 'tcp';
  let simulator: { close(): Promise<void> } | undefined;
  let name = opts.name;
  if (opts.transport) {
    transport = opts.transport;
    name ??= transport.description;
  } else {
    if (!opts.url) throw new TypeError('openDevice needs a URL (or { url } / { transport })');
    const parsed = parseDeviceUrl(opts.url);
    name ??= opts.url;
    if (parsed.kind === 'sim') {
      // The in-process simulator is opt-in by URL: the only place src reaches into sim/.
      const sim = (await import('../sim/index.js')) as typeof import('../sim/index.js');
      const simOpts = simOptionsFromUrl(parsed, opts.sim ?? {});
      const inproc = sim.createInProcessDevice(simOpts as Parameters<typeof sim.createInProcessDevice>[0]);
      simulator = inproc;
      transport = inproc.transport;
      framing = 'tcp';
    } else {
      const to: OpenTransportOptions = { ...(opts.transportOptions ?? {}) };
      if (opts.logger) to.logger = opts.logger;
      transport = createTransport(parsed, to);
      // A board behind RFC 2217 (ser2net) is still on a serial line: serial framing with ARQ.
      framing = parsed.kind === 'serial' || parsed.kind === 'rfc2217' ? 'serial' : 'tcp';
    }
  }
  if (opts.wrapTransport) transport = opts.wrapTransport(transport);
  const closeAll = async () => {
    await transport.close().catch(() => undefined);
    await simulator?.close().catch(() => undefined);
  };
  try {
    await transport.open();
  } catch (err) {
    await simulator?.close().catch(() => undefined);
    throw err;
  }
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 5000;
  const linkOpts: LinkOptions = {
    role: 'host',
    framing,
    syncTimeoutMs: handshakeTimeoutMs,
    ...(opts.link ?? {}),
  };
  if (opts.channel !== undefined) linkOpts.channel = opts.channel;
  if (opts.logger) linkOpts.logger = opts.logger;
  const link = new Link(transport, linkOpts);
  return finishOpen(opts, link, transport, name!, closeAll, simulator, linkOpts.channel);
}

/** The Device and the OffloadDevice on a message channel (a Link, or the PCIe rings). */
async function finishOpen(
  opts: OpenDeviceOptions,
  channel: MessageChannel,
  transport: Transport,
  name: string,
  closeAll: () => Promise<void>,
  simulator: { close(): Promise<void> } | undefined,
  channelNumber: number | undefined,
): Promise<OffloadDevice> {
  const devOpts: DeviceOptions = {
    name,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 5000,
    onClose: closeAll,
  };
  if (opts.logger) devOpts.logger = opts.logger;
  if (opts.requestTimeoutMs !== undefined) devOpts.requestTimeoutMs = opts.requestTimeoutMs;
  if (opts.maxInFlight !== undefined) devOpts.maxInFlight = opts.maxInFlight;
  if (channelNumber !== undefined) devOpts.channel = channelNumber;
  if (opts.secure) devOpts.secure = opts.secure;
  if (opts.credential !== undefined) devOpts.credential = opts.credential;
  if (opts.role !== undefined) devOpts.role = opts.role;
  const device = new Device(channel, devOpts);
  await device.open();
  const devInit: ConstructorParameters<typeof OffloadDevice>[2] = { simulator };
  if (opts.sockets) devInit.defaults = opts.sockets;
  const dev = new OffloadDevice(device, transport, devInit);
  // Sockets a previous host left on the device (same epoch, e.g. after a host restart) are closed (§8.2).
  await dev.sync().catch((err: unknown) => device.log.warn({ err }, 'initial reconciliation failed'));
  return dev;
}

/**
 * pcie: the register window (the transport) and its rings (the message channel); no link layer (PROTOCOL.md §10).
 * wrapTransport does not apply (the window is not a byte stream).
 */
async function openPcieDevice(opts: OpenDeviceOptions): Promise<OffloadDevice> {
  const url = opts.url as string;
  const ringOpts: Parameters<typeof openPcieChannel>[1] = { name: opts.name ?? url };
  if (opts.logger) ringOpts.logger = opts.logger;
  if (opts.link?.heartbeatMs !== undefined) ringOpts.heartbeatMs = opts.link.heartbeatMs;
  if (opts.link?.deadTimeoutMs !== undefined) ringOpts.deadTimeoutMs = opts.link.deadTimeoutMs;
  if (opts.handshakeTimeoutMs !== undefined) ringOpts.startTimeoutMs = opts.handshakeTimeoutMs;
  // Channels other than 0 are ring pairs of their own (PROTOCOL.md §10.5): E_OFFLOAD_NO_CHANNEL at start when
  // the device offers none for the channel.
  if (opts.channel !== undefined) ringOpts.channel = opts.channel;
  const { window, channel } = await openPcieChannel(url, ringOpts);
  const closeAll = async () => {
    await channel.close().catch(() => undefined);
    await window.close().catch(() => undefined);
  };
  return finishOpen(opts, channel, window, opts.name ?? url, closeAll, undefined, opts.channel ?? 0);
}

export { OffloadError, isOffloadError } from './errors.js';
export {
  Device,
  DeviceError,
  DeviceErrorCode,
  type DeviceEvents,
  type DeviceInfo,
  type DeviceOptions,
  type DeviceResetInfo,
  type DeviceSnapshot,
  DeviceStatusError,
  type SecureOptions,
  ADMIN_CHANNEL,
  type ChannelInfo,
  type EgressRuleInit,
  type RegisterRef,
  statusToCode,
} from './device/index.js';
export {
  ALL_ENTRY_FIELDS,
  type CreateConnectionOptions,
  diffTables,
  type DiffOptions,
  formatDifferences,
  LEVEL_FIELDS,
  type MirrorEntry,
  MIRRORED_FIELDS,
  type OffloadConnectOptions,
  OffloadDevice,
  type OffloadDeviceEvents,
  type OffloadListenOptions,
  OffloadServer,
  type OffloadServerOptions,
  OffloadSocket,
  type OffloadSocketOptions,
  OffloadUdpSocket,
  type OffloadUdpOptions,
  type RemoteInfo,
  SocketError,
  SocketTable,
  type SocketTableEvents,
  type TableDifference,
} from './sockets/index.js';
export { LinkError, LinkErrorCode } from './link/index.js';
export {
  createTransport,
  parseDeviceUrl,
  SharedTransport,
  TransportError,
  TransportErrorCode,
} from './transport/index.js';
export type { Addr, SocketEntry } from './protocol/index.js';
export {
  Capability,
  ConditionFlag,
  SOCKET_STATUS_NAME,
  SocketStatus,
  StatusCode,
} from './protocol/index.js';
