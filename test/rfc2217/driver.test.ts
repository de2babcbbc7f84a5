/**
 * The driver end to end over rfc2217://: openDevice → Rfc2217Transport → real ser2net on 127.0.0.1 → socat pty
 * pair → the standalone simulator (sim/main.ts) serving the other pty end → loopback network. Node's http client
 * on offloaded sockets, a sha256-checked transfer both ways, and ser2net killed mid-transfer (typed link-down
 * error within the heartbeat timeout, then openDevice retried once ser2net is back).
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, type OffloadSocket, openDevice } from '../../src/index.js';
import { collect, nativeServer, pattern, sha256, until, waitFor } from '../driver/paths.js';
import { createPtyPair, type PtyPair, requireSocat } from '../helpers/pty.js';
import { freePort, requireSer2net, type Ser2net, startSer2net } from '../helpers/ser2net.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';

const BAUD = 921600;
const HEARTBEAT_MS = 200;
const DEAD_TIMEOUT_MS = 1500;

let pty: PtyPair;
let sim: SimProcess;
let ser2net: Ser2net;
let port: number;
let url: string;
let exported: string;

function open(): Promise<OffloadDevice> {
  return openDevice({ url, link: { heartbeatMs: HEARTBEAT_MS, deadTimeoutMs: DEAD_TIMEOUT_MS } });
}

beforeAll(async () => {
  requireSocat();
  requireSer2net();
  pty = await createPtyPair();
  exported = realpathSync(pty.a);
  sim = await spawnSim(['--listen', `serial://${pty.b}?baud=${BAUD}`, '--log-level', 'warn']);
  port = await freePort();
  ser2net = await startSer2net({ device: exported, baud: BAUD, port });
  url = `rfc2217://127.0.0.1:${port}?baud=${BAUD}`;
}, 30_000);

afterAll(async () => {
  await ser2net?.kill();
  await sim?.stop();
  await pty?.kill();
}, 20_000);

function httpRequest(
  agent: http.Agent,
  port: number,
  path: string,
  body?: Buffer,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: '127.0.0.1', port, path, method: body ? 'POST' : 'GET' },
      (res) => {
        collect(res).then((b) => resolve({ status: res.statusCode as number, body: b }), reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error('http request timed out')));
    req.end(body);
  });
}

/** Uploads `up` through an offloaded socket to a native server that hashes it and answers with `down`. */
async function transfer(
  dev: OffloadDevice,
  up: Buffer,
  down: Buffer,
): Promise<{ upHash: string; got: Buffer }> {
  const hashes: string[] = [];
  const srv = await nativeServer((s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
      if (n === up.length) {
        hashes.push(h.digest('hex'));
        s.end(down);
      }
    });
  });
  try {
    const sock = dev.createConnection({ host: '127.0.0.1', port: srv.port });
    const got = collect(sock);
    sock.write(up);
    const body = await got;
    return { upHash: hashes[0] ?? '', got: body };
  } finally {
    await srv.close();
  }
}

describe('driver over rfc2217:// (real ser2net, standalone simulator on the serial line)', () => {
  let dev: OffloadDevice;

  it('opens: serial framing with ARQ, handshake, registers', async () => {
    dev = await open();
    expect(dev.info.link.arq).toBe(true);
    expect(dev.transport.kind).toBe('rfc2217');
    expect(await dev.ping(Buffer.from([0x00, 0xff, 0xff, 0x00]))).toBeGreaterThanOrEqual(0);
    expect(await dev.readRegister('MAGIC')).toBe(0x4f464c44);
  });

  it("Node's http client over offloaded sockets (http.Agent createConnection)", async () => {
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.end(`${req.method} ${req.url} ${body.length} ${sha256(body)}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const httpPort = (server.address() as net.AddressInfo).port;
    const offloaded: OffloadSocket[] = [];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: unknown }).createConnection = (
      o: net.TcpNetConnectOpts,
      cb?: () => void,
    ) => {
      const s = dev.createConnection({ host: o.host ?? '127.0.0.1', port: Number(o.port) });
      offloaded.push(s);
      if (cb) s.once('connect', () => cb());
      return s;
    };
    try {
      const r1 = await httpRequest(agent, httpPort, '/hello');
      expect(r1.status).toBe(200);
      expect(r1.body.toString()).toBe(`GET /hello 0 ${sha256(Buffer.alloc(0))}`);
      // A body full of 0xFF and 0x00 (the bytes telnet cares about).
      const big = Buffer.concat([Buffer.alloc(50_000, 0xff), pattern(150_000, 3), Buffer.alloc(50_000, 0)]);
      const r2 = await httpRequest(agent, httpPort, '/upload', big);
      expect(r2.body.toString()).toBe(`POST /upload ${big.length} ${sha256(big)}`);
      expect(offloaded.length).toBe(1); // keep-alive reused the offloaded connection
    } finally {
      agent.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('sha256 transfer: 1 MiB up and 1 MiB down through one offloaded socket', async () => {
    const up = pattern(1 << 20, 11);
    const down = pattern(1 << 20, 12);
    const { upHash, got } = await transfer(dev, up, down);
    expect(upHash).toBe(sha256(up));
    expect(got.length).toBe(down.length);
    expect(sha256(got)).toBe(sha256(down));
  }, 30_000);

  it('ser2net killed mid-transfer: typed link-down within the heartbeat timeout, no hang; openDevice retried after', async () => {
    let received = 0;
    const srv = await nativeServer((s) => {
      s.on('data', (d: Buffer) => {
        received += d.length;
      });
    });
    try {
      const sock = dev.createConnection({ host: '127.0.0.1', port: srv.port });
      const sockError = waitFor<Error & { code?: string }>(sock, 'error', 10_000);
      const devDown = waitFor<Error & { code?: string }>(dev, 'down', 10_000);
      await waitFor(sock, 'connect');
      const chunk = pattern(64 * 1024, 5);
      let writing = true;
      const writer = (async () => {
        while (writing && !sock.destroyed) {
          if (!sock.write(chunk))
            await Promise.race([waitFor(sock, 'drain', 10_000), waitFor(sock, 'close', 10_000)]);
        }
      })().catch(() => undefined);
      await until(() => received > 256 * 1024, 15_000, 'data flowing');
      const killedAt = Date.now();
      await ser2net.kill('SIGKILL');
      const down = await devDown;
      const err = await sockError;
      writing = false;
      await writer;
      expect(down.code).toBe('E_OFFLOAD_LINK_DOWN');
      expect(err.code).toBe('E_OFFLOAD_LINK_DOWN');
      expect(Date.now() - killedAt).toBeLessThan(DEAD_TIMEOUT_MS + 1000);
      expect(sock.destroyed).toBe(true);
      await dev.close();
    } finally {
      await srv.close();
    }

    // While ser2net is away, openDevice fails with a typed error at once.
    await expect(open()).rejects.toMatchObject({ code: 'E_OFFLOAD_CONNECT_REFUSED' });

    // ser2net back on the same port: openDevice simply retried works, and so does a transfer.
    ser2net = await startSer2net({ device: exported, baud: BAUD, port });
    let again: OffloadDevice | undefined;
    for (let attempt = 0; attempt < 5 && !again; attempt++) {
      again = await open().catch(() => undefined);
      if (!again) await new Promise((r) => setTimeout(r, 300));
    }
    expect(again).toBeDefined();
    dev = again as OffloadDevice;
    const up = pattern(128 * 1024, 21);
    const down = pattern(128 * 1024, 22);
    const { upHash, got } = await transfer(dev, up, down);
    expect(upHash).toBe(sha256(up));
    expect(sha256(got)).toBe(sha256(down));
    await dev.close();
  }, 45_000);
});
