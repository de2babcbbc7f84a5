/**
 * The simulator served over the TCP shim with the host network backend, driven by raw protocol messages over a
 * real Link + TCP transport (test/helpers/raw-device-client.ts). Network peers are node:net / node:dgram on
 * 127.0.0.1 only.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Addr, type AnyEvent, SocketStatus, STATUS_NAME, StatusCode } from '../../src/protocol/index.js';
import {
  createInProcessDevice,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../../sim/server.js';
import { standardVirtualNetwork, VIRTUAL_PEERS } from '../../sim/main.js';
import { createPtyPair } from '../helpers/pty.js';
import { RawDeviceClient, RawStream } from '../helpers/raw-device-client.js';

const STREAM = { type: 1, family: 4, protocol: 6, blocking: 0 } as const;
const DGRAM = { type: 2, family: 4, protocol: 17, blocking: 0 } as const;
const PEER_CLOSED = 0x4;
const ACCEPT_PENDING = 0x10;
const V4 = (port: number, address = '127.0.0.1'): Addr => ({ family: 4, port, address });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type StatusEvent = Extract<AnyEvent, { name: 'STATUS' }>;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // best effort
    }
  }
});

async function sim(opts: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ listen: 'tcp://127.0.0.1:0', network: 'host', ...opts });
  cleanups.push(() => s.close());
  return s;
}

async function client(url: string): Promise<RawDeviceClient> {
  const c = await RawDeviceClient.connect(url);
  cleanups.push(() => c.close());
  await c.hello();
  return c;
}

async function tcpServer(onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  const conns = new Set<net.Socket>();
  server.on('connection', (s) => {
    conns.add(s);
    s.on('error', () => undefined);
    s.on('close', () => conns.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of conns) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, server };
}

function statusOf(c: RawDeviceClient, id: number, pred: (e: StatusEvent) => boolean, timeoutMs?: number) {
  return c.waitEvent<StatusEvent>(
    (e) => e.name === 'STATUS' && e.body.id === id && pred(e as StatusEvent),
    timeoutMs,
  );
}

async function connectStream(c: RawDeviceClient, port: number, recvCredit = 65536) {
  const { id, sendCredit } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit });
  await c.ok('CONNECT', { id, timeoutMs: 3000, addr: V4(port) });
  const st = await statusOf(c, id, (e) => e.body.status !== SocketStatus.CONNECTING);
  expect(STATUS_NAME[st.body.error] ?? st.body.error).toBe('OK');
  return { id, sendCredit };
}

describe('simulator over TCP with the host network', () => {
  it('connects to a node:net echo server and moves 2 MiB both ways, honouring credits (sha256 equal)', async () => {
    const echo = await tcpServer((s) => s.pipe(s));
    const s = await sim();
    const c = await client(s.url);
    const { id, sendCredit } = await connectStream(c, echo.port);
    const stream = new RawStream(c, id, sendCredit);
    const blob = randomBytes(2 * 1024 * 1024);
    const [, back] = await Promise.all([stream.write(blob), stream.readBytes(blob.length)]);
    expect(back.length).toBe(blob.length);
    expect(sha(back)).toBe(sha(blob));
    // Credits were honoured: every SEND was accepted in full (RawStream checks), and nothing was lost.
    expect(c.undecodable).toEqual([]);
    await c.ok('CLOSE', { id, abort: 0 });
    await statusOf(c, id, (e) => e.body.status === SocketStatus.TERMINATED);
  });

  it('accepts connections made by node:net clients (LISTEN + ACCEPT), data both ways, peer FIN seen', async () => {
    const s = await sim();
    const c = await client(s.url);
    const { id: lid } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 65536 });
    await c.ok('BIND', { id: lid, addr: V4(0) });
    const { local } = await c.ok('LISTEN', { id: lid, backlog: 4 });
    expect(local.port).toBeGreaterThan(0);
    const peer = net.connect(local.port, '127.0.0.1');
    cleanups.push(() => peer.destroy());
    await new Promise<void>((r) => peer.once('connect', r));
    await statusOf(c, lid, (e) => (e.body.flags & ACCEPT_PENDING) !== 0);
    const acc = await c.ok('ACCEPT', { id: lid, recvCredit: 65536 });
    expect(acc.remote).toEqual(V4(peer.localPort!));
    expect(acc.local.port).toBe(local.port);
    const stream = new RawStream(c, acc.newId, acc.sendCredit);
    peer.write('hello device');
    expect((await stream.readBytes(12)).toString()).toBe('hello device');
    const got: Buffer[] = [];
    peer.on('data', (d) => got.push(d));
    await stream.write(Buffer.from('hello peer'));
    await c.until(() => Buffer.concat(got).toString() === 'hello peer', 5000, 'peer received');
    peer.end();
    const st = await statusOf(c, acc.newId, (e) => (e.body.flags & PEER_CLOSED) !== 0);
    expect(st.body.status).toBe(SocketStatus.DISCONNECTED);
    expect(st.body.error).toBe(0);
  });

  it('exchanges UDP datagrams both ways with a node:dgram peer', async () => {
    const peer = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => peer.close(() => r())));
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const s = await sim();
    const c = await client(s.url);
    const { id } = await c.ok('SOCKET_OPEN', { ...DGRAM, recvCredit: 65536 });
    const { local } = await c.ok('BIND', { id, addr: V4(0) });
    const fromDevice = new Promise<{ msg: Buffer; port: number }>((resolve) =>
      peer.once('message', (msg, rinfo) => resolve({ msg, port: rinfo.port })),
    );
    expect(
      (await c.ok('SENDTO', { id, addr: V4(peer.address().port), data: Buffer.from('to peer') })).accepted,
    ).toBe(7);
    const got = await fromDevice;
    expect(got.msg.toString()).toBe('to peer');
    expect(got.port).toBe(local.port);
    peer.send('to device', local.port, '127.0.0.1');
    const dg = await c.waitEvent<Extract<AnyEvent, { name: 'DATAGRAM' }>>(
      (e) => e.name === 'DATAGRAM' && e.body.id === id,
    );
    expect(Buffer.from(dg.body.data).toString()).toBe('to device');
    expect(dg.body.from).toEqual(V4(peer.address().port));
  });

  it('reports ECONNREFUSED for a closed port and EADDRINUSE for ports in use (TCP and UDP)', async () => {
    const closed = await tcpServer(() => undefined);
    await new Promise<void>((r) => closed.server.close(() => r()));
    const busy = await tcpServer(() => undefined);
    const udpBusy = dgram.createSocket('udp4');
    cleanups.push(() => new Promise<void>((r) => udpBusy.close(() => r())));
    await new Promise<void>((r) => udpBusy.bind(0, '127.0.0.1', r));
    const s = await sim();
    const c = await client(s.url);

    const { id } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 4096 });
    await c.ok('CONNECT', { id, timeoutMs: 3000, addr: V4(closed.port) });
    const st = await statusOf(c, id, (e) => e.body.status === SocketStatus.DISCONNECTED);
    expect(STATUS_NAME[st.body.error]).toBe('ECONNREFUSED');

    const { id: lid } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 4096 });
    const bindStatus = await c.status('BIND', { id: lid, addr: V4(busy.port) });
    const listenStatus = bindStatus === 'OK' ? await c.status('LISTEN', { id: lid, backlog: 2 }) : bindStatus;
    expect(listenStatus).toBe('EADDRINUSE');

    const { id: uid } = await c.ok('SOCKET_OPEN', { ...DGRAM, recvCredit: 4096 });
    expect(await c.status('BIND', { id: uid, addr: V4(udpBusy.address().port) })).toBe('EADDRINUSE');
  });

  it('peer reset → DISCONNECTED with ECONNRESET, and the data received before it is still delivered', async () => {
    const payload = randomBytes(30_000);
    const srv = await tcpServer((sock) => {
      sock.write(payload, () => setTimeout(() => sock.resetAndDestroy(), 200));
    });
    const s = await sim();
    const c = await client(s.url);
    const { id } = await connectStream(c, srv.port, 1000); // little receive credit: data waits in the device
    const st = await statusOf(c, id, (e) => e.body.status === SocketStatus.DISCONNECTED, 5000);
    expect(STATUS_NAME[st.body.error]).toBe('ECONNRESET');
    const dataSoFar = () =>
      Buffer.concat(
        c.events
          .filter((e) => e.name === 'DATA' && e.body.id === id)
          .map((e) => Buffer.from((e.body as { data: Uint8Array }).data)),
      );
    expect(dataSoFar().length).toBeLessThanOrEqual(1000);
    await c.ok('RECV_CREDIT', { id, bytes: payload.length });
    await c.until(() => dataSoFar().length >= payload.length, 5000, 'all data delivered');
    expect(dataSoFar().equals(payload)).toBe(true);
  });

  it('a new connection on the same channel replaces the old one (host restart)', async () => {
    const s = await sim();
    const a = await client(s.url);
    expect((await a.ok('PING', { payload: Buffer.from('a') })).payload).toEqual(Buffer.from('a'));
    const b = await client(s.url);
    expect((await b.ok('PING', { payload: Buffer.from('b') })).payload).toEqual(Buffer.from('b'));
    await a.until(() => !a.transport.isOpen, 3000, 'old connection closed by the simulator');
    await expect(a.request('PING', { payload: Buffer.alloc(0) })).rejects.toThrow();
    expect(s.stats.channelsUp).toEqual([0]);
  });
});

describe('simulator faults (in-process switches)', () => {
  it('reset() and resetAfter(): BOOT with a new epoch on the channel', async () => {
    const s = await sim();
    const c = await client(s.url);
    s.reset();
    const boot = await c.waitEvent((e) => e.name === 'BOOT' && e.epoch === 2);
    expect(boot.seq).toBe(1);
    expect((boot.body as { reason: number }).reason).toBe(2); // WATCHDOG
    s.resetAfter(50, 'FAULT');
    const t0 = Date.now();
    const boot3 = await c.waitEvent((e) => e.name === 'BOOT' && e.epoch === 3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect((boot3.body as { reason: number }).reason).toBe(3);
    expect(s.stats.resets).toBe(2);
  });

  it('resetOnCommand: the board resets as that command arrives (the command is lost)', async () => {
    const s = await sim({ faults: { resetOnCommand: 'SOCKET_OPEN' } });
    const c = await client(s.url);
    await expect(c.request('SOCKET_OPEN', { ...STREAM, recvCredit: 100 }, 300)).rejects.toThrow(/no answer/);
    await c.waitEvent((e) => e.name === 'BOOT' && e.epoch === 2);
    expect(s.faults.resetOnCommand).toBeNull();
  });

  it('dropNextEvents: the lost event leaves a gap in the event sequence', async () => {
    const echo = await tcpServer((sock) => sock.pipe(sock));
    const s = await sim();
    const c = await client(s.url);
    const { id, sendCredit } = await connectStream(c, echo.port);
    s.faults.dropNextEvents = 1;
    s.faults.eventKinds = ['DATA'];
    const stream = new RawStream(c, id, sendCredit);
    await stream.write(Buffer.from('first'));
    await c.until(() => s.stats.events.droppedEvents === 1, 3000, 'one event dropped');
    await stream.write(Buffer.from('second'));
    await stream.readBytes(6);
    expect(Buffer.concat(stream.received).toString()).toBe('second');
    const seqs = c.events.filter((e) => e.epoch === 1).map((e) => e.seq);
    const gaps = seqs.slice(1).filter((q, i) => q !== seqs[i]! + 1);
    expect(gaps.length).toBe(1);
  });

  it('resetPeerConnections(): network connections are RST, the host sees DISCONNECTED with ECONNRESET', async () => {
    let peerOutcome!: Promise<string>;
    const srv = await tcpServer((sock) => {
      peerOutcome = new Promise((resolve) => {
        sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        sock.on('end', () => resolve('end'));
      });
    });
    const s = await sim();
    const c = await client(s.url);
    const { id } = await connectStream(c, srv.port);
    expect(s.resetPeerConnections()).toBe(1);
    const st = await statusOf(c, id, (e) => e.body.status === SocketStatus.DISCONNECTED);
    expect(STATUS_NAME[st.body.error]).toBe('ECONNRESET');
    expect(await peerOutcome).toBe('ECONNRESET');
  });

  it('small queues (queue full): a SEND beyond the send queue gets E_QUEUE_FULL with the bytes accepted', async () => {
    const srv = await tcpServer(() => undefined);
    const s = await sim({ sendQueueSize: 256 });
    const c = await client(s.url);
    const { id, sendCredit } = await connectStream(c, srv.port);
    expect(sendCredit).toBe(256);
    const r = await c.request('SEND', { id, data: Buffer.alloc(1000, 1) });
    expect(STATUS_NAME[r.status]).toBe('E_QUEUE_FULL');
    expect((r.body as { accepted: number }).accepted).toBe(256);
  });
});

describe('simulator lifecycle and serving', () => {
  it('wire faults switched at run time apply to connections accepted afterwards', async () => {
    const s = await sim();
    const a = await client(s.url);
    s.faults.wire = { delayMs: 40, direction: 'both' };
    const b = await client(s.url); // takes channel 0 over from a
    const t0 = Date.now();
    await b.ok('PING', { payload: Buffer.from('slow') });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(70); // 40 ms each way
    s.faults.wire = null;
    const c = await client(s.url);
    const t1 = Date.now();
    await c.ok('PING', { payload: Buffer.from('fast') });
    expect(Date.now() - t1).toBeLessThan(40);
    void a;
  });

  it('close() releases the listener, host connections and every network handle', async () => {
    let peerClosed!: Promise<void>;
    const echo = await tcpServer((sock) => {
      peerClosed = new Promise((resolve) => sock.on('close', () => resolve()));
      sock.pipe(sock);
    });
    const s = await sim();
    const c = await client(s.url);
    await connectStream(c, echo.port);
    const { id: lid } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 1024 });
    const { local } = await c.ok('LISTEN', { id: lid, backlog: 2 });
    const port = Number(new URL(s.url).port);
    await s.close();
    await peerClosed;
    await c.until(() => !c.transport.isOpen, 3000, 'host connection closed');
    for (const p of [port, local.port]) {
      const code = await new Promise<string>((resolve) => {
        const probe = net.connect(p, '127.0.0.1');
        probe.on('connect', () => {
          probe.destroy();
          resolve('connected');
        });
        probe.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
      });
      expect(code).toBe('ECONNREFUSED');
    }
  });
});

describe('simulator on the virtual network', () => {
  it("network 'virtual': sockets reach the virtual network's scripted peers (clock advanced in real time)", async () => {
    const vn = standardVirtualNetwork(5);
    const s = await sim({ network: 'virtual', virtualNetwork: vn });
    const c = await client(s.url);
    const echo = new URL(`tcp://${VIRTUAL_PEERS.echo}`);
    const { id, sendCredit } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 65536 });
    await c.ok('CONNECT', { id, timeoutMs: 1000, addr: V4(Number(echo.port), echo.hostname) });
    await statusOf(c, id, (e) => e.body.status === SocketStatus.CONNECTED);
    const stream = new RawStream(c, id, sendCredit);
    const blob = randomBytes(100_000);
    const [, back] = await Promise.all([stream.write(blob), stream.readBytes(blob.length)]);
    expect(sha(back)).toBe(sha(blob));
    const refused = new URL(`tcp://${VIRTUAL_PEERS.refusing}`);
    const { id: id2 } = await c.ok('SOCKET_OPEN', { ...STREAM, recvCredit: 1024 });
    await c.ok('CONNECT', { id: id2, timeoutMs: 1000, addr: V4(Number(refused.port), refused.hostname) });
    const st = await statusOf(c, id2, (e) => e.body.status === SocketStatus.DISCONNECTED);
    expect(STATUS_NAME[st.body.error]).toBe('ECONNREFUSED');
  });
});

describe('simulator on a serial line (socat pty pair, in-process)', () => {
  it('a fresh link listens again after the host went silent (dead timeout), and a new host SYNCs', async () => {
    const pty = await createPtyPair();
    cleanups.push(() => pty.kill());
    const s = await sim({
      listen: `serial://${pty.a}?baud=921600`,
      link: { heartbeatMs: 100, deadTimeoutMs: 300 },
    });
    const a = await RawDeviceClient.connect(`serial://${pty.b}?baud=921600`, { link: { heartbeatMs: 100 } });
    await a.hello();
    await a.close();
    await new Promise((r) => setTimeout(r, 700)); // the device link goes down; a new one waits for a host
    expect(s.stats.connections).toBe(2);
    const b = await client(`serial://${pty.b}?baud=921600`);
    expect((await b.ok('PING', { payload: Buffer.from('again') })).payload).toEqual(Buffer.from('again'));
  });

  it('keeps trying to reopen a vanished port and still closes cleanly', async () => {
    const pty = await createPtyPair();
    const s = await startSimulator({ listen: `serial://${pty.a}?baud=115200`, network: 'host' });
    await pty.kill(); // the "USB adapter" is unplugged
    await new Promise((r) => setTimeout(r, 700));
    await s.close();
  });
});

describe('in-process device (for openDevice("sim:"))', () => {
  it('serves a host-side transport with DeviceCore + Link (tcp framing, ARQ off)', async () => {
    const dev = createInProcessDevice();
    cleanups.push(() => dev.close());
    expect(dev.transport.isOpen).toBe(true);
    const c = await RawDeviceClient.over(dev.transport, 'tcp');
    cleanups.push(() => c.close());
    expect(c.params.arq).toBe(false);
    const hello = await c.hello();
    expect(hello.epoch).toBe(1);
    expect((await c.ok('PING', { payload: Buffer.from('in-process') })).payload).toEqual(
      Buffer.from('in-process'),
    );
    dev.reset('HOST_RESET');
    await c.waitEvent((e) => e.name === 'BOOT' && e.epoch === 2);
    expect(StatusCode.OK).toBe(0);
  });
});
