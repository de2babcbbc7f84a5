/** offload probe: handshake and identity, capabilities, slots, sizes, epoch, link parameters, round-trip time. */
import { Command, Option } from 'commander';
import { Link } from '../../link/index.js';
import type { OffloadDevice } from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { capabilityList, decodeRegister } from '../decode.js';
import { type DeviceCliOptions, deviceUrl, intArg, withDeviceOptions } from '../options.js';
import { formatDuration, hex, out, printJson } from '../output.js';

export interface ProbeResult {
  device: string;
  firmware: string;
  firmwareBuild: number;
  protocolVersion: string;
  capabilities: { bits: number; names: string[] };
  slots: { total: number; inUse: number };
  maxPayload: number;
  maxSendData: number;
  sendQueueSize: number;
  recvQueueSize: number;
  epoch: number;
  eventSeq: number;
  uptimeMs: number;
  status: string;
  magic: string;
  link: {
    framing: string;
    arq: boolean;
    window: number;
    maxPayload: number;
    channel: number;
    secure: boolean;
    secureRefused: { badMac: number; replays: number; tooOld: number; plainDropped: number };
    /** The retransmission timer with ARQ on (§4.3): initial, now, and the measured round trip; null without ARQ. */
    rto: { initialMs: number; rtoMs: number; srttMs: number | null; samples: number } | null;
  };
  /** The channel opened: role and quotas (queueQuota null on a device without CHANNELS). */
  channel: { number: number; role: string; slotQuota: number; queueQuota: number | null };
  rtt: { count: number; minMs: number; avgMs: number; maxMs: number; payloadBytes: number };
}

export async function probeDevice(
  dev: OffloadDevice,
  url: string,
  pings = 5,
  payloadBytes = 64,
): Promise<ProbeResult> {
  const info = dev.info;
  const regs = await dev.readRegisters('MAGIC', 14); // MAGIC .. UPTIME_MS
  const r = (off: number) => regs[off / 4]!;
  const samples: number[] = [];
  const payload = Buffer.alloc(payloadBytes, 0xa5);
  for (let i = 0; i < pings; i++) samples.push(await dev.ping(payload));
  const slotsWord = r(0x14);
  const kind = url.split(':')[0]!;
  return {
    device: url,
    firmware: info.firmware,
    firmwareBuild: r(0x1c),
    protocolVersion: `${info.protocolVersion.major}.${info.protocolVersion.minor}`,
    capabilities: { bits: info.capabilities, names: capabilityList(info.capabilities) },
    slots: { total: info.slots, inUse: slotsWord >>> 16 },
    maxPayload: info.maxPayload,
    maxSendData: dev.device.maxSendData,
    sendQueueSize: info.sendQueueSize,
    recvQueueSize: info.recvQueueSize,
    epoch: info.epoch,
    eventSeq: dev.device.eventSeq,
    uptimeMs: r(0x34),
    status: decodeRegister('STATUS', r(0x0c)),
    magic: hex(r(0)),
    link: {
      framing:
        kind === 'serial' || kind === 'rfc2217'
          ? 'serial (COBS + CRC-32)'
          : kind === 'pcie'
            ? 'pcie rings (descriptors, no link layer)'
            : 'tcp (length-prefixed)',
      arq: info.link.arq,
      window: info.link.window,
      maxPayload: info.link.maxPayload,
      channel: dev.device.link.channel,
      secure: info.secure,
      // Frames refused by the secure link so far (§12.3), by kind.
      secureRefused: {
        badMac: dev.device.link.counters.secureBadMac,
        replays: dev.device.link.counters.secureReplays,
        tooOld: dev.device.link.counters.secureTooOld,
        plainDropped: dev.device.link.counters.securePlainDropped,
      },
      rto: rtoOf(dev),
    },
    channel: {
      number: dev.channel.number,
      role: dev.channel.role,
      slotQuota: dev.channel.slotQuota,
      queueQuota: dev.channel.queueQuota ?? null,
    },
    rtt: {
      count: samples.length,
      minMs: round(Math.min(...samples)),
      avgMs: round(samples.reduce((a, b) => a + b, 0) / samples.length),
      maxMs: round(Math.max(...samples)),
      payloadBytes,
    },
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;

function rtoOf(dev: OffloadDevice): ProbeResult['link']['rto'] {
  const link = dev.device.link;
  if (!(link instanceof Link) || !link.params?.arq) return null;
  const t = link.rtoState;
  return {
    initialMs: round(t.initialMs),
    rtoMs: round(t.rtoMs),
    srttMs: t.srttMs === undefined ? null : round(t.srttMs),
    samples: t.samples,
  };
}

export function printProbe(p: ProbeResult, indent = ''): void {
  const rows: Array<[string, string]> = [
    ['device', p.device],
    ['firmware', `${p.firmware} (build ${p.firmwareBuild})`],
    ['protocol', `${p.protocolVersion}  (MAGIC ${p.magic})`],
    ['capabilities', `${p.capabilities.names.join(' ')}  (${hex(p.capabilities.bits, 4)})`],
    ['slots', `${p.slots.total} (${p.slots.inUse} in use)`],
    ['max message', `${p.maxPayload} bytes (${p.maxSendData} bytes of data per SEND)`],
    ['queues', `send ${p.sendQueueSize} B, receive ${p.recvQueueSize} B per socket`],
    ['boot epoch', `${p.epoch}  (uptime ${formatDuration(p.uptimeMs)}, last event #${p.eventSeq})`],
    ['status', p.status],
    [
      'link',
      `${p.link.framing}, ARQ ${p.link.arq ? 'on' : 'off'}, window ${p.link.window}, max payload ${p.link.maxPayload}, channel ${p.link.channel}${p.link.secure ? ', secure (HMAC-SHA256)' : ''}`,
    ],
    ...(p.link.rto
      ? ([
          [
            'retransmit',
            `RTO ${p.link.rto.rtoMs} ms (initial ${p.link.rto.initialMs} ms${p.link.rto.srttMs === null ? ', no round trip measured yet' : `; measured round trip ${p.link.rto.srttMs} ms over ${p.link.rto.samples} frames`})`,
          ],
        ] as Array<[string, string]>)
      : []),
    ...(p.link.secure
      ? ([
          [
            'secure refused',
            `bad MAC ${p.link.secureRefused.badMac}, replayed ${p.link.secureRefused.replays}, too old ${p.link.secureRefused.tooOld}, plain ${p.link.secureRefused.plainDropped}`,
          ],
        ] as Array<[string, string]>)
      : []),
    [
      'channel',
      `${p.channel.number} ${p.channel.role}, quota ${p.channel.slotQuota} slots${p.channel.queueQuota === null ? '' : `, ${p.channel.queueQuota} B of queues`}`,
    ],
    [
      'round trip',
      `min ${p.rtt.minMs.toFixed(3)} / avg ${p.rtt.avgMs.toFixed(3)} / max ${p.rtt.maxMs.toFixed(3)} ms  (${p.rtt.count} PINGs of ${p.rtt.payloadBytes} B)`,
    ],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${indent}${k.padEnd(w)}  ${v}`);
}

export function probeCommand(): Command {
  const cmd = new Command('probe')
    .description(
      'handshake with the device and print its identity: protocol version, capabilities, slots, max frame, boot epoch, link parameters and round-trip time',
    )
    .addOption(
      new Option('--pings <n>', 'PINGs for the round-trip time')
        .default(5)
        .argParser(intArg('--pings', 1, 10_000)),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ offload probe                                        # the in-process simulator
  $ offload probe --device tcp://127.0.0.1:7070          # a board (or offload sim) behind the TCP shim
  $ offload probe --device 'serial:///dev/ttyUSB0?baud=921600' --json`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<DeviceCliOptions & { pings: number }>();
    await withDevice(o, 'observe', async (dev) => {
      const p = await probeDevice(dev, deviceUrl(o), o.pings);
      if (o.json) printJson(p);
      else printProbe(p);
    });
  });
  return cmd;
}
