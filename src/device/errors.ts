/**
 * Errors of the mailbox client. Every one is an OffloadError with a stable `code`:
 * - the driver's own conditions (handshake, timeouts, device reset, link down) as E_OFFLOAD_*;
 * - a device status code: a network error keeps its Node/POSIX name (ECONNREFUSED, ECONNRESET, ETIMEDOUT,
 *   EADDRINUSE, ...); a device-level status becomes E_OFFLOAD_ + its name without the E_ prefix
 *   (E_UNKNOWN_SOCKET → E_OFFLOAD_UNKNOWN_SOCKET, E_NO_SLOT → E_OFFLOAD_NO_SLOT, ...). `errno` carries the
 *   protocol's POSIX equivalent of every status (EBADF, EMFILE, ...), `status` the numeric code.
 */
import { OffloadError } from '../errors.js';
import { STATUS_NAME, STATUS_POSIX, type StatusCodeName } from '../protocol/index.js';

export const DeviceErrorCode = {
  /** The peer answered, but not as a device of this protocol (no link sync, garbage, wrong HELLO answer). */
  NOT_A_DEVICE: 'E_OFFLOAD_NOT_A_DEVICE',
  /** The device speaks another major protocol version. */
  BAD_VERSION: 'E_OFFLOAD_BAD_VERSION',
  /** PCIe: the device offers no ring pair for the channel asked for (PROTOCOL.md §10.5). */
  NO_CHANNEL: 'E_OFFLOAD_NO_CHANNEL',
  /** Nothing answered the link start or HELLO within the handshake timeout. */
  NO_ANSWER: 'E_OFFLOAD_NO_ANSWER',
  /** A command got no response within its timeout. */
  REQUEST_TIMEOUT: 'E_OFFLOAD_REQUEST_TIMEOUT',
  /** The device rebooted or was reset (new boot epoch): its sockets no longer exist. */
  DEVICE_RESET: 'E_OFFLOAD_DEVICE_RESET',
  /** The link to the device is down (transport closed, peer dead). */
  LINK_DOWN: 'E_OFFLOAD_LINK_DOWN',
  /** The link restarted (the peer re-synchronised): commands in flight were lost, their outcome is unknown. */
  LINK_RESET: 'E_OFFLOAD_LINK_RESET',
  /** The device object was closed by the application. */
  DEVICE_CLOSED: 'E_OFFLOAD_DEVICE_CLOSED',
  /** The device did not advertise the capability a call needs. */
  NOT_SUPPORTED: 'E_OFFLOAD_NOT_SUPPORTED',
  /** The device answered something the protocol does not allow (wrong message for a tag, ...). */
  PROTOCOL_VIOLATION: 'E_OFFLOAD_PROTOCOL_VIOLATION',
  /**
   * Secure execution refused (§12.2): unknown keyId, wrong key (the device's proof does not check, or the device
   * refused ours), or a device that does not offer SECURE.
   */
  AUTH: 'E_OFFLOAD_AUTH',
  /** A register name or offset that does not exist. */
  BAD_REGISTER: 'E_OFFLOAD_BAD_REGISTER',
} as const;
export type DeviceErrorCode = (typeof DeviceErrorCode)[keyof typeof DeviceErrorCode];

/** A condition of the mailbox client itself (not a device status). */
export class DeviceError extends OffloadError {
  declare readonly code: DeviceErrorCode;
  constructor(
    code: DeviceErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, details, options);
  }
}

/** The stable code for a device status: POSIX name for network errors, E_OFFLOAD_* for device-level ones. */
export function statusToCode(status: number): string {
  const name = STATUS_NAME[status];
  if (name === undefined) return 'E_OFFLOAD_STATUS_UNKNOWN';
  if (name === 'OK') return 'OK';
  return name.startsWith('E_') ? `E_OFFLOAD_${name.slice(2)}` : name;
}

/** A command answered with a status other than OK (or an asynchronous socket error reported by the device). */
export class DeviceStatusError extends OffloadError {
  /** Numeric protocol status. */
  readonly status: number;
  /** Protocol name of the status (E_UNKNOWN_SOCKET, ECONNREFUSED, ...). */
  readonly statusName: StatusCodeName | 'UNKNOWN';
  /** POSIX / Node equivalent (EBADF, ECONNREFUSED, ...), like Node's `err.errno` text. */
  readonly errno: string | undefined;
  /** Like Node's system errors: the operation that failed ('connect', 'SEND', ...). */
  readonly syscall: string | undefined;

  constructor(status: number, message: string, details: Record<string, unknown> = {}, syscall?: string) {
    super(statusToCode(status), message, { status, ...details });
    this.status = status;
    this.statusName = STATUS_NAME[status] ?? 'UNKNOWN';
    this.errno = STATUS_POSIX[status] ?? undefined;
    this.syscall = syscall;
  }
}

export function statusError(
  status: number,
  what: string,
  details: Record<string, unknown> = {},
  syscall?: string,
): DeviceStatusError {
  const name = STATUS_NAME[status] ?? `status ${status}`;
  return new DeviceStatusError(status, `${what}: ${name}`, details, syscall);
}

export function isDeviceError(err: unknown, code?: DeviceErrorCode): err is DeviceError {
  return err instanceof DeviceError && (code === undefined || err.code === code);
}
