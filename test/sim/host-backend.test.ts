/**
 * HostBackend against real node:net / node:dgram peers, on 127.0.0.1 and ::1 only.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Addr } from '../../src/protocol/index.js';
import type { NetworkAction, NetworkEvent } from '../../sim/network/backend.js';
import { HostBackend, mapNodeError, toAddr } from '../../sim/network/host-backend.js';

const V4 = (port: number, address = '127.0.0.1'): Addr => ({ family: 4, port, address });
const V6 = (port: number, address = '::1'): Addr => ({ family: 6, port, address });
const ANY4: Addr = { family: 4, port: 0, address: '0.0.0.0' };

/** A backend with an event log and waiters. */
class Harness {
  readonly backend = new HostBackend();
  readonly events: NetworkEvent[] = [];
  private waiters: Array<() => void> = [];
  /** Called synchronously for each event, like DeviceCore would. */
  onEach: ((ev: NetworkEvent) => void) | undefined;

  constructor() {
    this.backend.onEvent((ev) => {
      this.events.push(ev);
      this.onEach?.(ev);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  do(action: NetworkAction): void {
    this.backend.perform(action);
  }
  async wait<T extends NetworkEvent>(pred: (ev: NetworkEvent) => ev is T, ms?: number): Promise<T>;
  async wait(pred: (ev: NetworkEvent) => boolean, ms?: number): Promise<NetworkEvent>;
  async wait(pred: (ev: NetworkEvent) => boolean, ms = 5000): Promise<NetworkEvent> {
    const deadline = Date.now() + ms;
    let seen = 0;
    for (;;) {
      for (; seen < this.events.length; seen++) if (pred(this.events[seen]!)) return this.events[seen]!;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting; events: ${JSON.stringify(this.events.map((e) => e.kind))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  dataOf(handle: number): Buffer {
    return Buffer.concat(
      this.events
        .filter((e) => e.kind === 'data' && e.handle === handle)
        .map((e) => (e as { data: Buffer }).data),
    );
  }
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function harness(): Harness {
  const h = new Harness();
  cleanups.push(() => h.backend.close());
  return h;
}

async function server(host: string, onConn: (s: net.Socket) => void): Promise<net.Server> {
  const srv = net.createServer({ allowHalfOpen: true }, onConn);
  const conns = new Set<net.Socket>();
  srv.on('connection', (s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of conns) s.destroy();
        srv.close(() => resolve());
      }),
  );
  return srv;
}
const portOf = (srv: net.Server) => (srv.address() as net.AddressInfo).port;

async function echoServer(host = '127.0.0.1'): Promise<net.Server> {
  return server(host, (s) => {
    s.pipe(s);
  });
}

const is =
  <K extends NetworkEvent['kind']>(kind: K, handle?: number) =>
  (ev: NetworkEvent): ev is Extract<NetworkEvent, { kind: K }> =>
    ev.kind === kind && (handle === undefined || ('handle' in ev && ev.handle === handle));

function connect(
  h: Harness,
  handle: number,
  remote: Addr,
  extra: Partial<Extract<NetworkAction, { kind: 'tcp-connect' }>> = {},
) {
  h.do({
    kind: 'tcp-connect',
    handle,
    remote,
    local: null,
    timeoutMs: 3000,
    noDelay: true,
    keepAliveMs: 0,
    ...extra,
  });
  return h.wait(is('connect-result', handle));
}

describe('HostBackend TCP client', () => {
  it('connects (IPv4), sends with sent events, receives the echo, FIN both ways, then closed', async () => {
    const srv = await echoServer();
    const h = harness();
    const res = await connect(h, 1, V4(portOf(srv)));
    expect(res.error).toBeUndefined();
    expect(res.remote).toEqual(V4(portOf(srv)));
    expect(res.local?.family).toBe(4);
    expect(res.local?.port).toBeGreaterThan(0);
    const payload = randomBytes(100_000);
    h.do({ kind: 'tcp-send', handle: 1, data: payload.subarray(0, 60_000) });
    h.do({ kind: 'tcp-send', handle: 1, data: payload.subarray(60_000) });
    h.do({ kind: 'tcp-end', handle: 1 });
    await h.wait(is('peer-end', 1));
    expect(h.dataOf(1).equals(payload)).toBe(true);
    const sent = h.events.filter(is('sent', 1)).map((e) => e.bytes);
    expect(sent).toEqual([60_000, 40_000]);
    const closed = await h.wait(is('closed', 1));
    expect(closed.error).toBeUndefined();
    expect(h.backend.handleCount).toBe(0);
  });

  it('connects over IPv6 (::1) with a chosen local address and port', async () => {
    const srv = await echoServer('::1');
    const h = harness();
    const probe = await server('::1', () => undefined);
    const localPort = portOf(probe);
    await new Promise<void>((r) => probe.close(() => r()));
    const res = await connect(h, 2, V6(portOf(srv)), { local: V6(localPort) });
    expect(res.error).toBeUndefined();
    expect(res.local).toEqual(V6(localPort));
    expect(res.remote).toEqual(V6(portOf(srv)));
    h.do({ kind: 'tcp-send', handle: 2, data: Buffer.from('hello v6') });
    await h.wait((e) => e.kind === 'data' && h.dataOf(2).length === 8);
    expect(h.dataOf(2).toString()).toBe('hello v6');
  });

  it('reports ECONNREFUSED', async () => {
    const srv = await echoServer();
    const port = portOf(srv);
    await new Promise<void>((r) => srv.close(() => r()));
    const h = harness();
    const res = await connect(h, 3, V4(port));
    expect(res.error).toBe('ECONNREFUSED');
    expect(h.backend.handleCount).toBe(0);
  });

  it('reports ETIMEDOUT after timeoutMs when the listener never completes the handshake', async () => {
    // A listener with a full accept queue (listen(0), never accepting) drops further SYNs: connect hangs.
    const py = spawn(
      'python3',
      [
        '-c',
        [
          'import socket,sys,time',
          "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)",
          'port=s.getsockname()[1]; fill=[]',
          'for i in range(4):',
          '    c=socket.socket(); c.setblocking(False)',
          '    try: c.connect(("127.0.0.1",port))',
          '    except BlockingIOError: pass',
          '    fill.append(c)',
          'time.sleep(0.2); print(port, flush=True); sys.stdin.read()',
        ].join('\n'),
      ],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    const spawned = await new Promise<boolean>((resolve) => {
      py.once('error', () => resolve(false));
      py.once('spawn', () => resolve(true));
    });
    if (!spawned) return; // no python3: nothing on loopback can stall a handshake from Node alone
    cleanups.push(() => {
      py.stdin?.end();
      py.kill();
    });
    const port = await new Promise<number>((resolve) =>
      py.stdout!.once('data', (d) => resolve(Number(String(d).trim()))),
    );
    const h = harness();
    const t0 = Date.now();
    const res = await connect(h, 4, V4(port), { timeoutMs: 300 });
    expect(res.error).toBe('ETIMEDOUT');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(h.backend.handleCount).toBe(0);
  });

  it('reports EADDRNOTAVAIL for a local address the machine does not have', async () => {
    const srv = await echoServer();
    const h = harness();
    const res = await connect(h, 5, V4(portOf(srv)), { local: V4(0, '192.0.2.1') });
    expect(res.error).toBe('EADDRNOTAVAIL');
  });

  it('rejects impossible remotes without touching the network', async () => {
    const h = harness();
    expect((await connect(h, 6, { family: 0, port: 0, address: '' })).error).toBe('EAFNOSUPPORT');
    expect((await connect(h, 7, V4(0))).error).toBe('E_INVALID');
    expect((await connect(h, 8, V4(80), { local: V6(0) })).error).toBe('EAFNOSUPPORT');
  });

  it('applies setopt (noDelay, keep-alive) on a live connection', async () => {
    const srv = await echoServer();
    const h = harness();
    await connect(h, 9, V4(portOf(srv)), { keepAliveMs: 1000, noDelay: false });
    h.do({ kind: 'tcp-setopt', handle: 9, noDelay: true, keepAliveMs: 500 });
    h.do({ kind: 'tcp-setopt', handle: 9, keepAliveMs: 0 });
    h.do({ kind: 'tcp-send', handle: 9, data: Buffer.from('x') });
    await h.wait(is('data', 9));
  });
});

describe('HostBackend flow control', () => {
  it('pause stops reading so the remote writer sees backpressure; resume delivers everything in order', async () => {
    const total = 8 * 1024 * 1024;
    const blob = randomBytes(total);
    let writer!: net.Socket;
    let finished = false;
    const srv = await server('127.0.0.1', (s) => {
      writer = s;
      s.write(blob, () => {
        finished = true;
      });
      s.end();
    });
    const h = harness();
    let paused = false;
    h.onEach = (ev) => {
      // Pause synchronously after the first chunk, as DeviceCore does when its receive queue is full.
      if (ev.kind === 'data' && !paused) {
        paused = true;
        h.do({ kind: 'tcp-pause', handle: 10 });
      }
    };
    await connect(h, 10, V4(portOf(srv)));
    await h.wait(is('data', 10));
    await new Promise((r) => setTimeout(r, 300));
    const got = h.dataOf(10).length;
    expect(got).toBeLessThan(total);
    expect(finished).toBe(false);
    expect(writer.writableLength).toBeGreaterThan(0); // the kernel buffers are full: the peer is held back
    await new Promise((r) => setTimeout(r, 100));
    expect(h.dataOf(10).length).toBe(got); // nothing delivered while paused
    h.onEach = undefined;
    h.do({ kind: 'tcp-resume', handle: 10 });
    await h.wait(is('peer-end', 10), 10_000);
    const all = h.dataOf(10);
    expect(all.length).toBe(total);
    expect(createHash('sha256').update(all).digest('hex')).toBe(
      createHash('sha256').update(blob).digest('hex'),
    );
  });

  it('a peer reset while paused: held data is delivered first, then closed with ECONNRESET', async () => {
    const srv = await server('127.0.0.1', (s) => {
      s.write(Buffer.alloc(5000, 7), () => setTimeout(() => s.resetAndDestroy(), 100));
    });
    const h = harness();
    await connect(h, 11, V4(portOf(srv)));
    h.do({ kind: 'tcp-pause', handle: 11 });
    await new Promise((r) => setTimeout(r, 400));
    expect(h.events.some((e) => e.kind === 'closed')).toBe(false); // held until the core resumes
    h.do({ kind: 'tcp-resume', handle: 11 });
    const closed = await h.wait(is('closed', 11));
    expect(closed.error).toBe('ECONNRESET');
    expect(h.dataOf(11)).toEqual(Buffer.alloc(5000, 7));
    const kinds = h.events.filter((e) => 'handle' in e && e.handle === 11).map((e) => e.kind);
    expect(kinds[kinds.length - 1]).toBe('closed');
    expect(h.backend.handleCount).toBe(0);
  });

  it('a peer reset while reading: closed with ECONNRESET after the data', async () => {
    const srv = await server('127.0.0.1', (s) => {
      s.write('some bytes', () => setTimeout(() => s.resetAndDestroy(), 50));
    });
    const h = harness();
    await connect(h, 12, V4(portOf(srv)));
    const closed = await h.wait(is('closed', 12));
    expect(closed.error).toBe('ECONNRESET');
    expect(h.dataOf(12).toString()).toBe('some bytes');
  });
});

describe('HostBackend TCP server', () => {
  for (const [label, local, host] of [
    ['IPv4', V4(0), '127.0.0.1'],
    ['IPv6', V6(0), '::1'],
  ] as const) {
    it(`listens (${label}), reports incoming connections from node:net clients, data both ways`, async () => {
      const h = harness();
      h.do({ kind: 'tcp-listen', handle: 20, local, backlog: 8, reuseAddr: true });
      const lr = await h.wait(is('listen-result', 20));
      expect(lr.error).toBeUndefined();
      expect(lr.local?.family).toBe(local.family);
      const port = lr.local!.port;
      const client = net.connect({ host, port, allowHalfOpen: true });
      cleanups.push(() => client.destroy());
      await new Promise<void>((r) => client.once('connect', r));
      const inc = await h.wait(is('incoming'));
      expect(inc.listener).toBe(20);
      expect(inc.handle).toBeGreaterThanOrEqual(1_000_000);
      expect(inc.remote).toEqual({ family: local.family, port: client.localPort, address: host });
      expect(inc.local.port).toBe(port);
      client.write('from client');
      client.end();
      await h.wait(is('peer-end', inc.handle));
      expect(h.dataOf(inc.handle).toString()).toBe('from client');
      const received: Buffer[] = [];
      client.on('data', (d) => received.push(d));
      const ended = new Promise<void>((r) => client.once('end', r));
      h.do({ kind: 'tcp-send', handle: inc.handle, data: Buffer.from('from device') });
      h.do({ kind: 'tcp-end', handle: inc.handle });
      await ended;
      expect(Buffer.concat(received).toString()).toBe('from device');
      await h.wait(is('closed', inc.handle));
    });
  }

  it('reports EADDRINUSE for a port another listener holds, and a fresh handle still works', async () => {
    const other = await echoServer();
    const h = harness();
    h.do({ kind: 'tcp-listen', handle: 21, local: V4(portOf(other)), backlog: 4, reuseAddr: true });
    expect((await h.wait(is('listen-result', 21))).error).toBe('EADDRINUSE');
    h.do({ kind: 'tcp-listen', handle: 21, local: V4(0), backlog: 4, reuseAddr: false });
    const again = await h.wait((e) => e.kind === 'listen-result' && e.handle === 21 && !e.error);
    expect(again.kind).toBe('listen-result');
  });

  it('reports EADDRNOTAVAIL when listening on an address the machine does not have', async () => {
    const h = harness();
    h.do({ kind: 'tcp-listen', handle: 22, local: V4(0, '192.0.2.1'), backlog: 4, reuseAddr: true });
    expect((await h.wait(is('listen-result', 22))).error).toBe('EADDRNOTAVAIL');
  });

  it('close without reset sends FIN; close with reset sends RST; close of a listener frees the port', async () => {
    const h = harness();
    h.do({ kind: 'tcp-listen', handle: 23, local: V4(0), backlog: 4, reuseAddr: true });
    const port = (await h.wait(is('listen-result', 23))).local!.port;
    const outcome = (c: net.Socket) =>
      new Promise<string>((resolve) => {
        c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        c.on('end', () => resolve('end'));
        c.resume();
      });
    const a = net.connect(port, '127.0.0.1');
    const incA = await h.wait(is('incoming'));
    const b = net.connect(port, '127.0.0.1');
    const incB = await h.wait(
      (e): e is Extract<NetworkEvent, { kind: 'incoming' }> =>
        e.kind === 'incoming' && e.handle !== incA.handle,
    );
    cleanups.push(
      () => a.destroy(),
      () => b.destroy(),
    );
    const outA = outcome(a);
    const outB = outcome(b);
    h.do({ kind: 'tcp-send', handle: incA.handle, data: Buffer.from('bye') });
    h.do({ kind: 'close', handle: incA.handle, reset: false });
    h.do({ kind: 'close', handle: incB.handle, reset: true });
    expect(await outA).toBe('end');
    expect(await outB).toBe('ECONNRESET');
    h.do({ kind: 'close', handle: 23, reset: false });
    await new Promise((r) => setTimeout(r, 50));
    const reuse = net.createServer();
    await new Promise<void>((resolve, reject) => {
      reuse.once('error', reject);
      reuse.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((r) => reuse.close(() => r()));
    // No events for released handles.
    expect(
      h.events.filter(
        (e) => 'handle' in e && (e.handle === incA.handle || e.handle === incB.handle) && e.kind === 'closed',
      ),
    ).toEqual([]);
  });

  it('resetConnection (fault injection) RSTs the peer and reports closed ECONNRESET', async () => {
    let peerOutcome!: Promise<string>;
    const srv = await server('127.0.0.1', (s) => {
      peerOutcome = new Promise((resolve) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        s.on('end', () => resolve('end'));
      });
    });
    const h = harness();
    await connect(h, 24, V4(portOf(srv)));
    await new Promise((r) => setTimeout(r, 20));
    expect(h.backend.connectionHandles()).toEqual([24]);
    expect(h.backend.resetConnection(24)).toBe(true);
    const closed = await h.wait(is('closed', 24));
    expect(closed.error).toBe('ECONNRESET');
    expect(await peerOutcome).toBe('ECONNRESET');
  });
});

describe('HostBackend UDP', () => {
  for (const [label, family, host] of [
    ['IPv4', 4, '127.0.0.1'],
    ['IPv6', 6, '::1'],
  ] as const) {
    it(`binds (${label}), sends and receives datagrams with a node:dgram peer`, async () => {
      const peer = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
      cleanups.push(() => new Promise<void>((r) => peer.close(() => r())));
      await new Promise<void>((r) => peer.bind(0, host, r));
      const peerPort = peer.address().port;
      const h = harness();
      h.do({
        kind: 'udp-bind',
        handle: 30,
        local: { family, port: 0, address: host },
        reuseAddr: false,
        broadcast: false,
      });
      const br = await h.wait(is('bind-result', 30));
      expect(br.error).toBeUndefined();
      const myPort = br.local!.port;
      const fromDevice = new Promise<{ msg: Buffer; port: number }>((resolve) =>
        peer.once('message', (msg, rinfo) => resolve({ msg, port: rinfo.port })),
      );
      h.do({
        kind: 'udp-send',
        handle: 30,
        to: { family, port: peerPort, address: host },
        data: Buffer.from('ping'),
      });
      expect((await h.wait(is('sent', 30))).bytes).toBe(4);
      const got = await fromDevice;
      expect(got.msg.toString()).toBe('ping');
      expect(got.port).toBe(myPort);
      peer.send('pong', myPort, host);
      const dg = await h.wait(is('datagram', 30));
      expect(dg.data.toString()).toBe('pong');
      expect(dg.from).toEqual({ family, port: peerPort, address: host });
    });
  }

  it('reports EADDRINUSE for a UDP port in use, EMSGSIZE for an oversized datagram, EAFNOSUPPORT for a wrong family', async () => {
    const peer = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => peer.close(() => r())));
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const h = harness();
    h.do({
      kind: 'udp-bind',
      handle: 31,
      local: V4(peer.address().port),
      reuseAddr: false,
      broadcast: false,
    });
    expect((await h.wait(is('bind-result', 31))).error).toBe('EADDRINUSE');
    h.do({ kind: 'udp-bind', handle: 32, local: ANY4, reuseAddr: false, broadcast: true });
    expect((await h.wait(is('bind-result', 32))).error).toBeUndefined();
    h.do({ kind: 'udp-send', handle: 32, to: V4(peer.address().port), data: Buffer.alloc(70_000) });
    expect((await h.wait(is('send-error', 32))).error).toBe('EMSGSIZE');
    h.do({ kind: 'udp-send', handle: 32, to: V6(9), data: Buffer.from('x') });
    expect((await h.wait((e) => e.kind === 'send-error' && e.error === 'EAFNOSUPPORT')).kind).toBe(
      'send-error',
    );
  });
});

describe('HostBackend helpers and lifecycle', () => {
  it('maps Node errors to protocol status code names', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(mapNodeError(err('ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(mapNodeError(err('ECONNRESET'))).toBe('ECONNRESET');
    expect(mapNodeError(err('ETIMEDOUT'))).toBe('ETIMEDOUT');
    expect(mapNodeError(err('EADDRINUSE'))).toBe('EADDRINUSE');
    expect(mapNodeError(err('EADDRNOTAVAIL'))).toBe('EADDRNOTAVAIL');
    expect(mapNodeError(err('ENETUNREACH'))).toBe('ENETUNREACH');
    expect(mapNodeError(err('EHOSTUNREACH'))).toBe('EHOSTUNREACH');
    expect(mapNodeError(err('EACCES'))).toBe('EACCES');
    expect(mapNodeError(err('EPERM'))).toBe('EACCES');
    expect(mapNodeError(err('EPIPE'))).toBe('EPIPE');
    expect(mapNodeError(err('EMSGSIZE'))).toBe('EMSGSIZE');
    expect(mapNodeError(err('EWHATEVER'))).toBe('E_INTERNAL');
    expect(mapNodeError('nope')).toBe('E_INTERNAL');
  });

  it('converts OS addresses', () => {
    expect(toAddr('127.0.0.1', 5)).toEqual(V4(5));
    expect(toAddr('fe80::1%lo', 6)).toEqual({ family: 6, port: 6, address: 'fe80::1' });
    expect(toAddr(undefined, undefined)).toEqual({ family: 0, port: 0, address: '' });
  });

  it('close() releases every handle and emits nothing afterwards', async () => {
    const srv = await echoServer();
    const h = harness();
    await connect(h, 40, V4(portOf(srv)));
    h.do({ kind: 'tcp-listen', handle: 41, local: V4(0), backlog: 2, reuseAddr: true });
    const port = (await h.wait(is('listen-result', 41))).local!.port;
    h.do({ kind: 'udp-bind', handle: 42, local: V4(0), reuseAddr: false, broadcast: false });
    await h.wait(is('bind-result', 42));
    await h.backend.close();
    const n = h.events.length;
    h.do({ kind: 'tcp-send', handle: 40, data: Buffer.from('late') });
    await new Promise((r) => setTimeout(r, 50));
    expect(h.events.length).toBe(n);
    expect(h.backend.handleCount).toBe(0);
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
      c.on('connect', () => {
        c.destroy();
        resolve('connected');
      });
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
