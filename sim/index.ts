/**
 * socket-offload/sim: the device simulator.
 *
 *   import { startSimulator } from 'socket-offload/sim';
 *   const sim = await startSimulator({ listen: 'tcp://127.0.0.1:0', network: 'host' });
 *   // a driver opens sim.url; sim.faults switches faults at run time; await sim.close();
 */
export {
  createInProcessDevice,
  type DeviceOptions,
  type InProcessDevice,
  type LogLevel,
  type SimulatedDevice,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
  parseListenUrl,
  startSimulator,
} from './server.js';
export type { PcieControl, PcieFaults, PcieServeOptions, PcieStats } from './pcie-server.js';
export type { ChannelPairGeometry, ChannelPairStats } from './pcie-channel-rings.js';
export { defaultFaults, type OutputFaultStats, type SimulatorFaults, type WireFaults } from './faults.js';
export { DeviceCore } from './core/device-core.js';
export type { DefectModes, DeviceCoreOptions } from './core/options.js';
export {
  INCOMING_HANDLE_BASE,
  type NetErrorCode,
  type NetworkAction,
  type NetworkBackend,
  type NetworkEvent,
} from './network/backend.js';
export { HostBackend, type HostBackendOptions, mapNodeError } from './network/host-backend.js';
export { VirtualNetwork, type VirtualNetworkOptions } from './network/virtual-backend.js';
export { buildSimCommand, standardVirtualNetwork, VIRTUAL_PEERS } from './main.js';
export { KeyFileError, loadKeyFile, parseKeyFile } from './keys.js';
