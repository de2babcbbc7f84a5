/**
 * Another channel beside the kit's main session (PROTOCOL.md §11): a second KitClient on the same byte stream
 * with its own link, HELLO and TestContext, so that a case can speak as host A (channel 0, the kit's main
 * context) and host B (this one) at once. Always closed by the case that opened it (withChannel).
 */
import { ChannelRole, type OkResponseMessage, PROTOCOL_VERSION_WORD } from '../protocol/index.js';
import { ALL_HOST_CAPS } from './cases/handshake.js';
import type { KitClient } from './client.js';
import { type DeviceInfo, TestContext } from './context.js';
import { kitHandshake } from './kit-handshake.js';
import { isLinkError, LinkErrorCode } from '../link/index.js';
import { fail, notApplicable } from './types.js';

/**
 * The channels the kit uses beside channel 0 (listed in the README: a board must let them be opened). On PCIe
 * each needs a ring pair of its own (§10.5; only `normal` and `admin` there: §12 does not apply on PCIe): a case
 * whose channel the board has no pair for is not applicable, naming the pair (the simulator:
 * `--pcie-channels 1,255`).
 */
export const KIT_CHANNEL = {
  /** Host B: a NORMAL channel. */
  normal: 1,
  /** The secure-frame tests (a NORMAL channel with a secure session). */
  secure: 2,
  /** A secure administrator (egress policy: ADMIN + secure session, §12.5). */
  secureAdmin: 254,
  /** The administrative channel: not open after every link start (§11), so also the open-gate channel. */
  admin: 255,
} as const;

export interface ChannelSession {
  readonly channel: number;
  readonly client: KitClient;
  /** A context whose helpers (req, expect, open, snapshot …) speak on this channel. */
  readonly ctx: TestContext;
  /** CHANNEL_OPEN's answer once opened. */
  quotas?: { slotQuota: number; queueQuota: number };
}

export interface ChannelSetup {
  /** Secure handshake right after HELLO (before CHANNEL_OPEN, §11). */
  secure?: boolean;
  /** CHANNEL_OPEN with this role (after the handshake, if any); none: the channel is left as it is. */
  role?: 'NORMAL' | 'ADMIN';
}

async function hello(client: KitClient, main: TestContext): Promise<DeviceInfo> {
  const ex = await client.request('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: ALL_HOST_CAPS });
  if (ex.answer.kind !== 'response' || ex.answer.status !== 0) {
    fail(
      `HELLO on channel ${client.channel} was refused (§5.8.1, §11: HELLO is accepted before CHANNEL_OPEN)`,
      main.detail(ex, 'OK'),
    );
  }
  const b = (ex.answer as OkResponseMessage<'HELLO'>).body;
  client.adoptHello(b.epoch, b.eventSeq, true);
  return {
    protoVersion: b.protoVersion,
    caps: b.caps,
    slots: b.slots,
    helloMaxPayload: b.maxPayload,
    maxPayload: Math.min(b.maxPayload, client.params.maxPayload),
    epoch: b.epoch,
    eventSeq: b.eventSeq,
    sendQueueSize: b.sendQueueSize,
    recvQueueSize: b.recvQueueSize,
    firmware: b.firmware,
  };
}

/** Starts (or restarts, on `client`) the channel's link and HELLO. */
export async function startChannelLink(main: TestContext, client: KitClient): Promise<TestContext> {
  try {
    await client.start(Math.max(3000, client.timeoutMs));
  } catch (err) {
    if (client.framing === 'pcie' && isLinkError(err) && err.code === LinkErrorCode.NO_CHANNEL)
      notApplicable(missingPairMessage(main, client.channel));
    fail(
      `link start (SYNC) on channel ${client.channel} failed over the kit's connection: ${(err as Error).message} (§11: every channel runs its own link)`,
    );
  }
  const info = await hello(client, main);
  const ctx: TestContext = new TestContext(client, info, main.peers, main.options, () => hello(client, main));
  return ctx;
}

/** Why a case cannot reach `channel` on PCIe: the pair missing, what the board offers, how to get it. */
export function missingPairMessage(main: TestContext, channel: number): string {
  const offered = main.client.pcieChannels() ?? [];
  const has = offered.length
    ? `the board offers channels ${offered.join(', ')}`
    : 'the board offers no extra ring pairs (CHANNEL_RINGS_COUNT 0, no CHANNELS)';
  const want = [...new Set([...offered, KIT_CHANNEL.normal, KIT_CHANNEL.admin])].sort((a, b) => a - b);
  return `needs a PCIe ring pair for channel ${channel} (§10.5): ${has}; start the simulator with --pcie-channels ${want.join(',')}`;
}

/** Opens channel `channel` as set up, runs `fn`, and always closes its sockets and link afterwards. */
export async function withChannel<T>(
  main: TestContext,
  channel: number,
  setup: ChannelSetup,
  fn: (s: ChannelSession) => Promise<T>,
): Promise<T> {
  if (!main.client.reaches(channel)) notApplicable(missingPairMessage(main, channel));
  const client = main.client.forChannel(channel);
  try {
    const ctx = await startChannelLink(main, client);
    const session: ChannelSession = { channel, client, ctx };
    if (setup.secure) await kitHandshake(ctx, main.secureKey('the secure handshake'));
    if (setup.role) session.quotas = await openChannel(ctx, setup.role);
    return await fn(session);
  } finally {
    if (!client.isDown) {
      const ctx = new TestContext(client, main.info, main.peers, main.options, () =>
        Promise.resolve(main.info),
      );
      await ctx.closeAll(3000).catch(() => undefined);
    }
    await client.close().catch(() => undefined);
    noteClosed(main, client);
  }
}

/** Records how another channel's link ended (for otherHostsGone). */
export function noteClosed(main: TestContext, client: KitClient): void {
  if (client.saidGoodbye) main.client.otherChannelClosedAt = Date.now();
  else main.client.otherChannelSilentAt = Date.now();
}

/** The device declares a silent link down after 3 s (§4.5, the default); a second more for its timers. */
export const LINK_LIVENESS_MS = 3000 + 1000;
/** A link that said BYE (or a PCIe pair's HOST_SESSION 0) is down at once; a moment for a PCIe device's pass. */
const GOODBYE_GRACE_MS = 200;

/**
 * Waits until the device has noticed that the kit's other-channel links are gone: at once for those that said
 * goodbye (§4.5 BYE, §10.5 HOST_SESSION 0), after the liveness time for one that went silent. Until then those
 * channels still have a host, and RESET from channel 0 (NORMAL) is refused (§5.8.1 RESET).
 */
export async function otherHostsGone(main: TestContext): Promise<void> {
  const now = Date.now();
  const silent = main.client.otherChannelSilentAt;
  const closed = main.client.otherChannelClosedAt;
  const until = Math.max(
    silent === 0 ? 0 : silent + LINK_LIVENESS_MS,
    closed === 0 ? 0 : closed + GOODBYE_GRACE_MS,
  );
  if (until > now) await new Promise((r) => setTimeout(r, Math.min(until - now, LINK_LIVENESS_MS)));
}

/** CHANNEL_OPEN with `role` (the admin credential for ADMIN); fails unless OK. */
export async function openChannel(
  ctx: TestContext,
  role: 'NORMAL' | 'ADMIN',
): Promise<{ slotQuota: number; queueQuota: number }> {
  const credential = role === 'ADMIN' ? ctx.credential('an ADMIN channel') : Buffer.alloc(0);
  const ex = await ctx.req('CHANNEL_OPEN', { role: ChannelRole[role], credential });
  ctx.expect(ex, 'OK', `CHANNEL_OPEN ${role} on channel ${ctx.client.channel}`, '§5.8.1 CHANNEL_OPEN, §11');
  return (ex.answer as OkResponseMessage<'CHANNEL_OPEN'>).body;
}
