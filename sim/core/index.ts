/**
 * The simulated device: DeviceCore and the pieces it is made of.
 * See device-core.ts for the contract; PROTOCOL.md for the behaviour it implements.
 *
 * Files: options.ts (configuration, defect modes), socket-table.ts (slots, ids, handles), socket.ts (one entry
 * FIG 48, derived status and flags), queues.ts (receive queues), transitions.ts (TRANSITIONS interpreter),
 * commands.ts / socket-commands.ts (command handlers), network-events.ts (NetworkEvent handlers),
 * core-state.ts (events and sequencing, credits, STATUS announcements, termination, reset), registers.ts
 * (register plane and socket-table window), device-core.ts (the facade: dispatch, input queue, tick).
 *
 * Choices where PROTOCOL.md leaves room (documented here so hosts and the conformance kit know them):
 * - BOOT (seq 1) goes out when the server reports the link up (channelUp) or, failing that, just before the
 *   channel's first message is processed in an epoch.
 * - Minor status changes (CONNECTED/SENDING/RECEIVING, READABLE, WRITABLE, SEND_BLOCKED, RECV_BLOCKED) are
 *   coalesced for statusCoalesceMs (default 5) and announced from tick(); everything else (and READABLE
 *   clearing after the peer's FIN, i.e. end of stream) at once. At quiet moments the host mirror equals a
 *   SNAPSHOT. nextDeadline() says when tick() has work.
 * - SEND_CREDIT is batched: granted when ≥ 1/4 of the queue is free to grant, when the queue empties, or
 *   from tick() after statusCoalesceMs.
 * - TCP receive: the device pauses the connection (tcp-pause) when its receive queue is full and resumes
 *   when ≥ 1/4 of it is free again. UDP cannot be paused: a datagram that does not fit the receive queue is
 *   dropped at the network side and counted (counters.datagramsDropped); one larger than a DATAGRAM
 *   message can carry is dropped with ERROR {id, EMSGSIZE}. Nothing already queued is ever dropped.
 * - TCP BIND records the address (no network action): a port of 0 stays 0 until LISTEN (its response) or
 *   CONNECT (STATUS local) picks one. EADDRINUSE is checked against the device's own TCP sockets.
 * - UDP BIND, UDP CONNECT from UNCONNECTED, SENDTO from UNCONNECTED and LISTEN answer when the backend
 *   does; later commands naming the same socket wait behind them, in order (at most 64, then E_BUSY).
 * - Graceful CLOSE waits for the send queue to drain (bounded by LINGER, or closeTimeoutMs if set).
 * - Channels (CHANNELS, channels.ts): each has its own HELLO, event sequence, sockets and quotas; channels
 *   other than 0 need CHANNEL_OPEN; an ADMIN channel sees every socket (SNAPSHOT allChannels), may CLOSE any
 *   and CHANNEL_RESET a channel. channelDown() starts the channel timeout. Without CHANNELS (capabilities
 *   option) channels are still independent but need no CHANNEL_OPEN and nobody is ADMIN.
 * - Egress policy (EGRESS_POLICY, egress.ts): rules survive RESET; changing them needs ADMIN and a secure
 *   session (ChannelState.secure).
 */
export { DeviceCore, defaultOkBody } from './device-core.js';
export {
  type DefectModes,
  type DeviceCoreOptions,
  DEFECT_MODE_NAMES,
  IMPLEMENTED_CAPABILITIES,
  MAX_QUEUE_SIZE,
  MIN_QUEUE_SIZE,
  NO_DEFECTS,
  NOT_IMPLEMENTED_CAPABILITIES,
  type ChannelQuota,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
export {
  ChannelState,
  type DeviceCounters,
  DATA_OVERHEAD,
  DATAGRAM_OVERHEAD,
  MAX_DATAGRAM,
} from './core-state.js';
export { MAX_REG_READ } from './commands.js';
export { EgressPolicy, type EgressRule, ruleMatches } from './egress.js';
export { encodeEntry, RegisterFile, type RegisterOverlay, type RegisterSource } from './registers.js';
export { SocketTable } from './socket-table.js';
export { Socket, DERIVED_FLAGS, MINOR_FLAGS, LINGER_OFF, type PendingOp } from './socket.js';
export { ByteQueue, DatagramQueue, type QueuedDatagram } from './queues.js';
export {
  checkTransition,
  isSocketCommand,
  ruleFor,
  SOCKET_COMMAND_NAMES,
  type SocketCommandName,
  targetStatus,
  type TransitionCheck,
} from './transitions.js';
