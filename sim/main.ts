#!/usr/bin/env node
/**
 * The standalone simulator:
 *   node dist/sim/main.js --listen tcp://127.0.0.1:7070 [--network host|virtual] [--slots N] [--log-level info]
 *   node dist/sim/main.js --listen pcie:///dev/shm/offload-sim      (register window file + interrupt FIFO)
 *                         [--corrupt-rate x --drop-rate y --seed s] [--reset-after-ms n] ...
 * Prints exactly one line `listening on <url>` to stdout once ready (the real port when 0 was asked for),
 * logs with pino to stderr, and stops cleanly on SIGINT / SIGTERM (exit code 0 once every handle is closed).
 *
 * buildSimCommand() is the commander command, so the CLI can mount it as `offload sim`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { Capability } from '../src/protocol/index.js';
import { IMPLEMENTED_CAPABILITIES } from './core/options.js';
import type { SimulatorFaults } from './faults.js';
import { loadKeyFile } from './keys.js';
import { VirtualNetwork } from './network/virtual-backend.js';
import { type Simulator, type SimulatorOptions, startSimulator } from './server.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function int(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** --pcie-channels: N (channels 1..N) or a comma-separated list of channel numbers 1..255. */
function pcieChannelsArg(value: string): number | number[] {
  if (!value.includes(',')) return int('--pcie-channels', 0, 254)(value);
  const parts = value.split(',').map((p) => p.trim());
  if (parts.at(-1) === '') parts.pop();
  const list = parts.map((p) => int('--pcie-channels channel', 1, 255)(p));
  if (list.length === 0 || new Set(list).size !== list.length)
    throw new InvalidArgumentError('--pcie-channels list must name distinct channels 1..255');
  return list;
}

function rate(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
      throw new InvalidArgumentError(`${name} must be a probability from 0 to 1`);
    }
    return n;
  };
}

export interface SimCommandOptions {
  listen: string;
  network: 'host' | 'virtual';
  slots?: number;
  sendQueue?: number;
  recvQueue?: number;
  maxPayload?: number;
  logLevel: (typeof LOG_LEVELS)[number];
  corruptRate?: number;
  dropRate?: number;
  seed?: number;
  dropEventRate?: number;
  delayEventsMs?: number;
  resetAfterMs?: number;
  /** Provisioned secure-execution keys (sim/keys.ts format); given: SECURE is advertised. */
  keys?: string;
  adminCredential?: string;
  channelTimeout?: number;
  slotQuota?: number;
  queueQuota?: number;
  /** false with --no-channels: a device without CHANNELS and EGRESS_POLICY. */
  channels?: boolean;
  /** pcie: extra ring pairs, channels 1..N or the listed channel numbers (PROTOCOL.md §10.5). */
  pcieChannels?: number | number[];
}

/** Where the admin credential comes from when --admin-credential is not given (keeps it out of `ps`). */
export const ADMIN_CREDENTIAL_ENV = 'OFFLOAD_SIM_ADMIN_CREDENTIAL';

/** Maps parsed command-line options to startSimulator options (exported for tests and the CLI). */
export function simOptionsFromCli(o: SimCommandOptions, logger: Logger): SimulatorOptions {
  const faults: Partial<SimulatorFaults> = {};
  if (o.seed !== undefined) faults.seed = o.seed;
  if ((o.corruptRate ?? 0) > 0 || (o.dropRate ?? 0) > 0) {
    faults.wire = { corruptRate: o.corruptRate ?? 0, dropByteRate: o.dropRate ?? 0, direction: 'both' };
  }
  if (o.dropEventRate !== undefined) faults.dropEventRate = o.dropEventRate;
  if (o.delayEventsMs !== undefined) faults.delayEventsMs = o.delayEventsMs;
  if (o.resetAfterMs !== undefined) faults.resetAt = Date.now() + o.resetAfterMs;
  const opts: SimulatorOptions = { listen: o.listen, network: o.network, logger, faults };
  if (o.network === 'virtual') opts.virtualNetwork = standardVirtualNetwork(o.seed ?? 1);
  if (o.slots !== undefined) opts.slots = o.slots;
  if (o.sendQueue !== undefined) opts.sendQueueSize = o.sendQueue;
  if (o.recvQueue !== undefined) opts.recvQueueSize = o.recvQueue;
  if (o.maxPayload !== undefined) opts.maxPayload = o.maxPayload;
  if (o.keys !== undefined) opts.secureKeys = loadKeyFile(o.keys);
  const core: NonNullable<SimulatorOptions['core']> = {};
  const credential = o.adminCredential ?? process.env[ADMIN_CREDENTIAL_ENV];
  if (credential) core.adminCredential = credential;
  if (o.channelTimeout !== undefined) core.channelTimeoutMs = o.channelTimeout;
  if (o.slotQuota !== undefined) core.slotQuota = o.slotQuota;
  if (o.queueQuota !== undefined) core.queueQuota = o.queueQuota;
  if (o.channels === false)
    core.capabilities = IMPLEMENTED_CAPABILITIES & ~(Capability.CHANNELS | Capability.EGRESS_POLICY);
  opts.core = core;
  if (o.pcieChannels !== undefined) opts.pcie = { channels: o.pcieChannels };
  return opts;
}

/** Scripted peers of the standalone simulator's virtual network (documented in --help). */
export const VIRTUAL_PEERS = {
  echo: '10.0.0.100:7',
  sink: '10.0.0.100:9',
  refusing: '10.0.0.101:80',
  blackhole: '10.0.0.102:80',
  echo6: '[fd00::100]:7',
} as const;

/** The virtual network `--network virtual` runs on: TCP/UDP echo, a sink, a refusing and a silent host. */
export function standardVirtualNetwork(seed: number): VirtualNetwork {
  const vn = new VirtualNetwork({ seed, latencyMs: 1 });
  vn.echoServer(VIRTUAL_PEERS.echo);
  vn.echoServer(VIRTUAL_PEERS.echo6);
  vn.sink(VIRTUAL_PEERS.sink);
  vn.refusing(VIRTUAL_PEERS.refusing);
  vn.blackhole(VIRTUAL_PEERS.blackhole);
  return vn;
}

export interface SimCommandIo {
  /** Where the `listening on` line goes. Default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Where logs go (pino destination). Default stderr (fd 2). */
  logDestination?: NodeJS.WritableStream;
  /** Install SIGINT / SIGTERM handlers that close the simulator. Default true. */
  handleSignals?: boolean;
  /** Called with the running simulator (e.g. to close it when handleSignals is false). */
  onStarted?: (sim: Simulator) => void;
}

export function buildSimCommand(io: SimCommandIo = {}): Command {
  return new Command('sim')
    .description(
      'run the device simulator: serve the firmware protocol on a TCP port, a serial line or a PCIe-style register window',
    )
    .addOption(
      new Option(
        '--listen <url>',
        'where to serve: tcp://host:port (port 0 = any), serial:///dev/pts/N?baud=..., or pcie:///dev/shm/NAME (a window file; interrupts on NAME.events, or ?events=FIFO; ?cmdentries=N&cplentries=N&descsize=N)',
      ).default('tcp://127.0.0.1:7070'),
    )
    .addOption(
      new Option('--network <kind>', 'network the sockets run on')
        .choices(['host', 'virtual'])
        .default('host'),
    )
    .option('--slots <n>', 'socket slots', int('--slots', 1, 255))
    .option(
      '--admin-credential <text>',
      `credential for CHANNEL_OPEN role ADMIN (default: $${ADMIN_CREDENTIAL_ENV}; none: no admin channel)`,
    )
    .option(
      '--slot-quota <n>',
      'socket slots each channel may hold (default: all)',
      int('--slot-quota', 0, 255),
    )
    .option(
      '--queue-quota <bytes>',
      'queue bytes each channel may hold (default: every slot at the default queue sizes)',
      int('--queue-quota', 0, 0xffffffff),
    )
    .option(
      '--channel-timeout <ms>',
      "abort a channel's sockets when its link has been down this long (default 10000)",
      int('--channel-timeout', 1, 0x7fffffff),
    )
    .option('--no-channels', 'simulate a device without CHANNELS and EGRESS_POLICY')
    .option(
      '--pcie-channels <n|list>',
      'pcie: extra ring pairs for channels 1..N, or for the listed channels (e.g. 1,255; a single one: 255,); interrupts on FIFO.<channel> (default 0: channel 0 only, no CHANNELS)',
      pcieChannelsArg,
    )
    .option('--send-queue <bytes>', 'send queue bytes per socket', int('--send-queue', 256, 16 * 1024 * 1024))
    .option(
      '--recv-queue <bytes>',
      'receive queue bytes per socket',
      int('--recv-queue', 256, 16 * 1024 * 1024),
    )
    .option('--max-payload <bytes>', 'largest message the device accepts', int('--max-payload', 256, 65535))
    .addOption(
      new Option('--log-level <level>', 'pino log level (logs go to stderr)')
        .choices([...LOG_LEVELS])
        .default('info'),
    )
    .option(
      '--corrupt-rate <p>',
      'wire fault: probability per byte of corruption (both directions)',
      rate('--corrupt-rate'),
    )
    .option(
      '--drop-rate <p>',
      'wire fault: probability per byte of loss (both directions)',
      rate('--drop-rate'),
    )
    .option('--seed <n>', 'seed for the random faults', int('--seed', 0, 0xffffffff))
    .option(
      '--drop-event-rate <p>',
      'fault: probability that an event message is lost',
      rate('--drop-event-rate'),
    )
    .option(
      '--delay-events-ms <ms>',
      'fault: delay every event message',
      int('--delay-events-ms', 0, 600_000),
    )
    .option(
      '--keys <file>',
      'provisioned secure-execution keys: JSON {"1":"<64 hex>"} or lines "keyId hex"; advertises SECURE',
    )
    .option(
      '--reset-after-ms <ms>',
      'fault: reset the board this long after start',
      int('--reset-after-ms', 0, 0x7fffffff),
    )
    .action(async (o: SimCommandOptions) => {
      const logger = pino(
        { level: o.logLevel, name: 'offload-sim', base: { pid: process.pid } },
        (io.logDestination ?? pino.destination({ fd: 2, sync: true })) as pino.DestinationStream,
      );
      const sim = await startSimulator(simOptionsFromCli(o, logger));
      (io.stdout ?? process.stdout).write(`listening on ${sim.url}\n`);
      io.onStarted?.(sim);
      if (io.handleSignals === false) return;
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        sim.close().then(
          () => {
            logger.info('stopped');
            process.exitCode = 0;
            // Every handle is closed, so the process ends by itself; if something still holds it, say so.
            setTimeout(() => {
              logger.error('handles still open 3 s after close; exiting');
              process.exit(1);
            }, 3000).unref();
          },
          (err: unknown) => {
            logger.error({ err }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  buildSimCommand()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      process.stderr.write(`offload sim: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
