/**
 * Channels (PROTOCOL.md §11, §5.8.1 CHANNEL_OPEN / CHANNEL_RESET / RESET): the open gate, roles and the admin
 * channel, quotas, isolation between channels (another channel's id is indistinguishable from an unknown one)
 * and the admin's powers. Host A is the kit's main session (channel 0); host B and the admin are further links
 * on the same connection (channel-session.ts), or on PCIe the ring pairs of those channels in the same window
 * (§10.5: not applicable when the board has no pair for a channel a case needs). Cases needing the admin
 * credential are not applicable without it.
 */
import {
  ChannelRole,
  type CommandBodies,
  ConditionFlag,
  Limits,
  type OkResponseMessage,
  Register,
  SocketOption,
  SocketStatus,
  StatusCode,
  SOCKET_COMMAND_NAMES,
  type SocketCommandName,
} from '../../protocol/index.js';
import {
  KIT_CHANNEL,
  LINK_LIVENESS_MS,
  missingPairMessage,
  noteClosed,
  openChannel,
  startChannelLink,
  withChannel,
} from '../channel-session.js';
import type { Exchange } from '../client.js';
import type { TestContext } from '../context.js';
import { describeBytes, hexId, statusName } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

const S11 = '§11';

/** Commands that name a socket id (§5.8.2); idBody gives each a body that would succeed on an idle STREAM socket. */
type IdCommand = SocketCommandName;

type IdBodies = { [K in IdCommand]: CommandBodies[K] };

function idBody<N extends IdCommand>(ctx: TestContext, name: N, id: number): IdBodies[N] {
  const data = Buffer.from('isolation');
  const bodies: IdBodies = {
    BIND: { id, addr: ctx.anyAddr() },
    LISTEN: { id, backlog: 2 },
    CONNECT: { id, timeoutMs: 1000, addr: ctx.addr(ctx.peers.silent) },
    ACCEPT: { id, recvCredit: 0 },
    SEND: { id, data },
    SENDTO: { id, addr: ctx.addr(ctx.peers.udpEcho), data },
    RECV_CREDIT: { id, bytes: 1 },
    SHUTDOWN: { id, how: 2 },
    CLOSE: { id, abort: 1 },
    SETOPT: { id, option: SocketOption.NODELAY, value: 1 },
    GETOPT: { id, option: SocketOption.NODELAY },
    UPDATE: { id, status: 0xff, setFlags: ConditionFlag.HOST_MARK0, clearFlags: 0 },
    QUERY: { id },
  };
  return bodies[name];
}

/** An answer with its tag zeroed: two answers to different tags compare byte for byte. */
function untagged(ex: Exchange): Buffer {
  const b = Buffer.from(ex.raw);
  if (b.length >= 4) b.writeUInt16LE(0, 2);
  return b;
}

/** What channel A's table looks like (SNAPSHOT pages, else the socket's register-window slot). */
async function tableBytes(ctx: TestContext, id: number): Promise<Buffer> {
  if (ctx.has('SNAPSHOT')) return (await ctx.snapshot()).bytes;
  if (ctx.has('REG_WINDOW')) return ctx.windowSlot(id & 0xff);
  return Buffer.alloc(0);
}

/** The device's free slots as channel A sees them (HELLO slots minus A's sockets), for the quota test. */
function freeSlotsSeenByA(ctx: TestContext): number {
  return ctx.info.slots - ctx.client.live.size;
}

function isolationCase(name: IdCommand): ConformanceCase {
  return {
    id: `channel.isolation.${name}`,
    title: `${name} on channel ${KIT_CHANNEL.normal} naming a channel-0 socket answers exactly as for a never-allocated id and changes nothing`,
    section: '§11, §6.2',
    requires: name === 'QUERY' ? ['CHANNELS', 'SNAPSHOT'] : ['CHANNELS'],
    async run(ctx) {
      const type = ctx.socketType();
      const x = await ctx.open(type);
      // Same slot, next generation: an id the device has not handed out (yet).
      const unknown = ((((x >> 8) % 255) + 1) << 8) | (x & 0xff);
      const before = await tableBytes(ctx, x);
      const from = ctx.client.events.length;
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const foreign = await b.ctx.req(name, idBody(ctx, name, x));
        const never = await b.ctx.req(name, idBody(ctx, name, unknown));
        b.ctx.expect(
          foreign,
          'E_UNKNOWN_SOCKET',
          `${name} on channel ${b.channel} naming ${hexId(x)}, a socket of channel 0`,
          '§11 isolation, §6.2',
        );
        b.ctx.expect(
          never,
          'E_UNKNOWN_SOCKET',
          `${name} naming the never-allocated id ${hexId(unknown)}`,
          '§6.2',
        );
        const f = untagged(foreign);
        const n = untagged(never);
        if (!f.equals(n)) {
          fail(
            `${name} for another channel's socket answers differently from a never-allocated id: the answer leaks that the id exists (§11: the same code and no difference in any response field)`,
            {
              sent: `${describeBytes(foreign.sent)} and ${describeBytes(never.sent)}`,
              expected: `identical answers (tag aside): ${describeBytes(n)}`,
              received: describeBytes(f),
            },
          );
        }
      });
      await ctx.client.quiet(60, 500);
      const after = await tableBytes(ctx, x);
      if (!after.equals(before)) {
        fail(
          `${name} from channel ${KIT_CHANNEL.normal} naming channel 0's ${hexId(x)} changed channel 0's table (§11: nothing changed)`,
          { expected: describeBytes(before), received: describeBytes(after) },
        );
      }
      const touched = ctx.client.events.slice(from).filter((e) => (e.body as { id?: number }).id === x);
      check(
        touched.length === 0,
        `${name} from another channel was followed by ${touched.map((e) => e.name).join(', ')} for ${hexId(x)} on channel 0 (§11: nothing changed)`,
      );
    },
  };
}

/**
 * Host B opens a socket on its channel and leaves, `silently` (a crash: the device notices after 3 s, §4.5) or with
 * BYE (down at once); after the channel timeout (§11, --channel-timeout) the channel must be not open and the socket
 * gone, channel 0's socket still there. The wait after BYE is shorter than the silence alone: a device that ignores
 * BYE still has the socket.
 */
async function hostLeaves(ctx: TestContext, how: 'silently' | 'bye'): Promise<void> {
  const timeoutMs = ctx.options.channelTimeoutMs;
  if (timeoutMs === undefined) {
    notApplicable(
      "this test waits for the device's channel timeout: pass --channel-timeout MS, the value the device uses (§11 default 10000; the simulator: offload sim --channel-timeout)",
    );
  }
  if (!ctx.client.reaches(KIT_CHANNEL.normal)) notApplicable(missingPairMessage(ctx, KIT_CHANNEL.normal));
  const type = ctx.socketType();
  const kept = await ctx.open(type);
  const client = ctx.client.forChannel(KIT_CHANNEL.normal);
  let orphan: number;
  try {
    const b = await startChannelLink(ctx, client);
    await openChannel(b, 'NORMAL');
    orphan = await b.open(type);
  } finally {
    await client.close(how === 'silently').catch(() => undefined);
    noteClosed(ctx, client);
  }
  const waitMs = (how === 'silently' ? LINK_LIVENESS_MS : 0) + timeoutMs + 500;
  const left =
    how === 'silently' ? 'its link went silent' : 'its host said BYE (§4.5: the link is down at once)';
  await new Promise((r) => setTimeout(r, waitMs));
  await withChannel(ctx, KIT_CHANNEL.normal, {}, async (b) => {
    b.ctx.expect(
      await b.ctx.req('CLOSE', { id: orphan, abort: 1 }),
      'E_BAD_STATE',
      `CLOSE on channel ${b.channel} ${waitMs} ms after ${left}, before CHANNEL_OPEN (the timeout returns the channel to not-open)`,
      '§11 Timeout',
    );
    await openChannel(b.ctx, 'NORMAL');
    b.ctx.expect(
      await b.ctx.req('CLOSE', { id: orphan, abort: 1 }),
      'E_UNKNOWN_SOCKET',
      `CLOSE of ${hexId(orphan)} after the channel timeout (its sockets are aborted)`,
      '§11 Timeout',
    );
  });
  const still = await ctx.req('GETOPT', { id: kept, option: SocketOption.NODELAY });
  check(
    ctx.statusOf(still) !== 'E_UNKNOWN_SOCKET',
    `channel 0's socket ${hexId(kept)} is gone after another channel's timeout (§11: only that channel's sockets)`,
  );
}

export const channelCases: ConformanceCase[] = [
  {
    id: 'channel.open-gate',
    title:
      'before CHANNEL_OPEN a channel accepts only HELLO, PING, REG_READ, CHANNEL_OPEN and SECURE_*: the rest is E_BAD_STATE',
    section: '§11, §5.8.1 CHANNEL_OPEN',
    requires: ['CHANNELS'],
    async run(ctx) {
      // Channel 255 is ADMIN-only: every link start leaves it not open (§11), whatever happened before.
      await withChannel(ctx, KIT_CHANNEL.admin, {}, async (g) => {
        const where = `on channel ${g.channel} before CHANNEL_OPEN`;
        g.ctx.expect(await g.ctx.req('PING', { payload: Buffer.from([1, 2]) }), 'OK', `PING ${where}`, S11);
        g.ctx.expect(
          await g.ctx.req('REG_READ', { offset: Register.SLOTS, count: 1 }),
          'OK',
          `REG_READ ${where}`,
          S11,
        );
        const refusedBefore: Array<[string, Exchange]> = [
          [
            'SOCKET_OPEN',
            await g.ctx.req('SOCKET_OPEN', {
              type: 1,
              family: ctx.family,
              protocol: 6,
              blocking: 0,
              recvCredit: 0,
            }),
          ],
          ['REG_WRITE', await g.ctx.req('REG_WRITE', { offset: Register.SCRATCH, value: 0x5a5a5a5a })],
          ['QUERY', await g.ctx.req('QUERY', { id: 0x0101 })],
          ['CLOSE', await g.ctx.req('CLOSE', { id: 0x0101, abort: 1 })],
          ['CHANNEL_RESET', await g.ctx.req('CHANNEL_RESET', { channel: 0 })],
          ['RESET', await g.ctx.req('RESET', { magic: Limits.resetMagic })],
        ];
        for (const [what, ex] of refusedBefore)
          g.ctx.expect(ex, 'E_BAD_STATE', `${what} ${where}`, '§11 opening');
      });
    },
  },
  {
    id: 'channel.open-normal',
    title:
      'CHANNEL_OPEN NORMAL returns the quotas (HELLO slots then equals slotQuota); repeating it is allowed; bad role or credential with NORMAL is E_INVALID',
    section: '§5.8.1 CHANNEL_OPEN, §11',
    requires: ['CHANNELS'],
    async run(ctx) {
      await withChannel(ctx, KIT_CHANNEL.normal, {}, async (b) => {
        const s = '§5.8.1 CHANNEL_OPEN';
        b.ctx.expect(
          await b.ctx.req('CHANNEL_OPEN', { role: 7, credential: Buffer.alloc(0) }),
          'E_INVALID',
          'CHANNEL_OPEN with role 7',
          s,
        );
        b.ctx.expect(
          await b.ctx.req('CHANNEL_OPEN', { role: ChannelRole.NORMAL, credential: Buffer.from('x') }),
          'E_INVALID',
          'CHANNEL_OPEN NORMAL with a credential',
          s,
        );
        const q = await openChannel(b.ctx, 'NORMAL');
        check(
          q.slotQuota >= 1 && q.slotQuota <= Limits.maxSlots && q.queueQuota > 0,
          `CHANNEL_OPEN NORMAL returned slotQuota ${q.slotQuota}, queueQuota ${q.queueQuota}: a channel that can hold nothing (§11 quotas)`,
        );
        const again = await openChannel(b.ctx, 'NORMAL');
        check(
          again.slotQuota === q.slotQuota && again.queueQuota === q.queueQuota,
          `a repeated CHANNEL_OPEN NORMAL returned other quotas (${again.slotQuota}/${again.queueQuota}, first ${q.slotQuota}/${q.queueQuota}) (§5.8.1 CHANNEL_OPEN)`,
        );
        const info = await b.ctx.rehello();
        check(
          info.slots === q.slotQuota,
          `HELLO on the opened channel reports slots ${info.slots}, its slotQuota is ${q.slotQuota} (§11: HELLO's slots on a channel is its slot quota)`,
        );
        // Open now: a socket command works.
        await b.ctx.open(ctx.socketType());
        if (ctx.options.adminCredential) {
          b.ctx.expect(
            await b.ctx.req('CHANNEL_OPEN', {
              role: ChannelRole.ADMIN,
              credential: ctx.options.adminCredential,
            }),
            'E_BAD_STATE',
            'CHANNEL_OPEN ADMIN (right credential) on a channel open as NORMAL',
            s,
          );
        }
      });
    },
  },
  {
    id: 'channel.admin-only-255',
    title:
      'channel 255 refuses CHANNEL_OPEN NORMAL (E_NOT_PERMITTED); ADMIN with a wrong credential is E_AUTH and leaves it closed',
    section: '§5.8.1 CHANNEL_OPEN, §11',
    requires: ['CHANNELS'],
    async run(ctx) {
      await withChannel(ctx, KIT_CHANNEL.admin, {}, async (a) => {
        const s = '§5.8.1 CHANNEL_OPEN, §11';
        a.ctx.expect(
          await a.ctx.req('CHANNEL_OPEN', { role: ChannelRole.NORMAL, credential: Buffer.alloc(0) }),
          'E_NOT_PERMITTED',
          'CHANNEL_OPEN NORMAL on channel 255',
          s,
        );
        const wrong = Buffer.from(`not-the-credential-${Date.now()}`);
        a.ctx.expect(
          await a.ctx.req('CHANNEL_OPEN', { role: ChannelRole.ADMIN, credential: wrong }),
          'E_AUTH',
          'CHANNEL_OPEN ADMIN with a wrong credential',
          s,
        );
        a.ctx.expect(
          await a.ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 1 }),
          'E_BAD_STATE',
          'SNAPSHOT allChannels after a refused CHANNEL_OPEN ADMIN (the channel is still not open)',
          '§11 opening',
        );
      });
    },
  },
  {
    id: 'channel.zero-not-admin',
    title:
      'channel 0 cannot become ADMIN: CHANNEL_OPEN ADMIN on it is E_BAD_STATE, even with the right credential',
    section: '§11 roles',
    requires: ['CHANNELS'],
    async run(ctx) {
      const credential = ctx.credential('CHANNEL_OPEN ADMIN with the right credential');
      ctx.expect(
        await ctx.req('CHANNEL_OPEN', { role: ChannelRole.ADMIN, credential }),
        'E_BAD_STATE',
        'CHANNEL_OPEN ADMIN on channel 0',
        '§11 roles',
      );
    },
  },
  ...SOCKET_COMMAND_NAMES.map(isolationCase),
  {
    id: 'channel.snapshot-isolation',
    title:
      "SNAPSHOT shows only the channel's own sockets; allChannels from a NORMAL channel is E_NOT_PERMITTED",
    section: '§11, §5.8.1 SNAPSHOT',
    requires: ['CHANNELS', 'SNAPSHOT'],
    async run(ctx) {
      const type = ctx.socketType();
      const x = await ctx.open(type);
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const y = await b.ctx.open(type);
        const snapB = await b.ctx.snapshot();
        const idsB = snapB.entries.map((e) => e.id);
        check(
          idsB.includes(y) && !idsB.includes(x),
          `SNAPSHOT on channel ${b.channel} lists ${idsB.map(hexId).join(', ') || 'nothing'}: expected its own ${hexId(y)} and not channel 0's ${hexId(x)} (§11 isolation)`,
        );
        check(
          snapB.entries.every((e) => e.channel === b.channel),
          `SNAPSHOT on channel ${b.channel} shows entries of channels ${[...new Set(snapB.entries.map((e) => e.channel))].join(', ')} (§11)`,
        );
        const idsA = (await ctx.snapshot()).entries.map((e) => e.id);
        check(
          idsA.includes(x) && !idsA.includes(y),
          `SNAPSHOT on channel 0 lists ${idsA.map(hexId).join(', ') || 'nothing'}: expected ${hexId(x)} and not channel ${b.channel}'s ${hexId(y)} (§11 isolation)`,
        );
        b.ctx.expect(
          await b.ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 16, allChannels: 1 }),
          'E_NOT_PERMITTED',
          'SNAPSHOT allChannels = 1 from a NORMAL channel',
          '§5.8.1 SNAPSHOT',
        );
      });
    },
  },
  {
    id: 'channel.quota',
    title:
      'a channel holding slotQuota sockets gets E_QUOTA for one more (while the device still has free slots)',
    section: '§11 quotas',
    requires: ['CHANNELS'],
    timeoutMs: 40_000,
    async run(ctx) {
      const type = ctx.socketType();
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const quota = b.quotas!.slotQuota;
        const free = freeSlotsSeenByA(ctx);
        if (quota >= free) {
          notApplicable(
            `channel ${b.channel}'s slotQuota ${quota} is not below the ${free} free slots: the device runs out of slots (E_NO_SLOT) before the quota (give the board a smaller per-channel quota to test E_QUOTA)`,
          );
        }
        const held = (await b.ctx.snapshot().catch(() => ({ entries: [] }))).entries.length;
        for (let i = held; i < quota; i++) await b.ctx.open(type);
        const ex = await b.ctx.req('SOCKET_OPEN', {
          type: type === 'STREAM' ? 1 : 2,
          family: ctx.family,
          protocol: type === 'STREAM' ? 6 : 17,
          blocking: 0,
          recvCredit: 0,
        });
        b.ctx.expect(
          ex,
          'E_QUOTA',
          `SOCKET_OPEN number ${quota + 1} on a channel with slotQuota ${quota}`,
          '§11 quotas',
        );
        // Channel 0 is not limited by channel B's quota.
        await ctx.open(type);
      });
    },
  },
  {
    id: 'channel.queue-quota',
    title:
      "raising RCVBUF beyond the channel's queueQuota is E_QUOTA and changes nothing; lowering it is allowed",
    section: '§11 quotas, §5.8.2 SETOPT',
    requires: ['CHANNELS'],
    async run(ctx) {
      const type = ctx.socketType();
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const quota = b.quotas!.queueQuota;
        const id = await b.ctx.open(type);
        const get = async (option: number, what: string): Promise<number> => {
          const ex = await b.ctx.req('GETOPT', { id, option });
          b.ctx.expect(ex, 'OK', `GETOPT ${what} of ${hexId(id)}`, '§5.8.2 GETOPT');
          return (ex.answer as OkResponseMessage<'GETOPT'>).body.value;
        };
        const rcv = await get(SocketOption.RCVBUF, 'RCVBUF');
        const snd = await get(SocketOption.SNDBUF, 'SNDBUF');
        // The receive queue alone asks for the whole quota: with the send queue the socket would hold more.
        const ex = await b.ctx.req('SETOPT', { id, option: SocketOption.RCVBUF, value: quota });
        if (ctx.statusOf(ex) === 'OK') {
          const got = await get(SocketOption.RCVBUF, 'RCVBUF');
          if (got + snd <= quota) {
            notApplicable(
              `the device rounds RCVBUF ${quota} down to ${got}: with SNDBUF ${snd} one socket stays within queueQuota ${quota} (§11 quotas; a board with a smaller queue quota tests E_QUOTA)`,
            );
          }
          fail(
            `SETOPT RCVBUF ${quota} on channel ${b.channel} answered OK: its socket now holds ${got} + ${snd} bytes of queue, beyond queueQuota ${quota} (§11: E_QUOTA)`,
            { sent: describeBytes(ex.sent), expected: 'E_QUOTA', received: describeBytes(ex.raw) },
          );
        }
        b.ctx.expect(
          ex,
          'E_QUOTA',
          `SETOPT RCVBUF ${quota} (with SNDBUF ${snd}) on a channel with queueQuota ${quota}`,
          '§11 quotas',
        );
        const after = await get(SocketOption.RCVBUF, 'RCVBUF');
        check(
          after === rcv,
          `the refused SETOPT changed RCVBUF from ${rcv} to ${after} (§11: E_QUOTA changes nothing)`,
        );
        const lower = Math.max(256, Math.floor(rcv / 2));
        b.ctx.expect(
          await b.ctx.req('SETOPT', { id, option: SocketOption.RCVBUF, value: lower }),
          'OK',
          `SETOPT RCVBUF ${lower} (lowering) after the refusal`,
          '§11 quotas: lowering is always allowed',
        );
      });
    },
  },
  {
    id: 'channel.timeout',
    title:
      "a channel whose link goes silent has its sockets aborted after the channel timeout and is not open any more; channel 0's sockets stay",
    section: '§11 Timeout, §4.5',
    requires: ['CHANNELS'],
    timeoutMs: 180_000,
    // A crashed host: its link just stops, no frame tells the device (on PCIe HOST_SESSION 0 does, §10.5).
    run: (ctx) => hostLeaves(ctx, 'silently'),
  },
  {
    id: 'channel.bye',
    title:
      'a host that leaves with BYE has its link down at once: its sockets are aborted after the channel timeout alone, without the 3 s of silence',
    section: '§4.5 Leaving, §11 Timeout',
    requires: ['CHANNELS'],
    framing: 'link',
    timeoutMs: 180_000,
    run: (ctx) => hostLeaves(ctx, 'bye'),
  },
  {
    id: 'channel.reset-refused',
    title:
      'a NORMAL channel may not CHANNEL_RESET (E_NOT_PERMITTED), nor RESET while channel 0 has a host (E_NOT_PERMITTED, nothing reset)',
    section: '§5.8.1 RESET, §5.8.1 CHANNEL_RESET, §11',
    requires: ['CHANNELS'],
    async run(ctx) {
      const x = await ctx.open(ctx.socketType());
      const epoch = ctx.client.epoch;
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        b.ctx.expect(
          await b.ctx.req('CHANNEL_RESET', { channel: 0 }),
          'E_NOT_PERMITTED',
          'CHANNEL_RESET of channel 0 from a NORMAL channel',
          '§5.8.1 CHANNEL_RESET',
        );
        const ex = await b.ctx.req('RESET', { magic: Limits.resetMagic }, 10_000);
        b.ctx.expect(
          ex,
          'E_NOT_PERMITTED',
          'RESET from a NORMAL channel while channel 0 is open with a host',
          '§5.8.1 RESET',
        );
      });
      await ctx.client.quiet(60, 500);
      check(
        ctx.client.epoch === epoch,
        `the boot epoch changed (${epoch} → ${ctx.client.epoch}) after a refused RESET (§5.8.1 RESET)`,
      );
      const e = await ctx.entry(x);
      if (ctx.has('SNAPSHOT') || ctx.has('REG_WINDOW')) {
        check(
          e?.entry.id === x,
          `channel 0's ${hexId(x)} is gone after a refused CHANNEL_RESET / RESET (§11)`,
        );
      }
    },
  },
  {
    id: 'channel.admin-snapshot',
    title: "the admin's SNAPSHOT allChannels = 1 shows every channel's sockets, each with its channel",
    section: '§11 admin powers, §5.8.1 SNAPSHOT',
    requires: ['CHANNELS', 'SNAPSHOT'],
    async run(ctx) {
      ctx.credential('the admin tests');
      const type = ctx.socketType();
      const x = await ctx.open(type);
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const y = await b.ctx.open(type);
        await withChannel(ctx, KIT_CHANNEL.admin, { role: 'ADMIN' }, async (a) => {
          const seen = new Map<number, number>();
          let start = 0;
          for (let page = 0; page < 300 && start !== 0xffff; page++) {
            const ex = await a.ctx.req('SNAPSHOT', { startSlot: start, maxEntries: 255, allChannels: 1 });
            a.ctx.expect(ex, 'OK', 'SNAPSHOT allChannels = 1 from the ADMIN channel', '§5.8.1 SNAPSHOT');
            const body = (ex.answer as OkResponseMessage<'SNAPSHOT'>).body;
            for (const e of body.entries) seen.set(e.id, e.channel);
            start = body.nextSlot;
          }
          check(
            seen.get(x) === 0 && seen.get(y) === b.channel,
            `the admin's SNAPSHOT allChannels shows ${[...seen].map(([id, ch]) => `${hexId(id)}@${ch}`).join(', ') || 'nothing'}: expected ${hexId(x)} on channel 0 and ${hexId(y)} on channel ${b.channel} (§11 admin powers)`,
          );
        });
      });
    },
  },
  {
    id: 'channel.admin-close',
    title:
      "the admin's CLOSE of another channel's socket aborts it: the owner gets TERMINATED with ECONNABORTED; other commands stay E_UNKNOWN_SOCKET",
    section: '§11 admin powers, §5.8.2 CLOSE',
    requires: ['CHANNELS'],
    async run(ctx) {
      ctx.credential('the admin tests');
      const type = ctx.socketType();
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const y = await b.ctx.open(type);
        const from = b.client.events.length;
        await withChannel(ctx, KIT_CHANNEL.admin, { role: 'ADMIN' }, async (a) => {
          a.ctx.expect(
            await a.ctx.req('GETOPT', { id: y, option: SocketOption.NODELAY }),
            'E_UNKNOWN_SOCKET',
            `the admin's GETOPT of channel ${b.channel}'s ${hexId(y)}`,
            '§11 admin powers: nothing else crosses channels',
          );
          a.ctx.expect(
            await a.ctx.req('CLOSE', { id: y, abort: 0 }),
            'OK',
            `the admin's CLOSE (abort 0) of channel ${b.channel}'s ${hexId(y)}`,
            '§11 admin powers',
          );
        });
        const st = await b.ctx.waitStatus(
          y,
          (e) => e.body.status === SocketStatus.TERMINATED,
          `final STATUS TERMINATED of ${hexId(y)} on its own channel after the admin's CLOSE`,
          3000,
          from,
        );
        check(
          st.body.error === StatusCode.ECONNABORTED,
          `the admin's CLOSE ended ${hexId(y)} with error ${statusName(st.body.error)}, expected ECONNABORTED (§11: always an abort)`,
        );
      });
    },
  },
  {
    id: 'channel.channel-reset',
    title:
      "CHANNEL_RESET from the admin aborts every socket of the channel (closed = their count, each TERMINATED with ECONNABORTED) and no other channel's",
    section: '§5.8.1 CHANNEL_RESET, §11',
    requires: ['CHANNELS'],
    async run(ctx) {
      ctx.credential('the admin tests');
      const type = ctx.socketType();
      const x = await ctx.open(type);
      await withChannel(ctx, KIT_CHANNEL.normal, { role: 'NORMAL' }, async (b) => {
        const ys = [await b.ctx.open(type), await b.ctx.open(type)];
        const held = ctx.has('SNAPSHOT') ? (await b.ctx.snapshot()).entries.length : ys.length;
        const from = b.client.events.length;
        await withChannel(ctx, KIT_CHANNEL.admin, { role: 'ADMIN' }, async (a) => {
          const ex = await a.ctx.req('CHANNEL_RESET', { channel: b.channel });
          a.ctx.expect(
            ex,
            'OK',
            `CHANNEL_RESET of channel ${b.channel} from the admin`,
            '§5.8.1 CHANNEL_RESET',
          );
          const closed = (ex.answer as OkResponseMessage<'CHANNEL_RESET'>).body.closed;
          check(
            closed === held,
            `CHANNEL_RESET answered closed = ${closed}, channel ${b.channel} held ${held} sockets (§5.8.1 CHANNEL_RESET)`,
            a.ctx.detail(ex, `closed = ${held}`),
          );
        });
        for (const y of ys) {
          const st = await b.ctx.waitStatus(
            y,
            (e) => e.body.status === SocketStatus.TERMINATED,
            `final STATUS TERMINATED of ${hexId(y)} after CHANNEL_RESET`,
            3000,
            from,
          );
          check(
            st.body.error === StatusCode.ECONNABORTED,
            `CHANNEL_RESET ended ${hexId(y)} with ${statusName(st.body.error)}, expected ECONNABORTED (§5.8.1 CHANNEL_RESET)`,
          );
        }
      });
      if (ctx.has('SNAPSHOT') || ctx.has('REG_WINDOW')) {
        const e = await ctx.entry(x);
        check(
          e?.entry.id === x,
          `CHANNEL_RESET of channel ${KIT_CHANNEL.normal} took channel 0's ${hexId(x)} too (§5.8.1 CHANNEL_RESET)`,
        );
      }
    },
  },
];
