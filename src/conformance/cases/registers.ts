/**
 * The register plane (§9): one test per register of protocol.json (generated from REGISTERS, not hand-copied)
 * with its access rule — RO refuse writes and stay unchanged, RW read back, WO read 0, RW1C clear only what is
 * written — and its value; reserved offsets; access errors; the socket-table window against QUERY and SNAPSHOT.
 */
import {
  DeviceStatusBit,
  FieldWriter,
  IrqBit,
  Limits,
  PROTOCOL_VERSION,
  type RegisterName,
  REGISTERS,
  RegisterWindow,
  writeEntry,
} from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { hex32, hexId, hexOf } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

const RING_REGISTERS: ReadonlySet<RegisterName> = new Set([
  'CMD_RING_OFFSET',
  'CMD_RING_ENTRIES',
  'CMD_HEAD',
  'CMD_TAIL',
  'CPL_RING_OFFSET',
  'CPL_RING_ENTRIES',
  'CPL_HEAD',
  'CPL_TAIL',
  'RING_DESC_SIZE',
]);
/** RO registers whose value moves by itself. */
const VOLATILE: ReadonlySet<RegisterName> = new Set(['UPTIME_MS', 'STATUS', 'IRQ_STATUS']);

async function read1(ctx: TestContext, offset: number): Promise<number> {
  return (await ctx.regRead(offset, 1))[0]! >>> 0;
}

async function write1(ctx: TestContext, offset: number, value: number) {
  return ctx.req('REG_WRITE', { offset, value: value >>> 0 });
}

/** What the value of an RO register must be, given HELLO; undefined = no constraint beyond access. */
async function checkValue(ctx: TestContext, name: RegisterName, v: number): Promise<void> {
  const i = ctx.info;
  const bad = (what: string) => fail(`${name} reads ${hex32(v)}: ${what} (§9.1)`);
  const pcie = ctx.has('PCIE_RINGS');
  switch (name) {
    case 'MAGIC':
      if (v !== Limits.registerMagic) bad(`expected ${hex32(Limits.registerMagic)} ('OFLD')`);
      break;
    case 'VERSION':
      if (v >> 8 !== PROTOCOL_VERSION.major || v !== i.protoVersion)
        bad(`expected major ${PROTOCOL_VERSION.major} and HELLO's 0x${i.protoVersion.toString(16)}`);
      break;
    case 'CAPS':
      if (v !== i.caps) bad(`HELLO advertised ${hex32(i.caps)} (§14: equal to the CAPS register)`);
      break;
    case 'STATUS':
      if (!(v & DeviceStatusBit.READY)) bad('READY is clear');
      if (!(v & DeviceStatusBit.LINK_UP)) bad('LINK_UP is clear while a link is up');
      if (v & DeviceStatusBit.FAULT) bad('FAULT is set');
      break;
    case 'BOOT_EPOCH':
      if (v === 0 || v !== ctx.client.epoch) bad(`expected the epoch ${ctx.client.epoch} (never 0, §8.3)`);
      break;
    case 'SLOTS': {
      const total = v & 0xffff;
      const used = v >>> 16;
      if (total < i.slots) bad(`total ${total} below HELLO's slots ${i.slots}`);
      if (used !== ctx.client.live.size)
        bad(`${used} slots in use, the kit holds ${ctx.client.live.size} sockets`);
      break;
    }
    case 'MAX_PAYLOAD':
      if (v < Limits.minMaxPayload) bad(`below ${Limits.minMaxPayload}`);
      break;
    case 'EVENT_SEQ': {
      const again = await ctx.regReadAt(0x2c);
      if (again.value !== again.seqAtAnswer) {
        fail(
          `EVENT_SEQ reads ${again.value}: the last event before its answer was seq ${again.seqAtAnswer} (§9.1)`,
        );
      }
      break;
    }
    case 'UPTIME_MS': {
      await new Promise((r) => setTimeout(r, 60));
      const later = await read1(ctx, 0x34);
      const d = (later - v) >>> 0;
      if (d === 0 || d > 60_000) bad(`then ${hex32(later)} 60 ms later: it must count milliseconds`);
      break;
    }
    case 'SOCKET_WINDOW_OFFSET':
      if (ctx.has('REG_WINDOW') && v !== RegisterWindow.socketWindowOffset)
        bad(`expected ${hex32(RegisterWindow.socketWindowOffset)}`);
      break;
    case 'SOCKET_WINDOW_STRIDE':
      if (ctx.has('REG_WINDOW') && v !== RegisterWindow.socketWindowStride)
        bad(`expected ${hex32(RegisterWindow.socketWindowStride)}`);
      break;
    default:
      if (RING_REGISTERS.has(name) && !pcie && v !== 0)
        bad('ring registers read 0 without PCIE_RINGS (§9.2)');
  }
}

function registerCase(r: (typeof REGISTERS)[number]): ConformanceCase {
  const { name, offset, access } = r;
  const ring = RING_REGISTERS.has(name);
  return {
    id: `register.${name}`,
    title: `${name} (0x${offset.toString(16).padStart(2, '0')}, ${access}${ring ? ', ring' : ''}) reads right and follows its access rule`,
    section: '§9.1, §9.2',
    async run(ctx) {
      if (name === 'EVENT_SEQ' || name === 'SLOTS') await ctx.client.quiet(30, 500);
      const v1 = await read1(ctx, offset);
      const refused = async (value: number, why: string) => {
        const ex = await write1(ctx, offset, value);
        ctx.expect(
          ex,
          'E_NOT_PERMITTED',
          `REG_WRITE ${name} = ${hex32(value)} (${why})`,
          '§9.2, §5.8.1 REG_WRITE',
        );
        const v2 = await read1(ctx, offset);
        if (v2 === value >>> 0 && value >>> 0 !== v1) {
          fail(
            `${name} took the value ${hex32(value)} of a refused REG_WRITE (§9.2: refused writes change nothing)`,
            ctx.detail(ex, 'unchanged'),
          );
        }
        // On PCIe the kit's own commands move the ring pointers between the two reads.
        const moving = VOLATILE.has(name) || (ring && ctx.framing === 'pcie');
        if (!moving && v2 !== v1) {
          fail(
            `${name} changed from ${hex32(v1)} to ${hex32(v2)} after a refused REG_WRITE (§9.2)`,
            ctx.detail(ex, `unchanged ${hex32(v1)}`),
          );
        }
      };
      if (access === 'RO') {
        await checkValue(ctx, name, v1);
        await refused(~v1 >>> 0, 'read-only');
        return;
      }
      if (ring && !ctx.has('PCIE_RINGS')) {
        check(v1 === 0, `${name} reads ${hex32(v1)}; ring registers read 0 on a stream transport (§9.2)`);
        await refused(0x5a5a5a5a, 'ring register on a stream transport');
        return;
      }
      if (ring && access === 'RW' && ctx.framing === 'pcie') {
        notApplicable(
          `${name} is the host's pointer of the rings the kit itself talks through: writing it would break them (test/pcie drives the rings directly)`,
        );
      }
      if (access === 'WO') {
        check(v1 === 0, `${name} (write-only) reads ${hex32(v1)}, expected 0 (§9.2)`);
        const ex = await write1(ctx, offset, 0x12345678);
        ctx.expect(ex, ['OK', 'E_NOT_PERMITTED'], `REG_WRITE ${name}`, '§9.2');
        const v2 = await read1(ctx, offset);
        check(v2 === 0, `${name} (write-only) reads ${hex32(v2)} after a write, expected 0 (§9.2)`);
        return;
      }
      if (access === 'RW1C') {
        const zero = await write1(ctx, offset, 0);
        ctx.expect(zero, 'OK', `REG_WRITE ${name} = 0`, '§9.2 RW1C');
        const v2 = await read1(ctx, offset);
        const cpl = IrqBit.CPL;
        check(
          (v2 & v1 & ~cpl) === (v1 & ~cpl),
          `${name}: writing 0 cleared bits (${hex32(v1)} → ${hex32(v2)}); 0 leaves a bit (§9.2 RW1C)`,
        );
        const ones = await write1(ctx, offset, 0xffffffff);
        ctx.expect(ones, 'OK', `REG_WRITE ${name} = 0xFFFFFFFF`, '§9.2 RW1C');
        const v3 = await read1(ctx, offset);
        check(
          (v3 & ~cpl) === 0,
          `${name} reads ${hex32(v3)} after writing 1 to every bit; writing 1 clears a bit (§9.2 RW1C)`,
        );
        return;
      }
      // RW: IRQ_MASK (defined bits only: reserved bits are written 0), SCRATCH.
      const patterns = name === 'IRQ_MASK' ? [0x5, 0x2, 0x7, 0] : [0xa5a55a5a, 0x5a5aa5a5, 0xffffffff, 0, 1];
      for (const p of patterns) {
        const ex = await write1(ctx, offset, p);
        ctx.expect(ex, 'OK', `REG_WRITE ${name} = ${hex32(p)}`, '§9.2 RW');
        const back = await read1(ctx, offset);
        check(
          back === p >>> 0,
          `${name}: wrote ${hex32(p)}, read back ${hex32(back)} (§9.2 RW: read back what was written)`,
          ctx.detail(ex, hex32(p)),
        );
      }
      await write1(ctx, offset, v1);
    },
  };
}

/** Offsets no register of §9.1 uses (0x64 / 0x68 are CHANNEL_RINGS_OFFSET / _COUNT since §10.5: left out). */
const RESERVED_OFFSETS = [0x38, 0x3c, 0x6c, 0x78, 0x7c, 0x100, 0xffc].filter(
  (off) => !REGISTERS.some((r) => r.offset === off),
);

export const registerCases: ConformanceCase[] = [
  ...REGISTERS.map(registerCase),
  {
    id: 'register.reserved',
    title: 'reserved offsets read 0 and refuse writes',
    section: '§9.1, §9.2',
    async run(ctx) {
      for (const off of RESERVED_OFFSETS) {
        const v = await read1(ctx, off);
        check(v === 0, `reserved offset 0x${off.toString(16)} reads ${hex32(v)}, expected 0 (§9.2)`);
        const ex = await write1(ctx, off, 0x11223344);
        ctx.expect(ex, 'E_NOT_PERMITTED', `REG_WRITE to reserved offset 0x${off.toString(16)}`, '§9.2');
        const v2 = await read1(ctx, off);
        check(
          v2 === 0,
          `reserved offset 0x${off.toString(16)} reads ${hex32(v2)} after a refused write (§9.2)`,
        );
      }
    },
  },
  {
    id: 'register.access-errors',
    title: 'misaligned offsets and bad counts are E_INVALID; a multi-register read equals single reads',
    section: '§5.8.1 REG_READ/REG_WRITE, §9.2',
    async run(ctx) {
      for (const [offset, count] of [
        [2, 1],
        [0x31, 1],
        [0, 0],
        [0, Limits.maxRegisterRead + 1],
      ] as const) {
        const ex = await ctx.req('REG_READ', { offset, count });
        ctx.expect(
          ex,
          'E_INVALID',
          `REG_READ offset 0x${offset.toString(16)} count ${count}`,
          '§5.8.1 REG_READ',
        );
        check(
          ex.raw.length === 6,
          `refused REG_READ answered ${ex.raw.length} bytes, exactly 6 expected (§5.8.1)`,
          ctx.detail(ex, '6 bytes'),
        );
      }
      const w = await ctx.req('REG_WRITE', { offset: 0x31, value: 1 });
      ctx.expect(w, 'E_INVALID', 'REG_WRITE to misaligned offset 0x31', '§5.8.1 REG_WRITE, §9.2');
      const block = await ctx.regRead(0, 8);
      for (let i = 0; i < 8; i++) {
        const single = await read1(ctx, i * 4);
        check(
          single === block[i]! >>> 0,
          `REG_READ of 8 registers gave ${hex32(block[i]!)} at 0x${(i * 4).toString(16)}, a single read ${hex32(single)} (§5.8.1)`,
        );
      }
      const wide = await ctx.req('REG_READ', { offset: 0, count: Limits.maxRegisterRead });
      ctx.expect(
        wide,
        'OK',
        `REG_READ of ${Limits.maxRegisterRead} registers (the largest count)`,
        '§5.8.1 REG_READ',
      );
    },
  },
  {
    id: 'register.window',
    title:
      'the socket-table window shows each entry (= QUERY, = SNAPSHOT), zeros elsewhere, and refuses writes',
    section: '§9.3, §6.1',
    requires: ['REG_WINDOW'],
    async run(ctx) {
      const ids: number[] = [];
      if (ctx.has('TCP')) {
        ids.push(await ctx.open('STREAM', 1234));
        const l = await ctx.open('STREAM');
        await ctx.ok('LISTEN', { id: l, backlog: 2 }, '§5.8.2 LISTEN');
        ids.push(l);
      }
      if (ctx.has('UDP')) {
        const u = await ctx.open('DGRAM', 99);
        await ctx.ok('BIND', { id: u, addr: ctx.anyAddr() }, '§5.8.2 BIND');
        ids.push(u);
      }
      await ctx.client.quiet(50, 1000);
      const snap = ctx.has('SNAPSHOT') ? await ctx.snapshot() : undefined;
      for (const id of ids) {
        const slot = id & 0xff;
        const win = await ctx.windowSlot(slot);
        check(
          win.readUInt16LE(0) === id,
          `window slot ${slot} holds id ${hexId(win.readUInt16LE(0))}, expected ${hexId(id)} (§9.3)`,
          { received: hexOf(win, 128) },
        );
        check(
          win.subarray(80).every((b) => b === 0),
          `window slot ${slot}: bytes 80..127 are not zero (§9.3)`,
          { received: hexOf(win, 128) },
        );
        if (ctx.has('SNAPSHOT')) {
          const q = await ctx.entry(id);
          check(q !== undefined, `QUERY ${hexId(id)} failed`);
          if (!q.bytes.equals(win.subarray(0, 80))) {
            fail(
              `window slot ${slot} differs from QUERY ${hexId(id)} (§9.3: the window holds the entry struct)`,
              {
                expected: `QUERY entry ${hexOf(q.bytes, 80)}`,
                received: `window ${hexOf(win.subarray(0, 80), 80)}`,
              },
            );
          }
          const e = snap!.entries.find((x) => x.id === id);
          check(e !== undefined, `SNAPSHOT lacks socket ${hexId(id)} (§5.8.1 SNAPSHOT)`);
          const w = new FieldWriter(80);
          writeEntry(w, e);
          if (!w.finish().equals(win.subarray(0, 80))) {
            fail(`window slot ${slot} differs from the SNAPSHOT entry of ${hexId(id)} (§9.3, §6.7)`, {
              expected: `SNAPSHOT entry ${hexOf(w.finish(), 80)}`,
              received: `window ${hexOf(win.subarray(0, 80), 80)}`,
            });
          }
        }
      }
      const used = new Set(ids.map((id) => id & 0xff));
      const free = [...Array(ctx.info.slots).keys()].find((s) => !used.has(s));
      if (free !== undefined) {
        const win = await ctx.windowSlot(free);
        check(
          win.every((b) => b === 0),
          `window slot ${free} (free) is not all zeros (§9.3)`,
          { received: hexOf(win, 128) },
        );
      }
      const off =
        RegisterWindow.socketWindowOffset + ((ids[0] ?? 0) & 0xff) * RegisterWindow.socketWindowStride;
      const ex = await write1(ctx, off, 0);
      ctx.expect(
        ex,
        'E_NOT_PERMITTED',
        `REG_WRITE into the socket window at 0x${off.toString(16)}`,
        '§9.3: the window is read-only',
      );
      if (ids.length) {
        const after = await ctx.windowSlot(ids[0]! & 0xff);
        check(
          after.readUInt16LE(0) === ids[0],
          `a refused window write changed slot ${ids[0]! & 0xff} (§9.3)`,
        );
      }
    },
  },
];
