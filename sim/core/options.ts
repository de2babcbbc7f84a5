/**
 * DeviceCore configuration: the board's "hardware" (slots, queue memory, maximum message size, firmware
 * identity), the injected clock and logger, and the deliberate defect modes used to prove the
 * conformance kit (issue 9). Defects are off unless a test switches them on through these options.
 */
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { Capability, type CapabilityName, Limits } from '../../src/protocol/index.js';

/**
 * Deliberate protocol violations, each a small, clearly marked branch in DeviceCore. For the conformance
 * kit's self-test only: every mode must make at least one conformance test fail.
 */
export interface DefectModes {
  /** A command refused by the transition table is answered OK (and the status moves to the rule's target). */
  acceptIllegalTransition: boolean;
  /** UPDATE with an unknown id still answers E_UNKNOWN_SOCKET, but applies its flags to a socket in the table. */
  updateUnknownChangesTable: boolean;
  /** Every event whose sequence number would be a multiple of 4 is sent one number later (a gap). */
  skipEventSeq: boolean;
  /** SEND_CREDIT events grant twice what the send queue freed. */
  overGrantCredit: boolean;
  /** The first byte of every TCP segment of two bytes or more from the network is lost. */
  dropDataByte: boolean;
  /** Messages with an unknown opcode get no answer at all. */
  ignoreUnknownOpcode: boolean;
  /** Channel isolation broken: a socket command naming another channel's socket acts on it (§11). */
  foreignIdAccepted: boolean;
  /** The channel queue quota is not enforced: queue bytes never cause E_QUOTA (§11 quotas). */
  ignoreQueueQuota: boolean;
}

export const NO_DEFECTS: Readonly<DefectModes> = Object.freeze({
  acceptIllegalTransition: false,
  updateUnknownChangesTable: false,
  skipEventSeq: false,
  overGrantCredit: false,
  dropDataByte: false,
  ignoreUnknownOpcode: false,
  foreignIdAccepted: false,
  ignoreQueueQuota: false,
});

export const DEFECT_MODE_NAMES = Object.keys(NO_DEFECTS) as (keyof DefectModes)[];

/**
 * Capabilities DeviceCore implements unconditionally. SECURE is advertised when keys are provisioned
 * (`secureKeys`); PCIE_RINGS comes with the PCIe server (`pcieRings`). A device without CHANNELS or
 * EGRESS_POLICY: pass `capabilities` without them.
 */
export const IMPLEMENTED_CAPABILITIES =
  Capability.TCP |
  Capability.UDP |
  Capability.IPV6 |
  Capability.ARQ |
  Capability.SNAPSHOT |
  Capability.REG_WINDOW |
  Capability.KEEPALIVE |
  Capability.CHANNELS |
  Capability.EGRESS_POLICY;

/** Not from DeviceCore alone: SECURE needs provisioned keys, PCIE_RINGS the PCIe server. */
export const NOT_IMPLEMENTED_CAPABILITIES: readonly CapabilityName[] = ['PCIE_RINGS', 'SECURE'];

/** A channel's share of the board (PROTOCOL.md §11). */
export interface ChannelQuota {
  /** Socket slots the channel may hold. */
  slotQuota: number;
  /** Queue bytes (send + receive queue sizes) across the channel's sockets. */
  queueQuota: number;
}

export interface DeviceCoreOptions {
  /** Socket slots (default 32, 1..255). */
  slots?: number;
  /** Default send queue bytes per socket (default 64 KiB). */
  sendQueueSize?: number;
  /** Default receive queue bytes per socket (default 64 KiB). */
  recvQueueSize?: number;
  /** Largest listen backlog (default 16). LISTEN asks for more: clamped. */
  backlogMax?: number;
  /** Largest message the device accepts and sends (default 16384); per channel, see setChannelMaxPayload. */
  maxPayload?: number;
  /** Firmware identification in HELLO (UTF-8, at most 128 bytes). */
  firmware?: string;
  /** FIRMWARE_BUILD register. */
  firmwareBuild?: number;
  /** The clock, in ms. DeviceCore never reads the system time. */
  now: () => number;
  /** Boot epoch at construction (default 1, never 0). */
  epoch?: number;
  /** Capabilities to advertise (default: all implemented). Unimplemented ones are masked out. */
  capabilities?: number;
  /**
   * The board is served through PCIe rings (sim/pcie-server.ts, which implements them around DeviceCore):
   * PCIE_RINGS is advertised as well. Default false.
   */
  pcieRings?: boolean;
  logger?: Logger;
  defects?: Partial<DefectModes>;
  /**
   * Minor status changes (CONNECTED/SENDING/RECEIVING and the READABLE, WRITABLE, SEND_BLOCKED,
   * RECV_BLOCKED flags) are announced at most once per this many ms, from tick(); 0 = at once (default 5).
   * Every other change is announced at once.
   */
  statusCoalesceMs?: number;
  /**
   * A graceful CLOSE (LINGER off) whose send queue has not drained after this long is aborted; 0 = wait
   * until drained or the connection fails, as PROTOCOL.md §6.9 says (default 0).
   */
  closeTimeoutMs?: number;
  /** CONNECT timeoutMs 0 means this (default 30000). */
  connectTimeoutMs?: number;
  /**
   * Provisioned pre-shared keys (keyId → 32 bytes), PROTOCOL.md §12.1. Given (even empty): SECURE is
   * advertised and SECURE_INIT / SECURE_FINISH work (not on PCIe rings, where §12 does not apply).
   */
  secureKeys?: ReadonlyMap<number, Uint8Array>;
  /** Random bytes for handshake nonces (default crypto.randomBytes; tests may fix them). */
  random?: (size: number) => Buffer;
  /**
   * The admin credential CHANNEL_OPEN role ADMIN must present (UTF-8 string or bytes). Without one, no channel
   * can become ADMIN (every attempt is E_AUTH).
   */
  adminCredential?: string | Uint8Array;
  /** Default slot quota of every channel (default: all slots). */
  slotQuota?: number;
  /** Default queue-byte quota of every channel (default: every slot at the default queue sizes). */
  queueQuota?: number;
  /** Per-channel quotas overriding the defaults. */
  channelQuotas?: Record<number, Partial<ChannelQuota>>;
  /** A channel whose link stays down this long has its sockets aborted and is no longer open (default 10000). */
  channelTimeoutMs?: number;
  /** Egress rules the device holds across all channels (default 64). */
  egressRuleMax?: number;
}

export interface ResolvedOptions {
  slots: number;
  sendQueueSize: number;
  recvQueueSize: number;
  backlogMax: number;
  maxPayload: number;
  firmware: string;
  firmwareBuild: number;
  now: () => number;
  epoch: number;
  capabilities: number;
  logger: Logger;
  defects: DefectModes;
  statusCoalesceMs: number;
  closeTimeoutMs: number;
  connectTimeoutMs: number;
  secureKeys: ReadonlyMap<number, Buffer>;
  random: (size: number) => Buffer;
  adminCredential: Buffer | undefined;
  slotQuota: number;
  queueQuota: number;
  channelQuotas: Record<number, ChannelQuota>;
  channelTimeoutMs: number;
  egressRuleMax: number;
}

/** Smallest and largest queue a socket may have (RCVBUF/SNDBUF are clamped into this range). */
export const MIN_QUEUE_SIZE = 256;
export const MAX_QUEUE_SIZE = 16 * 1024 * 1024;

function intIn(name: string, v: number | undefined, def: number, min: number, max: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) {
    throw new RangeError(`DeviceCore option ${name} must be an integer in ${min}..${max}, got ${x}`);
  }
  return x;
}

export function resolveOptions(opts: DeviceCoreOptions): ResolvedOptions {
  if (typeof opts?.now !== 'function') throw new TypeError('DeviceCore needs a now() clock');
  const firmware = opts.firmware ?? 'socket-offload-sim 0.1.0';
  if (Buffer.byteLength(firmware, 'utf8') > 128)
    throw new RangeError('firmware string longer than 128 bytes');
  const logger = opts.logger ?? pino({ level: 'silent' });
  let caps = opts.capabilities ?? IMPLEMENTED_CAPABILITIES;
  if ((caps & ~IMPLEMENTED_CAPABILITIES) !== 0) {
    logger.warn(
      { requested: caps, implemented: IMPLEMENTED_CAPABILITIES },
      'capabilities not implemented by DeviceCore are not advertised',
    );
    caps &= IMPLEMENTED_CAPABILITIES;
  }
  if (opts.pcieRings) caps |= Capability.PCIE_RINGS;
  const slots = intIn('slots', opts.slots, 32, 1, Limits.maxSlots);
  const sendQueueSize = intIn('sendQueueSize', opts.sendQueueSize, 64 * 1024, MIN_QUEUE_SIZE, MAX_QUEUE_SIZE);
  const recvQueueSize = intIn('recvQueueSize', opts.recvQueueSize, 64 * 1024, MIN_QUEUE_SIZE, MAX_QUEUE_SIZE);
  const slotQuota = intIn('slotQuota', opts.slotQuota, slots, 0, 0xffff);
  const queueQuota = intIn(
    'queueQuota',
    opts.queueQuota,
    slots * (sendQueueSize + recvQueueSize),
    0,
    0xffffffff,
  );
  const channelQuotas: Record<number, ChannelQuota> = {};
  for (const [k, q] of Object.entries(opts.channelQuotas ?? {})) {
    const ch = intIn('channelQuotas channel', Number(k), 0, 0, 255);
    channelQuotas[ch] = {
      slotQuota: intIn('channelQuotas.slotQuota', q.slotQuota, slotQuota, 0, 0xffff),
      queueQuota: intIn('channelQuotas.queueQuota', q.queueQuota, queueQuota, 0, 0xffffffff),
    };
  }
  const cred = opts.adminCredential;
  const adminCredential =
    cred === undefined ? undefined : typeof cred === 'string' ? Buffer.from(cred, 'utf8') : Buffer.from(cred);
  if (adminCredential !== undefined && adminCredential.length === 0)
    throw new RangeError('DeviceCore option adminCredential must not be empty');
  const secureKeys = new Map<number, Buffer>();
  for (const [id, key] of opts.secureKeys ?? []) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff)
      throw new RangeError(`secure keyId ${id} is not a u32`);
    if (key.length !== 32) throw new RangeError(`secure key ${id} is ${key.length} bytes, not 32`);
    secureKeys.set(id, Buffer.from(key));
  }
  if (opts.secureKeys && !opts.pcieRings) caps |= Capability.SECURE;
  return {
    slots,
    sendQueueSize,
    recvQueueSize,
    backlogMax: intIn('backlogMax', opts.backlogMax, 16, 1, 0xffff),
    maxPayload: intIn(
      'maxPayload',
      opts.maxPayload,
      Limits.defaultMaxPayloadTcp,
      Limits.minMaxPayload,
      Limits.maxPayloadAbsolute,
    ),
    firmware,
    firmwareBuild: intIn('firmwareBuild', opts.firmwareBuild, 1, 0, 0xffffffff),
    now: opts.now,
    epoch: intIn('epoch', opts.epoch, 1, 1, 0xffffffff),
    capabilities: caps >>> 0,
    logger,
    defects: { ...NO_DEFECTS, ...(opts.defects ?? {}) },
    statusCoalesceMs: intIn('statusCoalesceMs', opts.statusCoalesceMs, 5, 0, 60_000),
    closeTimeoutMs: intIn('closeTimeoutMs', opts.closeTimeoutMs, 0, 0, 0x7fffffff),
    connectTimeoutMs: intIn('connectTimeoutMs', opts.connectTimeoutMs, 30_000, 1, 0xffffffff),
    secureKeys,
    random: opts.random ?? randomBytes,
    adminCredential,
    slotQuota,
    queueQuota,
    channelQuotas,
    channelTimeoutMs: intIn('channelTimeoutMs', opts.channelTimeoutMs, 10_000, 1, 0x7fffffff),
    egressRuleMax: intIn('egressRuleMax', opts.egressRuleMax, 64, 0, 0xffff),
  };
}
