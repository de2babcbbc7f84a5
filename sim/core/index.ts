/**
 * The simulated device: DeviceCore and the pieces it is made of.
 * See device-core.ts for the contract; PROTOCOL.md for the behaviour it implements.
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
export { encodeEntry, RegisterFile, type RegisterSource } from './registers.js';
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
