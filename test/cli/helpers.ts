/**
 * Running the built `offload` CLI and the built standalone simulator as a user does: `node dist/src/cli/main.js`
 * and `node dist/sim/main.js`, in child processes. `npm test` builds first; run `npm run build` before running
 * these files alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/sim-process.js';

export { REPO_ROOT };
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const SIM = join(REPO_ROOT, 'dist', 'sim', 'main.js');

/** Fails with a clear message when the build output is missing. */
export function requireBuild(): void {
  for (const f of [CLI, SIM]) {
    if (!existsSync(f)) {
      throw new Error(
        `${f} is missing: run \`npm run build\` first (\`npm test\` builds before running the tests)`,
      );
    }
  }
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** An environment without OFFLOAD_DEVICE (so that tests choose the device), plus `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('OFFLOAD_DEVICE' in extra)) delete env.OFFLOAD_DEVICE;
  return env;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `offload ...args` to completion (killed after timeoutMs). */
export function runCli(args: string[], o: RunOptions = {}): Promise<CliResult> {
  const p = startCli(args, o);
  if (o.input !== undefined) p.child.stdin!.end(o.input);
  else p.child.stdin!.end();
  return p.done;
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<CliResult>;
  /** Resolves once `pattern` appears on stdout or stderr; rejects if the process exits first or after ms. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
}

export function startCli(args: string[], o: RunOptions = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: cliEnv(o.env),
    stdio: ['pipe', 'pipe', 'pipe'],
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
  child.stdin!.on('error', () => undefined);
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  const done = new Promise<CliResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  const waitFor = (pattern: RegExp, ms = 15_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        const m = pattern.exec(out) ?? pattern.exec(err);
        if (m) return resolve(m);
        if (child.exitCode !== null || child.signalCode !== null) {
          return reject(
            new Error(`offload ${args.join(' ')} exited before ${pattern}:\nstdout: ${out}\nstderr: ${err}`),
          );
        }
        if (Date.now() - started > ms) {
          return reject(
            new Error(
              `timed out waiting for ${pattern} from offload ${args.join(' ')}:\nstdout: ${out}\nstderr: ${err}`,
            ),
          );
        }
        setTimeout(check, 20);
      };
      check();
    });
  return { child, stdout: () => out, stderr: () => err, done, waitFor };
}

export interface SimChild {
  url: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/** The built standalone simulator: `node dist/sim/main.js --listen <listen> ...`, parsed `listening on <url>`. */
export async function startSimProcess(listen: string, extra: string[] = []): Promise<SimChild> {
  const child = spawn(process.execPath, [SIM, '--listen', listen, '--log-level', 'warn', ...extra], {
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
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`simulator did not start:\n${out}\n${err}`)), 20_000);
    const poll = setInterval(() => {
      const m = /^listening on (\S+)$/m.exec(out);
      if (m) {
        clearTimeout(t);
        clearInterval(poll);
        resolve(m[1]!);
      } else if (child.exitCode !== null) {
        clearTimeout(t);
        clearInterval(poll);
        reject(new Error(`simulator exited (${child.exitCode}) before listening:\n${out}\n${err}`));
      }
    }, 20);
  });
  return {
    url,
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const k = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(k);
    },
  };
}

/** Every non-empty line parsed as JSON (throws on the first line that is not). */
export function ndjson(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
}

/** A failure report as the CLI promises: one line `offload: CODE: message`, no stack trace. */
export function expectOneLineError(r: CliResult, code: string): void {
  if (r.code !== 1)
    throw new Error(`expected exit status 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got:\n${r.stderr}`);
  if (!lines[0]!.startsWith(`offload: ${code}: `))
    throw new Error(`expected 'offload: ${code}: …', got: ${lines[0]}`);
  if (/\n\s+at /.test(r.stderr)) throw new Error(`stack trace on stderr:\n${r.stderr}`);
}
