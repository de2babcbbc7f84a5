/**
 * Handlers of the channel and egress commands (capabilities CHANNELS and EGRESS_POLICY): CHANNEL_OPEN,
 * CHANNEL_RESET, EGRESS_SET, EGRESS_CLEAR (PROTOCOL.md §5.8.1, §11, §12.5). The dispatcher has checked HELLO
 * and the capability; each handler checks role, fields and resources in the order of §5.4.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ChannelRole, type CommandBodies, type CommandName } from '../../src/protocol/index.js';
import { abortChannel, isAdmin, quotaOf } from './channels.js';
import { type CoreState, endSecureSession, type Reply } from './core-state.js';
import { ruleFromBody } from './egress.js';

type ChannelCommandName = 'CHANNEL_OPEN' | 'CHANNEL_RESET' | 'EGRESS_SET' | 'EGRESS_CLEAR';
type Handler<N extends CommandName> = (core: CoreState, body: CommandBodies[N], r: Reply<N>) => void;

/** The administrative channel (§11): ADMIN only. */
const ADMIN_CHANNEL = 255;
/** Per-process key: credentials are compared as HMACs of equal length, so neither content nor length leaks. */
const COMPARE_KEY = randomBytes(32);

function credentialMatches(expected: Buffer | undefined, given: Uint8Array): boolean {
  if (expected === undefined) return false;
  const a = createHmac('sha256', COMPARE_KEY).update(expected).digest();
  const b = createHmac('sha256', COMPARE_KEY).update(given).digest();
  return timingSafeEqual(a, b);
}

const channelOpen: Handler<'CHANNEL_OPEN'> = (core, body, r) => {
  const { role, credential } = body;
  if (role !== ChannelRole.NORMAL && role !== ChannelRole.ADMIN) return r.fail('E_INVALID');
  if (role === ChannelRole.NORMAL && credential.length > 0) return r.fail('E_INVALID');
  if (r.channel === ADMIN_CHANNEL && role !== ChannelRole.ADMIN) return r.fail('E_NOT_PERMITTED');
  if (role === ChannelRole.ADMIN && !credentialMatches(core.opts.adminCredential, credential)) {
    core.log.warn({ channel: r.channel }, 'CHANNEL_OPEN ADMIN with a wrong credential');
    return r.fail('E_AUTH');
  }
  const ch = core.channel(r.channel);
  if (ch.open && ch.role !== role) return r.fail('E_BAD_STATE');
  ch.open = true;
  ch.role = role;
  const q = quotaOf(core, r.channel);
  r.ok({ slotQuota: Math.min(q.slotQuota, core.opts.slots), queueQuota: q.queueQuota });
};

const channelReset: Handler<'CHANNEL_RESET'> = (core, body, r) => {
  if (!isAdmin(core, r.channel)) return r.fail('E_NOT_PERMITTED');
  const closed = abortChannel(core, body.channel);
  // §12.4: CHANNEL_RESET ends the channel's secure session; its host must handshake again (locked, as after RESET).
  const target = core.channels.get(body.channel);
  if (target) endSecureSession(target);
  core.log.info({ channel: body.channel, closed, by: r.channel }, 'CHANNEL_RESET');
  r.ok({ closed });
};

/** §12.5: only an ADMIN channel with a secure session changes the policy. */
function mayChangeEgress(core: CoreState, channel: number): boolean {
  return isAdmin(core, channel) && core.channel(channel).secure;
}

const egressSet: Handler<'EGRESS_SET'> = (core, body, r) => {
  if (!mayChangeEgress(core, r.channel)) return r.fail('E_NOT_PERMITTED');
  const rule = ruleFromBody(body);
  if (rule === 'E_INVALID') return r.fail('E_INVALID');
  const n = core.egress.add(body.channel, rule);
  if (n === 'E_QUOTA') return r.fail('E_QUOTA');
  r.ok({ rules: n });
};

const egressClear: Handler<'EGRESS_CLEAR'> = (core, body, r) => {
  if (!mayChangeEgress(core, r.channel)) return r.fail('E_NOT_PERMITTED');
  core.egress.clear(body.channel);
  r.ok({});
};

export const CHANNEL_HANDLERS: { [N in ChannelCommandName]: Handler<N> } = {
  CHANNEL_OPEN: channelOpen,
  CHANNEL_RESET: channelReset,
  EGRESS_SET: egressSet,
  EGRESS_CLEAR: egressClear,
};

export function isChannelCommand(name: string): name is ChannelCommandName {
  return Object.hasOwn(CHANNEL_HANDLERS, name);
}
