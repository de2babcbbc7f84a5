/**
 * The four ways the end-to-end driver tests reach a device, with the same test bodies:
 *   sim  in-process simulator (`openDevice('sim:...')`, host network);
 *   tcp  the standalone simulator (sim/main.ts) in a child process, over the TCP shim;
 *   pty  the standalone simulator serving one end of a socat pty pair, the driver on the other end through
 *        `serial://` with the real serialport binding (serial framing, ARQ on);
 *   pcie the standalone simulator serving a PCIe register window (a file in /dev/shm) with an interrupt FIFO, the
 *        driver on `pcie://…?events=…` (PROTOCOL.md §10: rings, no link layer), every access one 32-bit word.
 * The simulator's network is the host's (loopback only in these tests).
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import {
  type OffloadDevice,
  type OffloadSocket,
  type OpenDeviceOptions,
  openDevice,
} from '../../src/index.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';

export type PathName = 'sim' | 'tcp' | 'pty' | 'pcie';
export const PATHS: PathName[] = ['sim', 'tcp', 'pty', 'pcie'];

let pcieWindows = 0;
/** A fresh window file name in /dev/shm for a PCIe simulator (its FIFO is NAME.events). */
export function pcieWindowPath(tag = 'test'): string {
  return `/dev/shm/offload-${tag}-${process.pid}-${++pcieWindows}`;
}

/** A pty is not rate-limited; the baud rate only sizes the link's retransmission timer. */
const PTY_BAUD = 4_000_000;

export interface SimSettings {
  slots?: number;
  sendQueueSize?: number;
  recvQueueSize?: number;
  /** More command-line options of the standalone simulator (e.g. --keys FILE). */
  extraArgs?: string[];
}

export interface DevicePath {
  name: PathName;
  /** Open a device on this path (one at a time per path: a new host takes the channel over). */
  open(options?: Omit<OpenDeviceOptions, 'url'>): Promise<OffloadDevice>;
  /** Bytes per direction for bulk tests. */
  bulkBytes: number;
  /** The spawned simulator (tcp, pty). */
  process: SimProcess | undefined;
  /** pty only: stop the simulator process and start a fresh one on the same serial line (a board power cycle). */
  restartDevice?(): Promise<void>;
  /** Stop the simulator process / socat. */
  close(): Promise<void>;
}

function simArgs(s: SimSettings): string[] {
  const a = ['--log-level', 'warn'];
  if (s.slots !== undefined) a.push('--slots', String(s.slots));
  if (s.sendQueueSize !== undefined) a.push('--send-queue', String(s.sendQueueSize));
  if (s.recvQueueSize !== undefined) a.push('--recv-queue', String(s.recvQueueSize));
  if (s.extraArgs) a.push(...s.extraArgs);
  return a;
}

export async function startPath(name: PathName, settings: SimSettings = {}): Promise<DevicePath> {
  if (name === 'sim') {
    const q: string[] = [];
    if (settings.slots !== undefined) q.push(`slots=${settings.slots}`);
    if (settings.sendQueueSize !== undefined) q.push(`sendQueueSize=${settings.sendQueueSize}`);
    if (settings.recvQueueSize !== undefined) q.push(`recvQueueSize=${settings.recvQueueSize}`);
    const url = `sim:${q.length ? `?${q.join('&')}` : ''}`;
    return {
      name,
      bulkBytes: 50 * 1024 * 1024,
      process: undefined,
      open: (o = {}) => openDevice({ ...o, url }),
      close: async () => undefined,
    };
  }
  if (name === 'tcp') {
    const proc = await spawnSim(['--listen', 'tcp://127.0.0.1:0', ...simArgs(settings)]);
    return {
      name,
      bulkBytes: 50 * 1024 * 1024,
      process: proc,
      open: (o = {}) => openDevice({ ...o, url: proc.url }),
      close: async () => {
        await proc.stop();
      },
    };
  }
  if (name === 'pcie') {
    const window = pcieWindowPath();
    const proc = await spawnSim(['--listen', `pcie://${window}`, ...simArgs(settings)]);
    return {
      name,
      // Every 32-bit access is one pread/pwrite system call (~1 µs), as on an XDMA user BAR that serves 4 bytes per
      // call: 2-4 MB/s per direction, so 50 MB each way would take half a minute. test/pcie runs 50 MB with
      // access=block (descriptor bodies in one access).
      bulkBytes: 2 * 1024 * 1024,
      process: proc,
      open: (o = {}) => openDevice({ ...o, url: proc.url }),
      close: async () => {
        await proc.stop();
        // Left behind only if the simulator was killed.
        rmSync(window, { force: true });
        rmSync(`${window}.events`, { force: true });
      },
    };
  }
  const pty: PtyPair = await createPtyPair();
  const args = ['--listen', `serial://${pty.b}?baud=${PTY_BAUD}`, ...simArgs(settings)];
  let proc: SimProcess;
  try {
    proc = await spawnSim(args);
  } catch (err) {
    await pty.kill();
    throw err;
  }
  const p: DevicePath = {
    name,
    bulkBytes: 2 * 1024 * 1024,
    process: proc,
    open: (o = {}) => openDevice({ ...o, url: `serial://${pty.a}?baud=${PTY_BAUD}` }),
    restartDevice: async () => {
      await proc.stop('SIGKILL');
      proc = await spawnSim(args);
      p.process = proc;
    },
    close: async () => {
      await proc.stop();
      await pty.kill();
    },
  };
  return p;
}

// ---- small helpers shared by the driver tests ---------------------------------------------------------

export function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (let i = n - (n % 4); i < n; i++) b[i] = i & 0xff;
  return b;
}

export function sha256(b: Buffer | Buffer[]): string {
  const h = createHash('sha256');
  for (const x of Array.isArray(b) ? b : [b]) h.update(x);
  return h.digest('hex');
}

/** A native TCP server on 127.0.0.1 (the "real peer"); errors on its sockets are collected, not thrown. */
export async function nativeServer(
  onConnection: (s: net.Socket) => void,
  options: net.ServerOpts = {},
): Promise<{ server: net.Server; port: number; errors: Error[]; close(): Promise<void> }> {
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer(options, (s) => {
    sockets.add(s);
    s.on('error', (e) => errors.push(e));
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves with the first of `events` emitted by `em`, or rejects after ms. */
export function waitFor<T = unknown>(em: NodeJS.EventEmitter, event: string, ms = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      em.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    const on = (v: T) => {
      clearTimeout(t);
      resolve(v);
    };
    em.once(event, on);
  });
}

/** Resolves once cond() is true (checked on a timer), or rejects after ms. For test bookkeeping only. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A quiet moment: nothing in flight, the device's coalesced status announcements flushed (5 ms by default),
 * then the mirror must equal the device's snapshot. Returns the differences (empty when equal).
 */
export async function quietDiff(dev: OffloadDevice, settleMs = 60): Promise<string> {
  await dev.device.idle(5000);
  await sleep(settleMs);
  await dev.device.idle(5000);
  const { formatDifferences } = await import('../../src/index.js');
  return formatDifferences(await dev.diff());
}

/** Collect a readable into one buffer. */
export function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

/** Connects an offloaded socket to 127.0.0.1:`port`; resolves on 'connect', rejects on 'error'. */
export function connectTo(dev: OffloadDevice, port: number): Promise<OffloadSocket> {
  return new Promise((resolve, reject) => {
    const s = dev.createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Echoes `data` through an echo server at `port` on `dev`; `midway` runs once a quarter has come back (to
 * disturb something else meanwhile). Returns the sha256 of what came back.
 */
export async function echoTransfer(
  dev: OffloadDevice,
  port: number,
  data: Buffer,
  midway: () => Promise<void> = async () => undefined,
): Promise<string> {
  const s = await connectTo(dev, port);
  const h = createHash('sha256');
  let got = 0;
  let fired: Promise<void> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (!fired && got >= data.length / 4) fired = midway();
      if (got >= data.length) resolve();
    });
    s.once('error', reject);
  });
  for (let off = 0; off < data.length; off += 64 * 1024) {
    if (!s.write(data.subarray(off, off + 64 * 1024))) await new Promise((r) => s.once('drain', r));
  }
  await done;
  await fired;
  s.destroy();
  return h.digest('hex');
}
