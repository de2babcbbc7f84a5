/**
 * The egress policy (PROTOCOL.md §12.5, §5.8.1 EGRESS_SET / EGRESS_CLEAR): only an ADMIN channel with a secure
 * session may change it; rules with bad fields are E_INVALID; a CONNECT / SENDTO rule on channel 0 lets the
 * kit's main session reach only the allowed peer port, a LISTEN rule bind only the allowed local port, refusals
 * leave the table as it was, and EGRESS_CLEAR lifts the rules. The kit's administrator is a secure ADMIN link (KIT_CHANNEL.secureAdmin): these cases need
 * the admin credential and a provisioned key. Rules are configuration (they survive RESET): every case clears
 * what it set, also when it fails.
 */
import { type Addr, type CommandBodies, EgressKind, type OkResponseMessage } from '../../protocol/index.js';
import { type ChannelSession, KIT_CHANNEL, withChannel } from '../channel-session.js';
import type { TestContext } from '../context.js';
import { describeBytes, hexId } from '../format.js';
import { type ConformanceCase, check, fail } from '../types.js';

/** A channel the kit never opens: rules for it cannot disturb anything. */
const SPARE_CHANNEL = 200;
/** Local ports of the LISTEN case: outside common ephemeral ranges; a TCP BIND reserves, it listens nowhere. */
const LISTEN_ALLOWED_PORT = 24680;
const LISTEN_OTHER_PORT = 24681;
const SECTION = '§12.5';

type Rule = CommandBodies['EGRESS_SET'];

/** The kit's peer host as a rule prefix (every bit significant), for ports lo..hi. */
function hostRule(ctx: TestContext, channel: number, kind: number, lo: number, hi = lo): Rule {
  const addr: Addr = ctx.addr({ host: ctx.peers.host, port: 0 });
  return {
    channel,
    kind,
    prefixLen: addr.family === 4 ? 32 : 128,
    reserved: 0,
    portLow: lo,
    portHigh: hi,
    addr,
  };
}

/** What channel 0's table looks like now (SNAPSHOT, else the socket's entry). */
async function tableOf(ctx: TestContext, id: number): Promise<Buffer> {
  if (ctx.has('SNAPSHOT')) return (await ctx.snapshot()).bytes;
  return (await ctx.entry(id))?.bytes ?? Buffer.alloc(0);
}

/** Runs `fn` as the kit's secure administrator; clears channel `cleanup`'s rules afterwards, whatever happened. */
async function asSecureAdmin(
  ctx: TestContext,
  cleanup: number,
  fn: (admin: ChannelSession) => Promise<void>,
): Promise<void> {
  ctx.credential('changing the egress policy (ADMIN + secure)');
  ctx.secureKey('changing the egress policy (ADMIN + secure)');
  await withChannel(ctx, KIT_CHANNEL.secureAdmin, { secure: true, role: 'ADMIN' }, async (admin) => {
    await clear(admin, cleanup);
    try {
      await fn(admin);
    } finally {
      if (!admin.client.isDown)
        await admin.ctx.req('EGRESS_CLEAR', { channel: cleanup }).catch(() => undefined);
    }
  });
}

async function clear(admin: ChannelSession, channel: number): Promise<void> {
  admin.ctx.expect(
    await admin.ctx.req('EGRESS_CLEAR', { channel }),
    'OK',
    `EGRESS_CLEAR of channel ${channel} from a secure ADMIN channel`,
    SECTION,
  );
}

async function set(admin: ChannelSession, rule: Rule, what: string): Promise<number> {
  const ex = await admin.ctx.req('EGRESS_SET', rule);
  admin.ctx.expect(ex, 'OK', `EGRESS_SET ${what} from a secure ADMIN channel`, SECTION);
  return (ex.answer as OkResponseMessage<'EGRESS_SET'>).body.rules;
}

/** Sends a command that the policy must refuse; fails unless E_NOT_PERMITTED with channel 0's table untouched. */
async function refusedByPolicy<N extends 'CONNECT' | 'SENDTO' | 'BIND' | 'LISTEN'>(
  ctx: TestContext,
  name: N,
  body: CommandBodies[N],
  what: string,
): Promise<void> {
  const before = await tableOf(ctx, body.id);
  const from = ctx.client.events.length;
  const ex = await ctx.req(name, body);
  ctx.expect(ex, 'E_NOT_PERMITTED', what, '§12.5: no rule of the kind matches');
  await ctx.client.quiet(60, 500);
  const after = await tableOf(ctx, body.id);
  if (!after.equals(before)) {
    fail(`${what}: refused, but the table changed (§12.5: the table stays exactly as it was)`, {
      sent: describeBytes(ex.sent),
      expected: describeBytes(before),
      received: describeBytes(after),
    });
  }
  const events = ctx.client.events.slice(from).filter((e) => (e.body as { id?: number }).id === body.id);
  check(
    events.length === 0,
    `${what}: refused, but ${events.map((e) => e.name).join(', ')} followed for ${hexId(body.id)} (§12.5)`,
  );
}

export const egressCases: ConformanceCase[] = [
  {
    id: 'egress.not-permitted',
    title: 'EGRESS_SET / EGRESS_CLEAR without ADMIN and a secure session are E_NOT_PERMITTED',
    section: '§12.5, §5.8.1 EGRESS_SET',
    requires: ['EGRESS_POLICY'],
    async run(ctx) {
      const rule = hostRule(ctx, SPARE_CHANNEL, EgressKind.CONNECT, 1);
      ctx.expect(
        await ctx.req('EGRESS_SET', rule),
        'E_NOT_PERMITTED',
        'EGRESS_SET from channel 0 (NORMAL, plain)',
        SECTION,
      );
      ctx.expect(
        await ctx.req('EGRESS_CLEAR', { channel: SPARE_CHANNEL }),
        'E_NOT_PERMITTED',
        'EGRESS_CLEAR from channel 0 (NORMAL, plain)',
        SECTION,
      );
      if (!ctx.has('CHANNELS')) return;
      // The other halves when the kit can play them: ADMIN without a secure session (on PCIe: if the board has a
      // pair for the admin channel, §10.5), secure without ADMIN (not on PCIe: §12 does not apply there).
      if (ctx.options.adminCredential && ctx.client.reaches(KIT_CHANNEL.admin)) {
        await withChannel(ctx, KIT_CHANNEL.admin, { role: 'ADMIN' }, async (a) => {
          a.ctx.expect(
            await a.ctx.req('EGRESS_SET', rule),
            'E_NOT_PERMITTED',
            'EGRESS_SET from a plain ADMIN channel',
            SECTION,
          );
        });
      }
      if (ctx.framing !== 'pcie' && ctx.options.secureKey && ctx.has('SECURE')) {
        await withChannel(ctx, KIT_CHANNEL.secure, { secure: true, role: 'NORMAL' }, async (n) => {
          n.ctx.expect(
            await n.ctx.req('EGRESS_SET', rule),
            'E_NOT_PERMITTED',
            'EGRESS_SET from a secure NORMAL channel',
            SECTION,
          );
        });
      }
    },
  },
  {
    id: 'egress.invalid',
    title:
      'EGRESS_SET with an unknown kind, prefixLen > 32 for IPv4 or portLow > portHigh is E_INVALID and adds nothing; an identical rule is not added twice',
    section: '§12.5',
    requires: ['EGRESS_POLICY', 'CHANNELS', 'SECURE'],
    framing: 'link',
    async run(ctx) {
      await asSecureAdmin(ctx, SPARE_CHANNEL, async (admin) => {
        const good: Rule = {
          channel: SPARE_CHANNEL,
          kind: EgressKind.CONNECT,
          prefixLen: 24,
          reserved: 0,
          portLow: 1000,
          portHigh: 2000,
          addr: { family: 4, port: 0, address: '127.0.0.0' },
        };
        const bad: Array<[string, Rule]> = [
          ['kind 0', { ...good, kind: 0 }],
          ['kind 4', { ...good, kind: 4 }],
          ['prefixLen 33 for IPv4', { ...good, prefixLen: 33 }],
          ['portLow 2001 > portHigh 2000', { ...good, portLow: 2001 }],
        ];
        for (const [what, rule] of bad) {
          admin.ctx.expect(
            await admin.ctx.req('EGRESS_SET', rule),
            'E_INVALID',
            `EGRESS_SET with ${what}`,
            SECTION,
          );
        }
        const n = await set(admin, good, 'a valid rule after the refused ones');
        check(
          n === 1,
          `EGRESS_SET of the first valid rule answered rules = ${n}: the refused rules were added (§12.5)`,
        );
        const again = await set(admin, good, 'the same rule again');
        check(
          again === 1,
          `EGRESS_SET of an identical rule answered rules = ${again}, expected 1 (§12.5: not added twice)`,
        );
      });
    },
  },
  {
    id: 'egress.connect-denied',
    title:
      "a CONNECT rule on channel 0 allowing only the echo peer's port: CONNECT elsewhere is E_NOT_PERMITTED (table unchanged), to the echo peer works; EGRESS_CLEAR lifts it",
    section: '§12.5',
    requires: ['EGRESS_POLICY', 'CHANNELS', 'SECURE', 'TCP'],
    framing: 'link',
    timeoutMs: 30_000,
    async run(ctx) {
      const p = ctx.peers;
      await asSecureAdmin(ctx, 0, async (admin) => {
        const n = await set(
          admin,
          hostRule(ctx, 0, EgressKind.CONNECT, p.echo.port),
          `CONNECT ${p.host}:${p.echo.port} for channel 0`,
        );
        check(n === 1, `EGRESS_SET of the first rule for channel 0 answered rules = ${n} (§12.5)`);
        const x = await ctx.open('STREAM');
        await refusedByPolicy(
          ctx,
          'CONNECT',
          { id: x, timeoutMs: 3000, addr: ctx.addr(p.silent) },
          `CONNECT to ${p.host}:${p.silent.port} (the rule allows only port ${p.echo.port})`,
        );
        await ctx.connected(p.echo);
        await clear(admin, 0);
        await ctx.connected(p.silent);
      });
    },
  },
  {
    id: 'egress.sendto-denied',
    title:
      'a SENDTO rule on channel 0 allowing only the UDP echo peer: SENDTO and DGRAM CONNECT elsewhere are E_NOT_PERMITTED (table unchanged); EGRESS_CLEAR lifts it',
    section: '§12.5',
    requires: ['EGRESS_POLICY', 'CHANNELS', 'SECURE', 'UDP'],
    framing: 'link',
    async run(ctx) {
      const p = ctx.peers;
      await asSecureAdmin(ctx, 0, async (admin) => {
        await set(
          admin,
          hostRule(ctx, 0, EgressKind.SENDTO, p.udpEcho.port),
          `SENDTO ${p.host}:${p.udpEcho.port} for channel 0`,
        );
        const d = await ctx.open('DGRAM');
        const data = Buffer.from('egress');
        await refusedByPolicy(
          ctx,
          'SENDTO',
          { id: d, addr: ctx.addr(p.refused), data },
          `SENDTO to ${p.host}:${p.refused.port} (the rule allows only port ${p.udpEcho.port})`,
        );
        const ok = await ctx.req('SENDTO', { id: d, addr: ctx.addr(p.udpEcho), data });
        ctx.expect(ok, 'OK', `SENDTO to the allowed ${p.host}:${p.udpEcho.port}`, SECTION);
        const c = await ctx.open('DGRAM');
        const denied = await ctx.req('CONNECT', { id: c, timeoutMs: 0, addr: ctx.addr(p.refused) });
        ctx.expect(
          denied,
          'E_NOT_PERMITTED',
          `DGRAM CONNECT to ${p.host}:${p.refused.port} (a SENDTO rule covers DGRAM CONNECT's peer)`,
          SECTION,
        );
        await clear(admin, 0);
        ctx.expect(
          await ctx.req('CONNECT', { id: c, timeoutMs: 0, addr: ctx.addr(p.refused) }),
          'OK',
          'DGRAM CONNECT to the same peer after EGRESS_CLEAR',
          SECTION,
        );
      });
    },
  },
  {
    id: 'egress.listen-denied',
    title: `a LISTEN rule on channel 0 allowing local port ${LISTEN_ALLOWED_PORT} only: BIND to another port and LISTEN with an implicit bind are E_NOT_PERMITTED (table unchanged), BIND to the allowed port works; EGRESS_CLEAR lifts it`,
    section: '§12.5, §5.8.2 BIND',
    requires: ['EGRESS_POLICY', 'CHANNELS', 'SECURE', 'TCP'],
    framing: 'link',
    async run(ctx) {
      const allowed = LISTEN_ALLOWED_PORT;
      const other = LISTEN_OTHER_PORT;
      await asSecureAdmin(ctx, 0, async (admin) => {
        // Every local address of the family (prefixLen 0), one port.
        await set(
          admin,
          {
            channel: 0,
            kind: EgressKind.LISTEN,
            prefixLen: 0,
            reserved: 0,
            portLow: allowed,
            portHigh: allowed,
            addr: ctx.anyAddr(),
          },
          `LISTEN on port ${allowed} (any local address) for channel 0`,
        );
        const a = await ctx.open('STREAM');
        await refusedByPolicy(
          ctx,
          'BIND',
          { id: a, addr: ctx.anyAddr(other) },
          `BIND to local port ${other} (the rule allows only ${allowed})`,
        );
        const b = await ctx.open('STREAM');
        await refusedByPolicy(
          ctx,
          'LISTEN',
          { id: b, backlog: 2 },
          `LISTEN without BIND (its implicit bind is not to port ${allowed})`,
        );
        ctx.expect(
          await ctx.req('BIND', { id: a, addr: ctx.anyAddr(allowed) }),
          'OK',
          `BIND to the allowed local port ${allowed}`,
          SECTION,
        );
        await clear(admin, 0);
        ctx.expect(
          await ctx.req('BIND', { id: b, addr: ctx.anyAddr(other) }),
          'OK',
          `BIND to local port ${other} after EGRESS_CLEAR`,
          SECTION,
        );
      });
    },
  },
];
