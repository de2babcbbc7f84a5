/**
 * Undecodable messages (§5.5, §2.5 codes 8–12): every one is answered with ERROR_RESPONSE (7 bytes: 80 00 tag
 * status offendingOpcode) — unknown opcodes are never ignored — and changes nothing (SNAPSHOT bytes, the
 * register window, SLOTS and EVENT_SEQ compared before and after).
 */
import { Register, StatusCode, type StatusCodeName } from '../../protocol/index.js';
import type { Exchange } from '../client.js';
import type { TestContext } from '../context.js';
import { describeBytes, hexOf } from '../format.js';
import { type ConformanceCase, check, fail } from '../types.js';

interface Probe {
  bytes: Buffer;
  what: string;
  code: StatusCodeName;
}

async function fingerprint(ctx: TestContext, ids: number[]): Promise<string> {
  const parts: string[] = [];
  parts.push(`SLOTS ${(await ctx.regRead(Register.SLOTS))[0]}`);
  parts.push(`EVENT_SEQ ${(await ctx.regRead(Register.EVENT_SEQ))[0]}`);
  if (ctx.has('SNAPSHOT')) parts.push(`SNAPSHOT ${hexOf((await ctx.snapshot()).bytes, 4096)}`);
  if (ctx.has('REG_WINDOW'))
    for (const id of ids) parts.push(`window ${hexOf(await ctx.windowSlot(id & 0xff), 128)}`);
  return parts.join('\n');
}

function tagOf(bytes: Buffer): number {
  return bytes.length >= 4 ? bytes.readUInt16LE(2) : 0;
}

/** Sends each probe (one at a time), checks the ERROR_RESPONSE, then that nothing changed. */
async function probeAll(ctx: TestContext, probes: Probe[], timeoutMs = 2000): Promise<void> {
  const ids: number[] = [];
  if (ctx.has('TCP')) ids.push(await ctx.open('STREAM', 321));
  if (ctx.has('UDP')) ids.push(await ctx.open('DGRAM', 123));
  await ctx.client.quiet(40, 1000);
  const before = await fingerprint(ctx, ids);
  const from = ctx.client.events.length;
  for (const p of probes) {
    const tag = tagOf(p.bytes);
    const expected = `ERROR_RESPONSE 80 00 ${hexOf(Buffer.from([tag & 0xff, tag >> 8]))} ${hexOf(Buffer.from([StatusCode[p.code] & 0xff, StatusCode[p.code] >> 8]))} ${hexOf(p.bytes.subarray(0, 1).length ? p.bytes.subarray(0, 1) : Buffer.from([0]))} (${p.code})`;
    let ex: Exchange;
    try {
      ex = await ctx.client.requestRaw(p.bytes, tag, timeoutMs);
    } catch {
      fail(
        `${p.what}: no answer within ${timeoutMs} ms; undecodable messages are answered with ERROR_RESPONSE, never ignored (§5.5, §14)`,
        {
          sent: hexOf(p.bytes),
          expected,
          received: 'nothing',
        },
      );
    }
    const a = ex.answer;
    const d = { sent: hexOf(p.bytes), expected, received: describeBytes(ex.raw) };
    check(
      a.kind === 'error',
      `${p.what}: answered with a normal response (${ctx.statusOf(ex)}), not ERROR_RESPONSE (§5.5)`,
      d,
    );
    check(
      a.status === StatusCode[p.code],
      `${p.what}: ERROR_RESPONSE ${ctx.statusOf(ex)}, expected ${p.code} (§5.5)`,
      d,
    );
    check(ex.raw.length === 7, `${p.what}: ERROR_RESPONSE is ${ex.raw.length} bytes, 7 expected (§5.5)`, d);
    check(
      a.body.offendingOpcode === (p.bytes[0] ?? 0),
      `${p.what}: offendingOpcode 0x${a.body.offendingOpcode.toString(16)}, expected the first byte received 0x${(p.bytes[0] ?? 0).toString(16)} (§5.5)`,
      d,
    );
  }
  await ctx.client.quiet(40, 1000);
  const after = await fingerprint(ctx, ids);
  if (after !== before) {
    fail(`the device's state changed after undecodable messages (§5.4: a failed command changes nothing)`, {
      expected: before,
      received: after,
    });
  }
  const ev = ctx.client.events.slice(from);
  check(
    ev.length === 0,
    `undecodable messages were followed by ${ev.length} event(s) (${ev.map((e) => e.name).join(', ')}): nothing may change (§5.5)`,
  );
}

const msg = (...bytes: number[]) => Buffer.from(bytes);

export const malformedCases: ConformanceCase[] = [
  {
    id: 'malformed.unknown-opcode',
    title:
      'undefined opcodes (unassigned commands, 0xC0–0xFF, 0x00) get ERROR_RESPONSE E_BAD_OPCODE, never silence',
    section: '§5.2, §5.5, §14',
    async run(ctx) {
      const ops = [0x3e, 0x0d, 0x0f, 0x1e, 0x3f, 0xc0, 0xfe, 0xff, 0x00];
      await probeAll(
        ctx,
        ops.map((op, i) => ({
          bytes: msg(op, 0, 0x40 + i, 0x05),
          what: `opcode 0x${op.toString(16).padStart(2, '0')}`,
          code: 'E_BAD_OPCODE',
        })),
      );
    },
  },
  {
    id: 'malformed.wrong-kind',
    title: 'responses, events and ERROR_RESPONSE sent to the device get E_BAD_OPCODE',
    section: '§5.2, §5.5',
    async run(ctx) {
      const ops: Array<[number, string]> = [
        [0x81, 'a HELLO response'],
        [0x9d, 'a QUERY response'],
        [0x80, 'an ERROR_RESPONSE'],
        [0x41, 'a STATUS event'],
        [0x42, 'a DATA event'],
      ];
      await probeAll(
        ctx,
        ops.map(([op, what], i) => ({
          bytes: msg(op, 0, 0x50 + i, 0x05, 0, 0, 0, 0, 0, 0, 0, 0),
          what: `${what} (0x${op.toString(16)})`,
          code: 'E_BAD_OPCODE',
        })),
      );
    },
  },
  {
    id: 'malformed.length',
    title: 'messages shorter or longer than their opcode requires get E_BAD_LENGTH (tag echoed)',
    section: '§5.5, §2.5 MSG_TOO_SHORT/MSG_BAD_LENGTH',
    async run(ctx) {
      await probeAll(ctx, [
        {
          bytes: msg(0x01, 0, 0x61, 0, 0x00, 0x01, 0x1f, 0, 0),
          what: 'HELLO one byte short',
          code: 'E_BAD_LENGTH',
        },
        {
          bytes: msg(0x01, 0, 0x62, 0, 0x00, 0x01, 0x1f, 0, 0, 0, 0),
          what: 'HELLO one byte long',
          code: 'E_BAD_LENGTH',
        },
        {
          bytes: msg(0x10, 0, 0x63, 0, 1, 4, 6, 0, 0, 0, 0),
          what: 'SOCKET_OPEN one byte short',
          code: 'E_BAD_LENGTH',
        },
        {
          bytes: msg(0x03, 0, 0x64, 0, 0, 0, 0, 0, 1, 0),
          what: 'REG_READ one byte long',
          code: 'E_BAD_LENGTH',
        },
        {
          bytes: msg(0x19, 0, 0x65, 0, 0x00, 0x01),
          what: 'CLOSE without its abort byte',
          code: 'E_BAD_LENGTH',
        },
        { bytes: msg(0x15, 0, 0x66, 0, 0x00), what: 'SEND cut inside its id', code: 'E_BAD_LENGTH' },
        {
          bytes: Buffer.concat([msg(0x11, 0, 0x67, 0, 0, 1), Buffer.alloc(19)]),
          what: 'BIND with a 19-byte address',
          code: 'E_BAD_LENGTH',
        },
      ]);
    },
  },
  {
    id: 'malformed.short-header',
    title: 'messages of 1–3 bytes and the empty message get ERROR_RESPONSE with tag 0 (E_BAD_LENGTH)',
    section: '§5.5, §2.5 MSG_EMPTY',
    async run(ctx) {
      await probeAll(ctx, [
        { bytes: msg(0x02, 0x00, 0x07), what: 'a 3-byte PING header', code: 'E_BAD_LENGTH' },
        { bytes: msg(0x10), what: 'a lone SOCKET_OPEN opcode byte', code: 'E_BAD_LENGTH' },
        { bytes: Buffer.alloc(0), what: 'an empty message', code: 'E_BAD_LENGTH' },
      ]);
    },
  },
  {
    id: 'malformed.bad-field',
    title:
      'impossible field encodings (address family 5, non-zero reserved, padding or message-flags bytes) get ERROR_RESPONSE E_INVALID',
    section: '§1.3 addr rules, §5.1 flags, §5.5, §2.5 MSG_BAD_FIELD',
    async run(ctx) {
      const addr = (family: number, reserved: number, port: number, bytes: number[]) => {
        const b = Buffer.alloc(20);
        b[0] = family;
        b[1] = reserved;
        b.writeUInt16LE(port, 2);
        bytes.forEach((x, i) => {
          b[4 + i] = x;
        });
        return b;
      };
      const bind = (tag: number, a: Buffer) => Buffer.concat([msg(0x11, 0, tag, 0, 0x00, 0x01), a]);
      const connect = (tag: number, a: Buffer) =>
        Buffer.concat([msg(0x13, 0, tag, 0, 0x00, 0x01, 0, 0, 0, 0), a]);
      await probeAll(ctx, [
        {
          bytes: bind(0x71, addr(5, 0, 80, [127, 0, 0, 1])),
          what: 'BIND with address family 5',
          code: 'E_INVALID',
        },
        {
          bytes: bind(0x72, addr(4, 1, 80, [127, 0, 0, 1])),
          what: 'BIND with a non-zero addr reserved byte',
          code: 'E_INVALID',
        },
        {
          bytes: connect(0x73, addr(4, 0, 80, [127, 0, 0, 1, 9])),
          what: 'CONNECT with IPv4 address bytes 4..15 not zero',
          code: 'E_INVALID',
        },
        {
          bytes: connect(0x74, addr(0, 0, 80, [])),
          what: 'CONNECT with family 0 and a non-zero port',
          code: 'E_INVALID',
        },
        {
          bytes: msg(0x02, 0x01, 0x75, 0x00, 0xab),
          what: 'PING with reserved message flags 0x01',
          code: 'E_INVALID',
        },
        {
          bytes: msg(0x1d, 0x80, 0x76, 0x00, 0x00, 0x01),
          what: 'QUERY with reserved message flags 0x80',
          code: 'E_INVALID',
        },
      ]);
    },
  },
];
