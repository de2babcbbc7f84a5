/**
 * Runs the standalone simulator (sim/main.ts) as a child process with `node --import tsx`, so tests do not
 * depend on a prior build. Resolves once it printed its `listening on <url>` line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SimProcess {
  child: ChildProcess;
  url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  stop(
    signal?: NodeJS.Signals,
    graceMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnSim(args: string[], timeoutMs = 20_000): Promise<SimProcess> {
  const { child, stdout, stderr } = spawnScript(join('sim', 'main.ts'), args);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(
        new Error(
          `simulator did not print its URL within ${timeoutMs} ms\nstdout: ${stdout()}\nstderr: ${stderr()}`,
        ),
      );
    }, timeoutMs);
    const onData = () => {
      const m = /^listening on (\S+)\n/m.exec(stdout());
      if (m) {
        cleanup();
        resolve(m[1]!);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(
        new Error(`simulator exited (${code}) before listening\nstdout: ${stdout()}\nstderr: ${stderr()}`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const r = await exited;
    clearTimeout(t);
    return r;
  };
  return { child, url, stdout, stderr, exited, stop };
}

/** Runs a test helper script (TypeScript, through tsx) as a child process; stdout and stderr are collected. */
export function spawnScript(
  script: string,
  args: string[],
): { child: ChildProcess; stdout(): string; stderr(): string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    out += s;
  });
  child.stderr!.on('data', (s: string) => {
    err += s;
  });
  return { child, stdout: () => out, stderr: () => err };
}
