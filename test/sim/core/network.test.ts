import { describe, expect, it } from 'vitest';
import { ConditionFlag, SocketStatus, StatusCode } from '../../../src/protocol/index.js';
import { addr, connectTcp, makeRig, mirrorMismatches, openTcp, openUdp } from './harness.js';

const ECHO = '10.0.0.99:7';

describe('TCP client', () => {
  it('connects, exchanges data with an echo peer and closes gracefully', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.echoServer(ECHO);
    const id = openTcp(host);
    expect(host.ok('CONNECT', { id, timeoutMs: 0, addr: addr(ECHO) })).toEqual({});
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.CONNECTING);
    net.runUntil(() => host.mirror.get(id)?.status === SocketStatus.CONNECTED);
    expect(host.mirror.get(id)).toMatchObject({
      local: { family: 4, address: '10.0.0.1' },
      remote: addr(ECHO),
      lastError: 0,
    });
    expect(host.ok('SEND', { id, data: Buffer.from('hello, device') })).toEqual({ accepted: 13 });
    net.advance(20);
    expect(host.dataFor(id).toString()).toBe('hello, device');
    expect(host.creditFor(id)).toBe(13);
    expect(mirrorMismatches(host)).toEqual([]);
    host.ok('CLOSE', { id, abort: 0 });
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      id,
      status: SocketStatus.TERMINATED,
      error: 0,
    });
    expect(rig.backend.actionCounts.close).toBe(1);
    expect(host.violations).toEqual([]);
  });

  it('reports a refused connect as DISCONNECTED with ECONNREFUSED and ERROR_PENDING, cleared by UPDATE', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.refusing('10.0.0.50:80');
    const id = connectTcp(rig, '10.0.0.50:80');
    const m = host.mirror.get(id)!;
    expect(m.status).toBe(SocketStatus.DISCONNECTED);
    expect(m.lastError).toBe(StatusCode.ECONNREFUSED);
    expect(m.flags & ConditionFlag.ERROR_PENDING).toBeTruthy();
    // After a failed connect, SEND is EPIPE (PROTOCOL.md: SEND note) and nothing changes.
    expect(host.call('SEND', { id, data: Buffer.from('x') })).toMatchObject({
      status: StatusCode.EPIPE,
      body: { accepted: 0 },
    });
    const u = host.ok('UPDATE', { id, status: 0xff, setFlags: 0, clearFlags: ConditionFlag.ERROR_PENDING });
    expect(u.flags & ConditionFlag.ERROR_PENDING).toBe(0);
    expect(host.query(id).lastError).toBe(StatusCode.ECONNREFUSED);
    expect(host.mirror.get(id)!.flags & ConditionFlag.ERROR_PENDING).toBe(0);
    expect(mirrorMismatches(host)).toEqual([]);
  });

  it('times out a connect that is never answered (CONNECT timeoutMs)', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.blackhole('10.0.0.60:80');
    const id = openTcp(host);
    host.ok('CONNECT', { id, timeoutMs: 500, addr: addr('10.0.0.60:80') });
    net.advance(400);
    expect(host.query(id).status).toBe(SocketStatus.CONNECTING);
    net.advance(200);
    expect(host.mirror.get(id)).toMatchObject({
      status: SocketStatus.DISCONNECTED,
      lastError: StatusCode.ETIMEDOUT,
    });
  });

  it('validates CONNECT addresses', () => {
    const { host } = makeRig();
    const id = openTcp(host);
    expect(host.code('CONNECT', { id, timeoutMs: 0, addr: { family: 0, port: 0, address: '' } })).toBe(
      'E_INVALID',
    );
    expect(host.code('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.2:0') })).toBe('E_INVALID');
    expect(
      host.code('CONNECT', { id, timeoutMs: 0, addr: { family: 6, port: 80, address: 'fd00::5' } }),
    ).toBe('EAFNOSUPPORT');
    expect(host.query(id).status).toBe(SocketStatus.UNCONNECTED);
  });

  it('keeps received data deliverable after the peer resets the connection', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.resetAfter('10.0.0.70:7', 300);
    const id = connectTcp(rig, '10.0.0.70:7', 0);
    host.ok('SEND', { id, data: Buffer.alloc(200, 0x41) });
    net.advance(20);
    host.ok('SEND', { id, data: Buffer.alloc(200, 0x42) });
    net.advance(20);
    const e = host.query(id);
    expect(e.status).toBe(SocketStatus.DISCONNECTED);
    expect(e.lastError).toBe(StatusCode.ECONNRESET);
    expect(e.recvQueued).toBe(200); // the echo of the first 200 bytes waits for credit
    expect(host.call('SEND', { id, data: Buffer.from('x') }).status).toBe(StatusCode.EPIPE);
    host.ok('RECV_CREDIT', { id, bytes: 1000 });
    expect(host.dataFor(id)).toEqual(Buffer.alloc(200, 0x41));
    net.advance(20);
    expect(host.mirror.get(id)).toMatchObject({
      status: SocketStatus.DISCONNECTED,
      lastError: StatusCode.ECONNRESET,
    });
    expect(host.mirror.get(id)!.flags & ConditionFlag.READABLE).toBe(0);
    expect(mirrorMismatches(host)).toEqual([]);
  });

  it('aborting CLOSE sends RST; the peer sees the reset', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const stats = net.slowReader('10.0.0.71:7', 0);
    const id = connectTcp(rig, '10.0.0.71:7');
    host.ok('SEND', { id, data: Buffer.alloc(10_000, 1) });
    net.advance(10);
    host.ok('CLOSE', { id, abort: 1 });
    net.advance(10);
    expect(stats.resets).toBe(1);
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      status: SocketStatus.TERMINATED,
      error: StatusCode.ECONNABORTED,
    });
  });

  it('graceful CLOSE drains the send queue first, and LINGER bounds the wait', () => {
    const rig = makeRig({ net: { windowBytes: 4096 } });
    const { host, net } = rig;
    const slow = net.slowReader('10.0.0.72:7', 100);
    const id = connectTcp(rig, '10.0.0.72:7');
    host.ok('SEND', { id, data: Buffer.alloc(10_000, 7) });
    net.advance(5);
    host.ok('CLOSE', { id, abort: 0 });
    // Closing: still in the table, SEND is EPIPE, a second graceful CLOSE changes nothing.
    expect(host.query(id).sendQueued).toBeGreaterThan(0);
    expect(host.call('SEND', { id, data: Buffer.from('x') }).status).toBe(StatusCode.EPIPE);
    expect(host.code('CLOSE', { id, abort: 0 })).toBe('OK');
    net.runUntil(() => host.code('QUERY', { id }) === 'E_UNKNOWN_SOCKET', 10_000);
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      id,
      status: SocketStatus.TERMINATED,
      error: 0,
    });
    net.advance(200);
    expect(slow.bytesReceived).toBe(10_000);
    expect(slow.ends).toBe(1);

    // LINGER 1 s with a peer that never reads: the close becomes an abort after 1 s.
    const stuck = net.slowReader('10.0.0.73:7', 0);
    const id2 = connectTcp(rig, '10.0.0.73:7');
    host.ok('SETOPT', { id: id2, option: 7, value: 1 });
    host.ok('SEND', { id: id2, data: Buffer.alloc(10_000, 7) });
    net.advance(5);
    host.ok('CLOSE', { id: id2, abort: 0 });
    net.advance(900);
    expect(host.query(id2).id).toBe(id2);
    net.advance(200);
    expect(host.code('QUERY', { id: id2 })).toBe('E_UNKNOWN_SOCKET');
    expect(host.eventsNamed('STATUS').at(-1)?.body).toMatchObject({
      id: id2,
      error: StatusCode.ECONNABORTED,
    });
    net.advance(10);
    expect(stuck.resets).toBe(1);
    expect(host.violations).toEqual([]);
  });

  it('SHUTDOWN WRITE sends FIN after the queue; the peer FIN then sets PEER_CLOSED', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const echo = net.echoServer(ECHO);
    const id = connectTcp(rig, ECHO);
    host.ok('SEND', { id, data: Buffer.from('last words') });
    host.ok('SHUTDOWN', { id, how: 2 });
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.SHUTDOWN);
    expect(host.call('SEND', { id, data: Buffer.from('x') }).status).toBe(StatusCode.EPIPE);
    net.advance(20);
    expect(echo.ends).toBe(1);
    expect(host.dataFor(id).toString()).toBe('last words');
    const m = host.mirror.get(id)!;
    expect(m.status).toBe(SocketStatus.SHUTDOWN);
    expect(m.flags & (ConditionFlag.PEER_CLOSED | ConditionFlag.WRITE_SHUT)).toBe(
      ConditionFlag.PEER_CLOSED | ConditionFlag.WRITE_SHUT,
    );
    expect(m.flags & ConditionFlag.READABLE).toBe(0);
    expect(host.code('SHUTDOWN', { id, how: 1 })).toBe('OK');
    expect(host.code('SHUTDOWN', { id, how: 4 })).toBe('E_INVALID');
    expect(mirrorMismatches(host)).toEqual([]);
  });

  it('SHUTDOWN READ discards queued and later data and leaves the status', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.echoServer(ECHO);
    const id = connectTcp(rig, ECHO, 0);
    host.ok('SEND', { id, data: Buffer.from('abc') });
    net.advance(20);
    expect(host.query(id).recvQueued).toBe(3);
    host.ok('SHUTDOWN', { id, how: 1 });
    const e = host.query(id);
    expect(e.status).toBe(SocketStatus.CONNECTED);
    expect(e.recvQueued).toBe(0);
    expect(e.flags & ConditionFlag.READ_SHUT).toBeTruthy();
    host.ok('RECV_CREDIT', { id, bytes: 100 });
    host.ok('SEND', { id, data: Buffer.from('def') });
    net.advance(20);
    expect(host.eventsNamed('DATA')).toEqual([]);
    expect(rig.core.counters.dataDiscarded).toBe(6);
  });
});

describe('TCP server', () => {
  it('queues incoming connections up to the backlog, ACCEPT takes them in order', () => {
    const rig = makeRig({ backlogMax: 3 });
    const { host, net } = rig;
    const l = openTcp(host);
    host.ok('BIND', { id: l, addr: addr('0.0.0.0:8080') });
    // Backlog above the device limit is clamped.
    const local = host.ok('LISTEN', { id: l, backlog: 10 }).local;
    expect(local).toEqual(addr('0.0.0.0:8080'));
    expect(host.query(l)).toMatchObject({ status: SocketStatus.LISTENING, backlog: 3 });
    expect(host.code('ACCEPT', { id: l, recvCredit: 0 })).toBe('E_WOULD_BLOCK');
    const clients = [1, 2, 3, 4].map((i) => net.connect('10.0.0.1:8080', { from: `10.0.1.${i}:4000` }));
    net.advance(20);
    expect(host.mirror.get(l)!.flags & ConditionFlag.ACCEPT_PENDING).toBeTruthy();
    expect(host.query(l).connQueued).toBe(3);
    // The fourth was refused (reset) by the device.
    expect(clients[3]!.error).toBe('ECONNRESET');
    clients[0]!.write('from one');
    net.advance(10);
    const a = host.ok('ACCEPT', { id: l, recvCredit: 65536 });
    expect(a.remote).toEqual(addr('10.0.1.1:4000'));
    expect(a.local).toEqual(addr('10.0.0.1:8080'));
    expect(a.sendCredit).toBe(65536);
    // Data that arrived before ACCEPT is delivered after the response.
    expect(host.dataFor(a.newId).toString()).toBe('from one');
    const b = host.ok('ACCEPT', { id: l, recvCredit: 65536 });
    expect(b.remote).toEqual(addr('10.0.1.2:4000'));
    host.ok('SEND', { id: b.newId, data: Buffer.from('to two') });
    net.advance(10);
    expect(clients[1]!.received().toString()).toBe('to two');
    host.ok('ACCEPT', { id: l, recvCredit: 0 });
    net.advance(10);
    expect(host.mirror.get(l)!.flags & ConditionFlag.ACCEPT_PENDING).toBe(0);
    // Peer close: PEER_CLOSED and DISCONNECTED, half-open SEND still allowed.
    clients[0]!.finish();
    net.advance(10);
    expect(host.mirror.get(a.newId)).toMatchObject({ status: SocketStatus.DISCONNECTED, lastError: 0 });
    expect(host.ok('SEND', { id: a.newId, data: Buffer.from('bye') })).toEqual({ accepted: 3 });
    net.advance(10);
    expect(clients[0]!.received().toString()).toBe('bye');
    expect(mirrorMismatches(host)).toEqual([]);
    expect(host.violations).toEqual([]);
  });

  it('ACCEPT with no free slot answers E_NO_SLOT and keeps the connection queued', () => {
    const rig = makeRig({ slots: 1 });
    const { host, net } = rig;
    const l = openTcp(host);
    const local = host.ok('LISTEN', { id: l, backlog: 2 }).local;
    net.connect(`10.0.0.1:${local.port}`);
    net.advance(10);
    expect(host.code('ACCEPT', { id: l, recvCredit: 0 })).toBe('E_NO_SLOT');
    expect(host.query(l).connQueued).toBe(1);
  });

  it('LISTEN on a port in use fails with the network error and leaves the socket as it was', () => {
    const { host } = makeRig();
    const a = openTcp(host);
    host.ok('BIND', { id: a, addr: addr('0.0.0.0:9000') });
    host.ok('LISTEN', { id: a, backlog: 1 });
    const b = openTcp(host);
    host.ok('SETOPT', { id: b, option: 1, value: 1 }); // REUSEADDR lets BIND through, LISTEN still fails
    host.ok('BIND', { id: b, addr: addr('0.0.0.0:9000') });
    expect(host.code('LISTEN', { id: b, backlog: 1 })).toBe('EADDRINUSE');
    expect(host.query(b).status).toBe(SocketStatus.BOUND);
    const c = openTcp(host);
    expect(host.code('BIND', { id: c, addr: addr('0.0.0.0:9000') })).toBe('EADDRINUSE');
    expect(host.code('BIND', { id: c, addr: addr('10.9.9.9:9001') })).toBe('OK');
    expect(host.code('LISTEN', { id: c, backlog: 1 })).toBe('EADDRNOTAVAIL');
  });

  it('commands behind a pending LISTEN wait for it and run in order', () => {
    const { host, net, core } = makeRig();
    const l = openTcp(host);
    const t1 = host.send('LISTEN', { id: l, backlog: 2 });
    const t2 = host.send('QUERY', { id: l });
    const t3 = host.send('CLOSE', { id: l, abort: 0 });
    expect(host.replies.has(t1) || host.replies.has(t2) || host.replies.has(t3)).toBe(false);
    net.advance(5);
    expect([t1, t2, t3].map((t) => host.replies.get(t)?.status)).toEqual([0, 0, 0]);
    expect((host.replies.get(t2)!.body as { entry: { status: number } }).entry.status).toBe(
      SocketStatus.LISTENING,
    );
    expect(core.table()).toEqual([]);
    expect(core.counters.deferredCommands).toBe(2);
  });
});

describe('UDP', () => {
  it('SENDTO binds implicitly, datagrams come back with their source', () => {
    const rig = makeRig();
    const { host, net } = rig;
    net.echoServer(ECHO);
    const id = openUdp(host);
    const r = host.call('SENDTO', { id, addr: addr(ECHO), data: Buffer.from('ping') });
    expect(r).toMatchObject({ status: 0, body: { accepted: 4 } });
    expect(host.query(id).status).toBe(SocketStatus.BOUND);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.BOUND);
    net.advance(10);
    const d = host.eventsNamed('DATAGRAM');
    expect(d).toHaveLength(1);
    expect(d[0]!.body).toMatchObject({ id, from: addr(ECHO) });
    expect(Buffer.from(d[0]!.body.data).toString()).toBe('ping');
    expect(host.creditFor(id)).toBe(4);
    // Zero-length datagrams are datagrams.
    expect(host.ok('SENDTO', { id, addr: addr(ECHO), data: Buffer.alloc(0) })).toEqual({ accepted: 0 });
    net.advance(10);
    expect(host.eventsNamed('DATAGRAM')).toHaveLength(2);
    // Broadcast needs BROADCAST.
    expect(
      host.call('SENDTO', { id, addr: addr('255.255.255.255:9'), data: Buffer.from('x') }),
    ).toMatchObject({
      status: StatusCode.EACCES,
      body: { accepted: 0 },
    });
    host.ok('SETOPT', { id, option: 4, value: 1 });
    expect(host.code('SENDTO', { id, addr: addr('255.255.255.255:9'), data: Buffer.from('x') })).toBe('OK');
    expect(host.violations).toEqual([]);
  });

  it('BIND, CONNECT and SEND to the default peer; datagrams wait for credit and are never split', () => {
    const rig = makeRig();
    const { host, net } = rig;
    const peer = net.udpPeer('10.0.0.80:5353');
    const id = openUdp(host, 0);
    const local = host.ok('BIND', { id, addr: addr('0.0.0.0:5353') }).local;
    expect(local.port).toBe(5353);
    expect(host.code('SEND', { id, data: Buffer.from('x') })).toBe('ENOTCONN');
    host.ok('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.80:5353') });
    expect(host.query(id).status).toBe(SocketStatus.CONNECTED);
    host.ok('SEND', { id, data: Buffer.from('query') });
    net.advance(10);
    expect(peer.datagrams.map((d) => d.data.toString())).toEqual(['query']);
    expect(peer.datagrams[0]!.from).toEqual(addr('10.0.0.1:5353'));
    peer.send('10.0.0.1:5353', Buffer.alloc(300, 1));
    peer.send('10.0.0.1:5353', Buffer.alloc(100, 2));
    net.advance(10);
    expect(host.query(id)).toMatchObject({ recvQueued: 400, flags: expect.any(Number) });
    host.ok('RECV_CREDIT', { id, bytes: 299 });
    expect(host.eventsNamed('DATAGRAM')).toHaveLength(0);
    host.ok('RECV_CREDIT', { id, bytes: 1 });
    expect(host.eventsNamed('DATAGRAM').map((d) => d.body.data.length)).toEqual([300]);
    host.ok('RECV_CREDIT', { id, bytes: 100 });
    expect(host.eventsNamed('DATAGRAM').map((d) => d.body.data.length)).toEqual([300, 100]);
    // Another UDP socket on the same port is EADDRINUSE (network error, status unchanged).
    const other = openUdp(host);
    expect(host.code('BIND', { id: other, addr: addr('0.0.0.0:5353') })).toBe('EADDRINUSE');
    expect(host.query(other).status).toBe(SocketStatus.UNCONNECTED);
  });

  it('drops datagrams at the network side when the receive queue is full, counted; never in the queue', () => {
    const rig = makeRig({ recvQueueSize: 1000 });
    const { host, net, core } = rig;
    const peer = net.udpPeer('10.0.0.81:1');
    const id = openUdp(host, 0);
    const port = host.ok('BIND', { id, addr: addr('0.0.0.0:0') }).local.port;
    for (let i = 0; i < 5; i++) peer.send(`10.0.0.1:${port}`, Buffer.alloc(300, i));
    net.advance(10);
    expect(host.query(id).recvQueued).toBe(900);
    expect(core.counters.datagramsDropped).toBe(2);
    host.ok('RECV_CREDIT', { id, bytes: 10_000 });
    expect(host.eventsNamed('DATAGRAM').map((d) => d.body.data[0])).toEqual([0, 1, 2]);
  });

  it('a datagram too large for one DATAGRAM message is discarded with ERROR EMSGSIZE', () => {
    const rig = makeRig({ maxPayload: 512 });
    const { host, net } = rig;
    const peer = net.udpPeer('10.0.0.82:1');
    const id = openUdp(host, 10_000);
    const port = host.ok('BIND', { id, addr: addr('0.0.0.0:0') }).local.port;
    peer.send(`10.0.0.1:${port}`, Buffer.alloc(512 - 34 + 1));
    peer.send(`10.0.0.1:${port}`, Buffer.alloc(512 - 34));
    net.advance(10);
    expect(host.eventsNamed('ERROR').map((e) => e.body)).toEqual([{ id, code: StatusCode.EMSGSIZE }]);
    expect(host.eventsNamed('DATAGRAM').map((d) => d.body.data.length)).toEqual([478]);
    expect(host.violations).toEqual([]);
  });

  it('UDP loss in the virtual network is seeded and repeatable', () => {
    const run = (seed: number) => {
      const rig = makeRig({ net: { seed, udpLoss: 0.3 } });
      const sink = rig.net.sink('10.0.0.83:9');
      const id = openUdp(rig.host);
      for (let i = 0; i < 100; i++)
        rig.host.ok('SENDTO', { id, addr: addr('10.0.0.83:9'), data: Buffer.from([i]) });
      rig.net.advance(10);
      return sink.received().toString('hex');
    };
    const a = run(42);
    expect(run(42)).toBe(a);
    expect(run(43)).not.toBe(a);
    expect(a.length / 2).toBeGreaterThan(50);
    expect(a.length / 2).toBeLessThan(90);
  });
});
