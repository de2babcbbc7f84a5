/**
 * offload bench: link and socket benchmarks against a device. Each runs for --duration:
 *   ping-rtt       PING round trips one at a time (latency)
 *   commands       REG_READ commands, 32 in flight (commands per second)
 *   link           PINGs carrying the largest payload, 8 in flight (link throughput, both directions)
 *   socket-open    SOCKET_OPEN + CLOSE pairs (socket churn)
 *   tcp            TCP echo through the device to a loopback peer (socket throughput, sha256-checked)
 *   udp            UDP datagrams echoed through the device (datagrams per second)
 */
import { Command, Option } from 'commander';
import { SocketType } from '../../protocol/index.js';
import type { OffloadDevice } from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { startTcpEcho, startUdpEcho } from '../loopback.js';
import { type DeviceCliOptions, durationArg, sizeArg, withDeviceOptions } from '../options.js';
import { out, printJson, table } from '../output.js';
import { tcpTransfer, udpExchange } from '../workload.js';

export const BENCHMARKS = ['ping-rtt', 'commands', 'link', 'socket-open', 'tcp', 'udp'] as const;
type BenchName = (typeof BENCHMARKS)[number];

export interface BenchResult {
  name: BenchName;
  what: string;
  value: number;
  unit: string;
  detail: string;
  operations: number;
  ms: number;
  ok: boolean;
}

const r2 = (n: number) => Math.round(n * 100) / 100;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;
}

/** Runs `op` with `parallel` loops until `ms` have passed; returns the operations done and the time taken. */
async function loop(
  ms: number,
  parallel: number,
  op: () => Promise<void>,
): Promise<{ n: number; ms: number }> {
  const t0 = performance.now();
  const end = t0 + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (performance.now() < end) {
        await op();
        n++;
      }
    }),
  );
  return { n, ms: performance.now() - t0 };
}

async function run(dev: OffloadDevice, name: BenchName, ms: number, tcpSize: number): Promise<BenchResult> {
  switch (name) {
    case 'ping-rtt': {
      const samples: number[] = [];
      const r = await loop(ms, 1, async () => {
        samples.push(await dev.ping());
      });
      samples.sort((a, b) => a - b);
      const avg = samples.reduce((a, b) => a + b, 0) / samples.length;
      return {
        name,
        what: 'round trip (PING)',
        value: r2(avg * 1000),
        unit: 'µs',
        detail: `p50 ${r2(pct(samples, 0.5) * 1000)} µs, p99 ${r2(pct(samples, 0.99) * 1000)} µs, ${r2((r.n * 1000) / r.ms)} round trips/s`,
        operations: r.n,
        ms: r.ms,
        ok: true,
      };
    }
    case 'commands': {
      const r = await loop(ms, 32, async () => {
        await dev.readRegister('SCRATCH');
      });
      return {
        name,
        what: 'commands (REG_READ, 32 in flight)',
        value: r2((r.n * 1000) / r.ms),
        unit: 'commands/s',
        detail: `${r.n} commands`,
        operations: r.n,
        ms: r.ms,
        ok: true,
      };
    }
    case 'link': {
      const size = Math.min(dev.info.maxPayload - 8, 60_000);
      const payload = Buffer.alloc(size, 0x5a);
      const r = await loop(ms, 8, async () => {
        await dev.ping(payload);
      });
      const bytes = r.n * size;
      return {
        name,
        what: `link throughput (PING ${size} B, 8 in flight)`,
        value: r2(((bytes / r.ms) * 1000) / 1e6),
        unit: 'MB/s each way',
        detail: `${r.n} round trips`,
        operations: r.n,
        ms: r.ms,
        ok: true,
      };
    }
    case 'socket-open': {
      const r = await loop(ms, 1, async () => {
        const { id } = await dev.device.request('SOCKET_OPEN', {
          type: SocketType.STREAM,
          family: 4,
          protocol: 6,
          blocking: 0,
          recvCredit: 0,
        });
        await dev.device.request('CLOSE', { id, abort: 1 }, { socketId: id });
      });
      return {
        name,
        what: 'socket open + close',
        value: r2((r.n * 1000) / r.ms),
        unit: 'pairs/s',
        detail: `${r.n} sockets`,
        operations: r.n,
        ms: r.ms,
        ok: true,
      };
    }
    case 'tcp': {
      const peer = await startTcpEcho();
      try {
        let bytes = 0;
        let ok = true;
        let seed = 1;
        const r = await loop(ms, 1, async () => {
          const x = await tcpTransfer(dev, peer, tcpSize, { seed: seed++ });
          bytes += x.bytesSent;
          ok &&= x.ok;
        });
        return {
          name,
          what: `TCP echo through the device (${tcpSize} B transfers)`,
          value: r2(((bytes / r.ms) * 1000) / 1e6),
          unit: 'MB/s each way',
          detail: `${r.n} connections, sha256 ${ok ? 'ok' : 'MISMATCH'}`,
          operations: r.n,
          ms: r.ms,
          ok,
        };
      } finally {
        await peer.close();
      }
    }
    case 'udp': {
      const peer = await startUdpEcho();
      try {
        let datagrams = 0;
        let lost = 0;
        let seed = 1;
        const r = await loop(ms, 1, async () => {
          const x = await udpExchange(dev, peer, 512, 100, { seed: seed++, window: 32 });
          datagrams += x.received;
          lost += x.lost + x.corrupt;
        });
        return {
          name,
          what: 'UDP echo through the device (512 B, 32 in flight)',
          value: r2((datagrams * 1000) / r.ms),
          unit: 'datagrams/s',
          detail: `${datagrams} echoed, ${lost} lost or corrupt`,
          operations: datagrams,
          ms: r.ms,
          ok: lost === 0,
        };
      } finally {
        await peer.close();
      }
    }
  }
}

export function benchCommand(): Command {
  const cmd = new Command('bench')
    .description(
      'link and socket benchmarks: round trips, commands/s, link and socket throughput; a table of results',
    )
    .addOption(
      new Option('--duration <time>', 'time per benchmark')
        .default(1000)
        .argParser(durationArg('--duration')),
    )
    .addOption(
      new Option('--only <names>', `comma-separated subset of: ${BENCHMARKS.join(', ')}`).argParser(
        (v: string) => {
          const names = v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
          for (const n of names) {
            if (!(BENCHMARKS as readonly string[]).includes(n))
              throw new Error(`unknown benchmark '${n}' (known: ${BENCHMARKS.join(', ')})`);
          }
          return names;
        },
      ),
    )
    .addOption(
      new Option('--tcp-size <bytes>', 'bytes per TCP transfer')
        .default(1024 * 1024)
        .argParser(sizeArg('--tcp-size', 1, 1024 ** 3)),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Benchmarks: ping-rtt (PING latency), commands (REG_READ, 32 in flight), link (largest PINGs, 8 in flight),
socket-open (SOCKET_OPEN + CLOSE), tcp (echo through the device, sha256-checked), udp (datagram echo).

Examples:
  $ offload bench
  $ offload bench --device tcp://127.0.0.1:7070 --duration 3s
  $ offload bench --only ping-rtt,commands --json`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<
      DeviceCliOptions & { duration: number; only?: BenchName[]; tcpSize: number }
    >();
    await withDevice(o, 'use', async (dev) => {
      const results: BenchResult[] = [];
      for (const name of o.only ?? BENCHMARKS) {
        if (!o.json && process.stderr.isTTY) process.stderr.write(`running ${name} ...\r`);
        results.push(await run(dev, name, o.duration, o.tcpSize));
      }
      if (!o.json && process.stderr.isTTY) process.stderr.write('\x1b[K');
      if (o.json) printJson({ device: dev.name, durationMs: o.duration, results });
      else {
        out(`benchmarks against ${dev.name} (${o.duration} ms each):`);
        out(
          table(
            ['BENCHMARK', 'RESULT', 'UNIT', 'DETAIL'],
            results.map((r) => [r.what, r.value, r.unit, r.detail]),
          ),
        );
      }
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
  });
  return cmd;
}
