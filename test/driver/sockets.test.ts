/**
 * The driver end to end, over the three paths (in-process sim, standalone sim over TCP, standalone sim on a
 * pty pair through serial://): Node's http client and server unchanged on offloaded sockets, UDP, the error
 * codes, many sockets at once, unconnected sockets connected later, and the mirror against the device.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, OffloadError, OffloadSocket, SocketStatus } from '../../src/index.js';
import { startBlackhole } from './blackhole.js';
import {
  collect,
  type DevicePath,
  nativeServer,
  PATHS,
  pattern,
  quietDiff,
  sha256,
  sleep,
  startPath,
  until,
  waitFor,
} from './paths.js';

function httpGet(
  options: http.RequestOptions,
  body?: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      collect(res).then((b) => resolve({ status: res.statusCode!, headers: res.headers, body: b }), reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('http request timed out')));
    req.end(body);
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe.each(PATHS)('driver over %s', (pathName) => {
  let path: DevicePath;
  let dev: OffloadDevice;

  beforeAll(async () => {
    path = await startPath(pathName, { slots: 255 });
    dev = await path.open();
  }, 60_000);

  afterAll(async () => {
    await dev?.close();
    await path?.close();
  }, 30_000);

  it('handshakes: info, ping, registers by name and offset, an empty mirror equal to the snapshot', async () => {
    expect(dev.info.protocolVersion.major).toBe(1);
    expect(dev.info.slots).toBe(255);
    expect(dev.info.capabilityNames).toContain('TCP');
    expect(dev.info.maxPayload).toBeGreaterThanOrEqual(256);
    expect(dev.info.link.arq).toBe(pathName === 'pty');
    expect(await dev.ping(Buffer.from('abc'))).toBeGreaterThanOrEqual(0);
    expect(await dev.readRegister('MAGIC')).toBe(0x4f464c44);
    expect(await dev.readRegister(0x10)).toBe(dev.info.epoch);
    await dev.writeRegister('SCRATCH', 0x12345678);
    expect(await dev.readRegister('scratch')).toBe(0x12345678);
    await expect(dev.writeRegister('MAGIC', 1)).rejects.toMatchObject({
      code: 'E_OFFLOAD_NOT_PERMITTED',
      errno: 'EPERM',
    });
    await expect(dev.readRegister('NO_SUCH')).rejects.toMatchObject({ code: 'E_OFFLOAD_BAD_REGISTER' });
    expect(await quietDiff(dev)).toBe('');
  });

  it("Node's http client through an http.Agent whose createConnection returns an OffloadSocket", async () => {
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.setHeader('x-path', req.url ?? '');
        res.end(`${req.method} ${req.url} ${body.length} ${sha256(body)}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const offloaded: OffloadSocket[] = [];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    (agent as unknown as { createConnection: unknown }).createConnection = (
      o: net.NetConnectOpts,
      cb?: () => void,
    ) => {
      const s = dev.createConnection({
        host: (o as net.TcpNetConnectOpts).host ?? '127.0.0.1',
        port: Number((o as net.TcpNetConnectOpts).port),
      });
      offloaded.push(s);
      if (cb) s.once('connect', () => cb());
      return s;
    };
    try {
      const r1 = await httpGet({ agent, host: '127.0.0.1', port, path: '/one' });
      expect(r1.status).toBe(200);
      expect(r1.headers['x-path']).toBe('/one');
      expect(r1.body.toString()).toBe(`GET /one 0 ${sha256(Buffer.alloc(0))}`);
      const big = pattern(300_000, 7);
      const rs = await Promise.all([
        httpGet({ agent, host: '127.0.0.1', port, path: '/post', method: 'POST' }, big),
        httpGet({ agent, host: '127.0.0.1', port, path: '/two' }),
        httpGet({ agent, host: '127.0.0.1', port, path: '/three' }),
      ]);
      expect(rs[0]!.body.toString()).toBe(`POST /post ${big.length} ${sha256(big)}`);
      expect(rs[1]!.body.toString()).toContain('GET /two 0');
      expect(rs[2]!.body.toString()).toContain('GET /three 0');
      // Every connection ran on the device, and keep-alive reused them (maxSockets 2 for 4 requests).
      expect(offloaded.length).toBeGreaterThanOrEqual(1);
      expect(offloaded.length).toBeLessThanOrEqual(2);
      for (const s of offloaded) {
        expect(s).toBeInstanceOf(OffloadSocket);
        expect(s.remotePort).toBe(port);
        expect(s.bytesWritten).toBeGreaterThan(0);
      }
    } finally {
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await until(() => offloaded.every((s) => s.destroyed), 5000, 'agent sockets closed');
    expect(await quietDiff(dev)).toBe('');
  });

  it('an http.Server fed with OffloadServer connections answers a real http client', async () => {
    const httpServer = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => res.end(`${req.method} ${req.url} ${sha256(Buffer.concat(parts))}`));
    });
    const remotes: (string | undefined)[] = [];
    const osrv = dev.createServer((sock) => {
      remotes.push(sock.remoteAddress);
      httpServer.emit('connection', sock);
    });
    osrv.listen(0, '127.0.0.1');
    await waitFor(osrv, 'listening');
    const addr = osrv.address()!;
    expect(addr.address).toBe('127.0.0.1');
    expect(addr.port).toBeGreaterThan(0);
    const body = pattern(200_000, 3);
    const nativeAgent = new http.Agent({ keepAlive: false });
    const [a, b] = await Promise.all([
      httpGet({ host: '127.0.0.1', port: addr.port, path: '/hello', agent: nativeAgent }),
      httpGet(
        { host: '127.0.0.1', port: addr.port, path: '/upload', method: 'PUT', agent: nativeAgent },
        body,
      ),
    ]);
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe(`GET /hello ${sha256(Buffer.alloc(0))}`);
    expect(b.body.toString()).toBe(`PUT /upload ${sha256(body)}`);
    expect(remotes).toEqual(['127.0.0.1', '127.0.0.1']);
    // The listener is in the mirror with the device's clamped backlog.
    const entry = dev.sockets.get(osrv.socketId!)!;
    expect(entry.status).toBe(SocketStatus.LISTENING);
    expect(entry.backlog).toBeGreaterThan(0);
    nativeAgent.destroy();
    httpServer.closeAllConnections();
    await new Promise<void>((r) => osrv.close(() => r()));
    expect(dev.sockets.has(entry.id)).toBe(false);
    expect(await quietDiff(dev)).toBe('');
  });

  it('UDP echo both ways: an offloaded client against dgram, and an offloaded echo server for a dgram client', async () => {
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const echoPort = echo.address().port;

    const u = dev.createSocket('udp4');
    u.bind(0, '127.0.0.1');
    await waitFor(u, 'listening');
    expect(u.address().port).toBeGreaterThan(0);
    const got: string[] = [];
    u.on('message', (m, rinfo) => {
      expect(rinfo.port).toBe(echoPort);
      expect(rinfo.family).toBe('IPv4');
      got.push(m.toString());
    });
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      sent.push(`datagram ${i}`);
      await new Promise<void>((resolve, reject) =>
        u.send(`datagram ${i}`, echoPort, '127.0.0.1', (err, n) => {
          if (err) return reject(err);
          expect(n).toBe(`datagram ${i}`.length);
          resolve();
        }),
      );
    }
    await until(() => got.length === 50, 10_000, 'udp echoes');
    expect(got.sort()).toEqual(sent.sort());

    // Connected UDP: send() without an address.
    const c = dev.createSocket('udp4');
    c.connect(echoPort, '127.0.0.1');
    await waitFor(c, 'connect');
    const back = waitFor<Buffer>(c, 'message');
    c.send('connected hello');
    expect((await back).toString()).toBe('connected hello');
    expect(c.remoteAddress().port).toBe(echoPort);

    // An offloaded UDP echo server for a native client.
    const srv = dev.createSocket('udp4', (m, r) => srv.send(m, r.port, r.address));
    srv.bind(0, '127.0.0.1');
    await waitFor(srv, 'listening');
    const client = dgram.createSocket('udp4');
    const reply = new Promise<Buffer>((r) => client.once('message', r));
    client.send('ping over the device', srv.address().port, '127.0.0.1');
    expect((await reply).toString()).toBe('ping over the device');

    for (const s of [u, c, srv]) await new Promise<void>((r) => s.close(() => r()));
    client.close();
    echo.close();
    expect(await quietDiff(dev)).toBe('');
  });

  it('connection refused: ECONNREFUSED with syscall, address and port', async () => {
    const port = await freePort();
    const s = dev.createConnection({ host: '127.0.0.1', port });
    const err = await waitFor<OffloadError & { syscall: string; address: string; port: number }>(s, 'error');
    expect(err).toBeInstanceOf(OffloadError);
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe('127.0.0.1');
    expect(err.port).toBe(port);
    expect(err.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    await until(
      () => s.destroyed && s.socketId !== undefined && !dev.sockets.has(s.socketId),
      5000,
      'refused socket gone',
    );
  });

  it('peer reset: every byte received before the RST is readable, then ECONNRESET', async () => {
    const data = pattern(48 * 1024, 11);
    const peer = await nativeServer((s) => {
      s.write(data);
      setTimeout(() => s.resetAndDestroy(), 300);
    });
    try {
      // A small receive window: most of the data waits on the device when the reset arrives.
      const s = dev.createConnection({ host: '127.0.0.1', port: peer.port, recvWindow: 8 * 1024 });
      s.pause();
      await waitFor(s, 'connect');
      await until(
        () => s.mirrorEntry === undefined || s.mirrorEntry.lastError !== 0,
        10_000,
        'reset reported by the device',
      );
      const parts: Buffer[] = [];
      const errored = new Promise<OffloadError>((resolve) => s.on('error', resolve));
      let ended = false;
      s.on('end', () => {
        ended = true;
      });
      s.on('data', (d: Buffer) => parts.push(d));
      s.resume();
      const err = await errored;
      expect(err.code).toBe('ECONNRESET');
      expect(ended).toBe(false);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect(s.bytesRead).toBe(data.length);
    } finally {
      await peer.close();
    }
  });

  it("a local abort on the device (CLOSE abort behind the socket's back): ECONNABORTED, distinct from a peer reset", async () => {
    const peer = await nativeServer(() => undefined);
    try {
      const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
      await waitFor(s, 'connect');
      const err = waitFor<OffloadError>(s, 'error');
      // Another part of the host (a diagnostics tool, an admin) aborts the device socket.
      await dev.device.request('CLOSE', { id: s.socketId!, abort: 1 });
      expect((await err).code).toBe('ECONNABORTED');
      expect(dev.sockets.has(s.socketId!)).toBe(false);
    } finally {
      await peer.close();
    }
  });

  it('connect timeout against a loopback blackhole: ETIMEDOUT from the device, not a hang', async () => {
    const bh = await startBlackhole();
    try {
      const s = dev.createConnection({ host: '127.0.0.1', port: bh.port, connectTimeout: 400 });
      const t0 = Date.now();
      const err = await waitFor<OffloadError>(s, 'error', 10_000);
      expect(err.code).toBe('ETIMEDOUT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
      expect(s.connecting).toBe(false);
    } finally {
      await bh.close();
    }
  });

  it('listen on a port in use: EADDRINUSE on the server', async () => {
    const taken = await nativeServer(() => undefined);
    try {
      const srv = dev.createServer();
      srv.listen(taken.port, '127.0.0.1');
      const err = await waitFor<OffloadError & { syscall: string }>(srv, 'error');
      expect(err.code).toBe('EADDRINUSE');
      expect(err.syscall).toBe('listen');
      expect(srv.listening).toBe(false);
    } finally {
      await taken.close();
    }
    expect(await quietDiff(dev)).toBe('');
  });

  it('an unconnected socket (new OffloadSocket / createSocketObject) connected later, half-close with allowHalfOpen', async () => {
    const peer = await nativeServer((s) => {
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        // The client half-closed; answer after its FIN, then close.
        s.end(`got ${Buffer.concat(parts).toString()}`);
      });
    });
    try {
      const s = new OffloadSocket({ device: dev, allowHalfOpen: true });
      expect(s.pending).toBe(true);
      expect(s.readyState).toBe('closed');
      expect(s.socketId).toBeUndefined();
      await sleep(20);
      const connected = new Promise<void>((r) => s.connect(peer.port, '127.0.0.1', r));
      expect(s.connecting).toBe(true);
      expect(s.readyState).toBe('opening');
      await connected;
      expect(s.pending).toBe(false);
      expect(s.readyState).toBe('open');
      expect(s.remoteAddress).toBe('127.0.0.1');
      expect(s.remotePort).toBe(peer.port);
      expect(s.remoteFamily).toBe('IPv4');
      expect(s.localAddress).toBe('127.0.0.1');
      expect(s.localPort).toBeGreaterThan(0);
      expect(s.address()).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
      expect(s.setNoDelay(true)).toBe(s);
      expect(s.setKeepAlive(true, 1000)).toBe(s);
      expect(s.ref().unref()).toBe(s);
      const reply = collect(s);
      const closed = waitFor(s, 'close');
      s.end('half-close');
      expect((await reply).toString()).toBe('got half-close');
      await closed;
      const s2 = dev.createSocketObject();
      await new Promise<void>((r) => s2.connect({ port: peer.port, host: 'localhost', family: 4 }, r));
      expect(s2.remoteAddress).toBe('127.0.0.1');
      s2.destroy();
    } finally {
      await peer.close();
    }
  });

  it('idle timeout: setTimeout emits timeout without closing the socket', async () => {
    const peer = await nativeServer(() => undefined);
    try {
      const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
      await waitFor(s, 'connect');
      const t0 = Date.now();
      await new Promise<void>((r) => s.setTimeout(150, r));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      expect(s.destroyed).toBe(false);
      s.destroy();
    } finally {
      await peer.close();
    }
  });

  it('at least 200 concurrent sockets, each echoing its own data; the mirror holds all of them', async () => {
    const N = 200;
    const echo = await nativeServer((s) => s.pipe(s));
    try {
      const socks: OffloadSocket[] = [];
      const replies: Promise<Buffer>[] = [];
      for (let i = 0; i < N; i++) {
        const s = dev.createConnection({ host: '127.0.0.1', port: echo.port, allowHalfOpen: true });
        socks.push(s);
        replies.push(collect(s));
      }
      await Promise.all(socks.map((s) => (s.connecting ? waitFor(s, 'connect', 30_000) : Promise.resolve())));
      expect(dev.sockets.size).toBeGreaterThanOrEqual(N);
      expect(new Set(socks.map((s) => s.socketId)).size).toBe(N);
      expect(await quietDiff(dev)).toBe('');
      const msgs = socks.map((_, i) => pattern(2000 + i, i + 100));
      socks.forEach((s, i) => {
        s.end(msgs[i]);
      });
      const got = await Promise.all(replies);
      got.forEach((g, i) => {
        expect(g.equals(msgs[i]!)).toBe(true);
      });
      for (const s of socks) s.destroy();
      await until(() => dev.sockets.size === 0, 20_000, 'all sockets terminated');
    } finally {
      await echo.close();
    }
    expect(await quietDiff(dev)).toBe('');
  }, 90_000);

  it('the mirror equals the snapshot after a mixed workload (listener, UDP, idle, half-closed, closed sockets)', async () => {
    const echo = await nativeServer((s) => s.pipe(s));
    const srv = dev.createServer((c) => c.pipe(c));
    srv.listen(0, '127.0.0.1');
    await waitFor(srv, 'listening');
    const u = dev.createSocket('udp4');
    u.bind(0, '127.0.0.1');
    await waitFor(u, 'listening');
    const idle = dev.createConnection({ host: '127.0.0.1', port: echo.port });
    const half = dev.createConnection({ host: '127.0.0.1', port: echo.port, allowHalfOpen: true });
    const looped = dev.createConnection({ host: '127.0.0.1', port: srv.address()!.port });
    await Promise.all([waitFor(idle, 'connect'), waitFor(half, 'connect'), waitFor(looped, 'connect')]);
    looped.write(pattern(100_000, 5));
    await new Promise<void>((r) => {
      let n = 0;
      looped.on('data', (d: Buffer) => {
        n += d.length;
        if (n >= 100_000) r();
      });
    });
    half.end();
    const closed = dev.createConnection({ host: '127.0.0.1', port: echo.port });
    await waitFor(closed, 'connect');
    closed.destroy();
    idle.setNoDelay(true);
    expect(await quietDiff(dev)).toBe('');
    const statuses = dev.sockets.list().map((e) => e.status);
    expect(statuses).toContain(SocketStatus.LISTENING);
    expect(statuses).toContain(SocketStatus.SHUTDOWN);
    for (const s of [idle, half, looped]) s.destroy();
    srv.close();
    u.close();
    await echo.close();
    await until(() => dev.sockets.size === 0, 10_000, 'sockets gone');
    expect(await quietDiff(dev)).toBe('');
  });
});
