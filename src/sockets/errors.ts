/**
 * Socket-level errors: what an OffloadSocket / OffloadServer / OffloadUdpSocket emits. Codes follow Node's
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ECONNABORTED, EADDRINUSE, EPIPE, ...) so that code written for net and
 * dgram works unchanged; the driver's own conditions keep their E_OFFLOAD_* codes (E_OFFLOAD_DEVICE_RESET,
 * E_OFFLOAD_LINK_DOWN, ...). Like Node's system errors they carry syscall, address and port where known.
 */
import { statusToCode } from '../device/errors.js';
import { OffloadError } from '../errors.js';
import { STATUS_NAME, STATUS_POSIX } from '../protocol/index.js';

export interface SocketErrorFields {
  syscall?: string;
  address?: string;
  port?: number;
  socketId?: number;
  /** Protocol status code, when the device reported it. */
  status?: number;
}

export class SocketError extends OffloadError {
  readonly syscall: string | undefined;
  readonly address: string | undefined;
  readonly port: number | undefined;
  /** POSIX name of the condition (same as code for network errors; EBADF, EMFILE ... for device-level ones). */
  readonly errno: string | undefined;

  constructor(code: string, message: string, fields: SocketErrorFields = {}, options?: ErrorOptions) {
    const details: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) details[k] = v;
    super(code, message, details, options);
    this.syscall = fields.syscall;
    this.address = fields.address;
    this.port = fields.port;
    this.errno = fields.status !== undefined ? (STATUS_POSIX[fields.status] ?? undefined) : undefined;
  }
}

function where(f: SocketErrorFields): string {
  if (f.address === undefined) return '';
  return f.port !== undefined
    ? ` ${f.address.includes(':') ? `[${f.address}]` : f.address}:${f.port}`
    : ` ${f.address}`;
}

/** Like Node: "connect ECONNREFUSED 127.0.0.1:9". */
export function socketStatusError(
  status: number,
  fields: SocketErrorFields,
  options?: ErrorOptions,
): SocketError {
  const code = statusToCode(status);
  const name = STATUS_NAME[status] ?? `status ${status}`;
  const msg = `${fields.syscall ? `${fields.syscall} ` : ''}${code === name ? code : `${code} (${name})`}${where(fields)}`;
  return new SocketError(code, msg, { ...fields, status }, options);
}

/** Wrap a driver error (device reset, link down, closed, request timeout) for one socket. */
export function socketDriverError(err: Error & { code?: string }, fields: SocketErrorFields): SocketError {
  if (err instanceof SocketError) return err;
  const code = err.code ?? 'E_OFFLOAD_INTERNAL';
  const status = (err as { status?: unknown }).status;
  const f = typeof status === 'number' ? { ...fields, status } : fields;
  return new SocketError(code, `${fields.syscall ? `${fields.syscall} ` : ''}${err.message}`, f, {
    cause: err,
  });
}
