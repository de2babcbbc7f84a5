import { TransportError, TransportErrorCode } from './errors.js';
import { Rfc2217Transport, type Rfc2217TransportOptions, rfc2217OptionsFromUrl } from './rfc2217.js';
import { SerialTransport, type SerialTransportOptions } from './serial.js';
import { TcpTransport } from './tcp.js';
import type { Transport, TransportLogOptions } from './transport.js';
import { type DeviceUrl, formatDeviceUrl, parseDeviceUrl } from './url.js';

export interface OpenTransportOptions extends TransportLogOptions {
  /** Overrides the URL's serial settings. */
  serial?: Partial<Omit<SerialTransportOptions, 'path' | 'logger' | 'description'>>;
  /** Overrides the URL's TCP settings. */
  tcp?: { connectTimeoutMs?: number; noDelay?: boolean };
  /** Overrides the URL's RFC 2217 settings (line settings, timeouts, notification masks). */
  rfc2217?: Partial<Omit<Rfc2217TransportOptions, 'host' | 'port' | 'logger' | 'description'>>;
}

/**
 * Creates (does not open) the transport for a serial:, tcp: or rfc2217: URL. Other kinds (sim:, pcie:) are
 * valid URLs but opened by other layers: they get E_OFFLOAD_UNSUPPORTED_URL; malformed URLs E_OFFLOAD_BAD_URL.
 */
export function createTransport(url: string | DeviceUrl, options: OpenTransportOptions = {}): Transport {
  const parsed = typeof url === 'string' ? parseDeviceUrl(url) : url;
  const description = typeof url === 'string' ? url.trim() : formatDeviceUrl(url);
  const logger = options.logger ? { logger: options.logger } : {};
  switch (parsed.kind) {
    case 'serial':
      return new SerialTransport({
        path: parsed.path,
        baudRate: parsed.baudRate,
        dataBits: parsed.dataBits,
        parity: parsed.parity,
        stopBits: parsed.stopBits,
        rtscts: parsed.rtscts,
        lock: parsed.lock,
        ...options.serial,
        description,
        ...logger,
      });
    case 'tcp':
      return new TcpTransport({
        host: parsed.host,
        port: parsed.port,
        connectTimeoutMs: parsed.connectTimeoutMs,
        noDelay: parsed.noDelay,
        ...options.tcp,
        description,
        ...logger,
      });
    case 'rfc2217':
      return new Rfc2217Transport({
        ...rfc2217OptionsFromUrl(parsed, description),
        ...options.rfc2217,
        description,
        ...logger,
      });
    default:
      throw new TransportError(
        TransportErrorCode.UNSUPPORTED_URL,
        `${description}: '${parsed.kind}:' devices are not byte-stream transports; open them through the ${
          parsed.kind === 'sim' ? 'simulator' : 'PCIe'
        } layer`,
        { url: description, kind: parsed.kind },
      );
  }
}

/** createTransport() then open(); rejects with a TransportError (bad URL, not found, busy, refused, timeout ...). */
export async function openTransport(
  url: string | DeviceUrl,
  options: OpenTransportOptions = {},
): Promise<Transport> {
  const t = createTransport(url, options);
  await t.open();
  return t;
}
