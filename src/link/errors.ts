import { OffloadError } from '../errors.js';

/** Stable codes of the errors the link raises itself. Switch on `err.code`. */
export const LinkErrorCode = {
  /** No valid frame from the peer for deadTimeoutMs (the board hung, the wire went quiet). */
  LINK_DOWN: 'E_OFFLOAD_LINK_DOWN',
  /** start(): the peer never answered SYNC within syncTimeoutMs. */
  NO_ANSWER: 'E_OFFLOAD_NO_ANSWER',
  /** start(): bytes came back but never a frame from a device (garbage, a modem, an echoing loopback). */
  NOT_A_DEVICE: 'E_OFFLOAD_NOT_A_DEVICE',
  /** send(): the message is longer than the negotiated maximum payload (a caller bug). */
  MESSAGE_TOO_LARGE: 'E_OFFLOAD_MESSAGE_TOO_LARGE',
  /** send() before start() resolved. */
  NOT_UP: 'E_OFFLOAD_LINK_NOT_UP',
  /** send()/start() after close(), or start() pending when close() was called. */
  CLOSED: 'E_OFFLOAD_LINK_CLOSED',
  /** start() on a transport that is not open (the caller opens it). */
  NOT_OPEN: 'E_OFFLOAD_NOT_OPEN',
  /** The transport was closed by someone else (a local close that did not come through the link). */
  TRANSPORT_CLOSED: 'E_OFFLOAD_TRANSPORT_CLOSED',
  /** The peer broke the framing beyond recovery (TCP record length impossible). */
  PROTOCOL: 'E_OFFLOAD_LINK_PROTOCOL',
  /** A LinkOptions value is out of range. */
  BAD_OPTION: 'E_OFFLOAD_BAD_OPTION',
  /** A secure session sent 2^64 − 1 frames: it must be replaced by a new handshake, never reuse a counter. */
  COUNTER_EXHAUSTED: 'E_OFFLOAD_SECURE_COUNTER_EXHAUSTED',
  /** start() on PCIe: the device offers no ring pair for the channel asked for (PROTOCOL.md §10.5). */
  NO_CHANNEL: 'E_OFFLOAD_NO_CHANNEL',
} as const;

export type LinkErrorCode = (typeof LinkErrorCode)[keyof typeof LinkErrorCode];

/**
 * Every error the link raises or reports. `code` is one of LinkErrorCode, or, when the transport went
 * away, the transport error's own code (E_OFFLOAD_PORT_VANISHED, E_OFFLOAD_LINK_DOWN ...) with the
 * TransportError as `cause`.
 */
export class LinkError extends OffloadError {}

export function isLinkError(err: unknown, code?: string): err is LinkError {
  return err instanceof LinkError && (code === undefined || err.code === code);
}
