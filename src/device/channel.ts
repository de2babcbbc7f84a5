/**
 * Channels on the host side (PROTOCOL.md §11, §12.5): CHANNEL_OPEN right after every HELLO (a RESET closes
 * channels, and repeating it with the same role only returns the quotas), and the administrative commands
 * of an ADMIN channel: CLOSE of any channel's socket, CHANNEL_RESET, EGRESS_SET / EGRESS_CLEAR.
 */
import { isIP } from 'node:net';
import {
  type Addr,
  Capability,
  ChannelRole,
  type ChannelRoleName,
  EgressKind,
  type EgressKindName,
  StatusCode,
  type OkResponseMessage,
} from '../protocol/index.js';
import { DeviceError, DeviceErrorCode, statusError } from './errors.js';
import type { RequestTracker } from './requests.js';

/** The administrative channel (§11): role ADMIN only. */
export const ADMIN_CHANNEL = 255;

export interface ChannelOptions {
  /** Channel to open (default 0). */
  channel?: number;
  /** Role (default: ADMIN when a credential is given or the channel is 255, else NORMAL). */
  role?: ChannelRoleName;
  /** The device's admin credential, for role ADMIN. */
  credential?: string | Uint8Array;
}

export interface ChannelInfo {
  /** Channel number (the frames' channel byte). */
  number: number;
  role: ChannelRoleName;
  /** Socket slots this channel may hold. */
  slotQuota: number;
  /** Queue bytes this channel may hold; undefined on a device without CHANNELS (no quota but the slots). */
  queueQuota: number | undefined;
}

export function channelRole(o: ChannelOptions): ChannelRoleName {
  if (o.role) return o.role;
  return o.credential !== undefined || o.channel === ADMIN_CHANNEL ? 'ADMIN' : 'NORMAL';
}

/**
 * CHANNEL_OPEN after HELLO. Without CHANNELS only channel 0 as NORMAL makes sense; anything else is
 * E_OFFLOAD_NOT_SUPPORTED. A refusal becomes the status error (E_OFFLOAD_AUTH, E_OFFLOAD_NOT_PERMITTED, ...).
 */
export async function openChannel(
  tracker: RequestTracker,
  o: ChannelOptions,
  hello: { capabilities: number; slots: number },
  timeoutMs: number,
): Promise<ChannelInfo> {
  const number = o.channel ?? 0;
  const role = channelRole(o);
  if ((hello.capabilities & Capability.CHANNELS) === 0) {
    if (number !== 0 || role !== 'NORMAL') {
      throw new DeviceError(
        DeviceErrorCode.NOT_SUPPORTED,
        `the device does not offer CHANNELS: channel ${number} with role ${role} is not available`,
        { channel: number, role },
      );
    }
    return { number, role, slotQuota: hello.slots, queueQuota: undefined };
  }
  const cred = o.credential ?? '';
  const credential = typeof cred === 'string' ? Buffer.from(cred, 'utf8') : Buffer.from(cred);
  const r = await tracker.submit(
    'CHANNEL_OPEN',
    { role: ChannelRole[role], credential },
    { timeoutMs, priority: true },
  );
  if (r.status !== StatusCode.OK || r.name !== 'CHANNEL_OPEN') {
    throw statusError(r.status, `CHANNEL_OPEN of channel ${number} as ${role}`, {
      opcode: 'CHANNEL_OPEN',
      channel: number,
      role,
    });
  }
  const b = (r as OkResponseMessage<'CHANNEL_OPEN'>).body;
  return { number, role, slotQuota: b.slotQuota, queueQuota: b.queueQuota >>> 0 };
}

/** An egress allow rule as the API takes it (§12.5). */
export interface EgressRuleInit {
  /** Channel the rule applies to. */
  channel: number;
  kind: EgressKindName;
  /** IPv4 or IPv6 address (the prefix). */
  address: string;
  /** Prefix length in bits (default: the whole address, 32 or 128). */
  prefixLen?: number;
  /** One port, or an inclusive range [low, high] (default every port). */
  port?: number | [number, number];
}

export function egressBody(rule: EgressRuleInit): {
  channel: number;
  kind: number;
  prefixLen: number;
  reserved: number;
  portLow: number;
  portHigh: number;
  addr: Addr;
} {
  const family = isIP(rule.address);
  if (family !== 4 && family !== 6) {
    throw new TypeError(`egress rule: '${rule.address}' is not an IPv4 or IPv6 address`);
  }
  if (!Object.hasOwn(EgressKind, rule.kind)) throw new TypeError(`egress rule: unknown kind '${rule.kind}'`);
  const [portLow, portHigh] =
    rule.port === undefined ? [0, 65535] : typeof rule.port === 'number' ? [rule.port, rule.port] : rule.port;
  return {
    channel: rule.channel,
    kind: EgressKind[rule.kind],
    prefixLen: rule.prefixLen ?? (family === 4 ? 32 : 128),
    reserved: 0,
    portLow,
    portHigh,
    addr: { family, port: 0, address: rule.address },
  };
}
