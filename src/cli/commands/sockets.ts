/**
 * offload sockets: the socket table. By default the host mirror (sockets a previous host left on the board are
 * adopted, not closed: see device.ts); --device-view the device's own SNAPSHOT; --diff the disagreements;
 * --watch redraws as the device's status updates arrive.
 */
import { Command, Option } from 'commander';
import {
  formatDifferences,
  type MirrorEntry,
  type OffloadDevice,
  type TableDifference,
} from '../../sockets/index.js';
import { ALL_ENTRY_FIELDS } from '../../sockets/index.js';
import type { SocketEntry } from '../../protocol/index.js';
import { untilStopped, withDevice } from '../device.js';
import { ENTRY_HEADERS, entryCells, entryRow } from '../decode.js';
import { type DeviceCliOptions, deviceUrl, durationArg, withDeviceOptions } from '../options.js';
import { extractChannelParams } from '../../transport/index.js';
import { ADMIN_CHANNEL } from '../../device/index.js';
import { hexId, out, printJson, printNdjson, table, timestamp } from '../output.js';

interface SocketsOptions extends DeviceCliOptions {
  all?: boolean;
  deviceView?: boolean;
  diff?: boolean;
  levels?: boolean;
  watch?: boolean;
  duration?: number;
}

export function socketTable(entries: readonly SocketEntry[], indent = ''): string {
  if (entries.length === 0) return `${indent}(no sockets)`;
  return table(
    ENTRY_HEADERS,
    entries.map((e) => entryCells(entryRow(e))),
    indent,
  );
}

/** The admin view: every channel's sockets, with a CHANNEL column. */
export function allChannelsTable(entries: readonly SocketEntry[]): string {
  if (entries.length === 0) return '(no sockets)';
  return table(
    ['CHANNEL', ...ENTRY_HEADERS],
    entries.map((e) => [e.channel, ...entryCells(entryRow(e))]),
  );
}

function diffJson(d: TableDifference) {
  if (d.kind === 'field')
    return { id: hexId(d.id), kind: d.kind, field: d.field, host: d.host, device: d.device };
  return { id: hexId(d.id), kind: d.kind };
}

function describeChange(prev: MirrorEntry | undefined, next: MirrorEntry | undefined): string {
  const e = (next ?? prev)!;
  const r = entryRow(e);
  if (!prev) return `${r.id} added    ${r.type} ${r.status} ${r.local} → ${r.remote} flags=${r.flags}`;
  if (!next) return `${r.id} removed  (was ${r.status})`;
  const p = entryRow(prev);
  const parts: string[] = [];
  if (p.status !== r.status) parts.push(`${p.status} → ${r.status}`);
  if (p.flags !== r.flags) parts.push(`flags ${p.flags} → ${r.flags}`);
  if (p.local !== r.local) parts.push(`local ${r.local}`);
  if (p.remote !== r.remote) parts.push(`remote ${r.remote}`);
  if (p.lastError !== r.lastError) parts.push(`error ${r.lastError}`);
  if (parts.length === 0) parts.push('credits/levels');
  return `${r.id} changed  ${parts.join(', ')}`;
}

export function socketsCommand(): Command {
  const cmd = new Command('sockets')
    .description(
      "show the socket table (id, type, status, flags, local, remote, queued bytes) from the host mirror; --device-view from the device's snapshot; --diff the disagreements; --watch live",
    )
    .option(
      '--all',
      "every channel's sockets with their channel (admin view: opens channel 255 unless --channel says otherwise; needs the admin credential)",
    )
    .option('--device-view', "the device's own view (SNAPSHOT) instead of the host mirror")
    .option('--diff', 'compare the mirror with a fresh snapshot; exit status 1 if they disagree')
    .option(
      '--levels',
      'with --diff: compare the queue levels too (they change on the device without events)',
    )
    .option('--watch', 'redraw whenever a status update arrives (Ctrl-C ends)')
    .addOption(
      new Option('--duration <time>', 'with --watch: stop after this long (e.g. 10s)').argParser(
        durationArg('--duration'),
      ),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Opening the board for this command does not close the sockets another host left on it: they are read from the
device and shown (a new host on the same channel takes the channel over: stop the application first).

Examples:
  $ offload sockets --device tcp://127.0.0.1:7070
  $ offload sockets --device-view --json
  $ offload sockets --diff                      # prints "mirror and device agree" or the differences
  $ offload sockets --watch --duration 30s
  $ OFFLOAD_CREDENTIAL=secret offload sockets --all --device tcp://127.0.0.1:7070`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<SocketsOptions>();
    if (o.all) {
      if (o.channel === undefined && extractChannelParams(deviceUrl(o)).channel === undefined)
        o.channel = ADMIN_CHANNEL;
      return withDevice(o, 'observe', (dev) => showAll(dev, o));
    }
    await withDevice(o, 'observe', async (dev) => {
      if (o.diff) return showDiff(dev, o);
      if (o.watch) return watch(dev, o);
      const entries = o.deviceView ? (await dev.snapshot()).entries : dev.sockets.list();
      if (o.json) printJson(entries.map(entryRow));
      else {
        out(
          `${o.deviceView ? 'device view (SNAPSHOT)' : 'host mirror'} of ${dev.name}, epoch ${dev.device.epoch}:`,
        );
        out(socketTable(entries));
      }
    });
  });
  return cmd;
}

async function showAll(dev: OffloadDevice, o: SocketsOptions): Promise<void> {
  const entries = (await dev.snapshot({ allChannels: true })).entries;
  if (o.json) printJson(entries.map((e) => ({ ...entryRow(e), channel: e.channel })));
  else {
    out(
      `every channel of ${dev.name} (admin view from channel ${dev.channel.number}), epoch ${dev.device.epoch}:`,
    );
    out(allChannelsTable(entries));
  }
}

async function showDiff(dev: OffloadDevice, o: SocketsOptions): Promise<void> {
  await dev.device.idle(2000);
  const diffs = await dev.diff(o.levels ? { fields: ALL_ENTRY_FIELDS } : {});
  if (o.json)
    printJson({ agree: diffs.length === 0, mirror: dev.sockets.size, differences: diffs.map(diffJson) });
  else if (diffs.length === 0)
    out(`mirror and device agree (${dev.sockets.size} socket${dev.sockets.size === 1 ? '' : 's'})`);
  else out(formatDifferences(diffs));
  if (diffs.length > 0) process.exitCode = 1;
}

async function watch(dev: OffloadDevice, o: SocketsOptions): Promise<void> {
  const tty = process.stdout.isTTY === true && !o.json;
  const draw = () => {
    if (tty) process.stdout.write('\x1b[H\x1b[2J');
    out(`${timestamp()}  ${dev.name}  epoch ${dev.device.epoch}  (${dev.sockets.size} sockets; Ctrl-C ends)`);
    out(socketTable(dev.sockets.list()));
    if (!tty) out('');
  };
  const onChange = (prev: MirrorEntry | undefined, next: MirrorEntry | undefined, reason?: string) => {
    if (o.json) {
      printNdjson({
        time: new Date().toISOString(),
        change: !prev ? 'add' : !next ? 'remove' : 'update',
        reason,
        entry: entryRow((next ?? prev)!),
      });
      return;
    }
    if (!tty) out(`${timestamp()}  ${describeChange(prev, next)}`);
    draw();
  };
  const t = dev.sockets;
  const onAdd = (e: MirrorEntry) => onChange(undefined, e);
  const onUpdate = (p: MirrorEntry, n: MirrorEntry) => onChange(p, n);
  const onRemove = (e: MirrorEntry, reason: string) => onChange(e, undefined, reason);
  t.on('add', onAdd);
  t.on('update', onUpdate);
  t.on('remove', onRemove);
  const onDown = (err: Error) => stop.cancel(err);
  const stop = stopper(o.duration);
  dev.on('down', onDown);
  if (o.json)
    for (const e of t.list())
      printNdjson({ time: new Date().toISOString(), change: 'present', entry: entryRow(e) });
  else draw();
  try {
    await stop.promise;
  } finally {
    t.off('add', onAdd);
    t.off('update', onUpdate);
    t.off('remove', onRemove);
    dev.off('down', onDown);
  }
}

/** untilStopped, plus a way to end with an error (the link went down). */
function stopper(ms?: number) {
  const s = untilStopped(ms);
  let failWith: ((e: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    failWith = reject;
  });
  return {
    promise: Promise.race([s.promise, failed]),
    cancel: (err: Error) => {
      s.cancel();
      failWith?.(err);
    },
  };
}
