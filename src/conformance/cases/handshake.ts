/** Handshake and capability rules (§5.3, §5.4, §5.8.1 HELLO/PING, §14). */
import {
  type Addr,
  Capability,
  type CapabilityName,
  type CommandBodies,
  type CommandName,
  type FieldSchema,
  MESSAGE_SCHEMAS,
  type OkResponseMessage,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_WORD,
  SocketOption,
  SocketType,
} from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { describeBytes, hexOf } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

export const ALL_HOST_CAPS = 0x7ff;

/** A well-formed command body of zeros (addresses: IPv4 any) for any command schema. */
export function zeroBody(fields: readonly FieldSchema[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of fields) {
    switch (f.type) {
      case 'bytes16':
        body[f.name] = Buffer.alloc(16);
        break;
      case 'bytes':
        body[f.name] = Buffer.alloc(0);
        break;
      case 'addr':
        body[f.name] = { family: 4, port: 0, address: '0.0.0.0' } satisfies Addr;
        break;
      case 'str8':
        body[f.name] = '';
        break;
      default:
        body[f.name] = 0;
    }
  }
  return body;
}

async function hello(ctx: TestContext, protoVersion = PROTOCOL_VERSION_WORD) {
  return ctx.req('HELLO', { protoVersion, hostCaps: ALL_HOST_CAPS });
}

export const handshakeCases: ConformanceCase[] = [
  {
    id: 'handshake.hello',
    title: 'HELLO answers version 1.x, capabilities, slots, maxPayload, epoch, event sequence and firmware',
    section: '§5.8.1 HELLO, §14',
    async run(ctx) {
      const ex = await hello(ctx);
      ctx.expect(ex, 'OK', 'HELLO', '§5.8.1');
      const b = (ex.answer as OkResponseMessage<'HELLO'>).body;
      const d = ctx.detail(ex, 'HELLO response fields');
      check(
        ex.raw.length >= 33,
        `HELLO response is ${ex.raw.length} bytes, at least 33 expected (§5.8.1)`,
        d,
      );
      check(
        b.protoVersion >> 8 === PROTOCOL_VERSION.major,
        `HELLO protoVersion 0x${b.protoVersion.toString(16)}: major must be ${PROTOCOL_VERSION.major} (§1.4)`,
        d,
      );
      check(b.slots >= 1 && b.slots <= 255, `HELLO slots ${b.slots} outside 1..255 (§6.2)`, d);
      check(b.maxPayload >= 256, `HELLO maxPayload ${b.maxPayload} below the minimum 256 (§1.5)`, d);
      check(
        b.maxPayload <= ctx.client.params.maxPayload,
        `HELLO maxPayload ${b.maxPayload} exceeds the link's agreed frame maximum ${ctx.client.params.maxPayload} (§4.6)`,
        d,
      );
      check(b.epoch !== 0, 'HELLO epoch is 0; the boot epoch is never 0 (§8.3)', d);
      check(
        b.epoch === ctx.client.epoch,
        `HELLO epoch ${b.epoch} differs from the epoch of the events so far (${ctx.client.epoch}) without a BOOT (§8.3)`,
        d,
      );
      check(
        b.eventSeq === ex.seqAtAnswer,
        `HELLO eventSeq ${b.eventSeq}, but the last event before its response was seq ${ex.seqAtAnswer} (§5.8.1)`,
        d,
      );
      check(
        b.caps === ctx.info.caps,
        `HELLO caps changed from 0x${ctx.info.caps.toString(16)} to 0x${b.caps.toString(16)} (§14)`,
        d,
      );
      check(b.sendQueueSize > 0 && b.recvQueueSize > 0, 'HELLO queue sizes must be non-zero (§5.8.1)', d);
      check(Buffer.byteLength(b.firmware) <= 255, 'HELLO firmware string longer than 255 bytes (§5.8.1)', d);
    },
  },
  {
    id: 'handshake.hello-keeps-sockets',
    title: 'a repeated HELLO never changes sockets',
    section: '§5.8.1 HELLO',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.open('STREAM');
      await ctx.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: ALL_HOST_CAPS }, '§5.8.1');
      const ex = await ctx.req('GETOPT', { id, option: SocketOption.TTL });
      ctx.expect(
        ex,
        'OK',
        `GETOPT on socket opened before a repeated HELLO`,
        '§5.8.1: HELLO never changes sockets',
      );
    },
  },
  {
    id: 'handshake.bad-version',
    title: 'HELLO with another major version gets E_BAD_VERSION (6 bytes); another minor version is accepted',
    section: '§5.8.1 HELLO, §14',
    async run(ctx) {
      for (const v of [0x0200, 0x0000, 0xff00]) {
        const ex = await hello(ctx, v);
        ctx.expect(
          ex,
          'E_BAD_VERSION',
          `HELLO with protoVersion 0x${v.toString(16).padStart(4, '0')}`,
          '§14',
        );
        check(
          ex.raw.length === 6,
          `E_BAD_VERSION response is ${ex.raw.length} bytes, exactly 6 expected (§5.8.1)`,
          ctx.detail(ex, '6-byte response'),
        );
      }
      const minor = await hello(ctx, (PROTOCOL_VERSION.major << 8) | 0x3f);
      ctx.expect(
        minor,
        'OK',
        'HELLO with protoVersion 1.63 (another minor version)',
        '§14: minor versions interoperate',
      );
      await ctx.ok('HELLO', { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: ALL_HOST_CAPS }, '§5.8.1');
    },
  },
  {
    id: 'handshake.unadvertised',
    title:
      'commands and features of capabilities the device does not advertise get E_NOT_SUPPORTED / EAFNOSUPPORT',
    section: '§5.4 step 5, §5.8.2, §14',
    async run(ctx) {
      let checked = 0;
      for (const s of MESSAGE_SCHEMAS) {
        if (s.kind !== 'command' || !s.capability || ctx.has(s.capability)) continue;
        const name = s.name as CommandName;
        const body = zeroBody(s.request) as unknown as CommandBodies[typeof name];
        const ex = await ctx.req(name, body);
        ctx.expect(
          ex,
          'E_NOT_SUPPORTED',
          `${name} (capability ${s.capability} not advertised)`,
          '§5.4 step 5, §14',
        );
        check(
          ex.raw.length === 6,
          `${name} refusal is ${ex.raw.length} bytes, exactly 6 expected (§5.1)`,
          ctx.detail(ex, '6 bytes'),
        );
        checked++;
      }
      for (const [cap, type] of [
        ['TCP', 'STREAM'],
        ['UDP', 'DGRAM'],
      ] as const) {
        if (ctx.has(cap)) continue;
        const ex = await ctx.req('SOCKET_OPEN', {
          type: SocketType[type],
          family: 4,
          protocol: type === 'STREAM' ? 6 : 17,
          blocking: 0,
          recvCredit: 0,
        });
        ctx.expect(
          ex,
          'E_NOT_SUPPORTED',
          `SOCKET_OPEN ${type} without capability ${cap}`,
          '§5.8.2 SOCKET_OPEN',
        );
        checked++;
      }
      const anyType: 'STREAM' | 'DGRAM' | undefined = ctx.has('TCP')
        ? 'STREAM'
        : ctx.has('UDP')
          ? 'DGRAM'
          : undefined;
      if (!ctx.has('IPV6') && anyType) {
        const ex = await ctx.req('SOCKET_OPEN', {
          type: SocketType[anyType],
          family: 6,
          protocol: anyType === 'STREAM' ? 6 : 17,
          blocking: 0,
          recvCredit: 0,
        });
        ctx.expect(ex, 'EAFNOSUPPORT', 'SOCKET_OPEN family 6 without capability IPV6', '§5.8.2 SOCKET_OPEN');
        checked++;
      }
      if (!ctx.has('KEEPALIVE') && ctx.has('TCP')) {
        const id = await ctx.open('STREAM');
        const ex = await ctx.req('SETOPT', { id, option: SocketOption.KEEPALIVE, value: 1000 });
        ctx.expect(
          ex,
          'E_NOT_SUPPORTED',
          'SETOPT KEEPALIVE without capability KEEPALIVE',
          '§5.8.2 SETOPT, §6.9',
        );
        checked++;
      }
      if (checked === 0) notApplicable('the device advertises every capability: nothing to refuse');
    },
  },
  {
    id: 'handshake.caps-known',
    title: 'the device advertises only defined capability bits, and whatever its link needs',
    section: '§14',
    async run(ctx) {
      const known = Object.values(Capability).reduce((a, b) => a | b, 0);
      check(
        (ctx.info.caps & ~known) === 0,
        `HELLO caps 0x${ctx.info.caps.toString(16)} sets undefined bits 0x${(ctx.info.caps & ~known).toString(16)} (§14)`,
      );
      if (ctx.framing === 'serial') {
        check(ctx.has('ARQ'), 'a device on a serial line must offer ARQ (§14 ARQ, §4.3)');
        check(ctx.client.params.arq, 'the serial link agreed arq = 0; it is 1 if either side asks (§4.1)');
      }
      if (ctx.framing === 'pcie')
        check(ctx.has('PCIE_RINGS'), 'a device on PCIe must advertise PCIE_RINGS (§10)');
      check(ctx.has('TCP') || ctx.has('UDP'), 'the device offers neither TCP nor UDP sockets (§14)');
    },
  },
  {
    id: 'handshake.ping',
    title: 'PING echoes 0, 1, 100 and the largest payload; one byte more is E_INVALID',
    section: '§5.8.1 PING, §4.6',
    async run(ctx) {
      const max = ctx.info.maxPayload - 6;
      for (const n of [0, 1, 100, max]) {
        const payload = Buffer.alloc(n);
        for (let i = 0; i < n; i++) payload[i] = (i * 7 + n) & 0xff;
        const ex = await ctx.req('PING', { payload });
        ctx.expect(ex, 'OK', `PING with ${n} payload bytes`, '§5.8.1 PING');
        const echoed = (ex.answer as OkResponseMessage<'PING'>).body.payload;
        check(
          Buffer.from(echoed).equals(payload),
          `PING echo of ${n} bytes differs from the request (§5.8.1)`,
          ctx.detail(ex, `payload ${hexOf(payload, 32)}`),
        );
      }
      const over = await ctx.req('PING', { payload: Buffer.alloc(max + 1, 0x33) });
      ctx.expect(
        over,
        'E_INVALID',
        `PING whose echo would be ${ctx.info.maxPayload + 1} bytes (> maxPayload ${ctx.info.maxPayload})`,
        '§5.8.1 PING',
      );
    },
  },
  {
    id: 'handshake.tags',
    title: 'commands in flight are each answered exactly once, with their tag echoed (including tag 0xFFFF)',
    section: '§5.3',
    async run(ctx) {
      const straysBefore = ctx.client.strayAnswers.length;
      const dupBefore = ctx.client.violations.length;
      const n = Math.max(1, Math.min(8, ctx.client.params.window));
      const reqs = Array.from({ length: n }, (_, i) =>
        ctx.req('PING', { payload: Buffer.from(`tag-test-${i}`) }),
      );
      const answers = await Promise.all(reqs);
      answers.forEach((ex, i) => {
        ctx.expect(ex, 'OK', `PING ${i} of ${n} in flight`, '§5.3');
        const p = Buffer.from((ex.answer as OkResponseMessage<'PING'>).body.payload).toString();
        check(
          p === `tag-test-${i}`,
          `the answer to tag ${ex.tag} carries another command's payload '${p}' (§5.3)`,
          ctx.detail(ex, `tag-test-${i}`),
        );
      });
      const high = Buffer.from([0x02, 0x00, 0xff, 0xff, 0xab]);
      const ex = await ctx.raw(high, 0xffff, 'PING response with tag 0xFFFF');
      check(
        ex.answer.kind === 'response' && ex.answer.status === 0,
        `PING with tag 0xFFFF answered ${ctx.statusOf(ex)} (§5.3)`,
        ctx.detail(ex, 'OK'),
      );
      await ctx.client.quiet(100);
      const dup = ctx.client.violations.slice(dupBefore).filter((v) => v.kind === 'answer');
      if (dup.length) fail(dup[0]!.message, { received: dup.map((v) => v.message).join('\n') });
      const strays = ctx.client.strayAnswers.slice(straysBefore);
      if (strays.length)
        fail(`the device answered a tag that was not in flight: ${describeBytes(strays[0]!)} (§5.3)`);
    },
  },
];

export function capsNames(caps: number): CapabilityName[] {
  return (Object.keys(Capability) as CapabilityName[]).filter((n) => (caps & Capability[n]) !== 0);
}
