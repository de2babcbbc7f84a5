/**
 * UPDATE (FIG 32, §6.8): an unknown id gets the low-level error E_UNKNOWN_SOCKET and the table stays exactly
 * as it was — compared through SNAPSHOT bytes and the register window; a known id is updated under the rules
 * (HOST_MARKs, ERROR_PENDING clear only, status keep-or-equal), refusals change nothing, changes are announced.
 * Socket slots (§6.2): exhaustion gives E_NO_SLOT; a released slot is reused with the next generation.
 */
import { ConditionFlag, Register, SocketStatus } from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { hexId, hexOf, socketStatusName, statusName } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

/** What the device shows of its table: SNAPSHOT bytes, every window slot, SLOTS in use. */
async function tableView(ctx: TestContext, slots: number[]): Promise<View> {
  const view: View = { slots: (await ctx.regRead(Register.SLOTS))[0]!, windowSlots: slots };
  if (ctx.has('SNAPSHOT')) view.snapshot = (await ctx.snapshot()).bytes;
  if (ctx.has('REG_WINDOW')) {
    view.window = [];
    for (const s of slots) view.window.push(await ctx.windowSlot(s));
  }
  return view;
}

interface View {
  snapshot?: Buffer;
  window?: Buffer[];
  windowSlots: number[];
  slots: number;
}

/** Differences between two views, named per socket and field where possible. */
function viewDiff(a: View, b: View): string[] {
  const out: string[] = [];
  if (a.slots !== b.slots) out.push(`SLOTS register ${a.slots >>> 16} → ${b.slots >>> 16} in use`);
  if (a.snapshot && b.snapshot && !a.snapshot.equals(b.snapshot)) {
    out.push(
      `SNAPSHOT entries ${hexOf(a.snapshot, 40)} → ${hexOf(b.snapshot, 40)}${entryDiff(a.snapshot, b.snapshot, 80)}`,
    );
  }
  if (a.window && b.window) {
    a.window.forEach((w, s) => {
      const slot = a.windowSlots[s];
      if (!w.equals(b.window![s]!))
        out.push(
          `window slot ${slot}: ${hexOf(w, 16)} → ${hexOf(b.window![s]!, 16)}${entryDiff(w, b.window![s]!, 128)}`,
        );
    });
  }
  return out;
}

const FIELDS: Array<[string, number, number]> = [
  ['id', 0, 2],
  ['status', 5, 1],
  ['flags', 6, 2],
  ['lastError', 8, 2],
  ['options', 10, 2],
  ['recvCredit', 32, 4],
];

function entryDiff(a: Buffer, b: Buffer, stride: number): string {
  const parts: string[] = [];
  for (let base = 0; base + 80 <= Math.min(a.length, b.length); base += stride) {
    for (const [name, off, size] of FIELDS) {
      const x = a.readUIntLE(base + off, size);
      const y = b.readUIntLE(base + off, size);
      if (x !== y)
        parts.push(`socket ${hexId(a.readUInt16LE(base))} ${name} 0x${x.toString(16)} → 0x${y.toString(16)}`);
    }
  }
  if (a.length !== b.length) parts.push(`${a.length / stride} → ${b.length / stride} entries`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export const updateCases: ConformanceCase[] = [
  {
    id: 'update.unknown-id',
    title:
      'UPDATE naming an id not in the table: E_UNKNOWN_SOCKET, table unchanged (SNAPSHOT bytes and register window)',
    section: 'FIG 32, §6.8, §6.2',
    async run(ctx) {
      if (!ctx.has('SNAPSHOT') && !ctx.has('REG_WINDOW'))
        notApplicable('needs SNAPSHOT or REG_WINDOW to see the table (§14)');
      const type = ctx.socketType();
      const a = await ctx.open(type, 500);
      const b = await ctx.open(type, 700);
      const gone = await ctx.open(type);
      await ctx.ok('CLOSE', { id: gone, abort: 1 }, '§5.8.2 CLOSE');
      await ctx.waitStatus(
        gone,
        (e) => e.body.status === SocketStatus.TERMINATED,
        'TERMINATED of the closed socket',
      );
      await ctx.ok(
        'UPDATE',
        { id: a, status: 0xff, setFlags: ConditionFlag.HOST_MARK2, clearFlags: 0 },
        '§6.8',
      );
      await ctx.client.quiet(60, 1000);
      const used = new Set([a & 0xff, b & 0xff]);
      const freeSlot = [...Array(ctx.info.slots).keys()].find((s) => !used.has(s) && s !== (gone & 0xff));
      const nextGen = (id: number) => ((((id >> 8) % 255) + 1) << 8) | (id & 0xff);
      const prevGen = (id: number) => (((((id >> 8) + 253) % 255) + 1) << 8) | (id & 0xff);
      const unknown: Array<[number, string]> = [
        [nextGen(a), 'the next generation of a used slot'],
        [prevGen(b), 'an older generation of a used slot'],
        [gone, 'a TERMINATED socket'],
        [0x0000, 'id 0 (never valid)'],
        [0xffff, 'id 0xFFFF (the device)'],
      ];
      if (freeSlot !== undefined) unknown.push([0x0100 | freeSlot, 'a free slot']);
      if (ctx.info.slots < 255) unknown.push([0x0100 | (ctx.info.slots + 0), 'a slot beyond the table']);
      const variants = [
        { status: 0xff, setFlags: ConditionFlag.HOST_MARK0 | ConditionFlag.HOST_MARK1, clearFlags: 0 },
        { status: 0xff, setFlags: 0, clearFlags: ConditionFlag.HOST_MARK2 | ConditionFlag.ERROR_PENDING },
        { status: SocketStatus.CONNECTED, setFlags: ConditionFlag.HOST_MARK3, clearFlags: 0 },
      ];
      const slotsToWatch = [
        ...new Set([a & 0xff, b & 0xff, gone & 0xff, ...unknown.map(([id]) => id & 0xff)]),
      ].filter((s) => s < ctx.info.slots);
      let view = await tableView(ctx, slotsToWatch);
      for (const [id, what] of unknown) {
        for (const v of variants) {
          const from = ctx.client.events.length;
          const ex = await ctx.req('UPDATE', { id, ...v });
          ctx.expect(ex, 'E_UNKNOWN_SOCKET', `UPDATE of ${hexId(id)} (${what})`, 'FIG 32, §6.8');
          check(
            ex.raw.length === 6,
            `the E_UNKNOWN_SOCKET response is ${ex.raw.length} bytes, 6 expected (§5.1)`,
            ctx.detail(ex, '6 bytes'),
          );
          const after = await tableView(ctx, slotsToWatch);
          const d = viewDiff(view, after);
          if (d.length) {
            fail(
              `UPDATE of the unknown id ${hexId(id)} (${what}) answered E_UNKNOWN_SOCKET but changed the table: ${d.join('; ')} (FIG 32, §6.8: the table is left exactly as it was)`,
              ctx.detail(ex, 'E_UNKNOWN_SOCKET and an unchanged table'),
            );
          }
          const ev = ctx.client.events.slice(from).filter((e) => e.name === 'STATUS');
          check(
            ev.length === 0,
            `UPDATE of the unknown id ${hexId(id)} was followed by a STATUS event (FIG 32: nothing is touched)`,
          );
          view = after;
        }
        const q = await ctx.req('CLOSE', { id, abort: 1 });
        ctx.expect(q, 'E_UNKNOWN_SOCKET', `CLOSE of ${hexId(id)} (${what})`, '§6.2');
      }
    },
  },
  {
    id: 'update.known-id',
    title:
      'UPDATE of a known id: HOST_MARKs set/clear, status keep or equal, forbidden flags E_INVALID, changes announced',
    section: '§6.8, §6.4',
    async run(ctx) {
      const type = ctx.socketType();
      const id = await ctx.open(type);
      const c = ctx.client;
      const M0 = ConditionFlag.HOST_MARK0;
      const M3 = ConditionFlag.HOST_MARK3;
      let from = c.events.length;
      const set = await ctx.req('UPDATE', { id, status: 0xff, setFlags: M0 | M3, clearFlags: 0 });
      ctx.expect(set, 'OK', 'UPDATE setting HOST_MARK0|HOST_MARK3', '§6.8');
      check(
        set.raw.length === 9,
        `UPDATE response is ${set.raw.length} bytes, 9 expected (§5.8.2)`,
        ctx.detail(set, '9 bytes'),
      );
      const body = (set.answer as { body: { status: number; flags: number } }).body;
      check(
        (body.flags & (M0 | M3)) === (M0 | M3),
        `UPDATE response flags 0x${body.flags.toString(16)} lack the HOST_MARKs just set (§6.8)`,
        ctx.detail(set, 'flags with 0x9000'),
      );
      check(
        body.status === SocketStatus.UNCONNECTED,
        `UPDATE response status ${socketStatusName(body.status)}, the socket is UNCONNECTED (§6.8)`,
      );
      await ctx.waitStatus(
        id,
        (e) => (e.body.flags & (M0 | M3)) === (M0 | M3),
        'a STATUS event announcing the HOST_MARKs (§6.8: a change is announced)',
        3000,
        from,
      );
      const e1 = await ctx.entry(id);
      if (e1)
        check(
          (e1.entry.flags & (M0 | M3)) === (M0 | M3),
          `QUERY shows flags 0x${e1.entry.flags.toString(16)} after setting HOST_MARKs (§6.8)`,
        );
      const same = await ctx.req('UPDATE', {
        id,
        status: SocketStatus.UNCONNECTED,
        setFlags: 0,
        clearFlags: M3,
      });
      ctx.expect(same, 'OK', 'UPDATE with status = the current status, clearing HOST_MARK3', '§6.8');
      await c.quiet(40, 1000);
      const base = await ctx.entry(id);
      const refusals: Array<
        [string, { status: number; setFlags: number; clearFlags: number }, 'E_BAD_STATE' | 'E_INVALID']
      > = [
        [
          'status BOUND (the host cannot drive the state machine)',
          { status: SocketStatus.BOUND, setFlags: 0, clearFlags: 0 },
          'E_BAD_STATE',
        ],
        ['setFlags READABLE', { status: 0xff, setFlags: ConditionFlag.READABLE, clearFlags: 0 }, 'E_INVALID'],
        [
          'setFlags ERROR_PENDING (clear only)',
          { status: 0xff, setFlags: ConditionFlag.ERROR_PENDING, clearFlags: 0 },
          'E_INVALID',
        ],
        [
          'clearFlags WRITABLE',
          { status: 0xff, setFlags: 0, clearFlags: ConditionFlag.WRITABLE },
          'E_INVALID',
        ],
        [
          'HOST_MARK1 both set and cleared',
          { status: 0xff, setFlags: ConditionFlag.HOST_MARK1, clearFlags: ConditionFlag.HOST_MARK1 },
          'E_INVALID',
        ],
        ['setFlags reserved bit 9', { status: 0xff, setFlags: 0x0200, clearFlags: 0 }, 'E_INVALID'],
      ];
      for (const [what, v, code] of refusals) {
        from = c.events.length;
        const ex = await ctx.req('UPDATE', { id, ...v, setFlags: v.setFlags | ConditionFlag.HOST_MARK2 });
        ctx.expect(ex, code, `UPDATE with ${what}`, '§6.8');
        const after = await ctx.entry(id);
        if (base && after) {
          check(
            after.bytes.subarray(0, 76).equals(base.bytes.subarray(0, 76)),
            `a refused UPDATE (${what}) changed the entry: flags 0x${base.entry.flags.toString(16)} → 0x${after.entry.flags.toString(16)}, status ${socketStatusName(base.entry.status)} → ${socketStatusName(after.entry.status)} (§6.8: nothing changes)`,
            ctx.detail(ex, `${code}, entry unchanged`),
          );
        }
        check(
          !c.events.slice(from).some((e) => e.name === 'STATUS' && e.body.id === id),
          `a refused UPDATE (${what}) was announced by STATUS (§6.8)`,
        );
      }
      if (ctx.has('TCP')) {
        // ERROR_PENDING: set by a refused connect, cleared by the host (lastError stays).
        const r = await ctx.open('STREAM');
        from = c.events.length;
        await ctx.ok(
          'CONNECT',
          { id: r, timeoutMs: 3000, addr: ctx.addr(ctx.peers.refused) },
          '§5.8.2 CONNECT',
        );
        await ctx.waitStatus(
          r,
          (e) => (e.body.flags & ConditionFlag.ERROR_PENDING) !== 0,
          'ERROR_PENDING after a refused connect (§6.6)',
          5000,
          from,
        );
        from = c.events.length;
        const clr = await ctx.req('UPDATE', {
          id: r,
          status: 0xff,
          setFlags: 0,
          clearFlags: ConditionFlag.ERROR_PENDING,
        });
        ctx.expect(clr, 'OK', 'UPDATE clearing ERROR_PENDING', '§6.4, §6.8');
        const fl = (clr.answer as { body: { flags: number } }).body.flags;
        check(
          (fl & ConditionFlag.ERROR_PENDING) === 0,
          `ERROR_PENDING still set (flags 0x${fl.toString(16)}) after the host cleared it (§6.8)`,
          ctx.detail(clr, 'flags without 0x0008'),
        );
        await ctx.waitStatus(
          r,
          (e) => (e.body.flags & ConditionFlag.ERROR_PENDING) === 0,
          'a STATUS event announcing ERROR_PENDING cleared (§6.8)',
          3000,
          from,
        );
        const q = await ctx.entry(r);
        if (q)
          check(
            q.entry.lastError !== 0,
            `clearing ERROR_PENDING also cleared lastError (now ${statusName(q.entry.lastError)}); only the flag is the host's (§6.4)`,
          );
      }
    },
  },
  {
    id: 'slots.exhaustion',
    title:
      'SOCKET_OPEN until E_NO_SLOT: exactly the advertised slots, distinct ids, SLOTS register counts them',
    section: '§6.2, §5.8.2 SOCKET_OPEN, §9.1',
    timeoutMs: 60_000,
    async run(ctx) {
      const type = ctx.socketType();
      const start = ctx.client.live.size;
      const ids: number[] = [];
      for (let i = 0; i <= 255; i++) {
        const ex = await ctx.req('SOCKET_OPEN', {
          type: type === 'STREAM' ? 1 : 2,
          family: 4,
          protocol: type === 'STREAM' ? 6 : 17,
          blocking: 0,
          recvCredit: 0,
        });
        if (ex.answer.kind === 'response' && ex.answer.status === 0) {
          ids.push((ex.answer.body as { id: number }).id);
          continue;
        }
        ctx.expect(
          ex,
          'E_NO_SLOT',
          `SOCKET_OPEN number ${i + 1} (after ${ids.length} opened)`,
          '§6.2, §5.8.2 SOCKET_OPEN',
        );
        check(
          ex.raw.length === 6,
          `E_NO_SLOT response is ${ex.raw.length} bytes, 6 expected (§5.1)`,
          ctx.detail(ex, '6 bytes'),
        );
        break;
      }
      check(
        ids.length + start === ctx.info.slots,
        `${ids.length + start} sockets could be opened, HELLO advertised ${ctx.info.slots} slots (§5.8.1, §6.2)`,
      );
      check(new Set(ids).size === ids.length, 'SOCKET_OPEN returned the same id twice (§6.2)');
      for (const id of ids) {
        check(
          id !== 0 && id !== 0xffff && id >> 8 >= 1,
          `SOCKET_OPEN returned the invalid id ${hexId(id)} (§6.2)`,
        );
        check((id & 0xff) < 255, `SOCKET_OPEN returned ${hexId(id)}: slot 255 does not exist (§6.2)`);
      }
      check(new Set(ids.map((i) => i & 0xff)).size === ids.length, 'two sockets share a slot index (§6.2)');
      const slotsReg = (await ctx.regRead(Register.SLOTS))[0]!;
      check(
        slotsReg >>> 16 === ctx.info.slots,
        `SLOTS register says ${slotsReg >>> 16} in use with every slot taken (${ctx.info.slots}) (§9.1)`,
      );
      // Release one: the slot becomes free again.
      const victim = ids[Math.floor(ids.length / 2)]!;
      const from = ctx.client.events.length;
      await ctx.ok('CLOSE', { id: victim, abort: 1 }, '§5.8.2 CLOSE');
      await ctx.waitStatus(
        victim,
        (e) => e.body.status === SocketStatus.TERMINATED,
        `TERMINATED of ${hexId(victim)}`,
        3000,
        from,
      );
      const again = await ctx.req('SOCKET_OPEN', {
        type: type === 'STREAM' ? 1 : 2,
        family: 4,
        protocol: type === 'STREAM' ? 6 : 17,
        blocking: 0,
        recvCredit: 0,
      });
      ctx.expect(
        again,
        'OK',
        'SOCKET_OPEN after one slot was released',
        '§5.8.2 CLOSE: after TERMINATED the slot is free',
      );
      const nid = (again.answer.body as { id: number }).id;
      check(
        nid !== victim,
        `the released id ${hexId(victim)} was handed out again unchanged (§6.2: the generation changes)`,
      );
      if ((nid & 0xff) === (victim & 0xff)) {
        const want = ((victim >> 8) % 255) + 1;
        check(
          nid >> 8 === want,
          `slot ${victim & 0xff} reused with generation ${nid >> 8}, expected ${want} (§6.2: incremented each time the slot is reused)`,
        );
      }
      const stale = await ctx.req('GETOPT', { id: victim, option: 8 });
      ctx.expect(
        stale,
        'E_UNKNOWN_SOCKET',
        `GETOPT with the released id ${hexId(victim)}`,
        '§6.2: a stale generation is E_UNKNOWN_SOCKET',
      );
    },
  },
  {
    id: 'slots.generation',
    title: "a closed socket's slot is reused with the next generation; the old id stays unknown",
    section: '§6.2',
    async run(ctx) {
      const type = ctx.socketType();
      const first = await ctx.open(type);
      const from = ctx.client.events.length;
      await ctx.ok('CLOSE', { id: first, abort: 1 }, '§5.8.2 CLOSE');
      await ctx.waitStatus(
        first,
        (e) => e.body.status === SocketStatus.TERMINATED,
        `TERMINATED of ${hexId(first)}`,
        3000,
        from,
      );
      // Open until the slot comes back (the device chooses slots; give it every chance).
      const opened: number[] = [];
      let reused: number | undefined;
      for (let i = 0; i < ctx.info.slots; i++) {
        const id = await ctx.open(type);
        opened.push(id);
        if ((id & 0xff) === (first & 0xff)) {
          reused = id;
          break;
        }
      }
      if (reused === undefined)
        notApplicable(
          `the device did not reuse slot ${first & 0xff} while ${opened.length} sockets were open`,
        );
      const want = ((first >> 8) % 255) + 1;
      check(
        reused >> 8 === want,
        `slot ${first & 0xff} reused with generation ${reused >> 8} (id ${hexId(reused)}), expected ${want} (§6.2)`,
      );
      for (const cmd of ['QUERY', 'UPDATE', 'CLOSE'] as const) {
        if (cmd === 'QUERY' && !ctx.has('SNAPSHOT')) continue;
        const ex =
          cmd === 'QUERY'
            ? await ctx.req('QUERY', { id: first })
            : cmd === 'UPDATE'
              ? await ctx.req('UPDATE', { id: first, status: 0xff, setFlags: 0x1000, clearFlags: 0 })
              : await ctx.req('CLOSE', { id: first, abort: 1 });
        ctx.expect(
          ex,
          'E_UNKNOWN_SOCKET',
          `${cmd} with the old id ${hexId(first)} (slot now ${hexId(reused)})`,
          '§6.2: a stale id never names the new socket',
        );
      }
      const e = await ctx.entry(reused);
      if (e)
        check(
          (e.entry.flags & 0x1000) === 0,
          `UPDATE with the stale id ${hexId(first)} changed the new socket ${hexId(reused)} (§6.2)`,
        );
    },
  },
];
