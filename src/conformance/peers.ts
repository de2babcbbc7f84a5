/**
 * Network peers the kit runs itself, on the host (127.0.0.1 by default, or `peerHost` for a board on a real
 * network: an address of this host that the board can reach). The device under test is told to connect to them.
 *
 *   echo       TCP: everything received is sent back.
 *   silent     TCP: accepts and then never reads or writes (the connection stays up; a sender stalls on it).
 *   talker     TCP: sends 100 bytes at once, then reads and discards.
 *   closer     TCP: accepts and sends FIN at once (a clean peer close), reads and discards.
 *   rst        TCP: resets the connection (RST) when the first bytes arrive.
 *   refused    a TCP port that was open a moment ago and is now closed: connecting is refused.
 *   udpEcho    UDP: every datagram is sent back to its sender.
 *   blackhole  TCP: a port that never answers a SYN (a listener whose thread never accepts, with its accept
 *              queue filled), for connect timeouts. Built on demand; not every OS allows it (see blackhole()).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Worker } from 'node:worker_threads';

export const TALK_BYTES = 100;

export interface Endpoint {
  host: string;
  port: number;
}

export interface Blackhole extends Endpoint {
  close(): Promise<void>;
}

interface TcpPeer extends Endpoint {
  connections: number;
  close(): Promise<void>;
}

function listenTcpPeer(host: string, onConnection: (s: net.Socket) => void, pauseOnConnect = false) {
  const sockets = new Set<net.Socket>();
  const peer = { host, port: 0, connections: 0 } as TcpPeer;
  const server = net.createServer({ pauseOnConnect, allowHalfOpen: true }, (s) => {
    peer.connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  return new Promise<TcpPeer>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      server.off('error', reject);
      peer.port = (server.address() as net.AddressInfo).port;
      peer.close = () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        });
      resolve(peer);
    });
  });
}

export class Peers {
  echo!: TcpPeer;
  silent!: TcpPeer;
  talker!: TcpPeer;
  closer!: TcpPeer;
  rst!: TcpPeer;
  refused!: Endpoint;
  udpEcho!: Endpoint & { datagrams: number };
  private udp: dgram.Socket | undefined;
  private hole: Promise<Blackhole | string> | undefined;

  private constructor(readonly host: string) {}

  static async start(host: string): Promise<Peers> {
    const p = new Peers(host);
    try {
      p.echo = await listenTcpPeer(host, (s) => {
        s.on('end', () => s.end());
        s.pipe(s, { end: false });
      });
      p.silent = await listenTcpPeer(host, () => undefined, true);
      p.talker = await listenTcpPeer(host, (s) => {
        s.write(Buffer.alloc(TALK_BYTES, 0x54));
        s.resume();
      });
      p.closer = await listenTcpPeer(host, (s) => {
        s.resume();
        s.end();
      });
      p.rst = await listenTcpPeer(host, (s) => {
        s.once('data', () => s.resetAndDestroy());
      });
      p.refused = await closedPort(host);
      const family = net.isIPv6(host) ? 'udp6' : 'udp4';
      const udp = dgram.createSocket(family);
      p.udp = udp;
      const udpEcho = { host, port: 0, datagrams: 0 };
      udp.on('message', (msg, rinfo) => {
        udpEcho.datagrams++;
        udp.send(msg, rinfo.port, rinfo.address);
      });
      udp.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      udpEcho.port = udp.address().port;
      p.udpEcho = udpEcho;
      return p;
    } catch (err) {
      await p.close();
      throw err;
    }
  }

  /** The blackhole, or the reason it cannot be made here (built once, on first use). */
  blackhole(): Promise<Blackhole | string> {
    this.hole ??= makeBlackhole(this.host).catch(
      (err: unknown) => `cannot listen: ${(err as Error).message}`,
    );
    return this.hole;
  }

  async close(): Promise<void> {
    const all: Promise<unknown>[] = [];
    for (const p of [this.echo, this.silent, this.talker, this.closer, this.rst]) if (p) all.push(p.close());
    if (this.udp) {
      const u = this.udp;
      all.push(new Promise<void>((r) => u.close(() => r())));
    }
    if (this.hole) {
      all.push(
        this.hole.then((h) => {
          if (typeof h !== 'string') return h.close();
        }),
      );
    }
    await Promise.allSettled(all);
  }
}

async function closedPort(host: string): Promise<Endpoint> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host }, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return { host, port };
}

const HOLE_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const s = net.createServer();
s.on('error', (e) => parentPort.postMessage({ error: e.message }));
s.listen({ port: 0, host: workerData.host, backlog: 1 }, () => {
  parentPort.postMessage({ port: s.address().port });
  // Block this thread's event loop: the listener never accepts, its accept queue stays full.
  Atomics.wait(new Int32Array(workerData.flag), 0, 0);
  s.close();
});`;

/**
 * A TCP port on `host` that never answers a SYN: a listener (backlog 1) in a worker thread whose event loop is
 * blocked, so nothing is ever accepted; two filler connections fill the kernel's accept queue, after which Linux
 * drops further SYNs (a connect gets no answer at all, like a silent host). Verified with a probe connect; on a
 * system that answers instead (RST), the reason is returned and connect-timeout tests are not applicable.
 */
async function makeBlackhole(host: string): Promise<Blackhole | string> {
  const flag = new SharedArrayBuffer(4);
  const worker = new Worker(HOLE_WORKER, { eval: true, workerData: { host, flag } });
  worker.unref();
  const release = async () => {
    const f = new Int32Array(flag);
    Atomics.store(f, 0, 1);
    Atomics.notify(f, 0);
    await worker.terminate().catch(() => undefined);
  };
  const port = await new Promise<number | string>((resolve) => {
    const t = setTimeout(() => resolve('the blackhole listener did not start'), 5000);
    worker.once('message', (m: { port?: number; error?: string }) => {
      clearTimeout(t);
      resolve(m.port ?? `cannot listen: ${m.error}`);
    });
    worker.once('error', (e) => {
      clearTimeout(t);
      resolve(`blackhole worker failed: ${e.message}`);
    });
  });
  if (typeof port === 'string') {
    await release();
    return port;
  }
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const c = net.connect({ port, host });
    c.on('error', () => undefined);
    fillers.push(c);
    await new Promise((r) => setTimeout(r, 30));
  }
  // Probe: a connect must neither succeed nor be refused.
  const verdict = await new Promise<string | null>((resolve) => {
    const probe = net.connect({ port, host });
    const done = (v: string | null) => {
      clearTimeout(t);
      probe.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(null), 400);
    probe.once('connect', () =>
      done('this OS completes connections beyond a full accept queue, so no loopback blackhole can be made'),
    );
    probe.once('error', (e: NodeJS.ErrnoException) =>
      done(`this OS answers a SYN to a full accept queue (${e.code}), so no loopback blackhole can be made`),
    );
  });
  const close = async () => {
    for (const f of fillers) f.destroy();
    await release();
  };
  if (verdict) {
    await close();
    return verdict;
  }
  return { host, port, close };
}
