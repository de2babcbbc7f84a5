/**
 * offload monitor: a live stream of the device's events (every one, with its sequence number) and, every
 * --interval, the link counters (frames, bytes, retransmits, CRC errors, credit stalls ...) and a device sample
 * (slots in use, last event, uptime), one line each with a timestamp; --json emits NDJSON.
 */
import { Command, Option } from 'commander';
import type { LinkCounters } from '../../link/index.js';
import {
  type AnyEvent,
  BootReason,
  decodeMessage,
  SOCKET_STATUS_NAME,
  STATUS_NAME,
} from '../../protocol/index.js';
import type { OffloadDevice } from '../../sockets/index.js';
import { untilStopped, withDevice } from '../device.js';
import { addrText, flagNames } from '../decode.js';
import { startTcpEcho, startUdpEcho } from '../loopback.js';
import { type DeviceCliOptions, durationArg, intArg, withDeviceOptions } from '../options.js';
import { formatBytes, formatDuration, hexId, out, printNdjson, timestamp } from '../output.js';
import { tcpTransfer, udpExchange } from '../workload.js';

interface MonitorOptions extends DeviceCliOptions {
  duration?: number;
  interval: number;
  data: boolean;
  traffic?: 'tcp' | 'udp';
}

const COUNTERS: Array<keyof LinkCounters> = [
  'framesSent',
  'framesReceived',
  'bytesSent',
  'bytesReceived',
  'messagesSent',
  'messagesReceived',
  'retransmits',
  'timeouts',
  'probes',
  'naksSent',
  'naksReceived',
  'crcErrors',
  'framingErrors',
  'discardedBytes',
  'duplicates',
  'outOfOrder',
  'creditStalls',
  'writeStalls',
  'resets',
  'secureFramesReceived',
  'secureBadMac',
  'secureReplays',
  'secureTooOld',
  'securePlainDropped',
];

const BOOT_NAME = Object.fromEntries(Object.entries(BootReason).map(([k, v]) => [v, k]));
const DATA_PLANE = new Set(['DATA', 'DATAGRAM', 'SEND_CREDIT']);

function eventFields(ev: AnyEvent): Record<string, unknown> {
  switch (ev.name) {
    case 'STATUS': {
      const b = ev.body;
      return {
        id: hexId(b.id),
        status: SOCKET_STATUS_NAME[b.status] ?? b.status,
        flags: flagNames(b.flags),
        error: b.error === 0 ? null : (STATUS_NAME[b.error] ?? b.error),
        local: addrText(b.local),
        remote: addrText(b.remote),
      };
    }
    case 'DATA':
      return { id: hexId(ev.body.id), bytes: ev.body.data.length };
    case 'DATAGRAM':
      return { id: hexId(ev.body.id), from: addrText(ev.body.from), bytes: ev.body.data.length };
    case 'SEND_CREDIT':
      return { id: hexId(ev.body.id), bytes: ev.body.bytes };
    case 'ERROR':
      return {
        id: ev.body.id === 0xffff ? 'device' : hexId(ev.body.id),
        code: STATUS_NAME[ev.body.code] ?? ev.body.code,
      };
    case 'BOOT':
      return { reason: BOOT_NAME[ev.body.reason] ?? ev.body.reason, slots: ev.body.slots };
  }
}

function fieldsText(f: Record<string, unknown>): string {
  return Object.entries(f)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => (k === 'id' ? String(v) : `${k}=${String(v)}`))
    .join(' ');
}

export function monitorCommand(): Command {
  const cmd = new Command('monitor')
    .description(
      "stream the device's events and the link counters (frames, retransmits, CRC errors, credit stalls), one line each with a timestamp",
    )
    .addOption(
      new Option('--duration <time>', 'stop after this long (default: until Ctrl-C)').argParser(
        durationArg('--duration'),
      ),
    )
    .addOption(
      new Option('--interval <ms>', 'how often to print the link counters and sample the device')
        .default(1000)
        .argParser(intArg('--interval', 50, 3_600_000)),
    )
    .option('--no-data', 'do not print each DATA / DATAGRAM / SEND_CREDIT event (they are still counted)')
    .addOption(
      new Option(
        '--traffic <proto>',
        'generate test traffic through the device meanwhile (to a loopback echo)',
      ).choices(['tcp', 'udp']),
    );
  withDeviceOptions(cmd, true, true);
  cmd.addHelpText(
    'after',
    `
Lines: "event" (every event the device sends this host, with its sequence number), "link" (link counters:
totals and the change since the last line), "device" (SLOTS in use on the whole board, EVENT_SEQ, uptime), and
"gap", "reset", "down" when they happen. A host on another --channel sees the device-wide sample without taking
channel 0 over from the application.

Examples:
  $ offload monitor --device tcp://127.0.0.1:7070
  $ offload monitor --traffic tcp --duration 5s
  $ offload monitor --json --duration 2s --interval 200 | jq .
  $ offload monitor --channel 1 --device tcp://127.0.0.1:7070   # beside an application on channel 0`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<MonitorOptions>();
    await withDevice(o, 'observe', (dev) => monitor(dev, o));
  });
  return cmd;
}

async function monitor(dev: OffloadDevice, o: MonitorOptions): Promise<void> {
  const emit = (type: string, text: string, fields: Record<string, unknown>) => {
    if (o.json) printNdjson({ time: new Date().toISOString(), type, ...fields });
    else out(`${timestamp()}  ${type.padEnd(6)} ${text}`);
  };
  const link = dev.device.link;
  const dataCount = { events: 0, bytes: 0 };
  emit(
    'start',
    `${dev.name} epoch ${dev.info.epoch}, channel ${link.channel}, last event #${dev.device.eventSeq}`,
    {
      device: dev.name,
      epoch: dev.info.epoch,
      channel: link.channel,
      eventSeq: dev.device.eventSeq,
    },
  );

  const onMessage = (bytes: Buffer) => {
    let msg: ReturnType<typeof decodeMessage>;
    try {
      msg = decodeMessage(bytes);
    } catch {
      return;
    }
    if (msg.kind !== 'event') return;
    const f = eventFields(msg);
    if (DATA_PLANE.has(msg.name)) {
      dataCount.events++;
      dataCount.bytes += (f.bytes as number) ?? 0;
      if (!o.data) return;
    }
    emit('event', `#${msg.seq} ${msg.name} ${fieldsText(f)}`, {
      event: msg.name,
      seq: msg.seq,
      epoch: msg.epoch,
      ...f,
    });
  };
  link.on('message', onMessage);
  const onGap = (g: { expected: number; got: number; missing: number }) =>
    emit('gap', `events lost: expected #${g.expected}, got #${g.got} (${g.missing} missing): reconciling`, g);
  const onReset = (r: { previousEpoch: number; epoch: number; cause: string }) =>
    emit('reset', `device reset: epoch ${r.previousEpoch} → ${r.epoch} (${r.cause})`, r);
  const onDown = (err: Error & { code?: string }) => {
    emit('down', `${err.code ?? ''} ${err.message}`, { code: err.code, message: err.message });
    stop.cancel();
  };
  dev.device.on('gap', onGap);
  dev.device.on('reset', onReset);
  dev.device.on('down', onDown);

  let last: Record<string, number> = Object.fromEntries(COUNTERS.map((k) => [k, link.counters[k]]));
  const tick = async () => {
    const now: Record<string, number> = Object.fromEntries(COUNTERS.map((k) => [k, link.counters[k]]));
    const delta = Object.fromEntries(COUNTERS.map((k) => [k, now[k]! - last[k]!]));
    last = now;
    const d = (k: string) => (delta[k] ? ` (+${delta[k]})` : '');
    emit(
      'link',
      `tx ${now.framesSent} frames ${formatBytes(now.bytesSent!)}${d('framesSent')}  rx ${now.framesReceived} frames ${formatBytes(now.bytesReceived!)}${d('framesReceived')}  retransmits ${now.retransmits}${d('retransmits')}  crc-errors ${now.crcErrors}${d('crcErrors')}  framing-errors ${now.framingErrors}${d('framingErrors')}  credit-stalls ${now.creditStalls}${d('creditStalls')}  data-events ${dataCount.events}${dev.info.secure ? `  secure: bad-mac ${now.secureBadMac}${d('secureBadMac')} replays ${now.secureReplays}${d('secureReplays')} too-old ${now.secureTooOld}${d('secureTooOld')} plain-dropped ${now.securePlainDropped}${d('securePlainDropped')}` : ''}`,
      { counters: now, delta, dataEvents: dataCount.events, dataBytes: dataCount.bytes },
    );
    if (dev.device.state !== 'ready') return;
    try {
      const w = await dev.readRegisters('SLOTS', 9); // SLOTS 0x14 .. UPTIME_MS 0x34
      const slots = w[0]!;
      emit(
        'device',
        `slots ${slots >>> 16}/${slots & 0xffff} in use  event-seq ${w[6]}  uptime ${formatDuration(w[8]!)}`,
        {
          slotsInUse: slots >>> 16,
          slots: slots & 0xffff,
          eventSeq: w[6],
          uptimeMs: w[8],
        },
      );
    } catch {
      // the device went away: 'down' says so
    }
  };
  let ticking = Promise.resolve();
  const timer = setInterval(() => {
    ticking = ticking.then(tick);
  }, o.interval);

  const stop = untilStopped(o.duration);
  const traffic = o.traffic ? runTraffic(dev, o.traffic, () => stopped) : undefined;
  let stopped = false;
  await stop.promise;
  stopped = true;
  clearInterval(timer);
  const t = traffic ? await traffic : undefined;
  await ticking;
  await tick();
  link.off('message', onMessage);
  dev.device.off('gap', onGap);
  dev.device.off('reset', onReset);
  dev.device.off('down', onDown);
  if (t) {
    emit(
      'traffic',
      `${o.traffic} ${t.transfers} transfers, ${formatBytes(t.bytes)} each way, ${t.failed} failed${t.error ? ` (${t.error})` : ''}`,
      { proto: o.traffic, ...t },
    );
    if (t.failed > 0) process.exitCode = 1;
  }
  if (dev.device.state === 'down') process.exitCode = 1;
}

async function runTraffic(dev: OffloadDevice, proto: 'tcp' | 'udp', stopped: () => boolean) {
  const peer = proto === 'tcp' ? await startTcpEcho() : await startUdpEcho();
  const r = { transfers: 0, bytes: 0, failed: 0, error: undefined as string | undefined };
  try {
    let seed = 1;
    while (!stopped() && dev.device.state === 'ready') {
      try {
        if (proto === 'tcp') {
          const x = await tcpTransfer(dev, peer, 256 * 1024, { seed: seed++ });
          r.bytes += x.bytesSent;
          if (!x.ok) r.failed++;
        } else {
          const x = await udpExchange(dev, peer, 512, 64, { seed: seed++ });
          r.bytes += x.bytesSent;
          if (!x.ok) r.failed++;
        }
        r.transfers++;
      } catch (err) {
        r.failed++;
        r.error = (err as Error).message;
        break;
      }
    }
  } finally {
    await peer.close();
  }
  return r;
}
