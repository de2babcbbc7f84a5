/** The `offload` command tree (commander). main.ts runs it; tests may build it too. */
import { Command } from 'commander';
import { buildSimCommand } from '../../sim/main.js';
import { benchCommand } from './commands/bench.js';
import { conformanceCommand } from './commands/conformance.js';
import { connectCommand, listenCommand } from './commands/connect.js';
import { listCommand } from './commands/list.js';
import { monitorCommand } from './commands/monitor.js';
import { probeCommand } from './commands/probe.js';
import { regsCommand } from './commands/regs.js';
import { selftestCommand } from './commands/selftest.js';
import { socketsCommand } from './commands/sockets.js';
import { trafficCommand } from './commands/traffic.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('offload')
    .description(
      'diagnostics for network-offload boards (and the bundled simulator): probe, registers, socket table, live events, traffic, benchmarks, bring-up self-test',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addCommand(listCommand())
    .addCommand(probeCommand())
    .addCommand(regsCommand())
    .addCommand(socketsCommand())
    .addCommand(monitorCommand())
    .addCommand(connectCommand())
    .addCommand(listenCommand())
    .addCommand(trafficCommand())
    .addCommand(benchCommand())
    .addCommand(selftestCommand())
    .addCommand(conformanceCommand());
  const sim = buildSimCommand();
  sim.addHelpText(
    'after',
    `
Examples:
  $ offload sim --listen tcp://127.0.0.1:7070                 # then: offload probe --device tcp://127.0.0.1:7070
  $ offload sim --listen 'serial:///dev/pts/5?baud=921600'     # one end of a pty pair (socat)
  $ offload sim --network virtual --slots 8 --corrupt-rate 0.001 --seed 1`,
  );
  program.addCommand(sim);
  program.addHelpText(
    'after',
    `
Every command that talks to a device takes --device URL (or the environment variable OFFLOAD_DEVICE; default
sim:, a simulator inside this process), --json for machine-readable output and --log-level. Failures print one
line "offload: CODE: message" on stderr and exit with status 1 (a stack trace only with --log-level debug).

Device URLs:
  sim:                                        in-process simulator (sim:?slots=8&sendQueueSize=4096 ...)
  tcp://127.0.0.1:7070                        TCP shim (a board's Ethernet bridge, or offload sim)
  serial:///dev/ttyUSB0?baud=921600           serial line (COBS frames, CRC-32, ARQ)
  rfc2217://labhost:2000?baud=921600          serial port exported by ser2net (RFC 2217)

Examples:
  $ offload probe
  $ offload sim --listen tcp://127.0.0.1:7070 &
  $ export OFFLOAD_DEVICE=tcp://127.0.0.1:7070
  $ offload regs
  $ offload selftest
  $ offload traffic --size 4M --parallel 4
  $ offload monitor --traffic tcp --duration 5s`,
  );
  return program;
}
