export {
  Device,
  type DeviceCounters,
  type DeviceEvents,
  type DeviceOptions,
  type DeviceResetInfo,
  type DeviceSnapshot,
  type DeviceState,
  type SnapshotPage,
} from './device.js';
export {
  DeviceError,
  DeviceErrorCode,
  DeviceStatusError,
  isDeviceError,
  statusError,
  statusToCode,
} from './errors.js';
export { type DeviceInfo, HOST_CAPS, type HandshakeOptions } from './handshake.js';
export { type SecureOptions, secureHandshake } from './secure-handshake.js';
export { type RegisterRef, type ResolvedRegister, resolveRegister } from './registers.js';
export type { RequestCounters, RequestOptions, SentCommand } from './requests.js';
export { EventSequencer, type SequenceVerdict } from './sequencer.js';
export {
  ADMIN_CHANNEL,
  type ChannelInfo,
  type ChannelOptions,
  type EgressRuleInit,
  channelRole,
} from './channel.js';
export { adminClose, clearEgress, resetChannel, setEgressRule } from './channel-admin.js';
