/**
 * Flow control (§7): send credit (initial = queue size, SEND_CREDIT never more than the queue freed, SEND over
 * credit → E_QUEUE_FULL with the accepted count), receive credit (DATA/DATAGRAM never beyond it, datagrams whole),
 * and nothing dropped: the sha256 of what went through the kit's echo peer.
 */
import { createHash } from 'node:crypto';
import { ConditionFlag, SocketOption, SocketStatus } from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { hexId, socketStatusName } from '../format.js';
import { fillSendQueue, waitForStatus } from '../subjects.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Sends all of `data` on a STREAM socket within its send credit (waiting for SEND_CREDIT). */
async function sendAll(ctx: TestContext, id: number, data: Buffer, onProgress?: () => void): Promise<void> {
  const c = ctx.client;
  const book = c.book(id);
  const chunk = ctx.info.maxPayload - 6;
  let off = 0;
  let inflight = 0;
  let reserved = 0;
  let failure: Error | undefined;
  const window = Math.max(1, Math.min(8, c.params.window));
  const deadline = Date.now() + 60_000;
  while (off < data.length || inflight > 0) {
    if (failure) throw failure;
    onProgress?.();
    const free = book.sendCredit - reserved;
    if (off < data.length && free > 0 && inflight < window) {
      const n = Math.min(free, chunk, data.length - off);
      const piece = data.subarray(off, off + n);
      off += n;
      inflight++;
      reserved += n;
      c.request('SEND', { id, data: piece }).then(
        (ex) => {
          inflight--;
          reserved -= n;
          const a = ex.answer;
          const accepted = a.kind === 'response' ? ((a.body as { accepted?: number }).accepted ?? 0) : 0;
          if (a.kind !== 'response' || a.status !== 0 || accepted !== n) {
            failure ??= new Error(
              `SEND of ${n} bytes within the host's send credit answered ${ctx.statusOf(ex)}, accepted ${accepted}: a host that respects its credit never sees E_QUEUE_FULL (§7)`,
            );
          }
        },
        (err: Error) => {
          inflight--;
          reserved -= n;
          failure ??= err;
        },
      );
      continue;
    }
    if (Date.now() > deadline)
      fail(
        `sending ${data.length} bytes did not finish within 60 s (${off} sent; send credit ${book.sendCredit}) (§7)`,
      );
    await c.wake(20);
  }
  if (failure) throw failure;
}

export const flowCases: ConformanceCase[] = [
  {
    id: 'flow.initial-credit',
    title:
      "a new socket's send credit equals the send queue size; its receive credit is what the host granted",
    section: '§7, §5.8.2 SOCKET_OPEN',
    async run(ctx) {
      if (!ctx.has('TCP') && !ctx.has('UDP')) notApplicable('the device offers neither TCP nor UDP (§14)');
      for (const type of ['STREAM', 'DGRAM'] as const) {
        if (!ctx.has(type === 'STREAM' ? 'TCP' : 'UDP')) continue;
        const ex = await ctx.req('SOCKET_OPEN', {
          type: type === 'STREAM' ? 1 : 2,
          family: 4,
          protocol: type === 'STREAM' ? 6 : 17,
          blocking: 0,
          recvCredit: 12345,
        });
        ctx.expect(ex, 'OK', `SOCKET_OPEN ${type}`, '§5.8.2');
        const { id, sendCredit } = ex.answer.body as { id: number; sendCredit: number };
        check(
          sendCredit === ctx.info.sendQueueSize,
          `${type} SOCKET_OPEN sendCredit ${sendCredit}, HELLO sendQueueSize ${ctx.info.sendQueueSize} (§5.8.1: the initial send credit equals the send queue size)`,
          ctx.detail(ex, `sendCredit ${ctx.info.sendQueueSize}`),
        );
        const e = await ctx.entry(id);
        if (e) {
          check(
            e.entry.sendSpace === sendCredit,
            `${type} ${hexId(id)}: entry sendSpace ${e.entry.sendSpace}, initial send credit ${sendCredit} (§7)`,
          );
          check(
            e.entry.recvCredit === 12345,
            `${type} ${hexId(id)}: entry recvCredit ${e.entry.recvCredit}, the host granted 12345 (§7)`,
          );
          check(
            e.entry.sendQueued === 0 && e.entry.recvQueued === 0,
            `${type} ${hexId(id)}: a new socket has queued bytes (§6.1)`,
          );
          check(
            (e.entry.flags & ConditionFlag.WRITABLE) !== 0,
            `${type} ${hexId(id)}: a new socket is not WRITABLE (§5.8.2 SOCKET_OPEN)`,
          );
        }
      }
    },
  },
  {
    id: 'flow.echo-integrity',
    title:
      "data through the kit's TCP echo peer comes back complete and in order (sha256), within credit both ways",
    section: '§7, §5.9 DATA',
    requires: ['TCP'],
    timeoutMs: 90_000,
    async run(ctx) {
      const c = ctx.client;
      const n = ctx.options.dataBytes;
      const recvWindow = 64 * 1024;
      const id = await ctx.connected(ctx.peers.echo, recvWindow);
      const book = c.book(id);
      const data = pattern(n, 0x1234);
      const violations = c.violations.length;
      // Grant receive credit back as data is taken (like an application reading).
      let granted = recvWindow;
      const grant = () => {
        const taken = book.recvTaken;
        if (granted - taken < recvWindow / 2 && granted < n + recvWindow) {
          const more = recvWindow - (granted - taken);
          granted += more;
          void c.request('RECV_CREDIT', { id, bytes: more }).catch(() => undefined);
        }
      };
      await sendAll(ctx, id, data, grant);
      // Wait for the echo; give up once nothing more arrives for 1.5 s.
      await c.progress(() => {
        grant();
        return book.recvTaken;
      }, n);
      await c.quiet(50, 1000);
      const got = Buffer.concat(book.data);
      const max = ctx.info.maxPayload - 14;
      const oversize = c.events.find(
        (e) => e.name === 'DATA' && e.body.id === id && e.body.data.length > max,
      );
      if (oversize)
        fail(
          `a DATA event carries ${(oversize.body as unknown as { data: Uint8Array }).data.length} bytes, more than maxPayload − 14 = ${max} (§5.9 DATA, §4.6)`,
        );
      const credit = c.violations.slice(violations).filter((v) => v.kind === 'credit');
      if (credit.length) fail(credit[0]!.message);
      if (got.length !== n || sha(got) !== sha(data)) {
        let k = 0;
        while (k < Math.min(got.length, n) && got[k] === data[k]) k++;
        fail(
          `data lost or changed through the device: sent ${n} bytes (sha256 ${sha(data).slice(0, 16)}…), received ${got.length} bytes (sha256 ${sha(got).slice(0, 16)}…), first difference at byte ${k} (§7: nothing is dropped)`,
          {
            expected: `${n} bytes, sha256 ${sha(data)}`,
            received: `${got.length} bytes, sha256 ${sha(got)}`,
          },
        );
      }
    },
  },
  {
    id: 'flow.send-credit-accounting',
    title: 'SEND_CREDIT returns exactly what left the send queue: host credit = free queue space when idle',
    section: '§7',
    requires: ['TCP'],
    timeoutMs: 60_000,
    async run(ctx) {
      const c = ctx.client;
      const id = await ctx.connected(ctx.peers.echo, 0xffffffff);
      const book = c.book(id);
      const n = Math.min(4 * ctx.info.sendQueueSize, 1024 * 1024);
      await sendAll(ctx, id, pattern(n, 7));
      await c.progress(() => book.recvTaken, n);
      for (let attempt = 0; ; attempt++) {
        await c.quiet(60, 1000);
        const e = await ctx.entry(id);
        const space = e ? e.entry.sendSpace : ctx.info.sendQueueSize;
        const queued = e ? e.entry.sendQueued : 0;
        if (book.sendCredit === space && queued === 0) return;
        if (attempt >= 10) {
          const more = book.sendCredit > space;
          fail(
            more
              ? `the device granted more send credit than its queue freed: host credit ${book.sendCredit} (initial + Σ SEND_CREDIT − Σ accepted) but the send queue has ${space} bytes free (§7)`
              : `send credit not returned: host credit ${book.sendCredit}, the send queue has ${space} bytes free and ${queued} queued after the peer took everything (§7: SEND_CREDIT as the queue drains)`,
            { expected: `credit ${space}`, received: `credit ${book.sendCredit}` },
          );
        }
        await c.wake(100);
      }
    },
  },
  {
    id: 'flow.queue-full',
    title:
      'SEND beyond the credit on a full queue: E_QUEUE_FULL with the accepted count, nothing more queued',
    section: '§7, §5.8.2 SEND',
    requires: ['TCP'],
    timeoutMs: 90_000,
    async run(ctx) {
      const c = ctx.client;
      const id = await ctx.connected(ctx.peers.silent);
      await fillSendQueue(ctx, id);
      await waitForStatus(ctx, id, SocketStatus.SENDING, 'send queue full');
      const book = c.book(id);
      // Make room the device must grant: enlarging SNDBUF grants the extra space as SEND_CREDIT (§6.9).
      const g0 = await ctx.req('GETOPT', { id, option: SocketOption.SNDBUF });
      ctx.expect(g0, 'OK', 'GETOPT SNDBUF', '§6.9');
      const size0 = (g0.answer.body as { value: number }).value;
      const credit0 = book.sendCredit;
      await ctx.ok('SETOPT', { id, option: SocketOption.SNDBUF, value: size0 + 2000 }, '§6.9 SNDBUF');
      const g1 = await ctx.req('GETOPT', { id, option: SocketOption.SNDBUF });
      const extra = (g1.answer.body as { value: number }).value - size0;
      if (extra > 0) {
        await c.progress(() => book.sendCredit - credit0, extra, 1000);
        check(
          book.sendCredit - credit0 === extra,
          `enlarging SNDBUF by ${extra} bytes granted ${book.sendCredit - credit0} bytes of send credit (§6.9: the extra space is granted as SEND_CREDIT)`,
        );
      }
      const before = await ctx.entry(id);
      const space = before ? before.entry.sendSpace : book.sendCredit;
      const n = space + 100;
      const ex = await ctx.req('SEND', { id, data: pattern(n, 3) });
      ctx.expect(
        ex,
        'E_QUEUE_FULL',
        `SEND of ${n} bytes with ${space} bytes free in the send queue`,
        '§7, §5.8.2 SEND',
      );
      check(
        ex.raw.length === 10,
        `E_QUEUE_FULL response is ${ex.raw.length} bytes, 10 expected (it carries accepted) (§5.8.2)`,
        ctx.detail(ex, '10 bytes'),
      );
      const accepted = ex.raw.readUInt32LE(6);
      check(
        accepted === space,
        `E_QUEUE_FULL says accepted ${accepted}; the queue had ${space} bytes free (§7: the device accepts what fits)`,
        ctx.detail(ex, `accepted ${space}`),
      );
      const after = await ctx.entry(id);
      if (before && after) {
        check(
          after.entry.sendQueued === before.entry.sendQueued + accepted,
          `sendQueued ${before.entry.sendQueued} → ${after.entry.sendQueued} after accepting ${accepted} bytes (§7)`,
        );
        check(after.entry.sendSpace === 0, `sendSpace ${after.entry.sendSpace} after E_QUEUE_FULL (§6.1)`);
        check(
          (after.entry.flags & ConditionFlag.SEND_BLOCKED) !== 0,
          `SEND_BLOCKED not set with a full send queue (flags 0x${after.entry.flags.toString(16)}) (§6.4)`,
        );
        check(
          after.entry.status === SocketStatus.SENDING,
          `status ${socketStatusName(after.entry.status)} with a full send queue, expected SENDING (§6.3)`,
        );
      }
      const again = await ctx.req('SEND', { id, data: Buffer.from('more') });
      ctx.expect(again, 'E_QUEUE_FULL', 'SEND with no room at all', '§7');
      check(
        again.raw.readUInt32LE(6) === 0,
        `E_QUEUE_FULL with no room says accepted ${again.raw.readUInt32LE(6)} (§7)`,
        ctx.detail(again, 'accepted 0'),
      );
    },
  },
  {
    id: 'flow.recv-credit',
    title:
      'DATA never goes beyond the receive credit; RECV_CREDIT releases exactly what it grants; 0 is a no-op',
    section: '§7, §5.8.2 RECV_CREDIT',
    requires: ['TCP'],
    timeoutMs: 30_000,
    async run(ctx) {
      const c = ctx.client;
      const id = await ctx.connected(ctx.peers.echo, 1000);
      const book = c.book(id);
      const total = 10_000;
      const data = pattern(total, 99);
      const violations = c.violations.length;
      await sendAll(ctx, id, data);
      const stage = async (expect: number, what: string) => {
        await c.progress(() => book.recvTaken, expect, 1000);
        await c.quiet(100, 1500);
        const credit = c.violations.slice(violations).filter((v) => v.kind === 'credit');
        if (credit.length) fail(credit[0]!.message);
        check(
          book.recvTaken === expect,
          `${what}: ${book.recvTaken} bytes of DATA, expected exactly ${expect} (§7)`,
        );
      };
      await stage(1000, 'initial receive credit 1000');
      const e = await ctx.entry(id);
      if (e) {
        check(e.entry.recvCredit === 0, `entry recvCredit ${e.entry.recvCredit} after using all of it (§7)`);
        check(
          e.entry.recvQueued > 0,
          `entry recvQueued ${e.entry.recvQueued}: the echoed data should wait in the receive queue (§7)`,
        );
        check(
          (e.entry.flags & ConditionFlag.RECV_BLOCKED) !== 0,
          `RECV_BLOCKED not set while data waits for credit (flags 0x${e.entry.flags.toString(16)}) (§6.4, §7)`,
        );
        check(
          (e.entry.flags & ConditionFlag.READABLE) !== 0,
          `READABLE not set while the receive queue holds data (§6.4)`,
        );
        check(
          e.entry.status === SocketStatus.RECEIVING,
          `status ${socketStatusName(e.entry.status)} while data waits, expected RECEIVING (§6.3)`,
        );
      }
      const zero = await ctx.req('RECV_CREDIT', { id, bytes: 0 });
      ctx.expect(zero, 'OK', 'RECV_CREDIT 0', '§5.8.2 RECV_CREDIT');
      await stage(1000, 'after RECV_CREDIT 0 (a no-op)');
      await ctx.ok('RECV_CREDIT', { id, bytes: 4000 }, '§5.8.2 RECV_CREDIT');
      await stage(5000, 'after RECV_CREDIT 4000');
      await ctx.ok('RECV_CREDIT', { id, bytes: 100_000 }, '§5.8.2 RECV_CREDIT');
      await stage(total, 'after RECV_CREDIT 100000');
      const got = Buffer.concat(book.data);
      check(
        got.equals(data),
        `the data delivered in stages differs from what was sent (${got.length} bytes) (§7)`,
      );
      const e2 = await ctx.entry(id);
      if (e2)
        check(
          e2.entry.recvCredit === 1000 + 4000 + 100_000 - total,
          `entry recvCredit ${e2.entry.recvCredit}, expected ${105_000 - total} (§7: each DATA consumes its length)`,
        );
    },
  },
  {
    id: 'flow.udp-credit',
    title: 'a datagram waits until the receive credit covers all of it, then arrives whole from its source',
    section: '§7, §5.9 DATAGRAM',
    requires: ['UDP'],
    async run(ctx) {
      const c = ctx.client;
      const id = await ctx.open('DGRAM', 100);
      await ctx.ok('CONNECT', { id, timeoutMs: 0, addr: ctx.addr(ctx.peers.udpEcho) }, '§5.8.2 CONNECT');
      const book = c.book(id);
      const dg = pattern(300, 5);
      const violations = c.violations.length;
      await ctx.ok('SEND', { id, data: dg }, '§5.8.2 SEND');
      const deadline = Date.now() + 3000;
      let e = await ctx.entry(id);
      while (e && e.entry.recvQueued < 300 && Date.now() < deadline) {
        await c.wake(30);
        e = await ctx.entry(id);
      }
      if (e)
        check(
          e.entry.recvQueued === 300,
          `the echoed 300-byte datagram did not reach the receive queue (recvQueued ${e.entry.recvQueued})`,
        );
      else await c.wake(300);
      check(
        book.datagrams.length === 0,
        `a DATAGRAM of ${book.datagrams[0]?.data.length} bytes was delivered with only 100 bytes of credit (§7: only when the credit covers the whole datagram)`,
      );
      await ctx.ok('RECV_CREDIT', { id, bytes: 250 }, '§5.8.2 RECV_CREDIT');
      await c
        .until(() => book.datagrams.length > 0, 3000, 'the DATAGRAM once the credit covers it')
        .catch(() => undefined);
      const count = (): number => book.datagrams.length;
      check(count() === 1, `${count()} DATAGRAM events after the credit reached 350 bytes, expected 1 (§7)`);
      const d = book.datagrams[0]!;
      check(
        d.data.equals(dg),
        `the datagram arrived as ${d.data.length} bytes, not the 300 sent: datagrams are never split or truncated (§7)`,
      );
      check(
        d.from.port === ctx.peers.udpEcho.port,
        `DATAGRAM from port ${d.from.port}, the echo peer is at ${ctx.peers.udpEcho.port} (§5.9 DATAGRAM)`,
      );
      const credit = c.violations.slice(violations).filter((v) => v.kind === 'credit');
      if (credit.length) fail(credit[0]!.message);
      const e2 = await ctx.entry(id);
      if (e2)
        check(
          e2.entry.recvCredit === 50,
          `entry recvCredit ${e2.entry.recvCredit} after a 300-byte datagram from 350, expected 50 (§7)`,
        );
    },
  },
];
