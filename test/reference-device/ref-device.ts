/**
 * TEST TOOL: builds the C reference device (firmware-protocol/reference-device) with make and runs it as a child
 * process, over the TCP shim or on one end of a socat pty pair, shaped like the driver tests' DevicePath so the
 * same test bodies run against it.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type OpenDeviceOptions, openDevice } from '../../src/index.js';
import type { DevicePath, PathName, SimSettings } from '../driver/paths.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { REPO_ROOT } from '../helpers/sim-process.js';

export const REF_DIR = join(REPO_ROOT, 'firmware-protocol', 'reference-device');
export const REF_BIN = join(REF_DIR, 'build', 'reference-device');
export const REF_BIN_SAN = join(REF_DIR, 'build', 'reference-device-san');
export const REF_FUZZ_BIN = join(REF_DIR, 'build', 'fuzz-link');

export type RefFlavour = 'release' | 'san';

function requireTool(name: string, args: string[]): void {
  const r = spawnSync(name, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `the reference device needs '${name}' to build (firmware-protocol/reference-device/Makefile), but it could not be run: ` +
        `${r.error?.message ?? `exit ${r.status}`}. Install a C compiler and make (apt-get install build-essential).`,
    );
  }
}

/**
 * Builds a flavour with make (incremental; serialised with flock when available, since several test files build
 * at once). Throws a clear error if cc or make is missing or the build fails.
 */
export function buildReferenceDevice(target: 'all' | 'san' | 'fuzz' = 'all'): string {
  requireTool('cc', ['--version']);
  requireTool('make', ['--version']);
  const lock = join(REF_DIR, '.build.lock');
  const haveFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
  const [cmd, args] = haveFlock
    ? ['flock', [lock, 'make', '-s', '-C', REF_DIR, target]]
    : ['make', ['-s', '-C', REF_DIR, target]];
  try {
    execFileSync(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `building the reference device (make ${target}) failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`,
    );
  }
  const bin = target === 'san' ? REF_BIN_SAN : target === 'fuzz' ? REF_FUZZ_BIN : REF_BIN;
  if (!existsSync(bin)) throw new Error(`make ${target} did not produce ${bin}`);
  return bin;
}

export interface RefProcess {
  child: ChildProcess;
  url: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (default) and wait; SIGKILL after graceMs. */
  stop(
    signal?: NodeJS.Signals,
    graceMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the device and resolves once it printed `listening on <url>`. */
export async function spawnReferenceDevice(
  args: string[],
  opts: { flavour?: RefFlavour; timeoutMs?: number } = {},
): Promise<RefProcess> {
  const bin = opts.flavour === 'san' ? REF_BIN_SAN : REF_BIN;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const child = spawn(bin, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=66',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1:exitcode=67',
    },
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      child.kill('SIGKILL');
      reject(
        new Error(
          `reference device did not print its URL within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`,
        ),
      );
    }, timeoutMs);
    const onData = () => {
      const m = /^listening on (\S+)\n/m.exec(out);
      if (m) {
        cleanup();
        resolve(m[1]!);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`reference device exited (${code}) before listening\nstdout: ${out}\nstderr: ${err}`));
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
  return { child, url, stdout: () => out, stderr: () => err, exited, stop };
}

/** A pty is not rate-limited; the baud rate only sizes the link's retransmission timer. */
export const PTY_BAUD = 4_000_000;

function refArgs(s: SimSettings): string[] {
  const a: string[] = [];
  if (s.slots !== undefined) a.push('--slots', String(s.slots));
  if (s.sendQueueSize !== undefined) a.push('--send-queue', String(s.sendQueueSize));
  if (s.recvQueueSize !== undefined) a.push('--recv-queue', String(s.recvQueueSize));
  return a;
}

/** Throws if the process did not exit with status 0 or reported a sanitizer error. */
export function checkCleanExit(
  ref: RefProcess,
  r: { code: number | null; signal: NodeJS.Signals | null },
): void {
  if (r.code !== 0 || /Sanitizer|runtime error/.test(ref.stderr())) {
    throw new Error(`reference device exited with ${JSON.stringify(r)}\nstderr:\n${ref.stderr()}`);
  }
}

export interface RefPath extends Omit<DevicePath, 'process'> {
  /** The running device process, shaped like the simulator's (the driver's fault tests stop and kill it). */
  process: RefProcess;
  /** The running device process (its stderr carries sanitizer reports). */
  ref: RefProcess;
  /** The URL the driver opens. */
  url: string;
}

/**
 * The reference device on a driver-test path: 'tcp' (TCP shim, ARQ off) or 'pty' (socat pty pair, serial framing,
 * ARQ on). Build first with buildReferenceDevice().
 */
export async function startRefPath(
  name: Exclude<PathName, 'sim'>,
  settings: SimSettings = {},
  flavour: RefFlavour = process.env.REFDEV_FLAVOUR === 'san' ? 'san' : 'release',
): Promise<RefPath> {
  if (name === 'tcp') {
    const ref = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0', ...refArgs(settings)], {
      flavour,
    });
    return {
      name,
      bulkBytes: 8 * 1024 * 1024,
      process: ref,
      ref,
      url: ref.url,
      open: (o: Omit<OpenDeviceOptions, 'url'> = {}) => openDevice({ ...o, url: ref.url }),
      close: async () => {
        checkCleanExit(ref, await ref.stop());
      },
    };
  }
  const pty: PtyPair = await createPtyPair();
  const args = ['--serial', pty.b, '--baud', String(PTY_BAUD), ...refArgs(settings)];
  let ref: RefProcess;
  try {
    ref = await spawnReferenceDevice(args, { flavour });
  } catch (err) {
    await pty.kill();
    throw err;
  }
  const url = `serial://${pty.a}?baud=${PTY_BAUD}`;
  const p: RefPath = {
    name,
    bulkBytes: 2 * 1024 * 1024,
    process: ref,
    ref,
    url,
    open: (o: Omit<OpenDeviceOptions, 'url'> = {}) => openDevice({ ...o, url }),
    restartDevice: async () => {
      await p.ref.stop('SIGKILL');
      p.ref = await spawnReferenceDevice(args, { flavour });
      p.process = p.ref;
    },
    close: async () => {
      const r = await p.ref.stop();
      await pty.kill();
      checkCleanExit(p.ref, r);
    },
  };
  return p;
}
