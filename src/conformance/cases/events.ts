/**
 * Events and snapshots (§5.9, §8.1, §8.2): contiguous sequence numbers in the current epoch, EVENT_SEQ / HELLO
 * agreeing with the last event, STATUS for every change, SNAPSHOT pages placed in the event stream (a page with
 * eventSeq S reflects the events up to S) and equal to the mirror the host built from responses and events.
 */
import {
  ConditionFlag,
  type OkResponseMessage,
  PROTOCOL_VERSION_WORD,
  Register,
  type SocketEntry,
  SocketStatus,
} from '../../protocol/index.js';
import type { MirrorEntry } from '../client.js';
import type { TestContext } from '../context.js';
import { addrText, hexId, socketStatusName } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';
import { ALL_HOST_CAPS } from './handshake.js';

function mirrorDiff(m: MirrorEntry, e: SocketEntry): string[] {
  const out: string[] = [];
  if (m.status !== e.status)
    out.push(`status ${socketStatusName(m.status)} (events) vs ${socketStatusName(e.status)} (device)`);
  if (m.flags !== e.flags) out.push(`flags 0x${m.flags.toString(16)} vs 0x${e.flags.toString(16)}`);
  if (m.lastError !== e.lastError) out.push(`lastError ${m.lastError} vs ${e.lastError}`);
  if (addrText(m.local) !== addrText(e.local)) out.push(`local ${addrText(m.local)} vs ${addrText(e.local)}`);
  if (addrText(m.remote) !== addrText(e.remote))
    out.push(`remote ${addrText(m.remote)} vs ${addrText(e.remote)}`);
  return out;
}

/** A few sockets in different states, for the snapshot tests. */
/** A few sockets in different states, for the snapshot tests (as many as the board's slots allow). */
async function population(ctx: TestContext): Promise<number[]> {
  const makers: Array<() => Promise<number>> = [];
  if (ctx.has('UDP')) {
    makers.push(async () => {
      const u = await ctx.open('DGRAM', 1000);
      await ctx.ok('CONNECT', { id: u, timeoutMs: 0, addr: ctx.addr(ctx.peers.udpEcho) }, '§5.8.2 CONNECT');
      return u;
    });
  }
  if (ctx.has('TCP')) {
    makers.push(
      () => ctx.connected(ctx.peers.echo, 4096),
      async () => {
        const l = await ctx.open('STREAM');
        await ctx.ok('LISTEN', { id: l, backlog: 3 }, '§5.8.2 LISTEN');
        return l;
      },
      () => ctx.connected(ctx.peers.talker, 0),
      () => ctx.open('STREAM', 77),
    );
  }
  if (makers.length === 0) notApplicable('the device offers neither TCP nor UDP (§14)');
  const room = Math.max(1, ctx.info.slots - ctx.client.live.size);
  const ids: number[] = [];
  for (const make of makers.slice(0, room)) ids.push(await make());
  return ids;
}

export const eventCases: ConformanceCase[] = [
  {
    id: 'events.sequence',
    title:
      'events carry the current epoch and contiguous sequence numbers; EVENT_SEQ and HELLO agree with the last one',
    section: '§8.1, §5.8.1 HELLO, §9.1 EVENT_SEQ',
    requires: ['TCP'],
    async run(ctx) {
      const c = ctx.client;
      const mark = c.violations.length;
      const from = c.events.length;
      // Generate events of several kinds: STATUS, DATA, SEND_CREDIT.
      for (let round = 0; round < 3; round++) {
        const id = await ctx.connected(ctx.peers.echo, 100_000);
        for (let i = 0; i < 4; i++) {
          await ctx.ok('SEND', { id, data: Buffer.alloc(200 + i, 0x41 + i) }, '§5.8.2 SEND');
          await c.wake(15);
        }
        await c.progress(() => c.book(id).recvTaken, 806, 500);
        await ctx.ok('CLOSE', { id, abort: round % 2 }, '§5.8.2 CLOSE');
      }
      await c.quiet(80, 2000);
      const n = c.events.length - from;
      check(
        n >= 10,
        `only ${n} events for 3 connections with traffic (§5.9: STATUS for every change, DATA, SEND_CREDIT)`,
      );
      const bad = c.violations.slice(mark).filter((v) => v.kind === 'sequence' || v.kind === 'epoch');
      if (bad.length) fail(bad[0]!.message, { received: bad.map((v) => v.message).join('\n') });
      const seq = await ctx.regReadAt(Register.EVENT_SEQ);
      check(
        seq.value === seq.seqAtAnswer,
        `EVENT_SEQ reads ${seq.value}, the last event before its answer was seq ${seq.seqAtAnswer} (§9.1)`,
      );
      const h = await ctx.req('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: ALL_HOST_CAPS });
      ctx.expect(h, 'OK', 'HELLO', '§5.8.1');
      const hb = (h.answer as OkResponseMessage<'HELLO'>).body;
      check(
        hb.eventSeq === h.seqAtAnswer,
        `HELLO reports eventSeq ${hb.eventSeq}, the last event before its response was seq ${h.seqAtAnswer} (§5.8.1)`,
        ctx.detail(h, `eventSeq ${h.seqAtAnswer}`),
      );
    },
  },
  {
    id: 'events.status-announced',
    title: 'STATUS announces connect, peer close and close, with the local and remote endpoints',
    section: '§5.9 STATUS, §6.6',
    requires: ['TCP'],
    async run(ctx) {
      const c = ctx.client;
      const id = await ctx.open('STREAM');
      let from = c.events.length;
      await ctx.ok('CONNECT', { id, timeoutMs: 5000, addr: ctx.addr(ctx.peers.closer) }, '§5.8.2 CONNECT');
      const last = await ctx.waitStatus(
        id,
        (e) => e.body.status === SocketStatus.DISCONNECTED,
        `${hexId(id)} DISCONNECTED after the peer's FIN (§6.6)`,
        5000,
        from,
      );
      check(
        (last.body.flags & ConditionFlag.PEER_CLOSED) !== 0,
        `STATUS DISCONNECTED after a FIN lacks PEER_CLOSED (flags 0x${last.body.flags.toString(16)}) (§6.6)`,
      );
      check(
        last.body.error === 0,
        `STATUS after a clean peer close carries error ${last.body.error}, expected 0 (§6.6)`,
      );
      check(
        last.body.remote.port === ctx.peers.closer.port,
        `STATUS remote ${addrText(last.body.remote)}, the peer is at port ${ctx.peers.closer.port} (§5.9 STATUS)`,
      );
      check(
        last.body.local.family !== 0 && last.body.local.port !== 0,
        `STATUS local ${addrText(last.body.local)}: known after connect (§5.9 STATUS)`,
      );
      from = c.events.length;
      await ctx.ok('CLOSE', { id, abort: 0 }, '§5.8.2 CLOSE');
      const t = await ctx.waitStatus(
        id,
        (e) => e.body.status === SocketStatus.TERMINATED,
        `final STATUS TERMINATED of ${hexId(id)}`,
        3000,
        from,
      );
      check(
        t.body.error === 0,
        `the final STATUS of a graceful CLOSE carries error ${t.body.error}, expected 0 (§5.8.2 CLOSE)`,
      );
      const id2 = await ctx.open('STREAM');
      from = c.events.length;
      await ctx.ok('CLOSE', { id: id2, abort: 1 }, '§5.8.2 CLOSE');
      const t2 = await ctx.waitStatus(
        id2,
        (e) => e.body.status === SocketStatus.TERMINATED,
        `final STATUS TERMINATED of ${hexId(id2)}`,
        3000,
        from,
      );
      check(
        t2.body.error === 26,
        `the final STATUS of CLOSE abort carries error ${t2.body.error}, expected ECONNABORTED (26) (§5.8.2 CLOSE, §13)`,
      );
      const after = c.events
        .slice(c.events.indexOf(t2) + 1)
        .filter((e) => (e.body as { id?: number }).id === id2);
      check(
        after.length === 0,
        `an event named ${hexId(id2)} after its TERMINATED (§5.9: the id no longer exists)`,
      );
    },
  },
  {
    id: 'snapshot.consistent',
    title:
      'SNAPSHOT is placed after event S and equals the mirror built from responses and STATUS events; pages cover the table',
    section: '§8.2, §5.8.1 SNAPSHOT, §6.7',
    requires: ['SNAPSHOT'],
    async run(ctx) {
      const c = ctx.client;
      const ids = await population(ctx);
      let lastProblem = '';
      for (let attempt = 0; attempt < 10; attempt++) {
        await c.quiet(80, 2000);
        const ex = await ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 255, allChannels: 0 });
        ctx.expect(ex, 'OK', 'SNAPSHOT', '§5.8.1');
        const page = (ex.answer as OkResponseMessage<'SNAPSHOT'>).body;
        check(
          page.epoch === c.epoch,
          `SNAPSHOT epoch ${page.epoch}, the device's epoch is ${c.epoch} (§8.2)`,
          ctx.detail(ex, `epoch ${c.epoch}`),
        );
        check(
          page.eventSeq === ex.seqAtAnswer,
          `SNAPSHOT eventSeq ${page.eventSeq}, but the last event before its response was seq ${ex.seqAtAnswer}: a page with eventSeq S comes after event S and before S + 1 (§8.2)`,
          ctx.detail(ex, `eventSeq ${ex.seqAtAnswer}`),
        );
        const problems: string[] = [];
        for (const id of ids) {
          const m = c.mirror.get(id);
          const e = page.entries.find((x) => x.id === id);
          if (!e) problems.push(`socket ${hexId(id)} missing from the page`);
          else if (!m) problems.push(`socket ${hexId(id)} unknown to the mirror`);
          else {
            const d = mirrorDiff(m, e);
            if (d.length) problems.push(`socket ${hexId(id)}: ${d.join(', ')}`);
          }
        }
        for (const e of page.entries)
          if (!c.mirror.has(e.id))
            problems.push(`the page lists ${hexId(e.id)}, which the events never created or already ended`);
        for (const e of page.entries)
          if (e.channel !== 0)
            problems.push(
              `the page lists ${hexId(e.id)} of channel ${e.channel} (§5.8.1: this channel's sockets only)`,
            );
        if (problems.length === 0) {
          lastProblem = '';
          break;
        }
        lastProblem = problems.join('; ');
        await c.wake(100);
      }
      if (lastProblem)
        fail(
          `SNAPSHOT and the mirror built from STATUS events disagree at a quiet moment: ${lastProblem} (§6.7, §8.2)`,
        );
      // Paging: one entry per page covers the same sockets, each equal to QUERY.
      const paged = await ctx.snapshot(1);
      const full = await ctx.snapshot(255);
      check(
        paged.entries.map((e) => e.id).join() === full.entries.map((e) => e.id).join(),
        `SNAPSHOT pages of one entry list ${paged.entries.map((e) => hexId(e.id)).join(' ')}, one page lists ${full.entries.map((e) => hexId(e.id)).join(' ')} (§5.8.1)`,
      );
      const slots = full.entries.map((e) => e.id & 0xff);
      check(
        slots.every((s, i) => i === 0 || s > slots[i - 1]!),
        `SNAPSHOT entries are not in slot order: ${slots.join(' ')} (§5.8.1)`,
      );
      for (const e of full.entries) {
        const q = await ctx.entry(e.id);
        if (!q) continue;
        const a = { ...q.entry, pendingEvents: 0 };
        const b = { ...e, pendingEvents: 0 };
        check(
          JSON.stringify(a) === JSON.stringify(b),
          `QUERY ${hexId(e.id)} differs from its SNAPSHOT entry at a quiet moment (§5.8.2 QUERY, §5.8.1 SNAPSHOT)`,
        );
      }
    },
  },
  {
    id: 'snapshot.fields',
    title:
      'SNAPSHOT: maxEntries 0 and allChannels > 1 are E_INVALID, allChannels 1 needs ADMIN, startSlot beyond the table is empty',
    section: '§5.8.1 SNAPSHOT',
    requires: ['SNAPSHOT'],
    async run(ctx) {
      const z = await ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 0, allChannels: 0 });
      ctx.expect(z, 'E_INVALID', 'SNAPSHOT with maxEntries 0', '§5.8.1');
      const two = await ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 10, allChannels: 2 });
      ctx.expect(two, 'E_INVALID', 'SNAPSHOT with allChannels 2', '§5.8.1');
      const all = await ctx.req('SNAPSHOT', { startSlot: 0, maxEntries: 10, allChannels: 1 });
      ctx.expect(
        all,
        'E_NOT_PERMITTED',
        'SNAPSHOT with allChannels 1 from channel 0 (not ADMIN)',
        '§5.8.1, §11',
      );
      const beyond = await ctx.req('SNAPSHOT', { startSlot: 0xfffe, maxEntries: 10, allChannels: 0 });
      ctx.expect(beyond, 'OK', 'SNAPSHOT with startSlot 0xFFFE', '§5.8.1');
      const b = (beyond.answer as OkResponseMessage<'SNAPSHOT'>).body;
      check(
        b.count === 0 && b.nextSlot === 0xffff,
        `SNAPSHOT from slot 0xFFFE: count ${b.count}, nextSlot 0x${b.nextSlot.toString(16)}; expected 0 and 0xFFFF (§5.8.1)`,
        ctx.detail(beyond, 'count 0, nextSlot 0xFFFF'),
      );
    },
  },
];

export const finalEventCases: ConformanceCase[] = [
  {
    id: 'events.whole-run',
    title:
      'over the whole run: no sequence gap, no wrong epoch, one answer per command, no event for an uncreated socket, no data beyond credit',
    section: '§5.3, §7, §8.1, §8.3',
    async run(ctx) {
      await ctx.client.quiet(50, 1000);
      const v = ctx.client.violations;
      if (v.length) {
        const kinds = [...new Set(v.map((x) => x.kind))].join(', ');
        fail(`${v.length} protocol violation(s) seen during the run (${kinds}); first: ${v[0]!.message}`, {
          received: v
            .slice(0, 20)
            .map((x) => x.message)
            .join('\n'),
        });
      }
    },
  },
];
