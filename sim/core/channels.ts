/**
 * Channels (PROTOCOL.md §11): who may send what before CHANNEL_OPEN, roles, quotas, the admin's reach
 * across channels, and the channel timeout. Used by the dispatcher (device-core.ts) and the handlers.
 */
import { Capability, ChannelRole, type StatusCodeName, StatusCode } from '../../src/protocol/index.js';
import { type ChannelState, type CoreState, endSecureSession } from './core-state.js';
import type { ChannelQuota } from './options.js';
import type { Socket } from './socket.js';

/** Commands a channel other than 0 may send before CHANNEL_OPEN (§5.4 step 4). */
/**
 * Accepted before CHANNEL_OPEN (§11). The secure handshake too: a secure host authenticates the link first, so
 * that its CHANNEL_OPEN (and the admin credential in it) already travels in authenticated frames.
 */
const BEFORE_OPEN: ReadonlySet<string> = new Set([
  'HELLO',
  'PING',
  'REG_READ',
  'CHANNEL_OPEN',
  'SECURE_INIT',
  'SECURE_FINISH',
]);

export function hasChannels(core: CoreState): boolean {
  return (core.opts.capabilities & Capability.CHANNELS) !== 0;
}

/** §5.4 step 4, second half: E_BAD_STATE for a channel not yet opened (only with CHANNELS). */
export function openGate(core: CoreState, channel: number, name: string): StatusCodeName | null {
  if (!hasChannels(core) || BEFORE_OPEN.has(name)) return null;
  return core.channel(channel).open ? null : 'E_BAD_STATE';
}

export function isAdmin(core: CoreState, channel: number): boolean {
  const ch = core.channels.get(channel);
  return hasChannels(core) && ch?.open === true && ch.role === ChannelRole.ADMIN;
}

export function quotaOf(core: CoreState, channel: number): ChannelQuota {
  const o = core.opts;
  return o.channelQuotas[channel] ?? { slotQuota: o.slotQuota, queueQuota: o.queueQuota };
}

/** Queue bytes a socket holds against its channel's quota. */
export function queueBytes(s: Pick<Socket, 'sendCap' | 'sendCapTarget' | 'recvCap'>): number {
  return Math.max(s.sendCap, s.sendCapTarget) + s.recvCap;
}

export interface ChannelUsage {
  slots: number;
  queueBytes: number;
}

export function usageOf(core: CoreState, channel: number, except?: Socket): ChannelUsage {
  let slots = 0;
  let bytes = 0;
  for (const s of core.table.all()) {
    if (s.channel !== channel || s === except) continue;
    slots++;
    bytes += queueBytes(s);
  }
  return { slots, queueBytes: bytes };
}

/**
 * Room for one more socket of `bytes` queue bytes on `channel`: E_QUOTA when the channel's share is used up,
 * E_NO_SLOT when the whole device is full (§11).
 */
export function slotRefusal(core: CoreState, channel: number, bytes: number): StatusCodeName | null {
  // A full device is E_NO_SLOT whatever the quotas (a single channel owning every slot sees what it always saw).
  if (!core.table.hasFree()) return 'E_NO_SLOT';
  const q = quotaOf(core, channel);
  const u = usageOf(core, channel);
  if (u.slots >= q.slotQuota || u.queueBytes + bytes > q.queueQuota) return 'E_QUOTA';
  return null;
}

/** Can socket `s` grow its queues to send `sendCap` / receive `recvCap` bytes within its channel's quota? */
export function queueRefusal(
  core: CoreState,
  s: Socket,
  sendCap: number,
  recvCap: number,
): StatusCodeName | null {
  const before = queueBytes(s);
  const after = Math.max(sendCap, s.sendCap) + recvCap;
  if (after <= before) return null;
  // ---- DEFECT ignoreQueueQuota: queue bytes never refused.
  if (core.opts.defects.ignoreQueueQuota) return null;
  const used = usageOf(core, s.channel, s).queueBytes;
  return used + after > quotaOf(core, s.channel).queueQuota ? 'E_QUOTA' : null;
}

/** Another channel has a host and is open: a NORMAL channel may not reset the board under it (§5.8.1 RESET). */
export function resetRefusal(core: CoreState, channel: number): StatusCodeName | null {
  if (!hasChannels(core) || isAdmin(core, channel)) return null;
  for (const ch of core.channels.values()) {
    if (ch.id !== channel && ch.open && ch.linkUp) return 'E_NOT_PERMITTED';
  }
  return null;
}

/** Aborts every socket of `channel` (final STATUS TERMINATED, ECONNABORTED, on that channel). Returns how many. */
export function abortChannel(core: CoreState, channel: number): number {
  let n = 0;
  for (const s of core.table.all()) {
    if (s.channel !== channel) continue;
    core.closeHandle(s, true);
    core.terminate(s, StatusCode.ECONNABORTED);
    n++;
  }
  return n;
}

/** The channel's link is up (again): no timeout runs. */
export function linkUp(ch: ChannelState): void {
  ch.linkUp = true;
  ch.downSince = null;
}

/**
 * A link (re)started on the channel: maybe another host. An ADMIN role is never inherited without the
 * credential: the channel is back to not-open (its sockets stay) until CHANNEL_OPEN (§11).
 */
export function linkStarted(ch: ChannelState): void {
  linkUp(ch);
  if (ch.open && ch.role === ChannelRole.ADMIN) ch.close();
}

/** The channel's host link went away: the channel timeout starts. */
export function linkDown(core: CoreState, ch: ChannelState): void {
  if (!ch.linkUp) return;
  ch.linkUp = false;
  ch.downSince = core.now();
}

/** Channels whose link has been down for the channel timeout: sockets aborted, channel back to not-open. */
export function expireChannels(core: CoreState, now: number): void {
  for (const ch of core.channels.values()) {
    if (ch.downSince === null || now - ch.downSince < core.opts.channelTimeoutMs) continue;
    ch.downSince = null;
    const aborted = abortChannel(core, ch.id);
    ch.close();
    // Its host is gone with its sockets: nothing is left to protect, a new host starts plain (§11 timeout).
    endSecureSession(ch);
    ch.locked = false;
    core.log.info({ channel: ch.id, aborted }, 'channel timeout: sockets aborted, channel closed');
  }
}

/** The earliest channel timeout due, if any. */
export function channelDeadline(core: CoreState): number | undefined {
  let t: number | undefined;
  for (const ch of core.channels.values()) {
    if (ch.downSince === null) continue;
    const at = ch.downSince + core.opts.channelTimeoutMs;
    t = t === undefined ? at : Math.min(t, at);
  }
  return t;
}
