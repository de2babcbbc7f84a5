/**
 * Options every device command shares (--device, --json, --log-level, --timeout, --channel) and argument parsers.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface DeviceCliOptions {
  device?: string;
  json?: boolean;
  logLevel?: LogLevel;
  timeout?: number;
  channel?: number;
  credential?: string;
}

/** Where the CLI goes when neither --device nor OFFLOAD_DEVICE says: the in-process simulator. */
export const DEFAULT_DEVICE = 'sim:';

export function deviceUrl(o: DeviceCliOptions): string {
  const env = process.env.OFFLOAD_DEVICE?.trim();
  return o.device ?? (env ? env : DEFAULT_DEVICE);
}

/**
 * Adds the shared device options to a command (no defaults here: a parent's value must not be masked).
 * `channel`: the command explains --channel in its own help (monitor beside an application).
 */
export function withDeviceOptions(cmd: Command, json = true, channel = false): Command {
  cmd.addOption(
    new Option(
      '-d, --device <url>',
      'device URL: sim:, tcp://HOST:PORT, serial:///dev/ttyUSB0?baud=921600, rfc2217://HOST:PORT, pcie:///dev/xdma0_user?events=/dev/xdma0_events_0 (default: $OFFLOAD_DEVICE, else sim:, an in-process simulator)',
    ),
  );
  if (json) cmd.option('--json', 'machine-readable output (JSON)');
  cmd.addOption(
    new Option(
      '--log-level <level>',
      'driver log level, pino JSON on stderr (default silent); debug also prints stack traces',
    ).choices([...LOG_LEVELS]),
  );
  cmd.addOption(
    new Option('--timeout <ms>', 'handshake timeout: link start + HELLO (default 3000)').argParser(
      intArg('--timeout', 100, 600_000),
    ),
  );
  cmd.addOption(
    new Option(
      '--channel <n>',
      channel
        ? 'link channel to open (default 0); on another channel a second host does not take channel 0 over'
        : 'channel to open (default 0, or ?channel=N in the URL); 255 is the admin channel',
    ).argParser(intArg('--channel', 0, 255)),
  );
  cmd.addOption(
    new Option(
      '--credential <text>',
      'admin credential: opens the channel with role ADMIN (default: &credential= in the URL, else $OFFLOAD_CREDENTIAL on channel 255)',
    ),
  );
  return cmd;
}

export function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const v = value.trim();
    const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v, 16) : Number(v);
    if (v === '' || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** 1024, 64k, 64KiB, 1M, 1MiB, 2G (binary multiples). */
export function parseSize(value: string, name = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`${name} must be a byte count such as 512, 64k or 4M`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} is out of range`);
  return n;
}

export function sizeArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = parseSize(value, name);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max} bytes`);
    return n;
  };
}

/** Milliseconds: 500, 500ms, 2s, 1m. */
export function durationArg(name: string) {
  return (value: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/i.exec(value);
    if (!m) throw new InvalidArgumentError(`${name} must be a duration such as 500, 500ms, 2s or 1m`);
    const mult = { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms' | 's' | 'm'];
    return Math.round(Number(m[1]) * mult);
  };
}

/** HOST:PORT, [v6]:PORT. */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), got '${value}'`);
  }
  return { host: m[1]!, port };
}
