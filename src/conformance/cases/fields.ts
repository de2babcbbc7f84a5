/**
 * Field values of the socket commands (§5.4 step 9, §5.8.2, §6.9): out-of-range values are refused with the
 * code PROTOCOL.md lists and change nothing; socket options read back and show in the entry.
 */
import {
  type Addr,
  type CommandBodies,
  type CommandName,
  Register,
  SocketOption,
  SocketStatus,
  type StatusCodeName,
} from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { hexId, socketStatusName } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

/** Sends a command that must be refused with `code`; the socket's entry (if any) must not change. */
async function refused<N extends CommandName>(
  ctx: TestContext,
  name: N,
  body: CommandBodies[N],
  code: StatusCodeName,
  what: string,
  section: string,
  id?: number,
): Promise<void> {
  const before = id !== undefined ? await ctx.entry(id) : undefined;
  const ex = await ctx.req(name, body);
  ctx.expect(ex, code, `${name} with ${what}`, section);
  if (id !== undefined && before) {
    const after = await ctx.entry(id);
    if (after && !after.bytes.subarray(0, 76).equals(before.bytes.subarray(0, 76))) {
      fail(
        `${name} with ${what} was refused (${code}) but changed socket ${hexId(id)} (§5.4: a failed command changes nothing)`,
        ctx.detail(ex, `${code}, no change`),
      );
    }
  }
}

const v6any: Addr = { family: 6, port: 0, address: '::' };

export const fieldCases: ConformanceCase[] = [
  {
    id: 'fields.SOCKET_OPEN',
    title:
      'SOCKET_OPEN: bad type, protocol or blocking are E_INVALID, a bad family EAFNOSUPPORT; no slot is used',
    section: '§5.8.2 SOCKET_OPEN',
    async run(ctx) {
      if (!ctx.has('TCP') && !ctx.has('UDP')) notApplicable('the device offers neither TCP nor UDP (§14)');
      const slots = (await ctx.regRead(Register.SLOTS))[0]!;
      const tcp = ctx.has('TCP');
      const base = { type: tcp ? 1 : 2, family: 4, protocol: tcp ? 6 : 17, blocking: 0, recvCredit: 0 };
      await refused(ctx, 'SOCKET_OPEN', { ...base, type: 0 }, 'E_INVALID', 'type 0', '§5.8.2 SOCKET_OPEN');
      await refused(ctx, 'SOCKET_OPEN', { ...base, type: 3 }, 'E_INVALID', 'type 3', '§5.8.2 SOCKET_OPEN');
      await refused(
        ctx,
        'SOCKET_OPEN',
        { ...base, protocol: tcp ? 17 : 6 },
        'E_INVALID',
        'a protocol that does not match the type',
        '§5.8.2 SOCKET_OPEN',
      );
      await refused(
        ctx,
        'SOCKET_OPEN',
        { ...base, blocking: 2 },
        'E_INVALID',
        'blocking 2',
        '§5.8.2 SOCKET_OPEN',
      );
      await refused(
        ctx,
        'SOCKET_OPEN',
        { ...base, family: 5 },
        'EAFNOSUPPORT',
        'family 5',
        '§5.8.2 SOCKET_OPEN',
      );
      await refused(
        ctx,
        'SOCKET_OPEN',
        { ...base, family: 0 },
        'EAFNOSUPPORT',
        'family 0',
        '§5.8.2 SOCKET_OPEN',
      );
      const after = (await ctx.regRead(Register.SLOTS))[0]!;
      check(
        after === slots,
        `refused SOCKET_OPENs changed SLOTS in use ${slots >>> 16} → ${after >>> 16} (§5.4)`,
      );
      const ok = await ctx.req('SOCKET_OPEN', { ...base, blocking: 1 });
      ctx.expect(ok, 'OK', 'SOCKET_OPEN with blocking 1', '§5.8.2 SOCKET_OPEN');
      const id = (ok.answer.body as { id: number }).id;
      const e = await ctx.entry(id);
      if (e) {
        check(e.entry.blocking === 1, `entry blocking ${e.entry.blocking}, SOCKET_OPEN asked for 1 (§6.1)`);
        check(
          e.entry.type === base.type && e.entry.protocol === base.protocol && e.entry.family === 4,
          `entry type/protocol/family ${e.entry.type}/${e.entry.protocol}/${e.entry.family} differ from SOCKET_OPEN's (§6.1)`,
        );
        check(
          e.entry.status === SocketStatus.UNCONNECTED,
          `a new socket is ${socketStatusName(e.entry.status)}, expected UNCONNECTED (§5.8.2)`,
        );
        check(
          e.entry.channel === 0,
          `entry channel ${e.entry.channel}, the socket was opened on channel 0 (§6.1)`,
        );
      }
    },
  },
  {
    id: 'fields.BIND-CONNECT',
    title:
      'BIND / CONNECT / SENDTO: family 0 or port 0 are E_INVALID, another family EAFNOSUPPORT; nothing changes',
    section: '§5.8.2 BIND/CONNECT/SENDTO',
    async run(ctx) {
      if (!ctx.has('TCP') && !ctx.has('UDP')) notApplicable('the device offers neither TCP nor UDP (§14)');
      if (ctx.has('TCP')) {
        const id = await ctx.open('STREAM');
        const none: Addr = { family: 0, port: 0, address: '' };
        await refused(ctx, 'BIND', { id, addr: none }, 'E_INVALID', 'address family 0', '§5.8.2 BIND', id);
        await refused(
          ctx,
          'BIND',
          { id, addr: v6any },
          'EAFNOSUPPORT',
          'an IPv6 address on an IPv4 socket',
          '§5.8.2 BIND',
          id,
        );
        await refused(
          ctx,
          'CONNECT',
          { id, timeoutMs: 0, addr: none },
          'E_INVALID',
          'address family 0',
          '§5.8.2 CONNECT',
          id,
        );
        await refused(
          ctx,
          'CONNECT',
          { id, timeoutMs: 0, addr: { ...ctx.addr(ctx.peers.echo), port: 0 } },
          'E_INVALID',
          'port 0',
          '§5.8.2 CONNECT',
          id,
        );
        await refused(
          ctx,
          'CONNECT',
          { id, timeoutMs: 0, addr: { family: 6, port: 80, address: '::1' } },
          'EAFNOSUPPORT',
          'an IPv6 address on an IPv4 socket',
          '§5.8.2 CONNECT',
          id,
        );
        await refused(ctx, 'LISTEN', { id, backlog: 0 }, 'E_INVALID', 'backlog 0', '§5.8.2 LISTEN', id);
      }
      if (ctx.has('UDP')) {
        const id = await ctx.open('DGRAM');
        await refused(
          ctx,
          'SENDTO',
          { id, addr: { ...ctx.addr(ctx.peers.udpEcho), port: 0 }, data: Buffer.from('x') },
          'E_INVALID',
          'port 0',
          '§5.8.2 SENDTO',
          id,
        );
        await refused(
          ctx,
          'SENDTO',
          { id, addr: { family: 0, port: 0, address: '' }, data: Buffer.from('x') },
          'E_INVALID',
          'address family 0',
          '§5.8.2 SENDTO',
          id,
        );
        await refused(
          ctx,
          'CONNECT',
          { id, timeoutMs: 0, addr: { ...ctx.addr(ctx.peers.udpEcho), port: 0 } },
          'E_INVALID',
          'port 0',
          '§5.8.2 CONNECT',
          id,
        );
      }
    },
  },
  {
    id: 'fields.LISTEN-backlog',
    title: 'LISTEN clamps a backlog above the device limit and shows the value used in the entry',
    section: '§5.8.2 LISTEN',
    requires: ['TCP', 'SNAPSHOT'],
    async run(ctx) {
      const id = await ctx.open('STREAM');
      await ctx.ok(
        'LISTEN',
        { id, backlog: 0xffff },
        '§5.8.2 LISTEN: a backlog above the device limit is clamped',
      );
      const e = await ctx.entry(id);
      check(
        e !== undefined && e.entry.backlog >= 1 && e.entry.backlog <= 0xffff,
        `entry backlog ${e?.entry.backlog} after LISTEN backlog 65535 (§5.8.2 LISTEN)`,
      );
      const small = await ctx.open('STREAM');
      await ctx.ok('LISTEN', { id: small, backlog: 1 }, '§5.8.2 LISTEN');
      const s = await ctx.entry(small);
      check(s?.entry.backlog === 1, `entry backlog ${s?.entry.backlog} after LISTEN backlog 1 (§6.1)`);
    },
  },
  {
    id: 'fields.SEND-SHUTDOWN-CLOSE',
    title:
      'SEND of 0 bytes on a stream, SHUTDOWN how 0/4, CLOSE abort 2, RECV_CREDIT overflow: E_INVALID, no change',
    section: '§5.8.2 SEND/SHUTDOWN/CLOSE/RECV_CREDIT',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.connected(ctx.peers.silent, 1);
      const ex = await ctx.req('SEND', { id, data: Buffer.alloc(0) });
      ctx.expect(ex, 'E_INVALID', 'SEND with empty data on a STREAM socket', '§5.8.2 SEND');
      check(
        ex.raw.length === 10 && ex.raw.readUInt32LE(6) === 0,
        'a refused SEND carries accepted 0 (§5.8.2 SEND)',
        ctx.detail(ex, 'accepted 0'),
      );
      await refused(ctx, 'SHUTDOWN', { id, how: 0 }, 'E_INVALID', 'how 0', '§5.8.2 SHUTDOWN', id);
      await refused(ctx, 'SHUTDOWN', { id, how: 4 }, 'E_INVALID', 'how 4', '§5.8.2 SHUTDOWN', id);
      await refused(ctx, 'CLOSE', { id, abort: 2 }, 'E_INVALID', 'abort 2', '§5.8.2 CLOSE', id);
      await refused(
        ctx,
        'RECV_CREDIT',
        { id, bytes: 0xffffffff },
        'E_INVALID',
        'a credit that would exceed 0xFFFFFFFF',
        '§5.8.2 RECV_CREDIT',
        id,
      );
      const e = await ctx.entry(id);
      if (e)
        check(
          e.entry.status === SocketStatus.CONNECTED,
          `the socket is ${socketStatusName(e.entry.status)} after refused commands, expected CONNECTED`,
        );
    },
  },
  {
    id: 'fields.options',
    title:
      'SETOPT/GETOPT: booleans 0/1 (shown in entry.options), type rules, TTL 1..255, unknown options E_NOT_SUPPORTED',
    section: '§5.8.2 SETOPT/GETOPT, §6.9',
    async run(ctx) {
      const get = async (id: number, option: number) => {
        const ex = await ctx.req('GETOPT', { id, option });
        ctx.expect(ex, 'OK', `GETOPT option ${option}`, '§6.9');
        return (ex.answer.body as { value: number }).value;
      };
      const set = (id: number, option: number, value: number) =>
        ctx.ok('SETOPT', { id, option, value }, '§6.9');
      const types = (['STREAM', 'DGRAM'] as const).filter((t) => ctx.has(t === 'STREAM' ? 'TCP' : 'UDP'));
      if (types.length === 0) notApplicable('the device offers neither TCP nor UDP (§14)');
      for (const type of types) {
        const id = await ctx.open(type);
        const bools =
          type === 'STREAM'
            ? [SocketOption.REUSEADDR, SocketOption.NODELAY]
            : [SocketOption.REUSEADDR, SocketOption.BROADCAST];
        for (const opt of bools) {
          await set(id, opt, 1);
          check((await get(id, opt)) === 1, `${type} GETOPT ${opt} after SETOPT 1 is not 1 (§6.9)`);
          const e = await ctx.entry(id);
          if (e)
            check(
              (e.entry.options & (1 << (opt - 1))) !== 0,
              `${type} entry.options 0x${e.entry.options.toString(16)} lacks bit ${opt - 1} for option ${opt} set (§6.1)`,
            );
          await refused(
            ctx,
            'SETOPT',
            { id, option: opt, value: 2 },
            'E_INVALID',
            `boolean option ${opt} = 2`,
            '§6.9',
            id,
          );
          await set(id, opt, 0);
          check((await get(id, opt)) === 0, `${type} GETOPT ${opt} after SETOPT 0 is not 0 (§6.9)`);
        }
        const wrong =
          type === 'STREAM' ? [SocketOption.BROADCAST] : [SocketOption.NODELAY, SocketOption.LINGER];
        for (const opt of wrong)
          await refused(
            ctx,
            'SETOPT',
            { id, option: opt, value: 1 },
            'E_INVALID',
            `option ${opt} on a ${type} socket`,
            '§6.9',
            id,
          );
        await refused(
          ctx,
          'SETOPT',
          { id, option: SocketOption.TTL, value: 0 },
          'E_INVALID',
          'TTL 0',
          '§6.9',
          id,
        );
        await refused(
          ctx,
          'SETOPT',
          { id, option: SocketOption.TTL, value: 256 },
          'E_INVALID',
          'TTL 256',
          '§6.9',
          id,
        );
        await set(id, SocketOption.TTL, 9);
        check(
          (await get(id, SocketOption.TTL)) === 9,
          `${type} TTL set to 9 reads back ${await get(id, SocketOption.TTL)} (§6.9)`,
        );
        await refused(
          ctx,
          'SETOPT',
          { id, option: SocketOption.RCVBUF, value: 0 },
          'E_INVALID',
          'RCVBUF 0',
          '§6.9',
          id,
        );
        await set(id, SocketOption.RCVBUF, 8192);
        check((await get(id, SocketOption.RCVBUF)) > 0, `${type} RCVBUF reads 0 after SETOPT 8192 (§6.9)`);
        for (const opt of [0, 9, 0x7fff]) {
          await refused(
            ctx,
            'SETOPT',
            { id, option: opt, value: 0 },
            'E_NOT_SUPPORTED',
            `unknown option ${opt}`,
            '§6.9',
            id,
          );
          const g = await ctx.req('GETOPT', { id, option: opt });
          ctx.expect(g, 'E_NOT_SUPPORTED', `GETOPT of unknown option ${opt}`, '§5.8.2 GETOPT');
        }
        if (type === 'STREAM') {
          check(
            (await get(id, SocketOption.LINGER)) === 0xffffffff,
            `LINGER reads 0x${(await get(id, SocketOption.LINGER)).toString(16)} on a new socket, the default is off (0xFFFFFFFF) (§6.9)`,
          );
          if (ctx.has('KEEPALIVE')) {
            await set(id, SocketOption.KEEPALIVE, 5000);
            check(
              (await get(id, SocketOption.KEEPALIVE)) === 5000,
              'KEEPALIVE 5000 does not read back (§6.9)',
            );
            const e = await ctx.entry(id);
            if (e)
              check(
                (e.entry.options & 0x4) !== 0,
                `entry.options 0x${e.entry.options.toString(16)} lacks the KEEPALIVE bit (§6.9)`,
              );
          }
        } else if (ctx.has('KEEPALIVE')) {
          await refused(
            ctx,
            'SETOPT',
            { id, option: SocketOption.KEEPALIVE, value: 1000 },
            'E_INVALID',
            'KEEPALIVE on a DGRAM socket',
            '§6.9',
            id,
          );
        }
      }
    },
  },
];
