#!/usr/bin/env node
/**
 * `offload`: the diagnostics CLI. Errors are reported as one line, `offload: CODE: message`, exit status 1;
 * with --log-level debug (or trace) the stack trace follows.
 */
import type { Command } from 'commander';
import { formatError } from './output.js';
import { buildProgram } from './program.js';

let withStack = process.argv.some(
  (a, i) =>
    /^--log-level=(debug|trace)$/.test(a) ||
    (a === '--log-level' && /^(debug|trace)$/.test(process.argv[i + 1] ?? '')),
);
/** `offload sim` keeps running after its action returned; every other command exits when done. */
let keepRunning = false;

function report(err: unknown): void {
  process.stderr.write(`${formatError(err, withStack)}\n`);
}

// A closed pipe on stdout (`offload monitor --json | head`) ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  report(err);
  process.exit(1);
});

process.on('uncaughtException', (err) => {
  report(err);
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  report(err);
  process.exit(1);
});

async function main(): Promise<void> {
  const program = buildProgram();
  program.hook('preAction', (_thisCommand: Command, action: Command) => {
    const level = action.optsWithGlobals<{ logLevel?: string }>().logLevel;
    if (level) withStack = level === 'debug' || level === 'trace';
    if (action.name() === 'sim') keepRunning = true;
  });
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    report(err);
    process.exitCode = 1;
  }
  if (keepRunning && process.exitCode !== 1) return;
  // Let stdout / stderr drain, then exit even if a handle (a serial port, a timer) lingers.
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  await new Promise<void>((r) => process.stderr.write('', () => r()));
  process.exit(process.exitCode ?? 0);
}

void main();
