/** RESET and the boot epoch (§5.8.1 RESET, §8.1, §8.3, §9.1). These run last: they wipe the device. */
import {
  BootReason,
  type EventMessage,
  IrqBit,
  Limits,
  PROTOCOL_VERSION_WORD,
  Register,
  SocketOption,
} from '../../protocol/index.js';
import { type Exchange, TimeoutError } from '../client.js';
import { otherHostsGone } from '../channel-session.js';
import type { TestContext } from '../context.js';
import { hex32, hexId, hexOf } from '../format.js';
import { type ConformanceCase, check, fail } from '../types.js';
import { ALL_HOST_CAPS } from './handshake.js';

/**
 * Sends RESET and resolves with its answer. On PCIe the answer may be lost in the reset: the new epoch (a ring
 * reset) is the completion (§5.8.1, §10.4), so whichever comes first ends the wait (undefined: lost in the reset).
 */
async function resetAnswer(ctx: TestContext, resetsBefore: number): Promise<Exchange<'RESET'> | undefined> {
  const c = ctx.client;
  const request = c.request('RESET', { magic: Limits.resetMagic }, Math.max(c.timeoutMs, 10_000));
  let answer: Exchange<'RESET'> | undefined;
  let failure: unknown;
  request.then(
    (a) => {
      answer = a;
    },
    (err: unknown) => {
      failure = err;
    },
  );
  // The ring channel counts every device reset it saw (a new epoch), announced by a ring reset or by BOOT.
  const pcieReset = () => ctx.framing === 'pcie' && c.link.counters.resets > resetsBefore;
  await c
    .until(() => answer !== undefined || failure !== undefined || pcieReset(), 10_000, 'the RESET answer')
    .catch(() => undefined);
  if (answer) return answer;
  if (pcieReset()) return undefined;
  if (failure instanceof TimeoutError || failure === undefined) {
    fail('no answer to RESET within 10 s: every command gets exactly one response (§5.3)', {
      expected: 'a RESET response',
      received: 'nothing',
    });
  }
  throw failure;
}

export const resetCases: ConformanceCase[] = [
  {
    id: 'reset.bad-magic',
    title: 'RESET without the magic value is E_INVALID and resets nothing',
    section: '§5.8.1 RESET',
    async run(ctx) {
      const id = ctx.has('TCP')
        ? await ctx.open('STREAM')
        : ctx.has('UDP')
          ? await ctx.open('DGRAM')
          : undefined;
      const epoch = (await ctx.regRead(Register.BOOT_EPOCH))[0]!;
      for (const magic of [0, Limits.resetMagic ^ 1, 0x21545352]) {
        const ex = await ctx.req('RESET', { magic });
        ctx.expect(ex, 'E_INVALID', `RESET with magic ${hex32(magic)}`, '§5.8.1 RESET');
      }
      const after = (await ctx.regRead(Register.BOOT_EPOCH))[0]!;
      check(after === epoch, `BOOT_EPOCH went from ${epoch} to ${after} after a refused RESET (§5.8.1)`);
      if (id !== undefined) {
        const ex = await ctx.req('GETOPT', { id, option: SocketOption.TTL });
        ctx.expect(
          ex,
          'OK',
          `socket ${hexId(id)} after a refused RESET`,
          '§5.8.1 RESET: a failed command changes nothing',
        );
      }
    },
  },
  {
    id: 'reset.epoch',
    title:
      'RESET: OK, BOOT (seq 1, HOST_RESET) with a new epoch, HELLO required again, an empty table, registers reset',
    section: '§5.8.1 RESET, §8.1, §8.3, §9.1',
    timeoutMs: 30_000,
    async run(ctx) {
      const c = ctx.client;
      // The kit's other-channel hosts must be gone, or RESET from this NORMAL channel is refused (§11).
      await otherHostsGone(ctx);
      const ids: number[] = [];
      if (ctx.has('TCP')) ids.push(await ctx.connected(ctx.peers.echo));
      if (ctx.has('UDP')) ids.push(await ctx.open('DGRAM'));
      await ctx.ok('REG_WRITE', { offset: Register.SCRATCH, value: 0x1234abcd }, '§9.2');
      const oldEpoch = c.epoch;
      const from = c.events.length;
      const resetsBefore = c.link.counters.resets;
      const irqResetsBefore = c.resetInterrupts;
      const ex = await resetAnswer(ctx, resetsBefore);
      if (ex) {
        const byes = c.otherChannelClosedAt > 0;
        ctx.expect(
          ex,
          'OK',
          byes
            ? "RESET with the magic value, after the kit's other channels left with BYE (a device takes such a link down at once, §4.5, so no other channel has a host)"
            : 'RESET with the magic value',
          '§5.8.1 RESET',
        );
      }
      let boot: EventMessage<'BOOT'>;
      try {
        boot = await c.waitEvent<EventMessage<'BOOT'>>(
          (e) => e.name === 'BOOT',
          5000,
          from,
          'BOOT after RESET',
        );
      } catch (err) {
        if (err instanceof TimeoutError)
          fail('no BOOT event within 5 s of RESET (§5.8.1: BOOT is the first event of the new epoch)');
        throw err;
      }
      const d = {
        received: `BOOT epoch ${boot.epoch} seq ${boot.seq} reason ${boot.body.reason} slots ${boot.body.slots}`,
      };
      check(boot.seq === 1, `BOOT after RESET has seq ${boot.seq}, expected 1 (§8.1)`, d);
      check(
        boot.epoch !== oldEpoch && boot.epoch !== 0,
        `BOOT after RESET carries epoch ${boot.epoch}; the old one was ${oldEpoch}: a new, non-zero epoch is required (§8.3)`,
        d,
      );
      check(
        boot.body.reason === BootReason.HOST_RESET,
        `BOOT reason ${boot.body.reason}, expected HOST_RESET (1) (§5.9 BOOT)`,
        d,
      );
      check(
        boot.body.slots >= ctx.info.slots,
        `BOOT slots ${boot.body.slots} below HELLO's ${ctx.info.slots} (§5.9 BOOT)`,
        d,
      );
      const between = c.events
        .slice(ex?.eventIndex ?? from, c.events.indexOf(boot))
        .filter((e) => e.name === 'STATUS');
      check(
        between.length === 0,
        `${between.length} STATUS event(s) between the RESET response and BOOT: RESET drops sockets without STATUS events (§5.8.1)`,
      );
      // Before HELLO: only HELLO, PING and REG_READ.
      const epochReg = (await ctx.regRead(Register.BOOT_EPOCH))[0]!;
      check(epochReg === boot.epoch, `BOOT_EPOCH reads ${epochReg}, BOOT said ${boot.epoch} (§9.1)`);
      const ping = await ctx.req('PING', { payload: Buffer.from('pre-hello') });
      ctx.expect(ping, 'OK', 'PING before HELLO', '§5.4 step 4: PING is allowed before HELLO');
      if (ctx.has('TCP') || ctx.has('UDP')) {
        const tcp = ctx.has('TCP');
        const open = await ctx.req('SOCKET_OPEN', {
          type: tcp ? 1 : 2,
          family: 4,
          protocol: tcp ? 6 : 17,
          blocking: 0,
          recvCredit: 0,
        });
        ctx.expect(open, 'E_BAD_STATE', 'SOCKET_OPEN after RESET before HELLO', '§5.4 step 4');
      }
      const wr = await ctx.req('REG_WRITE', { offset: Register.SCRATCH, value: 5 });
      ctx.expect(wr, 'E_BAD_STATE', 'REG_WRITE after RESET before HELLO', '§5.4 step 4');
      const h = await ctx.req('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: ALL_HOST_CAPS });
      ctx.expect(h, 'OK', 'HELLO after RESET', '§5.8.1');
      const hb = (h.answer as { body: { epoch: number; eventSeq: number } }).body;
      check(
        hb.epoch === boot.epoch,
        `HELLO after RESET reports epoch ${hb.epoch}, BOOT said ${boot.epoch} (§8.3)`,
        ctx.detail(h, `epoch ${boot.epoch}`),
      );
      check(
        hb.eventSeq === h.seqAtAnswer,
        `HELLO after RESET reports eventSeq ${hb.eventSeq}, the last event before its response was seq ${h.seqAtAnswer} (§8.1)`,
        ctx.detail(h, `eventSeq ${h.seqAtAnswer}`),
      );
      await ctx.rehello();
      // The table is empty: old ids unknown, no slot in use, SNAPSHOT empty, window zeros.
      for (const id of ids) {
        const q = await ctx.req('CLOSE', { id, abort: 1 });
        ctx.expect(
          q,
          'E_UNKNOWN_SOCKET',
          `CLOSE of ${hexId(id)}, a socket of the old epoch`,
          '§8.3: the table is empty after a reset',
        );
      }
      const slots = (await ctx.regRead(Register.SLOTS))[0]!;
      check(
        slots >>> 16 === 0,
        `SLOTS reports ${slots >>> 16} slots in use after RESET, expected 0 (§8.3, §9.1)`,
      );
      if (ctx.has('SNAPSHOT')) {
        const snap = await ctx.snapshot();
        check(
          snap.entries.length === 0,
          `SNAPSHOT after RESET lists ${snap.entries.length} sockets, expected none (§8.3)`,
        );
        check(
          snap.epoch === boot.epoch,
          `SNAPSHOT after RESET reports epoch ${snap.epoch}, expected ${boot.epoch} (§8.3)`,
        );
      }
      if (ctx.has('REG_WINDOW')) {
        for (const id of ids) {
          const win = await ctx.windowSlot(id & 0xff);
          check(
            win.every((b) => b === 0),
            `window slot ${id & 0xff} not zero after RESET (§9.3)`,
            { received: hexOf(win, 128) },
          );
        }
      }
      const scratch = (await ctx.regRead(Register.SCRATCH))[0]!;
      check(scratch === 0, `SCRATCH reads ${hex32(scratch)} after RESET, expected 0 (§9.1)`);
      // On PCIe the kit's own rings are the host: with an event device they acknowledge interrupts (RW1C) as they
      // service them, so a RESET bit they cleared counts as seen.
      const irq = (await ctx.regRead(Register.IRQ_STATUS))[0]!;
      check(
        (irq & IrqBit.RESET) !== 0 || (ctx.framing === 'pcie' && c.resetInterrupts > irqResetsBefore),
        `IRQ_STATUS reads ${hex32(irq)} after RESET: the RESET bit must be set (§9.1; on PCIe whatever IRQ_MASK holds, §10.4)`,
      );
      const evSeq = await ctx.regReadAt(Register.EVENT_SEQ);
      check(
        evSeq.value === evSeq.seqAtAnswer,
        `EVENT_SEQ reads ${evSeq.value} after RESET, the last event before its answer was seq ${evSeq.seqAtAnswer} (§9.1)`,
      );
      const stale = c.events.slice(c.events.indexOf(boot) + 1).filter((e) => e.epoch !== boot.epoch);
      check(stale.length === 0, `${stale.length} event(s) of the old epoch arrived after BOOT (§8.3)`);
    },
  },
];
