/**
 * Output helpers of the `offload` CLI: aligned tables, JSON documents and NDJSON lines, timestamps, hex dumps,
 * sizes and rates, and the one-line error report.
 */
import { OffloadError } from '../errors.js';

/** A usage or check failure of the CLI itself: reported as one line, exit status 1. */
export class CliError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

/** The process exit status to use after an action finished without throwing (set by checks that fail). */
export function fail(message?: string): void {
  if (message) process.stderr.write(`offload: ${message}\n`);
  process.exitCode = 1;
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One NDJSON line. */
export function printNdjson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A column-aligned table; numbers (and cells that look like numbers) are right-aligned. */
export function table(headers: string[], rows: Array<Array<string | number>>, indent = ''): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map(
    (_, i) =>
      cells.length > 0 && cells.every((r) => /^-?[\d.,]+( ?[kMG]?i?B(\/s)?|%| ms| µs)?$/.test(r[i] ?? '')),
  );
  const line = (r: string[]) =>
    indent +
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** HH:MM:SS.mmm local time. */
export function timestamp(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function hex(n: number, digits = 8): string {
  return `0x${(n >>> 0).toString(16).toUpperCase().padStart(digits, '0')}`;
}

export function hexId(id: number): string {
  return `0x${id.toString(16).padStart(4, '0')}`;
}

/** Classic 16-bytes-per-line hex dump with offsets of the register space and an ASCII column. */
export function hexDump(
  base: number,
  bytes: Buffer,
  annotate?: (offset: number) => string | undefined,
): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, Math.min(i + 16, bytes.length));
    const hexPart = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    const note = annotate?.(base + i);
    lines.push(
      `${(base + i).toString(16).padStart(5, '0')}: ${hexPart.padEnd(47)}  |${ascii.padEnd(16)}|${note ? `  ${note}` : ''}`,
    );
  }
  return lines.join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** Bytes per second as MB/s (10^6) and Mbit/s. */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0) return '-';
  const bps = (bytes * 1000) / ms;
  return `${(bps / 1e6).toFixed(2)} MB/s (${((bps * 8) / 1e6).toFixed(1)} Mbit/s)`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min ${s % 60} s` : `${m} min ${s % 60} s`;
}

/** A progress bar on stderr, drawn only when stderr is a terminal. */
export class Progress {
  private readonly enabled: boolean;
  private last = 0;
  private readonly started = performance.now();
  constructor(
    private readonly total: number,
    private readonly label: string,
    enabled = true,
  ) {
    this.enabled = enabled && process.stderr.isTTY === true;
  }
  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const width = 30;
    const filled = Math.round(frac * width);
    const rate = formatRate(done, now - this.started).split(' (')[0];
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${formatBytes(done)}  ${rate}\x1b[K`,
    );
  }
  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[K');
  }
}

/** The code of an error, if it has a typed one (OffloadError, Node system error, CliError with a code). */
export function errorCode(err: unknown): string | undefined {
  if (err instanceof OffloadError) return err.code;
  if (err instanceof CliError) return err.code;
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

/** `offload: CODE: message` (the message without a repeated code); the stack only at log level debug/trace. */
export function formatError(err: unknown, withStack = false): string {
  if (!(err instanceof Error)) return `offload: ${String(err)}`;
  const code = errorCode(err);
  let msg = err.message.split('\n')[0] ?? '';
  if (code && msg.startsWith(`${code}: `)) msg = msg.slice(code.length + 2);
  let line = code ? `offload: ${code}: ${msg}` : `offload: ${msg}`;
  if (withStack && err.stack) {
    line += `\n${err.stack}`;
    let cause = (err as { cause?: unknown }).cause;
    while (cause instanceof Error) {
      line += `\ncaused by: ${cause.stack ?? cause.message}`;
      cause = (cause as { cause?: unknown }).cause;
    }
  }
  return line;
}
