/**
 * Sockets in a given status ("subjects") for the transition tests, reached through the kit's peers:
 *
 *   STREAM UNCONNECTED  SOCKET_OPEN            BOUND       BIND any:0          LISTENING  LISTEN
 *          CONNECTING   CONNECT to the blackhole (a port that never answers a SYN)
 *          CONNECTED    CONNECT to the silent peer          SENDING     … then SENDs until the send queue stays full
 *          RECEIVING    CONNECT to the talker, receive credit 0 (its 100 bytes wait in the receive queue)
 *          DISCONNECTED CONNECT to the closer (a clean FIN)  SHUTDOWN    CONNECTED, then SHUTDOWN WRITE
 *   DGRAM  UNCONNECTED, BOUND (BIND any:0), CONNECTED (CONNECT to the UDP echo peer)
 *   both   TERMINATED   SOCKET_OPEN, CLOSE abort, the final STATUS (the id no longer exists)
 *
 * DGRAM sockets never reach the other statuses (§6.3), so the table's DGRAM cells for them are not tested.
 */
import { ConditionFlag, SocketStatus, type SocketStatusName } from '../protocol/index.js';
import { TimeoutError } from './client.js';
import type { TestContext } from './context.js';
import { hexId, socketStatusName, statusName } from './format.js';
import { ConformanceFailure, check, fail, notApplicable } from './types.js';

export type TypeName = 'STREAM' | 'DGRAM';

export const REACHABLE: Record<TypeName, SocketStatusName[]> = {
  STREAM: [
    'UNCONNECTED',
    'BOUND',
    'LISTENING',
    'CONNECTING',
    'CONNECTED',
    'SENDING',
    'RECEIVING',
    'DISCONNECTED',
    'SHUTDOWN',
    'TERMINATED',
  ],
  DGRAM: ['UNCONNECTED', 'BOUND', 'CONNECTED', 'TERMINATED'],
};

/** Waits until the device reports `status` for `id` (QUERY/window when available, else STATUS events). */
export async function waitForStatus(
  ctx: TestContext,
  id: number,
  status: number,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const e = ctx.has('SNAPSHOT') || ctx.has('REG_WINDOW') ? await ctx.entry(id) : undefined;
    const s = e ? e.entry.status : ctx.client.mirror.get(id)?.status;
    if (s === status) return;
    last = s ?? -1;
    if (Date.now() > deadline) {
      fail(
        `${what}: socket ${hexId(id)} is ${socketStatusName(last)}, not ${socketStatusName(status)} after ${timeoutMs} ms`,
      );
    }
    await ctx.client.wake(30);
  }
}

/**
 * Sends on a connected STREAM socket within its send credit until the credit stays exhausted (the device's
 * send queue is full and does not drain: the peer does not read). Not applicable beyond the byte budget.
 */
export async function fillSendQueue(ctx: TestContext, id: number): Promise<number> {
  const c = ctx.client;
  const book = c.book(id);
  const chunk = Math.max(1, Math.min(ctx.info.maxPayload - 6, 16384));
  const window = Math.max(1, c.params.window);
  let inflight = 0;
  let reserved = 0;
  let pushed = 0;
  let failure: Error | undefined;
  const deadline = Date.now() + 60_000;
  const data = Buffer.alloc(chunk, 0x46);
  for (;;) {
    if (failure) throw failure;
    const free = book.sendCredit - reserved;
    if (free > 0 && inflight < window) {
      const n = Math.min(free, chunk);
      reserved += n;
      inflight++;
      pushed += n;
      c.request('SEND', { id, data: data.subarray(0, n) }).then(
        (ex) => {
          inflight--;
          reserved -= n;
          const a = ex.answer;
          const accepted = a.kind === 'response' ? ((a.body as { accepted?: number }).accepted ?? 0) : 0;
          if (a.kind !== 'response' || a.status !== 0 || accepted !== n) {
            failure ??= new ConformanceFailure(
              `SEND of ${n} bytes within the host's send credit answered ${ctx.statusOf(ex)} with accepted ${accepted}: a host that respects its send credit never sees E_QUEUE_FULL (§7)`,
            );
          }
        },
        (err: Error) => {
          inflight--;
          reserved -= n;
          failure ??= err;
        },
      );
      if (pushed > ctx.options.fillBudgetBytes) {
        notApplicable(
          `the send queue never stayed full: ${pushed} bytes went to a peer that does not read (budget ${ctx.options.fillBudgetBytes}); the device's network side buffers more`,
        );
      }
      continue;
    }
    if (Date.now() > deadline)
      notApplicable(`the send queue did not fill within 60 s (${pushed} bytes sent)`);
    if (inflight > 0) {
      await c.wake(50);
      continue;
    }
    // Credit exhausted and nothing in flight: wait for SEND_CREDIT. None for a while and a send queue that holds
    // data and does not move (seen twice, 300 ms apart) means it is stuck full; anything else: keep going.
    const before = book.sendCredit;
    await c
      .until(() => book.sendCredit !== before, 400, 'SEND_CREDIT')
      .catch((err: unknown) => {
        if (!(err instanceof TimeoutError)) throw err;
      });
    if (book.sendCredit !== before) continue;
    const e1 = await ctx.entry(id);
    if (e1 && (e1.entry.sendQueued === 0 || e1.entry.status !== SocketStatus.SENDING)) continue;
    await c.wake(300);
    await c.quiet(50, 1000);
    const e2 = await ctx.entry(id);
    if (book.sendCredit !== before) continue;
    if (e1 && e2 && e2.entry.sendQueued !== e1.entry.sendQueued) continue;
    return pushed;
  }
}

/** A fresh socket of `type` in `status`; NotApplicable when the kit cannot reach that status here. */
export async function makeSubject(
  ctx: TestContext,
  type: TypeName,
  status: SocketStatusName,
): Promise<number> {
  const p = ctx.peers;
  if (type === 'DGRAM') {
    const id = await ctx.open('DGRAM');
    switch (status) {
      case 'UNCONNECTED':
        return id;
      case 'BOUND':
        await ctx.ok('BIND', { id, addr: ctx.anyAddr() }, '§5.8.2 BIND');
        return id;
      case 'CONNECTED':
        await ctx.ok('CONNECT', { id, timeoutMs: 0, addr: ctx.addr(p.udpEcho) }, '§5.8.2 CONNECT');
        return id;
      case 'TERMINATED':
        return terminated(ctx, id);
      default:
        notApplicable(`a DGRAM socket is never ${status} (§6.3)`);
    }
  }
  switch (status) {
    case 'UNCONNECTED':
      return ctx.open('STREAM');
    case 'BOUND': {
      const id = await ctx.open('STREAM');
      await ctx.ok('BIND', { id, addr: ctx.anyAddr() }, '§5.8.2 BIND');
      return id;
    }
    case 'LISTENING': {
      const id = await ctx.open('STREAM');
      await ctx.ok('LISTEN', { id, backlog: 4 }, '§5.8.2 LISTEN');
      return id;
    }
    case 'CONNECTING': {
      const hole = await p.blackhole();
      if (typeof hole === 'string') notApplicable(`CONNECTING cannot be held: ${hole}`);
      const id = await ctx.open('STREAM');
      await ctx.ok('CONNECT', { id, timeoutMs: 120_000, addr: ctx.addr(hole) }, '§5.8.2 CONNECT');
      await ctx.client.wake(50);
      const e = await ctx.entry(id);
      if (e && e.entry.status !== SocketStatus.CONNECTING) {
        fail(
          `CONNECT to a host that never answers left the socket ${socketStatusName(e.entry.status)} (lastError ${statusName(e.entry.lastError)}), not CONNECTING (§5.8.2 CONNECT)`,
        );
      }
      return id;
    }
    case 'CONNECTED':
      return ctx.connected(p.silent);
    case 'SENDING': {
      const id = await ctx.connected(p.silent);
      await fillSendQueue(ctx, id);
      await waitForStatus(ctx, id, SocketStatus.SENDING, 'send queue full');
      return id;
    }
    case 'RECEIVING': {
      const id = await ctx.connected(p.talker, 0);
      await waitForStatus(ctx, id, SocketStatus.RECEIVING, 'the peer sent 100 bytes, receive credit 0');
      return id;
    }
    case 'DISCONNECTED': {
      const id = await ctx.connected(p.closer, 0, true);
      await ctx.waitStatus(
        id,
        (e) =>
          e.body.status === SocketStatus.DISCONNECTED && (e.body.flags & ConditionFlag.PEER_CLOSED) !== 0,
        `${hexId(id)} DISCONNECTED with PEER_CLOSED after the peer's FIN (§6.6)`,
      );
      return id;
    }
    case 'SHUTDOWN': {
      const id = await ctx.connected(p.silent);
      await ctx.ok('SHUTDOWN', { id, how: 2 }, '§5.8.2 SHUTDOWN');
      await waitForStatus(ctx, id, SocketStatus.SHUTDOWN, 'SHUTDOWN WRITE');
      return id;
    }
    case 'TERMINATED':
      return terminated(ctx, await ctx.open('STREAM'));
  }
}

async function terminated(ctx: TestContext, id: number): Promise<number> {
  const from = ctx.client.events.length;
  await ctx.ok('CLOSE', { id, abort: 1 }, '§5.8.2 CLOSE');
  await ctx.waitStatus(
    id,
    (e) => e.body.status === SocketStatus.TERMINATED,
    `final STATUS TERMINATED of ${hexId(id)}`,
    3000,
    from,
  );
  check(!ctx.client.live.has(id), `${hexId(id)} still live after TERMINATED`);
  return id;
}
