/**
 * offload conformance: the protocol conformance kit (src/conformance) against a device. One line per test
 * (PASS / FAIL / N/A, id, title; on failure what was sent, expected and received), a summary, --json,
 * --junit FILE for lab CI, --grep to run a subset, --list to list the tests. Exit status 0 only when every
 * applicable test passed.
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { createInProcessDevice, type InProcessDevice } from '../../../sim/index.js';
import {
  type ConformanceOptions,
  type ConformanceReport,
  formatJunit,
  formatResultLine,
  formatSummary,
  listConformanceTests,
  runConformance,
} from '../../conformance/index.js';
import { loadKeyFile, parseSecureKey } from '../../protocol/index.js';
import { parseDeviceUrl } from '../../transport/index.js';
import { cliLogger } from '../device.js';
import { type DeviceCliOptions, deviceUrl, intArg, sizeArg, withDeviceOptions } from '../options.js';
import { CliError, out, printJson } from '../output.js';

interface ConformanceCliOptions extends DeviceCliOptions {
  grep?: string;
  list?: boolean;
  junit?: string;
  peerHost?: string;
  deviceHost?: string;
  requestTimeout?: number;
  dataBytes?: number;
  adminCredential?: string;
  keyId?: number;
  keyFile?: string;
  channelTimeout?: number;
}

/** --key-id N with the key from --key-file or OFFLOAD_KEY (never on the command line: it ends up in history). */
function secureKeyOption(
  o: ConformanceCliOptions,
  env: Record<string, string | undefined> = process.env,
): ConformanceOptions['secureKey'] {
  if (o.keyId === undefined) {
    if (o.keyFile) throw new CliError('--key-file needs --key-id N (which key of the file the device holds)');
    return undefined;
  }
  if (o.keyFile) {
    let keys: Map<number, Buffer>;
    try {
      keys = loadKeyFile(o.keyFile);
    } catch (err) {
      throw new CliError(`--key-file: ${(err as Error).message}`);
    }
    const key = keys.get(o.keyId);
    if (!key) throw new CliError(`--key-file ${o.keyFile} has no key ${o.keyId}`);
    return { keyId: o.keyId, key };
  }
  if (env.OFFLOAD_KEY) {
    try {
      return { keyId: o.keyId, key: parseSecureKey(env.OFFLOAD_KEY) };
    } catch (err) {
      throw new CliError(`OFFLOAD_KEY: ${(err as Error).message}`);
    }
  }
  throw new CliError(`--key-id ${o.keyId} needs the key: --key-file FILE or OFFLOAD_KEY (64 hex characters)`);
}

const SIM_PARAMS = ['slots', 'sendQueueSize', 'recvQueueSize', 'maxPayload', 'backlogMax'] as const;

/** A `sim:` URL: the bundled simulator in this process (host network), with its numeric parameters. */
function inProcessSim(url: string): InProcessDevice {
  const parsed = parseDeviceUrl(url);
  if (parsed.kind !== 'sim') throw new CliError(`not a sim: URL: ${url}`);
  const opts: Record<string, unknown> = { network: 'host', name: parsed.name };
  for (const [k, v] of Object.entries(parsed.params)) {
    const key = SIM_PARAMS.find((p) => p.toLowerCase() === k.toLowerCase());
    if (!key || !/^\d+$/.test(v))
      throw new CliError(`sim: parameter ${k}=${v} (known, whole numbers: ${SIM_PARAMS.join(', ')})`);
    opts[key] = Number(v);
  }
  return createInProcessDevice(opts as Parameters<typeof createInProcessDevice>[0]);
}

export async function runConformanceCli(o: ConformanceCliOptions): Promise<ConformanceReport> {
  const url = deviceUrl(o);
  const logger = cliLogger(o);
  const opts: ConformanceOptions = { logger };
  if (o.grep) opts.grep = o.grep;
  if (o.peerHost) opts.peerHost = o.peerHost;
  if (o.deviceHost) opts.deviceHost = o.deviceHost;
  if (o.requestTimeout) opts.timeoutMs = o.requestTimeout;
  if (o.timeout) opts.handshakeTimeoutMs = o.timeout;
  if (o.dataBytes) opts.dataBytes = o.dataBytes;
  if (o.adminCredential) opts.adminCredential = o.adminCredential;
  if (o.channelTimeout !== undefined) opts.channelTimeoutMs = o.channelTimeout;
  const secureKey = secureKeyOption(o);
  if (secureKey) opts.secureKey = secureKey;
  if (!o.json) opts.onResult = (r) => out(formatResultLine(r));
  let sim: InProcessDevice | undefined;
  if (parseDeviceUrl(url).kind === 'sim') {
    sim = inProcessSim(url);
    await sim.transport.open();
    opts.transport = sim.transport;
    opts.framing = 'tcp';
    opts.url = url;
  } else opts.url = url;
  try {
    if (!o.json) out(`conformance of ${url} (peers on ${o.peerHost ?? '127.0.0.1'})`);
    return await runConformance(opts);
  } finally {
    await sim?.close();
  }
}

export function conformanceCommand(): Command {
  const cmd = new Command('conformance')
    .description(
      'run the protocol conformance kit against a device: one line per test (PASS / FAIL / N/A), a summary; exit status 0 only if every applicable test passes',
    )
    .option(
      '--grep <re>',
      'run only tests whose id or title matches this regular expression (case-insensitive)',
    )
    .option('--list', 'list the tests (id, PROTOCOL.md section, capabilities needed, title) and exit')
    .option('--junit <file>', 'also write a JUnit XML report (for lab CI) to this file')
    .option(
      '--peer-host <addr>',
      "address of this host where the kit's peers listen and the device is told to connect (default 127.0.0.1; a board on a real network needs an address of this host it can reach)",
    )
    .option(
      '--device-host <addr>',
      "address at which this host reaches the device's listening sockets (default: the host of a tcp:// URL, else 127.0.0.1)",
    )
    .addOption(
      new Option(
        '--request-timeout <ms>',
        'time the device has to answer each command (default 3000)',
      ).argParser(intArg('--request-timeout', 100, 600_000)),
    )
    .addOption(
      new Option(
        '--data-bytes <size>',
        'bytes per direction in the data-integrity test (default 256k)',
      ).argParser(sizeArg('--data-bytes', 1, 1024 ** 3)),
    )
    .option(
      '--admin-credential <text>',
      "the device's admin credential: runs the admin tests (channel 255, admin CLOSE, CHANNEL_RESET) and, with a key, the egress-policy tests; without it they are not applicable",
    )
    .addOption(
      new Option(
        '--key-id <n>',
        'a key provisioned on the device (its key from --key-file or OFFLOAD_KEY): runs the secure-execution tests; without it they are not applicable',
      ).argParser(intArg('--key-id', 0, 0xffffffff)),
    )
    .option(
      '--key-file <file>',
      'key file holding the --key-id key (JSON {"1":"<64 hex>"} or lines "keyId hex")',
    )
    .addOption(
      new Option(
        '--channel-timeout <ms>',
        "the device's channel timeout (§11; the protocol's default is 10000): runs channel.timeout, which waits about that long plus 4.5 s; without it the test is not applicable",
      ).argParser(intArg('--channel-timeout', 1, 600_000)),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
What it checks (PROTOCOL.md): the handshake and capability rules (§5.8.1, §14), every register and its access
rule (§9), every socket command in every reachable status of the transition table (§6.5), UPDATE with known and
unknown ids (FIG 32, §6.8), slot exhaustion and reuse (§6.2), credits both ways and data integrity (§7), event
sequence numbers and snapshots (§8), refused / reset / timeout / address-in-use (§13), malformed messages (§5.5),
the serial link under corruption and loss (§2, §4; serial only), channels, isolation and the admin's powers (§11),
secure execution (§12) and the egress policy (§12.5), and RESET with the boot epoch (§8.3). The admin tests need
--admin-credential, the secure tests --key-id with --key-file or OFFLOAD_KEY, the egress tests both, the channel
timeout test --channel-timeout; without them those tests are not applicable (the report says which option to pass).

The kit is destructive: it opens and closes sockets, writes SCRATCH and IRQ registers, and RESETs the device at
the end. It starts its own peers (TCP echo, a silent peer, a talker, a closer, an RST-er, a closed port, UDP echo,
a blackhole for connect timeouts) on --peer-host and tells the device to connect there.

Examples:
  $ offload conformance                                            # the bundled simulator (sim:)
  $ offload conformance --device tcp://127.0.0.1:7070 --junit conformance.xml
  $ offload conformance --device 'serial:///dev/ttyUSB0?baud=921600' --grep 'link|register'
  $ offload conformance --device tcp://192.168.1.50:7070 --peer-host 192.168.1.10
  $ OFFLOAD_KEY=<64 hex> offload conformance --device tcp://127.0.0.1:7070 --key-id 1 --admin-credential sesame
  $ offload conformance --list`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<ConformanceCliOptions>();
    if (o.list) {
      const tests = listConformanceTests(o.grep);
      if (o.json) {
        printJson(
          tests.map((t) => ({
            id: t.id,
            title: t.title,
            section: t.section,
            requires: t.requires ?? [],
            framing: t.framing ?? 'any',
          })),
        );
        return;
      }
      const w = Math.max(...tests.map((t) => t.id.length));
      for (const t of tests) {
        const needs = [...(t.requires ?? []), ...(t.framing ? [t.framing] : [])];
        out(`${t.id.padEnd(w)}  ${t.section}${needs.length ? `  [${needs.join(' ')}]` : ''}  ${t.title}`);
      }
      out(`${tests.length} tests`);
      return;
    }
    const report = await runConformanceCli(o);
    if (o.junit) writeFileSync(o.junit, formatJunit(report));
    if (o.json) printJson(report);
    else out(formatSummary(report));
    if (!report.ok) process.exitCode = 1;
  });
  return cmd;
}
