/**
 * The C reference device beside the simulator, one run each, through the driver:
 *   - pipelined PINGs per second (many commands in flight, empty payload);
 *   - bulk TCP throughput through one offloaded socket against a loopback peer (upload, then download).
 * Both devices as standalone processes, over the TCP shim and over a socat pty pair (serial framing, ARQ), with
 * their default settings. Builds the reference device with make first.
 *
 *   npx tsx -e "import('./bench/reference-device.ts').then(m=>m.benchReferenceDevice()).then(console.table)"
 */
import net from 'node:net';
import { type OffloadDevice, openDevice } from '../src/index.js';
import { createPtyPair, type PtyPair } from '../test/helpers/pty.js';
import { spawnSim } from '../test/helpers/sim-process.js';
import { buildReferenceDevice, PTY_BAUD, spawnReferenceDevice } from '../test/reference-device/ref-device.js';

type Row = Record<string, unknown>;
const MiB = 1024 * 1024;

function mibps(bytes: number, ms: number): number {
  return Math.round((bytes / MiB / (ms / 1000)) * 10) / 10;
}

/** Loopback peer: first byte 'u' = sink until FIN, 'd' + u32 = send that many bytes then FIN. */
async function peerServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (first: Buffer) => {
      if (first[0] === 0x64) {
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        let left = first.readUInt32LE(1);
        const pump = () => {
          while (left > 0) {
            const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
            left -= c.length;
            if (!s.write(c)) {
              s.once('drain', pump);
              return;
            }
          }
          s.end();
        };
        pump();
      } else {
        s.on('data', () => undefined);
        s.on('end', () => s.end());
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function connect(dev: OffloadDevice, port: number) {
  const s = dev.createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

async function throughput(
  dev: OffloadDevice,
  port: number,
  bytes: number,
): Promise<{ up: number; down: number }> {
  const u = await connect(dev, port);
  u.on('data', () => undefined);
  const chunk = Buffer.alloc(64 * 1024, 0x33);
  let t0 = performance.now();
  u.write(Buffer.from('u'));
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!u.write(chunk)) await new Promise((r) => u.once('drain', r));
  }
  u.end();
  await new Promise((r) => u.once('end', r));
  const up = mibps(bytes, performance.now() - t0);
  u.destroy();

  const d = await connect(dev, port);
  let got = 0;
  d.on('data', (b: Buffer) => {
    got += b.length;
  });
  const hdr = Buffer.alloc(5);
  hdr[0] = 0x64;
  hdr.writeUInt32LE(bytes, 1);
  t0 = performance.now();
  d.write(hdr);
  await new Promise((r) => d.once('end', r));
  const down = mibps(bytes, performance.now() - t0);
  d.destroy();
  if (got !== bytes) throw new Error(`download got ${got} of ${bytes} bytes`);
  return { up, down };
}

async function pingsPerSecond(dev: OffloadDevice, total: number): Promise<number> {
  const empty = Buffer.alloc(0);
  const run = async (n: number) => {
    const all: Promise<unknown>[] = new Array(n);
    for (let i = 0; i < n; i++) all[i] = dev.device.requestRaw('PING', { payload: empty });
    await Promise.all(all);
  };
  await run(Math.min(2000, total)); // warm-up
  const t0 = performance.now();
  await run(total);
  return Math.round(total / ((performance.now() - t0) / 1000));
}

interface Subject {
  url: string;
  stop(): Promise<unknown>;
}

async function startDevice(kind: 'sim' | 'ref', transport: 'tcp' | 'pty', pty?: PtyPair): Promise<Subject> {
  const listen = transport === 'tcp' ? ['--listen', 'tcp://127.0.0.1:0'] : [];
  if (kind === 'sim') {
    const p = await spawnSim(
      transport === 'tcp'
        ? [...listen, '--log-level', 'warn']
        : ['--listen', `serial://${pty!.b}?baud=${PTY_BAUD}`, '--log-level', 'warn'],
    );
    return { url: transport === 'tcp' ? p.url : `serial://${pty!.a}?baud=${PTY_BAUD}`, stop: () => p.stop() };
  }
  const p = await spawnReferenceDevice(
    transport === 'tcp' ? listen : ['--serial', pty!.b, '--baud', String(PTY_BAUD)],
  );
  return { url: transport === 'tcp' ? p.url : `serial://${pty!.a}?baud=${PTY_BAUD}`, stop: () => p.stop() };
}

export async function benchReferenceDevice(): Promise<Row[]> {
  buildReferenceDevice('all');
  const rows: Row[] = [];
  const peer = await peerServer();
  try {
    for (const transport of ['tcp', 'pty'] as const) {
      for (const kind of ['sim', 'ref'] as const) {
        const pty = transport === 'pty' ? await createPtyPair() : undefined;
        const subject = await startDevice(kind, transport, pty);
        try {
          const dev = await openDevice({ url: subject.url, maxInFlight: 64 });
          try {
            const pings = await pingsPerSecond(dev, transport === 'tcp' ? 20_000 : 5_000);
            const bytes = transport === 'tcp' ? 32 * MiB : 4 * MiB;
            const t = await throughput(dev, peer.port, bytes);
            rows.push({
              device: kind === 'sim' ? 'simulator (TypeScript)' : 'reference device (C)',
              transport: transport === 'tcp' ? 'TCP shim' : 'pty (serial, ARQ)',
              firmware: dev.info.firmware,
              ping_per_s: pings,
              bulk_MiB: bytes / MiB,
              up_MiBps: t.up,
              down_MiBps: t.down,
            });
          } finally {
            await dev.close();
          }
        } finally {
          await subject.stop();
          await pty?.kill();
        }
      }
    }
  } finally {
    await peer.close();
  }
  return rows;
}
