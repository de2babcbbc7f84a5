/**
 * offload regs: the register map decoded; `regs read`, `regs write` (the device refuses read-only registers with
 * E_NOT_PERMITTED); `--raw` hex dump of any range of the register space, the socket-table window included.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { isOffloadError } from '../../errors.js';
import { resolveRegister } from '../../device/index.js';
import { Limits, REGISTERS, RegisterWindow, readEntry, FieldReader } from '../../protocol/index.js';
import type { OffloadDevice } from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { decodeRegister, describeOffset, entryRow, registerRow } from '../decode.js';
import { type DeviceCliOptions, withDeviceOptions } from '../options.js';
import { CliError, hex, hexDump, out, printJson, table } from '../output.js';

const LAST = REGISTERS[REGISTERS.length - 1]!;

/** REG_READ takes at most 32 registers (PROTOCOL.md §5.8.1): read a longer range in pieces. */
async function readWords(dev: OffloadDevice, offset: number, count: number): Promise<number[]> {
  const words: number[] = [];
  for (let done = 0; done < count; done += 32) {
    words.push(...(await dev.readRegisters(offset + done * 4, Math.min(32, count - done))));
  }
  return words;
}

async function readAll(dev: OffloadDevice) {
  const words = await readWords(dev, 0, LAST.offset / 4 + 1);
  return REGISTERS.map((reg) => registerRow(reg, words[reg.offset / 4]!));
}

function parseValue(v: string): number {
  const s = v.trim().replace(/_/g, '');
  const n = /^0x[0-9a-f]+$/i.test(s)
    ? Number.parseInt(s, 16)
    : /^0b[01]+$/i.test(s)
      ? Number.parseInt(s.slice(2), 2)
      : /^\d+$/.test(s)
        ? Number(s)
        : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError(`VALUE must be a 32-bit number (decimal, 0x… or 0b…), got '${v}'`);
  }
  return n;
}

/** START[:LENGTH] or START-END (offsets in hex or decimal), or slot:N for one socket-window slot. */
export function parseRange(v: string): { start: number; length: number } {
  const num = (s: string) => {
    const t = s.trim();
    const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`'${s}' is not an offset or a length`);
    return n;
  };
  let start: number;
  let length: number;
  const slot = /^slot:(\d+)$/i.exec(v.trim());
  if (slot) {
    start = RegisterWindow.socketWindowOffset + Number(slot[1]) * RegisterWindow.socketWindowStride;
    length = RegisterWindow.socketWindowStride;
  } else if (v.includes('-')) {
    const [a, b] = v.split('-');
    start = num(a!);
    length = num(b!) - start;
  } else if (v.includes(':')) {
    const [a, b] = v.split(':');
    start = num(a!);
    length = num(b!);
  } else {
    start = num(v);
    length = 0x80;
  }
  if (start % 4 !== 0 || length <= 0 || length % 4 !== 0) {
    throw new InvalidArgumentError(
      'the range must start on a multiple of 4 and be a positive multiple of 4 bytes long',
    );
  }
  if (length > 0x10000) throw new InvalidArgumentError('at most 64 KiB per dump');
  return { start, length };
}

function registerHelp(): string {
  return REGISTERS.map(
    (r) => `  ${hex(r.offset, 2)}  ${r.name.padEnd(21)} ${r.access.padEnd(4)} ${r.doc}`,
  ).join('\n');
}

export function regsCommand(): Command {
  const cmd = new Command('regs')
    .description(
      'show the register map with decoded fields; `regs read`, `regs write`; --raw hex-dumps a range (socket-table window included)',
    )
    .addOption(
      new Option(
        '--raw [range]',
        'hex dump instead: START[:LENGTH], START-END or slot:N (one socket-window slot); default 0x0:0x80',
      ),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Registers (PROTOCOL.md §9):
${registerHelp()}
  0x1000 + slot × 0x80: the socket-table window (read-only; each slot holds its 80-byte entry, then zeros)

Examples:
  $ offload regs
  $ offload regs --json
  $ offload regs read SCRATCH            # or an offset: offload regs read 0x30
  $ offload regs write SCRATCH 0xA5A5A5A5
  $ offload regs write MAGIC 1           # refused: MAGIC is read-only (E_NOT_PERMITTED), exit status 1
  $ offload regs --raw 0x1000:0x200      # the first four socket-window slots
  $ offload regs --raw slot:3            # slot 3 with its entry decoded`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<DeviceCliOptions & { raw?: string | boolean }>();
    await withDevice(o, 'observe', async (dev) => {
      if (o.raw !== undefined) {
        const range = parseRange(typeof o.raw === 'string' ? o.raw : '0x0:0x80');
        const words = await readWords(dev, range.start, range.length / 4);
        const bytes = Buffer.alloc(range.length);
        for (const [i, w] of words.entries()) bytes.writeUInt32LE(w >>> 0, i * 4);
        const entries = windowEntries(range.start, bytes);
        if (o.json) {
          printJson({ start: range.start, length: range.length, hex: bytes.toString('hex'), entries });
          return;
        }
        out(
          hexDump(range.start, bytes, (off) => {
            const names: string[] = [];
            for (let i = 0; i < 16; i += 4) {
              const n = describeOffset(off + i);
              if (n && !n.startsWith('slot ')) names.push(n);
              else if (n?.endsWith('+0x0')) names.push(n.replace('+0x0', ''));
            }
            return names.length ? names.join(' ') : undefined;
          }),
        );
        for (const e of entries) {
          out(
            `slot ${e.slot}: ${e.id} ${e.type} ${e.status} flags=${e.flags} ${e.local} → ${e.remote} send-q=${e.sendQueued} recv-q=${e.recvQueued} send-space=${e.sendSpace} recv-credit=${e.recvCredit}`,
          );
        }
        return;
      }
      const rows = await readAll(dev);
      if (o.json) {
        printJson(rows);
        return;
      }
      out(
        table(
          ['OFFSET', 'NAME', 'ACCESS', 'VALUE', 'DECODED'],
          rows.map((r) => [r.offset, r.name, r.access, r.value, r.decoded]),
        ),
      );
    });
  });

  const read = new Command('read')
    .description('read one register by name or byte offset (a socket-window offset too)')
    .argument('<register>', 'name (case-insensitive) or offset, e.g. SCRATCH, 0x30, 0x1000');
  withDeviceOptions(read);
  read.addHelpText('after', '\nExamples:\n  $ offload regs read STATUS\n  $ offload regs read 0x14 --json');
  read.action(async (ref: string, _o: unknown, c: Command) => {
    const o = c.optsWithGlobals<DeviceCliOptions>();
    const reg = resolveRegister(ref);
    await withDevice(o, 'observe', async (dev) => {
      const v = await dev.readRegister(reg.offset);
      const decoded = decodeRegister(reg.name, v);
      if (o.json)
        printJson({
          name: reg.name,
          offset: hex(reg.offset, 2),
          access: reg.access,
          value: hex(v),
          raw: v,
          decoded,
        });
      else
        out(
          `${reg.name} (${hex(reg.offset, 2)}, ${reg.access}) = ${hex(v)} (${v})${decoded ? `  ${decoded}` : ''}`,
        );
    });
  });

  const write = new Command('write')
    .description(
      'write one register; the device refuses read-only ones (E_NOT_PERMITTED) and the CLI exits 1',
    )
    .argument('<register>', 'name (case-insensitive) or offset')
    .argument('<value>', '32-bit value: decimal, 0x… or 0b…', parseValue);
  withDeviceOptions(write);
  write.addHelpText(
    'after',
    '\nExamples:\n  $ offload regs write SCRATCH 0x12345678\n  $ offload regs write IRQ_STATUS 0x4      # RW1C: clears the RESET interrupt bit',
  );
  write.action(async (ref: string, value: number, _o: unknown, c: Command) => {
    const o = c.optsWithGlobals<DeviceCliOptions>();
    const reg = resolveRegister(ref);
    await withDevice(o, 'observe', async (dev) => {
      try {
        await dev.writeRegister(reg.offset, value);
      } catch (err) {
        if (isOffloadError(err) && err.code === 'E_OFFLOAD_NOT_PERMITTED') {
          const why =
            reg.access === 'RO' ? `${reg.name} is read-only (RO)` : `${reg.name} is not writable here`;
          throw new CliError(
            `${why}: the device refused the write of ${hex(value)} (E_NOT_PERMITTED); nothing changed`,
            err.code,
          );
        }
        throw err;
      }
      const back = reg.access === 'WO' ? undefined : await dev.readRegister(reg.offset);
      if (o.json) {
        printJson({
          name: reg.name,
          offset: hex(reg.offset, 2),
          written: hex(value),
          readBack: back === undefined ? null : hex(back),
        });
      } else {
        out(
          `${reg.name} (${hex(reg.offset, 2)}) ← ${hex(value)}${back === undefined ? '' : `; reads back ${hex(back)}${back === value ? '' : ' (differs: see the register access rules)'}`}`,
        );
      }
    });
  });
  cmd.addCommand(read);
  cmd.addCommand(write);
  return cmd;
}

/** Decoded entries of the socket-window slots wholly inside a dump. */
function windowEntries(start: number, bytes: Buffer) {
  const out: Array<ReturnType<typeof entryRow>> = [];
  const W = RegisterWindow.socketWindowOffset;
  const S = RegisterWindow.socketWindowStride;
  for (let slot = 0; slot < Limits.maxSlots; slot++) {
    const at = W + slot * S - start;
    if (at < 0 || at + Limits.entrySize > bytes.length) continue;
    const raw = bytes.subarray(at, at + Limits.entrySize);
    if (raw.readUInt16LE(0) === 0) continue;
    out.push(entryRow(readEntry(new FieldReader(raw))));
  }
  return out;
}
