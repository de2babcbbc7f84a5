/**
 * The contract between the simulator's DeviceCore and the network that its sockets run on.
 *
 * DeviceCore is deterministic: it never calls the network directly and never awaits. It emits
 * NetworkActions; a backend carries them out on the host's real network (host-backend.ts) or on an
 * in-memory network (virtual-backend.ts) and reports back with NetworkEvents, which the simulator feeds
 * into DeviceCore in arrival order. Every action that can fail or complete later names a `handle`, and its
 * outcome comes back as an event with the same handle.
 *
 * Handles: DeviceCore allocates handles (positive integers below INCOMING_HANDLE_BASE) for the network
 * objects it creates (a TCP client connection, a TCP listener, a UDP socket). The backend allocates
 * handles from INCOMING_HANDLE_BASE upwards for connections that arrive on a listener.
 */
import type { Addr, StatusCodeName } from '../../src/protocol/index.js';

export const INCOMING_HANDLE_BASE = 1_000_000;

/** Errors a backend reports: protocol status code names (ECONNREFUSED, EADDRINUSE, ...). */
export type NetErrorCode = StatusCodeName;

export type NetworkAction =
  /** Listen for TCP connections. → 'listen-result'. */
  | { kind: 'tcp-listen'; handle: number; local: Addr; backlog: number; reuseAddr: boolean }
  /** Open a TCP connection. → 'connect-result' (error ETIMEDOUT after timeoutMs). */
  | {
      kind: 'tcp-connect';
      handle: number;
      remote: Addr;
      local: Addr | null;
      timeoutMs: number;
      noDelay: boolean;
      keepAliveMs: number;
    }
  /** Write stream data. The backend reports 'sent' when the network has taken the bytes (they left the send queue). */
  | { kind: 'tcp-send'; handle: number; data: Buffer }
  /** Send FIN once everything written before has been sent. */
  | { kind: 'tcp-end'; handle: number }
  /** Stop (pause) or restart (resume) reading from a connection: flow control toward the remote peer. */
  | { kind: 'tcp-pause'; handle: number }
  | { kind: 'tcp-resume'; handle: number }
  | { kind: 'tcp-setopt'; handle: number; noDelay?: boolean; keepAliveMs?: number }
  /** Bind a UDP socket. → 'bind-result'. */
  | { kind: 'udp-bind'; handle: number; local: Addr; reuseAddr: boolean; broadcast: boolean }
  /** Send one datagram. → 'sent' or 'send-error'. */
  | { kind: 'udp-send'; handle: number; to: Addr; data: Buffer }
  /** Release a handle of any kind. reset = abort a TCP connection with RST. No event follows. */
  | { kind: 'close'; handle: number; reset: boolean };

export type NetworkEvent =
  | { kind: 'listen-result'; handle: number; error?: NetErrorCode; local?: Addr }
  | { kind: 'connect-result'; handle: number; error?: NetErrorCode; local?: Addr; remote?: Addr }
  /** A connection arrived on listener `listener`; `handle` is the backend-allocated handle of the connection. */
  | { kind: 'incoming'; listener: number; handle: number; local: Addr; remote: Addr }
  | { kind: 'bind-result'; handle: number; error?: NetErrorCode; local?: Addr }
  /** Stream data; the buffer is handed over: DeviceCore keeps it without copying, the backend must not reuse it. */
  | { kind: 'data'; handle: number; data: Buffer }
  | { kind: 'datagram'; handle: number; from: Addr; data: Buffer }
  | { kind: 'sent'; handle: number; bytes: number }
  | { kind: 'send-error'; handle: number; error: NetErrorCode }
  /** The peer sent FIN. */
  | { kind: 'peer-end'; handle: number }
  /** The connection is gone: reset by the peer, timed out, or failed. No further events for the handle. */
  | { kind: 'closed'; handle: number; error?: NetErrorCode };

export interface NetworkBackend {
  readonly name: 'host' | 'virtual';
  /** Where the backend delivers its events. Set once by the simulator before any action. */
  onEvent(listener: (event: NetworkEvent) => void): void;
  perform(action: NetworkAction): void;
  /** Releases every handle; no events after it resolves. */
  close(): Promise<void>;
}
