/**
 * The network through the device, against the kit's own peers (§5.8.2, §6.6, §13): connect, accept, distinct
 * error codes for refused / reset / connect timeout / address in use, a clean peer close, field errors.
 */
import net from 'node:net';
import { ConditionFlag, type OkResponseMessage, SocketStatus, StatusCode } from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { addrText, hexId, socketStatusName, statusName } from '../format.js';
import { type ConformanceCase, check, fail, notApplicable } from '../types.js';

async function failedConnect(
  ctx: TestContext,
  id: number,
  from: number,
  code: keyof typeof StatusCode,
  why: string,
  timeoutMs = 5000,
) {
  const e = await ctx.waitStatus(
    id,
    (x) => x.body.status !== SocketStatus.CONNECTING && x.body.status !== SocketStatus.CONNECTED,
    why,
    timeoutMs,
    from,
  );
  check(
    e.body.status === SocketStatus.DISCONNECTED,
    `${why}: status ${socketStatusName(e.body.status)}, expected DISCONNECTED (§6.6)`,
  );
  check(
    e.body.error === StatusCode[code],
    `${why}: STATUS error ${statusName(e.body.error)}, expected ${code} (§13: distinct failures, distinct codes)`,
    {
      expected: `STATUS DISCONNECTED error ${code} (${StatusCode[code]})`,
      received: `STATUS ${socketStatusName(e.body.status)} error ${statusName(e.body.error)} flags 0x${e.body.flags.toString(16)}`,
    },
  );
  check(
    (e.body.flags & ConditionFlag.ERROR_PENDING) !== 0,
    `${why}: ERROR_PENDING not set (flags 0x${e.body.flags.toString(16)}) (§6.6)`,
  );
  return e;
}

async function expectEpipe(ctx: TestContext, id: number, after: string) {
  const ex = await ctx.req('SEND', { id, data: Buffer.from('late') });
  ctx.expect(
    ex,
    'EPIPE',
    `SEND after ${after}`,
    '§5.8.2 SEND: after a reset or a failed connect it gets EPIPE',
  );
  check(
    ex.raw.length === 10 && ex.raw.readUInt32LE(6) === 0,
    `EPIPE response to SEND must carry accepted 0 (§5.8.2)`,
    ctx.detail(ex, 'accepted 0'),
  );
}

export const networkCases: ConformanceCase[] = [
  {
    id: 'net.connect',
    title: 'CONNECT answers OK at once, then STATUS CONNECTED with local and remote endpoints',
    section: '§5.8.2 CONNECT, §6.6',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.open('STREAM');
      const from = ctx.client.events.length;
      const ex = await ctx.req('CONNECT', { id, timeoutMs: 5000, addr: ctx.addr(ctx.peers.echo) });
      ctx.expect(ex, 'OK', 'CONNECT to the echo peer', '§5.8.2 CONNECT');
      check(
        ex.raw.length === 6,
        `CONNECT response is ${ex.raw.length} bytes, 6 expected (§5.8.2)`,
        ctx.detail(ex, '6 bytes'),
      );
      const e = await ctx.waitStatus(
        id,
        (x) => x.body.status !== SocketStatus.CONNECTING,
        `${hexId(id)} CONNECTED`,
        5000,
        from,
      );
      check(
        e.body.status === SocketStatus.CONNECTED,
        `after CONNECT to a listening peer: ${socketStatusName(e.body.status)} (error ${statusName(e.body.error)}), expected CONNECTED (§6.6)`,
      );
      check(
        e.body.remote.port === ctx.peers.echo.port && e.body.remote.family === ctx.family,
        `STATUS remote ${addrText(e.body.remote)}, expected ${ctx.peers.echo.host}:${ctx.peers.echo.port} (§5.9 STATUS)`,
      );
      check(
        e.body.local.port !== 0,
        `STATUS local ${addrText(e.body.local)}: the local port is known after connect (§5.9)`,
      );
      check(
        e.body.error === 0 && (e.body.flags & ConditionFlag.WRITABLE) !== 0,
        `CONNECTED with error ${e.body.error}, flags 0x${e.body.flags.toString(16)}: expected no error, WRITABLE (§6.4)`,
      );
    },
  },
  {
    id: 'net.refused',
    title: 'CONNECT to a closed port: STATUS DISCONNECTED, ECONNREFUSED, ERROR_PENDING; SEND then gets EPIPE',
    section: '§5.8.2 CONNECT, §6.6, §13',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.open('STREAM');
      const from = ctx.client.events.length;
      await ctx.ok('CONNECT', { id, timeoutMs: 5000, addr: ctx.addr(ctx.peers.refused) }, '§5.8.2 CONNECT');
      await failedConnect(
        ctx,
        id,
        from,
        'ECONNREFUSED',
        `CONNECT to the kit's closed port ${ctx.peers.refused.port}`,
      );
      const e = await ctx.entry(id);
      if (e)
        check(
          e.entry.lastError === StatusCode.ECONNREFUSED,
          `entry lastError ${statusName(e.entry.lastError)}, expected ECONNREFUSED (§6.1)`,
        );
      await expectEpipe(ctx, id, 'a refused connect');
    },
  },
  {
    id: 'net.reset',
    title:
      'a peer that resets the connection: STATUS DISCONNECTED, ECONNRESET, ERROR_PENDING; SEND then gets EPIPE',
    section: '§6.6, §13',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.connected(ctx.peers.rst);
      const from = ctx.client.events.length;
      await ctx.ok('SEND', { id, data: Buffer.from('trigger') }, '§5.8.2 SEND');
      await failedConnect(ctx, id, from, 'ECONNRESET', "the kit's peer reset the connection (RST)");
      await expectEpipe(ctx, id, 'a peer reset');
    },
  },
  {
    id: 'net.timeout',
    title: 'CONNECT to a host that never answers: STATUS DISCONNECTED, ETIMEDOUT, after timeoutMs',
    section: '§5.8.2 CONNECT, §13',
    requires: ['TCP'],
    async run(ctx) {
      const hole = await ctx.peers.blackhole();
      if (typeof hole === 'string') notApplicable(`no silent host can be made here: ${hole}`);
      const id = await ctx.open('STREAM');
      const from = ctx.client.events.length;
      const t0 = Date.now();
      const timeoutMs = 800;
      await ctx.ok('CONNECT', { id, timeoutMs, addr: ctx.addr(hole) }, '§5.8.2 CONNECT');
      await failedConnect(
        ctx,
        id,
        from,
        'ETIMEDOUT',
        `CONNECT with timeoutMs ${timeoutMs} to a port that drops SYNs`,
        timeoutMs + 5000,
      );
      const took = Date.now() - t0;
      check(
        took >= timeoutMs * 0.75,
        `the connect failed after ${took} ms, before its timeoutMs ${timeoutMs} (§5.8.2 CONNECT)`,
      );
      await expectEpipe(ctx, id, 'a connect timeout');
    },
  },
  {
    id: 'net.addr-in-use',
    title: 'binding a port the device already uses: EADDRINUSE (TCP listener, UDP socket)',
    section: '§5.8.2 BIND/LISTEN, §13',
    async run(ctx) {
      let checked = 0;
      if (ctx.has('TCP')) {
        const a = await ctx.open('STREAM');
        const la = await ctx.req('LISTEN', { id: a, backlog: 2 });
        ctx.expect(la, 'OK', 'LISTEN on an ephemeral port', '§5.8.2 LISTEN');
        const port = (la.answer as OkResponseMessage<'LISTEN'>).body.local.port;
        check(
          port !== 0,
          'LISTEN response local port is 0: the listening address is the one actually used (§5.8.2)',
        );
        const b = await ctx.open('STREAM');
        const bind = await ctx.req('BIND', { id: b, addr: ctx.anyAddr(port) });
        if (bind.answer.kind === 'response' && bind.answer.status === StatusCode.OK) {
          const lb = await ctx.req('LISTEN', { id: b, backlog: 2 });
          ctx.expect(
            lb,
            'EADDRINUSE',
            `LISTEN on port ${port}, where another socket listens`,
            '§5.8.2 LISTEN, §13',
          );
        } else
          ctx.expect(
            bind,
            'EADDRINUSE',
            `BIND to port ${port}, where another socket listens`,
            '§5.8.2 BIND, §13',
          );
        checked++;
      }
      if (ctx.has('UDP')) {
        const a = await ctx.open('DGRAM');
        const ba = await ctx.req('BIND', { id: a, addr: ctx.anyAddr() });
        ctx.expect(ba, 'OK', 'UDP BIND to an ephemeral port', '§5.8.2 BIND');
        const port = (ba.answer as OkResponseMessage<'BIND'>).body.local.port;
        check(
          port !== 0,
          'UDP BIND response local port is 0: BIND answers the address actually bound (§5.8.2)',
        );
        const b = await ctx.open('DGRAM');
        const bb = await ctx.req('BIND', { id: b, addr: ctx.anyAddr(port) });
        ctx.expect(bb, 'EADDRINUSE', `UDP BIND to port ${port}, bound by another socket`, '§5.8.2 BIND, §13');
        const e = await ctx.entry(b);
        if (e)
          check(
            e.entry.status === SocketStatus.UNCONNECTED,
            `a refused BIND left the socket ${socketStatusName(e.entry.status)} (§5.4: a failed command changes nothing)`,
          );
        checked++;
      }
      if (!checked) notApplicable('the device offers neither TCP nor UDP');
    },
  },
  {
    id: 'net.peer-close',
    title:
      'a clean peer close: DISCONNECTED, PEER_CLOSED, lastError 0; the socket can still send (half-open)',
    section: '§6.6, §5.8.2 SEND',
    requires: ['TCP'],
    async run(ctx) {
      const id = await ctx.connected(ctx.peers.closer, 0, true);
      await ctx.waitStatus(
        id,
        (e) =>
          e.body.status === SocketStatus.DISCONNECTED && (e.body.flags & ConditionFlag.PEER_CLOSED) !== 0,
        `${hexId(id)} DISCONNECTED with PEER_CLOSED`,
      );
      const e = await ctx.entry(id);
      if (e)
        check(
          e.entry.lastError === 0,
          `lastError ${statusName(e.entry.lastError)} after a clean peer close, expected 0 (§6.6)`,
        );
      const ex = await ctx.req('SEND', { id, data: Buffer.from('half-open') });
      ctx.expect(
        ex,
        'OK',
        "SEND after the peer's FIN (half-open)",
        '§5.8.2 SEND: in DISCONNECTED after a clean peer close SEND is allowed',
      );
    },
  },
  {
    id: 'net.accept',
    title:
      'LISTEN, a connection from the host, ACCEPT_PENDING, ACCEPT (CONNECTED socket), data both ways, E_WOULD_BLOCK when empty',
    section: '§5.8.2 LISTEN/ACCEPT, §6.4',
    requires: ['TCP'],
    async run(ctx) {
      const c = ctx.client;
      const l = await ctx.open('STREAM');
      const lr = await ctx.req('LISTEN', { id: l, backlog: 2 });
      ctx.expect(lr, 'OK', 'LISTEN', '§5.8.2 LISTEN');
      const local = (lr.answer as OkResponseMessage<'LISTEN'>).body.local;
      const empty = await ctx.req('ACCEPT', { id: l, recvCredit: 0 });
      ctx.expect(empty, 'E_WOULD_BLOCK', 'ACCEPT with an empty connection queue', '§5.8.2 ACCEPT');
      const from = c.events.length;
      const host = ctx.options.deviceHost;
      const sock = net.connect({ host, port: local.port });
      sock.on('error', () => undefined);
      const received: Buffer[] = [];
      sock.on('data', (d: Buffer) => received.push(d));
      try {
        await ctx
          .waitStatus(
            l,
            (e) => (e.body.flags & ConditionFlag.ACCEPT_PENDING) !== 0,
            `ACCEPT_PENDING on the listener after a connection from ${host}:${local.port} (§6.4)`,
            5000,
            from,
          )
          .catch((err: unknown) => {
            if (sock.connecting)
              notApplicable(
                `the kit cannot reach the device's listening port at ${host}:${local.port} (set deviceHost)`,
              );
            throw err;
          });
        const q = await ctx.entry(l);
        if (q)
          check(
            q.entry.connQueued === 1,
            `listener connQueued ${q.entry.connQueued} with one connection waiting (§6.1)`,
          );
        const acc = await ctx.req('ACCEPT', { id: l, recvCredit: 4096 });
        ctx.expect(acc, 'OK', 'ACCEPT with a connection waiting', '§5.8.2 ACCEPT');
        check(
          acc.raw.length === 52,
          `ACCEPT response is ${acc.raw.length} bytes, 52 expected (§5.8.2)`,
          ctx.detail(acc, '52 bytes'),
        );
        const a = (acc.answer as OkResponseMessage<'ACCEPT'>).body;
        check(a.newId !== l && a.newId !== 0, `ACCEPT returned id ${hexId(a.newId)} (§5.8.2)`);
        check(a.sendCredit > 0, `ACCEPT sendCredit ${a.sendCredit} (§7: the initial send credit)`);
        check(
          a.local.port === local.port,
          `ACCEPT local ${addrText(a.local)}: expected the listening port ${local.port} (§5.8.2)`,
        );
        check(
          a.remote.port === sock.localPort,
          `ACCEPT remote ${addrText(a.remote)}: the kit connected from port ${sock.localPort} (§5.8.2)`,
        );
        await ctx.waitStatus(
          l,
          (e) => (e.body.flags & ConditionFlag.ACCEPT_PENDING) === 0,
          'ACCEPT_PENDING cleared when the queue empties (§5.8.2 ACCEPT)',
          3000,
          from,
        );
        const e = await ctx.entry(a.newId);
        if (e)
          check(
            e.entry.status === SocketStatus.CONNECTED,
            `the accepted socket is ${socketStatusName(e.entry.status)}, expected CONNECTED (§5.8.2 ACCEPT)`,
          );
        await ctx.ok('SEND', { id: a.newId, data: Buffer.from('from-device') }, '§5.8.2 SEND');
        sock.write('from-host');
        const got = () => Buffer.concat(c.book(a.newId).data).length + Buffer.concat(received).length;
        await c.progress(got, 'from-host'.length + 'from-device'.length, 1000);
        const devGot = Buffer.concat(c.book(a.newId).data).toString();
        const hostGot = Buffer.concat(received).toString();
        if (devGot !== 'from-host' || hostGot !== 'from-device') {
          fail(
            `data through the accepted socket: the device delivered '${devGot}' (expected 'from-host'), the host received '${hostGot}' (expected 'from-device') (§5.9 DATA, §7)`,
          );
        }
        const again = await ctx.req('ACCEPT', { id: l, recvCredit: 0 });
        ctx.expect(again, 'E_WOULD_BLOCK', 'ACCEPT after the queue emptied', '§5.8.2 ACCEPT');
      } finally {
        sock.destroy();
      }
    },
  },
];
