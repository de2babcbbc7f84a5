/**
 * offload traffic: test traffic through the device to a built-in loopback peer (TCP echo or sink, UDP echo)
 * that this command starts on 127.0.0.1, verified byte-exact with sha256; a progress bar on a terminal; a summary
 * with throughput, retransmits and errors. Exit status 1 on any mismatch or failure.
 */
import { Command, Option } from 'commander';
import type { OffloadDevice } from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { type LoopbackPeer, startTcpEcho, startTcpSink, startUdpEcho } from '../loopback.js';
import { type DeviceCliOptions, intArg, parseHostPort, sizeArg, withDeviceOptions } from '../options.js';
import { formatBytes, formatDuration, formatRate, out, Progress, printJson, table } from '../output.js';
import { tcpTransfer, udpExchange } from '../workload.js';

export interface TrafficOptions {
  proto: 'tcp' | 'udp';
  mode: 'echo' | 'sink';
  size?: number;
  count?: number;
  parallel: number;
  peerHost: string;
  target?: { host: string; port: number };
  progress?: boolean;
}

export interface TrafficSummary {
  proto: 'tcp' | 'udp';
  mode: 'echo' | 'sink';
  peer: string;
  size: number;
  count: number;
  parallel: number;
  transfers: number;
  verified: number;
  mismatches: number;
  errors: string[];
  bytesSent: number;
  bytesReceived: number;
  datagramsLost: number;
  durationMs: number;
  throughputBytesPerSec: number;
  retransmits: number;
  crcErrors: number;
  sha256: Array<{ lane: number; n: number; sent: string; received: string; ok: boolean }>;
  ok: boolean;
}

export async function runTraffic(dev: OffloadDevice, t: TrafficOptions): Promise<TrafficSummary> {
  const size = t.size ?? (t.proto === 'tcp' ? 1024 * 1024 : 512);
  const count = t.count ?? (t.proto === 'tcp' ? 1 : 200);
  let peer: LoopbackPeer | undefined;
  let target = t.target;
  if (!target) {
    peer =
      t.proto === 'udp'
        ? await startUdpEcho(t.peerHost)
        : t.mode === 'sink'
          ? await startTcpSink(t.peerHost)
          : await startTcpEcho(t.peerHost);
    target = { host: peer.host, port: peer.port };
  }
  const link = dev.device.link.counters;
  const retx0 = link.retransmits;
  const crc0 = link.crcErrors;
  const total = t.parallel * count * size * (t.mode === 'echo' ? 2 : 1);
  const progress = new Progress(total, `${t.proto} ${t.mode}`, t.progress !== false);
  let moved = 0;
  const onBytes = (n: number) => {
    moved += n;
    progress.update(moved);
  };
  const s: TrafficSummary = {
    proto: t.proto,
    mode: t.mode,
    peer: `${target.host}:${target.port}`,
    size,
    count,
    parallel: t.parallel,
    transfers: 0,
    verified: 0,
    mismatches: 0,
    errors: [],
    bytesSent: 0,
    bytesReceived: 0,
    datagramsLost: 0,
    durationMs: 0,
    throughputBytesPerSec: 0,
    retransmits: 0,
    crcErrors: 0,
    sha256: [],
    ok: false,
  };
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: t.parallel }, async (_, lane) => {
        try {
          if (t.proto === 'tcp') {
            for (let n = 0; n < count; n++) {
              const r = await tcpTransfer(dev, target, size, {
                mode: t.mode,
                seed: lane * 1_000_003 + n + 1,
                onBytes,
              });
              s.transfers++;
              s.bytesSent += r.bytesSent;
              s.bytesReceived += r.bytesReceived;
              if (r.ok) s.verified++;
              else s.mismatches++;
              s.sha256.push({ lane, n, sent: r.sentSha256, received: r.receivedSha256, ok: r.ok });
            }
          } else {
            const r = await udpExchange(dev, target, size, count, { lane, seed: lane + 1, onBytes });
            s.transfers += r.sent;
            s.verified += r.received;
            s.mismatches += r.corrupt + (r.sentSha256 === r.receivedSha256 ? 0 : r.lost > 0 ? 0 : 1);
            s.datagramsLost += r.lost;
            s.bytesSent += r.bytesSent;
            s.bytesReceived += r.bytesReceived;
            s.sha256.push({ lane, n: 0, sent: r.sentSha256, received: r.receivedSha256, ok: r.ok });
          }
        } catch (err) {
          const code = (err as { code?: string }).code;
          s.errors.push(`lane ${lane}: ${code ? `${code}: ` : ''}${(err as Error).message}`);
        }
      }),
    );
  } finally {
    progress.done();
    await peer?.close();
  }
  s.durationMs = performance.now() - t0;
  s.throughputBytesPerSec = s.durationMs > 0 ? ((s.bytesSent + s.bytesReceived) * 1000) / s.durationMs : 0;
  s.retransmits = link.retransmits - retx0;
  s.crcErrors = link.crcErrors - crc0;
  s.ok = s.errors.length === 0 && s.mismatches === 0 && s.datagramsLost === 0 && s.sha256.every((x) => x.ok);
  return s;
}

export function printTrafficSummary(s: TrafficSummary): void {
  const each =
    s.proto === 'tcp'
      ? `${s.count} × ${formatBytes(s.size)} per socket`
      : `${s.count} datagrams of ${s.size} B per socket`;
  out(
    `${s.proto.toUpperCase()} ${s.mode} through the device to ${s.peer}: ${s.parallel} socket${s.parallel > 1 ? 's' : ''}, ${each}`,
  );
  const rows: Array<[string, string]> = [
    ['sent', formatBytes(s.bytesSent)],
    ['received', s.mode === 'sink' ? '(sink: the peer hashed the upload)' : formatBytes(s.bytesReceived)],
    ['time', formatDuration(s.durationMs)],
    ['throughput', formatRate(s.bytesSent + s.bytesReceived, s.durationMs)],
    [
      'verified (sha256)',
      s.proto === 'tcp'
        ? `${s.verified}/${s.count * s.parallel} transfers`
        : `${s.verified}/${s.count * s.parallel} datagrams${s.datagramsLost ? `, ${s.datagramsLost} lost` : ''}`,
    ],
    ['mismatches', String(s.mismatches)],
    ['retransmits', `${s.retransmits} (link)${s.crcErrors ? `, ${s.crcErrors} CRC errors` : ''}`],
    ['errors', s.errors.length ? s.errors.join('; ') : '0'],
  ];
  out(table(['', ''], rows).split('\n').slice(1).join('\n'));
  if (s.sha256.length <= 8) {
    for (const h of s.sha256)
      out(`  sha256 ${h.ok ? 'ok      ' : 'MISMATCH'} ${h.sent}${h.ok ? '' : ` ≠ ${h.received}`}`);
  }
  out(s.ok ? 'PASS: every byte arrived as sent' : 'FAIL');
}

export function trafficCommand(): Command {
  const cmd = new Command('traffic')
    .description(
      'move test traffic through the device to a built-in loopback echo/sink and verify it byte-exact (sha256); summary with throughput, retransmits and errors',
    )
    .addOption(new Option('--proto <proto>', 'tcp or udp').choices(['tcp', 'udp']).default('tcp'))
    .option('--udp', 'same as --proto udp')
    .addOption(
      new Option('--mode <mode>', 'tcp: echo (both directions) or sink (upload; the peer answers the sha256)')
        .choices(['echo', 'sink'])
        .default('echo'),
    )
    .addOption(
      new Option(
        '-s, --size <bytes>',
        'bytes per transfer (tcp, default 1M) or per datagram (udp, default 512); k/M suffixes',
      ).argParser(sizeArg('--size', 1, 16 * 1024 ** 3)),
    )
    .addOption(
      new Option(
        '-n, --count <n>',
        'transfers per socket (tcp, default 1) or datagrams per socket (udp, default 200)',
      ).argParser(intArg('--count', 1, 10_000_000)),
    )
    .addOption(
      new Option('-p, --parallel <n>', 'sockets at once').default(1).argParser(intArg('--parallel', 1, 255)),
    )
    .option(
      '--peer-host <address>',
      'address the built-in peer listens on (one the board can reach)',
      '127.0.0.1',
    )
    .addOption(
      new Option(
        '--target <host:port>',
        'use this echo server (or sink, with --mode sink) instead of the built-in one',
      ).argParser(parseHostPort),
    )
    .option('--no-progress', 'no progress bar (it is drawn only on a terminal anyway)');
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The built-in peer runs in this process on --peer-host (127.0.0.1): right for the simulator (its sockets are on
this machine). For a board, give an address of this machine that the board reaches (--peer-host 192.0.2.1), or
an echo server of your own (--target).

Examples:
  $ offload traffic                                   # 1 MiB TCP echo through the in-process simulator
  $ offload traffic --size 8M --parallel 4 --device tcp://127.0.0.1:7070
  $ offload traffic --mode sink --size 64M --device 'serial:///dev/ttyUSB0?baud=3000000'
  $ offload traffic --udp --size 1200 --count 1000 --json`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<
      DeviceCliOptions & Omit<TrafficOptions, 'proto'> & { proto: 'tcp' | 'udp'; udp?: boolean }
    >();
    const proto = o.udp ? 'udp' : o.proto;
    if (proto === 'udp' && o.mode === 'sink')
      throw new Error('--mode sink is for TCP; UDP traffic is echoed');
    await withDevice(o, 'use', async (dev) => {
      const topts: TrafficOptions = {
        proto,
        mode: o.mode,
        parallel: o.parallel,
        peerHost: o.peerHost,
        progress: !o.json && o.progress !== false,
      };
      if (o.size !== undefined) topts.size = o.size;
      if (o.count !== undefined) topts.count = o.count;
      if (o.target) topts.target = o.target;
      const s = await runTraffic(dev, topts);
      if (o.json) printJson(s);
      else printTrafficSummary(s);
      if (!s.ok) process.exitCode = 1;
    });
  });
  return cmd;
}
