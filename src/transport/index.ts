export { TransportError, TransportErrorCode, isTransportError } from './errors.js';
export {
  type Transport,
  type TransportEvents,
  type TransportKind,
  type TransportLogOptions,
  BaseTransport,
  silentLogger,
  childLogger,
  toBuffer,
} from './transport.js';
export {
  type DeviceUrl,
  type DeviceUrlInit,
  type DeviceUrlKind,
  type SerialUrl,
  type TcpUrl,
  type SimUrl,
  type PcieUrl,
  type Rfc2217Url,
  type SerialParity,
  type SerialDataBits,
  type SerialStopBits,
  parseDeviceUrl,
  formatDeviceUrl,
  SERIAL_DEFAULTS,
  TCP_DEFAULTS,
  URL_EXAMPLES,
} from './url.js';
export {
  SerialTransport,
  type SerialTransportOptions,
  type SerialPortInfo,
  listSerialPorts,
  classifySerialOpenError,
} from './serial.js';
export {
  TcpTransport,
  type TcpTransportOptions,
  listenTcp,
  type ListenTcpOptions,
  type TcpListener,
  type TcpListenerEvents,
} from './tcp.js';
export { PairTransport, createTransportPair, type TransportPairOptions } from './pair.js';
export { SharedTransport } from './shared.js';
export {
  FaultTransport,
  type FaultOptions,
  type FaultStats,
  type FaultCounters,
  type FaultDirection,
} from './fault.js';
export { Prng, mulberry32 } from './prng.js';
export { createTransport, openTransport, type OpenTransportOptions } from './factory.js';
export {
  Rfc2217Transport,
  type Rfc2217TransportOptions,
  type Rfc2217Events,
  type LineSettings,
  type LineState,
  type ModemState,
  type FlowControl,
  rfc2217OptionsFromUrl,
} from './rfc2217.js';
export {
  PcieWindowTransport,
  type PcieWindowOptions,
  type PcieWindowCounters,
  type PcieAccess,
  type PcieUrlOptions,
  pcieUrlOptions,
} from './pcie-window.js';
export { type ChannelUrlParams, extractChannelParams } from './channel-params.js';
