/**
 * A pair of connected pseudo-terminals made by socat, for running the real serialport binding in tests:
 * bytes written to `a` come out of `b` and vice versa. kill() makes both ends vanish (like a USB unplug).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** Stable symlinks to the two pty slaves (inside a private temp dir). */
  a: string;
  b: string;
  /** The /dev/pts/N devices behind a and b, as socat reported them. */
  devices: string[];
  pid: number;
  /** SIGKILL socat (both ptys vanish) and wait until it has exited. Idempotent. */
  kill(): Promise<void>;
}

let socatChecked = false;

/** Throws a clear error if socat is not installed. */
export function requireSocat(): void {
  if (socatChecked) return;
  const r = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `socat is required for the serial tests (pty pairs) but could not be run: ${r.error?.message ?? `exit ${r.status}`}. ` +
        'Install it (apt-get install socat / brew install socat).',
    );
  }
  socatChecked = true;
}

export async function createPtyPair(timeoutMs = 5000): Promise<PtyPair> {
  requireSocat();
  const dir = mkdtempSync(join(tmpdir(), 'offload-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child: ChildProcess = spawn(
    'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });

  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  // socat logs "starting data transfer loop" once both ptys exist; links appear before that.
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(a) && existsSync(b) && stderr.includes('starting data transfer loop'))) {
    if (spawnError || child.exitCode !== null) {
      await kill();
      throw new Error(`socat failed to create a pty pair: ${spawnError?.message ?? ''}\n${stderr}`);
    }
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`socat did not create a pty pair within ${timeoutMs} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const devices = [...stderr.matchAll(/PTY is (\S+)/g)].map((m) => m[1] as string);
  return { a, b, devices, pid: child.pid as number, kill };
}
