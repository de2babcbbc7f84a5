export {
  ALL_ENTRY_FIELDS,
  diffTables,
  type DiffOptions,
  type EntryField,
  formatDifferences,
  LEVEL_FIELDS,
  MIRRORED_FIELDS,
  type TableDifference,
} from './compare.js';
export { SocketError, type SocketErrorFields, socketDriverError, socketStatusError } from './errors.js';
export { DEFAULT_SOCKET_DEFAULTS, type SocketDefaults, type SocketHost } from './host.js';
export { type HubCounters, SocketHub, type SocketEndpoint } from './hub.js';
export { type CreateConnectionOptions, OffloadDevice, type OffloadDeviceEvents } from './offload-device.js';
export {
  OffloadServer,
  type OffloadListenOptions,
  type OffloadServerEvents,
  type OffloadServerOptions,
} from './server.js';
export { type OffloadConnectOptions, OffloadSocket, type OffloadSocketOptions } from './socket.js';
export {
  entriesEqual,
  type MirrorEntry,
  type RemoveReason,
  SocketTable,
  type SocketTableCounters,
  type SocketTableEvents,
  type UpdateCause,
} from './table.js';
export {
  type OffloadUdpEvents,
  type OffloadUdpOptions,
  OffloadUdpSocket,
  type RemoteInfo,
  type UdpType,
} from './udp.js';
