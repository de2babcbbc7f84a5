/**
 * The cost of secure execution (PROTOCOL.md §12): throughput through one offloaded socket and pipelined command
 * rate on a normal and a secure channel of the same standalone simulator (TCP shim), in one run, as ratios.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDevice } from '../src/index.js';
import { commandsPerSecond, driverThroughput, peerServer, spawnSim } from './driver.js';

const MiB = 1024 * 1024;
type Row = Record<string, unknown>;

export async function benchSecure(): Promise<Row[]> {
  const key = randomBytes(32);
  const keyFile = join(tmpdir(), `offload-bench-keys-${process.pid}.json`);
  writeFileSync(keyFile, JSON.stringify({ 1: key.toString('hex') }), { mode: 0o600 });
  const peer = await peerServer();
  const sim = await spawnSim(['--listen', 'tcp://127.0.0.1:0', '--keys', keyFile]);
  const rows: Row[] = [];
  try {
    const measured: Record<'normal' | 'secure', { up: number; down: number; cmds: number }> = {
      normal: { up: 0, down: 0, cmds: 0 },
      secure: { up: 0, down: 0, cmds: 0 },
    };
    for (const mode of ['normal', 'secure'] as const) {
      const dev = await openDevice({
        url: sim.url,
        maxInFlight: 256,
        ...(mode === 'secure' ? { secure: { keyId: 1, key } } : {}),
      });
      try {
        if (dev.info.secure !== (mode === 'secure')) throw new Error(`${mode} channel expected`);
        const t = await driverThroughput(dev, peer.port, 16 * MiB);
        await commandsPerSecond(dev, 'PING', 5000); // warm-up
        measured[mode] = { ...t, cmds: await commandsPerSecond(dev, 'PING', 50_000) };
      } finally {
        await dev.close();
      }
      rows.push({
        bench: `${mode} channel, TCP shim`,
        up_MBps: measured[mode].up,
        down_MBps: measured[mode].down,
        pipelined_ping_per_s: measured[mode].cmds,
      });
    }
    const r = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    rows.push({
      bench: 'secure / normal (cost of HMAC-SHA256 per frame)',
      up_MBps: r(measured.secure.up, measured.normal.up),
      down_MBps: r(measured.secure.down, measured.normal.down),
      pipelined_ping_per_s: r(measured.secure.cmds, measured.normal.cmds),
    });
  } finally {
    await sim.stop();
    await peer.close();
    rmSync(keyFile, { force: true });
  }
  return rows;
}
