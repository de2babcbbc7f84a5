import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { createTransport, openTransport } from '../../src/transport/factory.js';
import { TcpTransport, type TcpListener, listenTcp } from '../../src/transport/tcp.js';
import type { Transport } from '../../src/transport/transport.js';
import { allByteValues, collect, nextClose, sha256, writeAll } from './util.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listener(): Promise<TcpListener> {
  const l = await listenTcp({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => l.close());
  return l;
}

function nextConnection(l: TcpListener): Promise<Transport> {
  return new Promise((resolve) => l.once('connection', resolve));
}

/** A port on 127.0.0.1 with nothing listening: bind an ephemeral port, note it, release it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('TCP transport', () => {
  it('connects to a listener; both sides are open transports that exchange bytes', async () => {
    const l = await listener();
    expect(l.url).toBe(`tcp://127.0.0.1:${l.port}`);
    const accepted = nextConnection(l);
    const client = await openTransport(`${l.url}?timeout=2000`);
    const server = await accepted;
    expect(client.kind).toBe('tcp');
    expect(server.kind).toBe('tcp');
    expect(client.isOpen && server.isOpen).toBe(true);
    expect(client.description).toBe(`${l.url}?timeout=2000`);
    const got = collect(server, 5);
    client.write(Buffer.from('hello'));
    expect((await got).toString()).toBe('hello');
    const back = collect(client, 3);
    server.write(Uint8Array.of(1, 2, 3));
    expect([...(await back)]).toEqual([1, 2, 3]);
    await client.close();
  });

  it('takes noDelay / connectTimeoutMs from the URL (noDelay on by default)', () => {
    const d = createTransport('tcp://127.0.0.1:1') as TcpTransport;
    expect([d.noDelay, d.connectTimeoutMs]).toEqual([true, 5000]);
    const t = createTransport('tcp://127.0.0.1:1?nodelay=0&timeout=1234') as TcpTransport;
    expect([t.noDelay, t.connectTimeoutMs]).toEqual([false, 1234]);
    const o = createTransport('tcp://127.0.0.1:1?nodelay=0', { tcp: { noDelay: true } }) as TcpTransport;
    expect(o.noDelay).toBe(true);
  });

  it('refused => E_OFFLOAD_CONNECT_REFUSED, and the transport can be opened again later', async () => {
    const port = await freePort();
    const t = createTransport(`tcp://127.0.0.1:${port}`);
    const err = await t.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(TransportErrorCode.CONNECT_REFUSED);
    expect((err as TransportError).message).toContain(`127.0.0.1:${port}`);
    expect(t.isOpen).toBe(false);
    expect(() => t.write(Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: TransportErrorCode.NOT_OPEN }),
    );
    // Retry once something listens there.
    const l = await listenTcp({ port });
    cleanups.push(() => l.close());
    await t.open();
    expect(t.isOpen).toBe(true);
    await t.close();
  });

  describe('connect timeout', () => {
    /*
     * A real, deterministic connect timeout on loopback: Linux completes handshakes in the kernel into a
     * listener's accept queue and silently DROPS new SYNs once that queue is full (tcp_abort_on_overflow=0),
     * so the client keeps retransmitting its SYN and connect() hangs. We need a listener that never accepts:
     * a child node process listens with backlog 1 and is then frozen with SIGSTOP. We fill its queue with
     * filler connections (bounded: at most 16) until one does not complete within 200 ms; from then on every
     * connect to that port hangs, and TcpTransport must give up after connectTimeoutMs.
     * (Connecting to a bound-but-not-listening socket is no good: the kernel answers RST => refused.)
     */
    let child: ChildProcess | undefined;
    const fillers: net.Socket[] = [];
    afterEach(() => {
      for (const s of fillers.splice(0)) s.destroy();
      child?.kill('SIGKILL');
      child = undefined;
    });

    async function blackHolePort(): Promise<number> {
      child = spawn(
        process.execPath,
        [
          '-e',
          "const s=require('net').createServer();s.listen({host:'127.0.0.1',port:0,backlog:1},()=>process.stdout.write(s.address().port+'\\n'))",
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const c = child;
      const port = await new Promise<number>((resolve, reject) => {
        c.once('error', reject);
        c.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
      });
      process.kill(c.pid as number, 'SIGSTOP');
      for (let i = 0; i < 16; i++) {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        fillers.push(s);
        const connected = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 200);
          s.once('connect', () => {
            clearTimeout(t);
            resolve(true);
          });
        });
        if (!connected) return port;
      }
      throw new Error('accept queue never filled up: cannot produce a connect timeout on this system');
    }

    it('=> E_OFFLOAD_CONNECT_TIMEOUT after connectTimeoutMs', async () => {
      const port = await blackHolePort();
      const t = createTransport(`tcp://127.0.0.1:${port}?timeout=300`);
      const started = performance.now();
      const err = await t.open().then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect((err as TransportError).code).toBe(TransportErrorCode.CONNECT_TIMEOUT);
      expect((err as TransportError).message).toContain('300 ms');
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(1500);
    });

    it('close() during a hanging connect settles at once', async () => {
      const port = await blackHolePort();
      const t = new TcpTransport({ host: '127.0.0.1', port, connectTimeoutMs: 10_000 });
      const opening = t.open().then(
        () => undefined,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      await t.close();
      const err = await opening;
      expect(performance.now() - started).toBeLessThan(500);
      expect((err as TransportError).code).toBe(TransportErrorCode.TRANSPORT_CLOSED);
    });
  });

  it("peer close => 'close' with E_OFFLOAD_LINK_DOWN; local side gets undefined", async () => {
    const l = await listener();
    const accepted = nextConnection(l);
    const client = await openTransport(l.url);
    const server = await accepted;
    const clientClosed = nextClose(client);
    const serverClosed = nextClose(server);
    await server.close();
    expect(await serverClosed).toBeUndefined();
    const err = await clientClosed;
    expect(err).toBeInstanceOf(TransportError);
    expect(err?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(client.isOpen).toBe(false);
    expect(() => client.write(Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: TransportErrorCode.TRANSPORT_CLOSED }),
    );
  });

  it('peer reset (raw socket destroyed with RST) => E_OFFLOAD_LINK_DOWN naming ECONNRESET', async () => {
    // Reset only after the client is fully connected (it sends a byte), so the RST hits an open link.
    const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const client = await openTransport(`tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    const closed = nextClose(client);
    client.write(Uint8Array.of(0));
    const err = await closed;
    expect(err?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(err?.details.errno).toBe('ECONNRESET');
  });

  it('moves 8 MiB each way with backpressure, intact', async () => {
    const l = await listener();
    const accepted = nextConnection(l);
    const client = await openTransport(l.url);
    const server = await accepted;
    const up = allByteValues(8 << 20, 21);
    const down = allByteValues(8 << 20, 22);
    const [gotUp, gotDown, blockedUp, blockedDown] = await Promise.all([
      collect(server, up.length),
      collect(client, down.length),
      writeAll(client, up, 256 * 1024),
      writeAll(server, down, 256 * 1024),
    ]);
    expect(sha256(gotUp)).toBe(sha256(up));
    expect(sha256(gotDown)).toBe(sha256(down));
    // 256 KiB writes against a 16 KiB writable high-water mark must report backpressure.
    expect(blockedUp).toBeGreaterThan(0);
    expect(blockedDown).toBeGreaterThan(0);
    await client.close();
  });

  it("emits 'close' exactly once, close() is idempotent and open() after close rejects", async () => {
    const l = await listener();
    const client = await openTransport(l.url);
    let n = 0;
    client.on('close', () => n++);
    await Promise.all([client.close(), client.close()]);
    await client.close();
    expect(n).toBe(1);
    await expect(client.open()).rejects.toMatchObject({ code: TransportErrorCode.TRANSPORT_CLOSED });
  });

  it('listener.close() closes accepted connections and stops listening', async () => {
    const l = await listenTcp();
    const accepted = nextConnection(l);
    const client = await openTransport(l.url);
    const server = await accepted;
    const serverClosed = nextClose(server);
    const clientClosed = nextClose(client);
    await l.close();
    await l.close();
    expect(await serverClosed).toBeUndefined();
    expect((await clientClosed)?.code).toBe(TransportErrorCode.LINK_DOWN);
    await expect(openTransport(l.url)).rejects.toMatchObject({ code: TransportErrorCode.CONNECT_REFUSED });
  });

  it('listening on a port in use => E_OFFLOAD_LISTEN_FAILED', async () => {
    const l = await listener();
    await expect(listenTcp({ host: '127.0.0.1', port: l.port })).rejects.toMatchObject({
      code: TransportErrorCode.LISTEN_FAILED,
      message: expect.stringContaining('address already in use'),
    });
  });

  it('works over IPv6 loopback', async () => {
    const l: TcpListener = await listenTcp({ host: '::1' });
    cleanups.push(() => l.close());
    expect(l.url).toBe(`tcp://[::1]:${l.port}`);
    const accepted = nextConnection(l);
    const client = await openTransport(l.url);
    const got = collect(await accepted, 2);
    client.write(Uint8Array.of(9, 8));
    expect([...(await got)]).toEqual([9, 8]);
    await client.close();
  });

  it('sim: and pcie: URLs are recognised but not opened here', () => {
    for (const url of ['sim:', 'pcie:///dev/xdma0_user']) {
      expect(() => createTransport(url)).toThrow(
        expect.objectContaining({ code: TransportErrorCode.UNSUPPORTED_URL }),
      );
    }
    expect(() => createTransport('tcp://127.0.0.1')).toThrow(
      expect.objectContaining({ code: TransportErrorCode.BAD_URL }),
    );
  });

  it('logs through the given pino logger with the URL as a field', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n'))
          if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    });
    const logger = pino({ level: 'debug' }, sink);
    const l = await listener();
    const t = await openTransport(l.url, { logger });
    await t.close();
    await new Promise((r) => setImmediate(r));
    expect(lines.map((x) => x.msg)).toEqual(expect.arrayContaining(['transport open', 'transport closed']));
    expect(lines.every((x) => x.url === l.url && x.transport === 'tcp')).toBe(true);
  });
});
