/**
 * A real ser2net (Debian's ser2net 4.x) exporting a serial device (one end of a socat pty pair) as RFC 2217 on
 * 127.0.0.1, for the rfc2217:// tests. Each instance gets a private temp dir (config, pid file), runs in the
 * foreground (-n) without UUCP locking (-u, so parallel tests never collide on /var/lock), on a free port.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Ser2net {
  /** 127.0.0.1 port ser2net accepts RFC 2217 connections on. */
  port: number;
  /** rfc2217://127.0.0.1:PORT (no query). */
  url: string;
  pid: number;
  /** The ser2net.yaml written. */
  config: string;
  /** What ser2net printed so far (stdout + stderr), for failure messages. */
  output(): string;
  /** SIGTERM (or the given signal), SIGKILL after 2 s, and wait until it has exited. Idempotent. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Ser2netOptions {
  /** The serial device to export (e.g. a socat pty end). */
  device: string;
  /** Initial line settings of the serial side. Default 115200. */
  baud?: number;
  /** Port to listen on; default a free one. */
  port?: number;
  /** A new client takes the port over from the connected one (ser2net's kickolduser). Default true. */
  kickOldUser?: boolean;
  /** Wait at most this long for ser2net to listen. Default 5000. */
  timeoutMs?: number;
}

let checked: string | undefined;

/** Throws a clear error when ser2net is not installed; returns its version line. */
export function requireSer2net(): string {
  if (checked) return checked;
  const r = spawnSync('ser2net', ['-v'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `ser2net is required for the RFC 2217 tests but could not be run: ${r.error?.message ?? `exit ${r.status}`}. ` +
        'Install it with scripts/install-test-deps.sh (apt-get install ser2net).',
    );
  }
  checked = `${r.stdout}${r.stderr}`.trim();
  return checked;
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something listens on 127.0.0.1:port (read from /proc/net/tcp, so ser2net's device is not opened). */
function listening(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  try {
    return readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .some((line) => {
        const f = line.trim().split(/\s+/);
        return f[1] === want && f[3] === '0A';
      });
  } catch {
    return false;
  }
}

export function ser2netConfig(port: number, device: string, baud: number, kickOldUser = true): string {
  return [
    'connection: &offload',
    `  accepter: telnet(rfc2217),tcp,127.0.0.1,${port}`,
    `  connector: serialdev,${device},${baud}n81,local`,
    '  options:',
    `    kickolduser: ${kickOldUser}`,
    '    chardelay: false',
    '    mdns: false',
    '',
  ].join('\n');
}

export async function startSer2net(options: Ser2netOptions): Promise<Ser2net> {
  requireSer2net();
  const timeoutMs = options.timeoutMs ?? 5000;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await startOnce(
        port,
        options.device,
        options.baud ?? 115200,
        options.kickOldUser ?? true,
        timeoutMs,
      );
    } catch (err) {
      lastError = err as Error;
      if (options.port !== undefined) break; // a fixed port: no point retrying
    }
  }
  throw lastError as Error;
}

async function startOnce(
  port: number,
  device: string,
  baud: number,
  kickOldUser: boolean,
  timeoutMs: number,
): Promise<Ser2net> {
  const dir = mkdtempSync(join(tmpdir(), 'offload-ser2net-'));
  const config = join(dir, 'ser2net.yaml');
  writeFileSync(config, ser2netConfig(port, device, baud, kickOldUser));
  const child: ChildProcess = spawn('ser2net', ['-n', '-u', '-P', join(dir, 'ser2net.pid'), '-c', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (!listening(port)) {
    if (spawnError || child.exitCode !== null) {
      await kill();
      throw new Error(
        `ser2net failed to start on port ${port}: ${spawnError?.message ?? `exit ${child.exitCode}`}\n${out}`,
      );
    }
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`ser2net did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port,
    url: `rfc2217://127.0.0.1:${port}`,
    pid: child.pid as number,
    config: readFileSync(config, 'utf8'),
    output: () => out,
    kill,
  };
}
