import { OffloadError } from '../errors.js';

/** Stable codes of every error the transport layer raises. Switch on `err.code`. */
export const TransportErrorCode = {
  /** A device URL could not be parsed (unknown scheme, missing path/port, bad value, unknown key). */
  BAD_URL: 'E_OFFLOAD_BAD_URL',
  /** The URL is valid but names a kind this layer does not open (sim:, pcie:, rfc2217:). */
  UNSUPPORTED_URL: 'E_OFFLOAD_UNSUPPORTED_URL',
  /** Serial: the device path does not exist. */
  PORT_NOT_FOUND: 'E_OFFLOAD_PORT_NOT_FOUND',
  /** Serial: the port is locked / in use by another process or another handle. */
  PORT_BUSY: 'E_OFFLOAD_PORT_BUSY',
  /** Serial: no permission to open the device (e.g. not in the dialout group). */
  PORT_ACCESS: 'E_OFFLOAD_PORT_ACCESS',
  /** Serial: opening failed for another reason (not a tty, unsupported settings ...). */
  PORT_OPEN_FAILED: 'E_OFFLOAD_PORT_OPEN_FAILED',
  /** Serial: the port went away while open (USB unplugged, pty master closed). */
  PORT_VANISHED: 'E_OFFLOAD_PORT_VANISHED',
  /** Serial: enumerating ports failed. */
  PORT_LIST_FAILED: 'E_OFFLOAD_PORT_LIST_FAILED',
  /** TCP: no connection within connectTimeoutMs. */
  CONNECT_TIMEOUT: 'E_OFFLOAD_CONNECT_TIMEOUT',
  /** TCP: the peer actively refused (RST / ECONNREFUSED). */
  CONNECT_REFUSED: 'E_OFFLOAD_CONNECT_REFUSED',
  /** TCP: connecting failed for another reason (unreachable, DNS ...). */
  CONNECT_FAILED: 'E_OFFLOAD_CONNECT_FAILED',
  /** TCP listener: could not listen (address in use, no permission ...). */
  LISTEN_FAILED: 'E_OFFLOAD_LISTEN_FAILED',
  /** The peer went away / the wire was cut while open. */
  LINK_DOWN: 'E_OFFLOAD_LINK_DOWN',
  /** write() before open() completed. */
  NOT_OPEN: 'E_OFFLOAD_NOT_OPEN',
  /** write()/open() after the transport closed (transports are single-use once closed). */
  TRANSPORT_CLOSED: 'E_OFFLOAD_TRANSPORT_CLOSED',
  /** RFC 2217: the server refused COM-PORT-OPTION or binary transmission (a plain telnet server, not ser2net's telnet(rfc2217)). */
  RFC2217_REFUSED: 'E_OFFLOAD_RFC2217_REFUSED',
  /** RFC 2217: the server did not answer the telnet negotiation or a COM-port command in time (a raw TCP port? use tcp://). */
  RFC2217_NO_ANSWER: 'E_OFFLOAD_RFC2217_NO_ANSWER',
} as const;

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class TransportError extends OffloadError {
  declare readonly code: TransportErrorCode;

  constructor(
    code: TransportErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(code, message, details, options);
  }
}

export function isTransportError(err: unknown, code?: TransportErrorCode): err is TransportError {
  return err instanceof TransportError && (code === undefined || err.code === code);
}

/** The Node/POSIX code of an error-like value, if any. */
export function errnoCode(err: unknown): string | undefined {
  if (
    err &&
    typeof err === 'object' &&
    'code' in err &&
    typeof (err as { code: unknown }).code === 'string'
  ) {
    return (err as { code: string }).code;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
