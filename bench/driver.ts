/**
 * Driver benchmarks, side by side in one run:
 *   - bulk TCP throughput (upload and download, one socket) through driver + simulator over the TCP shim, over a
 *     socat pty pair (serial framing, ARQ) and over the PCIe shim (register window in /dev/shm, rings, interrupt
 *     FIFO; every access one 32-bit word, and access=block with descriptor bodies in one access), against native
 *     loopback `net` on the same machine (ratio; goal ≥ 0.5 over the TCP shim); bulk figures are the best of several
 *     runs (native and TCP shim: 4 of 64 MiB; pty: 3 of 16 MiB; PCIe block: 3 of 64 MiB; the first ones warm the
 *     JIT up), PCIe word accesses one run of 8 MiB;
 *   - command round trips per second (one PING at a time) and pipelined PINGs per second (64 in flight) over the
 *     TCP shim, the pty and the PCIe shim (interrupts; and polling every 1 ms without the event device);
 *   - pipelined small commands per second in-process (PINGs and GETOPTs with many in flight; goal ≥ 50,000);
 *   - host memory per idle mirrored socket, 10,000 mirror entries (goal ≤ 2 KiB): heap delta of a SocketTable
 *     filled with synthetic entries shaped like decoded ones (own Addr objects and address strings), measured with
 *     forced GCs before and after.
 *
 *   npx tsx -e "import('./bench/driver.ts').then(m=>m.benchDriver()).then(console.table)"
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type OffloadDevice, openDevice, SocketTable } from '../src/index.js';
import { SocketOption } from '../src/protocol/index.js';
import { createPtyPair } from '../test/helpers/pty.js';
import { type SimProcess, spawnSim as spawnTestSim } from '../test/helpers/sim-process.js';

type Row = Record<string, unknown>;
const MiB = 1024 * 1024;

function mbps(bytes: number, ms: number): number {
  return Math.round((bytes / MiB / (ms / 1000)) * 10) / 10;
}

/** A sink / source server on 127.0.0.1. */
export async function peerServer(): Promise<{ port: number; close(): Promise<void>; server: net.Server }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', (first: Buffer) => {
      // First byte: 'u' = upload (we sink), 'd' = download of N bytes (we source).
      if (first[0] === 0x64) {
        const n = first.readUInt32LE(1);
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        let left = n;
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
    server,
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Duplexish {
  write(b: Buffer): boolean;
  end(): unknown;
  once(ev: string, f: (...a: unknown[]) => void): unknown;
  on(ev: string, f: (...a: unknown[]) => void): unknown;
}

async function upload(sock: Duplexish, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x33);
  const t0 = performance.now();
  sock.write(Buffer.from('u'));
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  // The peer answers our FIN with its own once it has read everything.
  await new Promise((r) => sock.once('end', r));
  return performance.now() - t0;
}

async function download(sock: Duplexish, bytes: number): Promise<number> {
  const hdr = Buffer.alloc(5);
  hdr[0] = 0x64;
  hdr.writeUInt32LE(bytes, 1);
  const t0 = performance.now();
  let got = 0;
  sock.on('data', (d) => {
    got += (d as Buffer).length;
  });
  sock.write(hdr);
  await new Promise((r) => sock.once('end', r));
  if (got !== bytes) throw new Error(`download got ${got} of ${bytes}`);
  return performance.now() - t0;
}

async function nativeThroughput(port: number, bytes: number): Promise<{ up: number; down: number }> {
  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  const u = await connect();
  const up = mbps(bytes, await upload(u as unknown as Duplexish, bytes));
  u.destroy();
  const d = await connect();
  d.on('data', () => undefined);
  const down = mbps(bytes, await download(d as unknown as Duplexish, bytes));
  d.destroy();
  return { up, down };
}

/**
 * Runs a throughput measurement `rounds` times and keeps the best of each direction: the first rounds warm the
 * JIT up (both processes of the driver path run JavaScript on every message), and a burst of load from elsewhere
 * on a small machine does not decide the figure. The link bench does the same.
 */
async function bestOf(
  rounds: number,
  run: () => Promise<{ up: number; down: number }>,
): Promise<{ up: number; down: number; runs: string }> {
  const all: { up: number; down: number }[] = [];
  for (let i = 0; i < rounds; i++) all.push(await run());
  return {
    up: Math.max(...all.map((r) => r.up)),
    down: Math.max(...all.map((r) => r.down)),
    runs: all.map((r) => `${r.up}/${r.down}`).join(' '),
  };
}

export async function driverThroughput(
  dev: OffloadDevice,
  port: number,
  bytes: number,
): Promise<{ up: number; down: number }> {
  const connect = async () => {
    const s = dev.createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return s;
  };
  const u = await connect();
  u.on('data', () => undefined);
  const up = mbps(bytes, await upload(u as unknown as Duplexish, bytes));
  u.destroy();
  const d = await connect();
  const down = mbps(bytes, await download(d as unknown as Duplexish, bytes));
  d.destroy();
  return { up, down };
}

/** The standalone simulator in a child process (test/helpers/sim-process.ts), quiet but for warnings. */
export function spawnSim(args: string[]): Promise<SimProcess> {
  return spawnTestSim([...args, '--log-level', 'warn']);
}

export async function commandsPerSecond(
  dev: OffloadDevice,
  kind: 'PING' | 'GETOPT',
  total: number,
): Promise<number> {
  let id = 0;
  if (kind === 'GETOPT') {
    // An open (unconnected) device socket to ask about.
    const r = await dev.device.request('SOCKET_OPEN', {
      type: 1,
      family: 4,
      protocol: 6,
      blocking: 0,
      recvCredit: 0,
    });
    id = r.id;
  }
  const t0 = performance.now();
  const all: Promise<unknown>[] = new Array(total);
  const empty = Buffer.alloc(0);
  for (let i = 0; i < total; i++) {
    all[i] =
      kind === 'PING'
        ? dev.device.requestRaw('PING', { payload: empty })
        : dev.device.requestRaw('GETOPT', { id, option: SocketOption.NODELAY });
  }
  await Promise.all(all);
  const ms = performance.now() - t0;
  if (kind === 'GETOPT') await dev.device.request('CLOSE', { id, abort: 1 });
  return Math.round(total / (ms / 1000));
}

/** One PING at a time for `ms`: round trips per second and the median round trip. */
async function roundTrips(dev: OffloadDevice, ms = 1000): Promise<{ perSecond: number; medianUs: number }> {
  for (let i = 0; i < 200; i++) await dev.ping();
  const samples: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) samples.push(await dev.ping());
  const elapsed = performance.now() - t0;
  samples.sort((a, b) => a - b);
  return {
    perSecond: Math.round(samples.length / (elapsed / 1000)),
    medianUs: Math.round((samples[samples.length >> 1] ?? 0) * 1000),
  };
}

/** Round trips and pipelined PINGs on one device, as a table row. */
async function commandRow(label: string, dev: OffloadDevice, pipelined = 20_000): Promise<Row> {
  const rt = await roundTrips(dev);
  const pp = await commandsPerSecond(dev, 'PING', pipelined);
  return { bench: label, round_trips_per_s: rt.perSecond, rtt_median_us: rt.medianUs, pipelined_per_s: pp };
}

/**
 * The PCIe shim: a standalone simulator serving a register window in /dev/shm with an interrupt FIFO; the driver
 * on pcie:// with the event device (interrupts) and word or block access, and without it (polling every 1 ms).
 */
async function benchPcie(peerPort: number, native: { up: number; down: number }): Promise<Row[]> {
  const rows: Row[] = [];
  const window = `/dev/shm/offload-bench-${process.pid}`;
  const sim = await spawnSim(['--listen', `pcie://${window}`]);
  try {
    // Word accesses move a few MB/s (a system call per 32-bit word): one short run; block access as the TCP shim.
    const variants: { label: string; query: string; bytes: number; rounds: number }[] = [
      {
        label: 'driver + sim, PCIe shim (interrupts, 32-bit word accesses)',
        query: '',
        bytes: 8 * MiB,
        rounds: 1,
      },
      {
        label: 'driver + sim, PCIe shim (interrupts, access=block)',
        query: '&access=block',
        bytes: 64 * MiB,
        rounds: 3,
      },
    ];
    for (const v of variants) {
      const dev = await openDevice({ url: `${sim.url}${v.query}`, maxInFlight: 64 });
      try {
        const t = await bestOf(v.rounds, () => driverThroughput(dev, peerPort, v.bytes));
        rows.push({
          bench: v.rounds > 1 ? `${v.label}, best of ${v.rounds}` : v.label,
          up_MBps: t.up,
          down_MBps: t.down,
          ratio_up: Math.round((t.up / native.up) * 1000) / 1000,
          ratio_down: Math.round((t.down / native.down) * 1000) / 1000,
          runs: t.runs,
        });
        rows.push(await commandRow(`PING, ${v.label.replace('driver + sim, ', '')}`, dev));
      } finally {
        await dev.close();
      }
    }
    const polled = await openDevice({ url: `pcie://${window}?poll=1`, maxInFlight: 64 });
    try {
      rows.push(await commandRow('PING, PCIe shim (polling every 1 ms, no event device)', polled, 5000));
    } finally {
      await polled.close();
    }
  } finally {
    await sim.stop();
    rmSync(window, { force: true });
    rmSync(`${window}.events`, { force: true });
  }
  return rows;
}

function forceGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function mirrorMemoryPerEntry(n: number): { perEntry: number; total: number } {
  const gc = forceGc();
  const tables: SocketTable[] = [];
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const table = new SocketTable();
  for (let i = 0; i < n; i++) {
    // Ids beyond one device's 255 slots: the table is keyed by id only (several boards' worth of sockets).
    const slot = i % 255;
    const gen = 1 + Math.floor(i / 255);
    table.put({
      id: ((gen & 0xff) << 8) | slot | ((gen >> 8) << 16),
      type: 1,
      family: 4,
      protocol: 6,
      status: 4,
      flags: 2,
      lastError: 0,
      options: 2,
      blocking: 0,
      channel: 0,
      backlog: 0,
      connQueued: 0,
      reserved: 0,
      sendQueued: 0,
      recvQueued: 0,
      sendSpace: 65536,
      recvCredit: 262144,
      local: { family: 4, port: 40000 + (i % 20000), address: `10.0.${(i >> 8) & 0xff}.${i & 0xff}` },
      remote: { family: 4, port: 443, address: `192.168.${(i >> 8) & 0xff}.${(i * 7) & 0xff}` },
      pendingEvents: 0,
    });
  }
  tables.push(table);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (table.size !== n) throw new Error('table size mismatch');
  const total = after - before;
  return { perEntry: Math.round(total / n), total };
}

export async function benchDriver(): Promise<Row[]> {
  const rows: Row[] = [];
  const peer = await peerServer();
  try {
    const BULK = 64 * MiB;
    const ROUNDS = 4;
    const native = await bestOf(ROUNDS, () => nativeThroughput(peer.port, BULK));
    rows.push({
      bench: `native loopback net (one socket), best of ${ROUNDS}`,
      up_MBps: native.up,
      down_MBps: native.down,
      ratio_up: 1,
      ratio_down: 1,
      runs: native.runs,
    });

    // Driver + standalone simulator over the TCP shim: the simulator's defaults (64 KiB socket queues, 16 KiB
    // messages), then a board with bigger queues and 64 KiB messages (what a host would configure for bulk).
    const configs: { label: string; simArgs: string[]; maxPayload?: number; recvWindow?: number }[] = [
      { label: 'driver + sim, TCP shim (defaults: 64 KiB queues, 16 KiB messages)', simArgs: [] },
      {
        label: 'driver + sim, TCP shim (4 MiB queues, 64 KiB messages)',
        simArgs: ['--send-queue', String(4 * MiB), '--recv-queue', String(4 * MiB), '--max-payload', '65535'],
        maxPayload: 65535,
        recvWindow: 4 * MiB,
      },
    ];
    for (const c of configs) {
      const tcpSim = await spawnSim(['--listen', 'tcp://127.0.0.1:0', ...c.simArgs]);
      try {
        const dev = await openDevice({
          url: tcpSim.url,
          ...(c.maxPayload ? { link: { maxPayload: c.maxPayload } } : {}),
          ...(c.recvWindow ? { sockets: { recvWindow: c.recvWindow } } : {}),
        });
        const t = await bestOf(ROUNDS, () => driverThroughput(dev, peer.port, BULK));
        rows.push({
          bench: `${c.label}, best of ${ROUNDS}`,
          up_MBps: t.up,
          down_MBps: t.down,
          ratio_up: Math.round((t.up / native.up) * 100) / 100,
          ratio_down: Math.round((t.down / native.down) * 100) / 100,
          goal: 'ratio ≥ 0.5',
          runs: t.runs,
        });
        if (!c.maxPayload) rows.push(await commandRow('PING, TCP shim (defaults)', dev));
        await dev.close();
      } finally {
        await tcpSim.stop();
      }
    }

    // Driver + standalone simulator on a socat pty pair (serial framing, ARQ).
    const pty = await createPtyPair();
    try {
      const serialSim = await spawnSim(['--listen', `serial://${pty.b}?baud=4000000`]);
      try {
        const dev = await openDevice(`serial://${pty.a}?baud=4000000`);
        const t = await bestOf(3, () => driverThroughput(dev, peer.port, 16 * MiB));
        rows.push({
          bench: 'driver + sim, pty pair (serial, ARQ), best of 3',
          up_MBps: t.up,
          down_MBps: t.down,
          ratio_up: Math.round((t.up / native.up) * 1000) / 1000,
          ratio_down: Math.round((t.down / native.down) * 1000) / 1000,
          runs: t.runs,
        });
        rows.push(await commandRow('PING, pty pair (serial, ARQ)', dev, 5000));
        await dev.close();
      } finally {
        await serialSim.stop();
      }
    } finally {
      await pty.kill();
    }

    rows.push(...(await benchPcie(peer.port, native)));

    // In-process: pipelined small commands.
    const dev = await openDevice({ url: 'sim:', maxInFlight: 256 });
    try {
      await commandsPerSecond(dev, 'PING', 20_000); // warm-up
      const ping = await commandsPerSecond(dev, 'PING', 200_000);
      const getopt = await commandsPerSecond(dev, 'GETOPT', 200_000);
      rows.push({
        bench: 'pipelined PING, in-process sim (256 in flight)',
        commands_per_s: ping,
        goal: '≥ 50,000',
      });
      rows.push({
        bench: 'pipelined GETOPT, in-process sim (256 in flight)',
        commands_per_s: getopt,
        goal: '≥ 50,000',
      });
    } finally {
      await dev.close();
    }
  } finally {
    await peer.close();
  }

  const mem = mirrorMemoryPerEntry(10_000);
  rows.push({
    bench: 'mirror memory per idle socket (10,000 entries)',
    bytes_per_entry: mem.perEntry,
    heap_delta_KiB: Math.round(mem.total / 1024),
    goal: '≤ 2048 B',
  });
  return rows;
}
