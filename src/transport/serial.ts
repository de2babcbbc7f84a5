import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SerialPort } from 'serialport';
import { TransportError, TransportErrorCode, errnoCode, errorMessage } from './errors.js';
import { patchedSerialBinding } from './serial-binding.js';
import { BaseTransport, type TransportLogOptions, type TransportState } from './transport.js';
import { formatDeviceUrl, type SerialParity, type SerialDataBits, type SerialStopBits } from './url.js';

export interface SerialTransportOptions extends TransportLogOptions {
  /** Device path: /dev/ttyUSB0, /dev/serial/by-id/..., COM3. */
  path: string;
  /** Default 115200. */
  baudRate?: number;
  /** Default 8. */
  dataBits?: SerialDataBits;
  /** Default 'none'. */
  parity?: SerialParity;
  /** Default 1. */
  stopBits?: SerialStopBits;
  /** Hardware flow control (RTS/CTS). Default false. */
  rtscts?: boolean;
  /** Take an exclusive lock on the port (serialport's `lock`), so a second opener gets E_OFFLOAD_PORT_BUSY. Default true. */
  lock?: boolean;
  /** serialport's read/write buffer size in bytes (also the write() backpressure threshold). Default 65536. */
  highWaterMark?: number;
  /** For logs and errors; default the serial:// URL. */
  description?: string;
}

/**
 * Classifies an error from serialport's open() into a TransportError. serialport (bindings-cpp) reports
 * open failures as plain Errors whose message carries strerror(): "Error: No such file or directory, cannot open
 * /dev/x", "Error Resource temporarily unavailable Cannot lock port", "Error: Permission denied, cannot open ...".
 */
export function classifySerialOpenError(err: unknown, path: string, description = path): TransportError {
  const msg = errorMessage(err);
  const code = errnoCode(err);
  const details = { path, url: description, cause: msg };
  if (code === 'ENOENT' || /No such file or directory|File not found|cannot find the file/i.test(msg)) {
    return new TransportError(
      TransportErrorCode.PORT_NOT_FOUND,
      `serial port ${path} not found (is the board plugged in? list ports with listSerialPorts())`,
      details,
      { cause: err },
    );
  }
  if (
    code === 'EBUSY' ||
    /Cannot lock port|Resource temporarily unavailable|resource busy|Access denied/i.test(msg)
  ) {
    return new TransportError(
      TransportErrorCode.PORT_BUSY,
      `serial port ${path} is busy: another process (or another handle in this one) has it open and locked`,
      details,
      { cause: err },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || /Permission denied|Operation not permitted/i.test(msg)) {
    return new TransportError(
      TransportErrorCode.PORT_ACCESS,
      `no permission to open serial port ${path} (on Linux add your user to the 'dialout' group)`,
      details,
      { cause: err },
    );
  }
  return new TransportError(
    TransportErrorCode.PORT_OPEN_FAILED,
    `cannot open serial port ${path}: ${msg}`,
    details,
    {
      cause: err,
    },
  );
}

export class SerialTransport extends BaseTransport {
  readonly kind = 'serial' as const;
  readonly options: Readonly<Required<Omit<SerialTransportOptions, 'logger' | 'description'>>>;
  private port: SerialPort | undefined;
  private lastError: unknown;

  constructor(options: SerialTransportOptions) {
    const opts = {
      path: options.path,
      baudRate: options.baudRate ?? 115200,
      dataBits: options.dataBits ?? 8,
      parity: options.parity ?? 'none',
      stopBits: options.stopBits ?? 1,
      rtscts: options.rtscts ?? false,
      lock: options.lock ?? true,
      highWaterMark: options.highWaterMark ?? 64 * 1024,
    } as const;
    super(
      'serial',
      options.description ??
        formatDeviceUrl({
          kind: 'serial',
          path: opts.path,
          baudRate: opts.baudRate,
          dataBits: opts.dataBits,
          parity: opts.parity,
          stopBits: opts.stopBits,
          rtscts: opts.rtscts,
          lock: opts.lock,
        }),
      options.logger,
    );
    this.options = opts;
  }

  get path(): string {
    return this.options.path;
  }

  protected doOpen(): Promise<void> {
    const { path, baudRate, dataBits, parity, stopBits, rtscts, lock, highWaterMark } = this.options;
    return new Promise<void>((resolve, reject) => {
      let port: SerialPort;
      try {
        port = new SerialPort({
          path,
          baudRate,
          dataBits,
          parity,
          stopBits,
          rtscts,
          lock,
          highWaterMark,
          autoOpen: false,
          binding: patchedSerialBinding,
        } as ConstructorParameters<typeof SerialPort>[0]);
      } catch (err) {
        // serialport validates options synchronously (TypeError).
        reject(
          new TransportError(
            TransportErrorCode.PORT_OPEN_FAILED,
            `cannot open serial port ${path}: ${errorMessage(err)}`,
            {
              path,
              url: this.description,
            },
            { cause: err },
          ),
        );
        return;
      }
      // Never let serialport raise an uncaught 'error'; errors while open mean the port is gone.
      port.on('error', (err) => this.onPortError(port, err));
      port.open((err) => {
        if (err) {
          void this.rejectOpen(err, reject);
          return;
        }
        this.port = port;
        port.on('data', (data: Buffer) => {
          if (this.state === 'open') this.emit('data', data);
        });
        port.on('drain', () => {
          if (this.state === 'open') this.emit('drain');
        });
        port.on('close', (closeErr: (Error & { disconnected?: boolean }) | null) =>
          this.onPortClose(closeErr),
        );
        resolve();
      });
    });
  }

  private async rejectOpen(err: Error, reject: (e: TransportError) => void): Promise<void> {
    let mapped = classifySerialOpenError(err, this.options.path, this.description);
    if (mapped.code === TransportErrorCode.PORT_OPEN_FAILED) {
      // Some platforms word a missing device differently: check the path itself.
      const exists = await stat(this.options.path).then(
        () => true,
        (e: unknown) => errnoCode(e) !== 'ENOENT',
      );
      if (!exists)
        mapped = classifySerialOpenError(
          Object.assign(new Error(err.message), { code: 'ENOENT' }),
          this.options.path,
          this.description,
        );
    }
    reject(mapped);
  }

  private vanished(cause: unknown): TransportError {
    return new TransportError(
      TransportErrorCode.PORT_VANISHED,
      `serial port ${this.options.path} went away while open${cause ? `: ${errorMessage(cause)}` : ''}`,
      { path: this.options.path, url: this.description },
      cause ? { cause } : undefined,
    );
  }

  private onPortError(port: SerialPort, err: Error): void {
    this.log.debug({ err }, 'serialport error event');
    if (this.state !== 'open' || port !== this.port) return;
    this.lastError ??= err;
    if (port.isOpen) {
      // Release the fd; the resulting 'close' event finishes the transport.
      port.close(() => undefined);
    } else if (!port.closing) {
      this.finish(this.vanished(err));
    }
  }

  private onPortClose(err: (Error & { disconnected?: boolean }) | null): void {
    // During a local close() finish() ignores the error; otherwise the port went away.
    this.finish(this.vanished(err ?? this.lastError ?? new Error('port closed unexpectedly')));
  }

  protected doWrite(chunk: Buffer): boolean {
    return (this.port as SerialPort).write(chunk);
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    const port = this.port;
    if (!port) return;
    if (port.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    } else if (port.closing) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        port.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

export interface SerialPortInfo {
  path: string;
  /** serial:// URL for this port with default settings. */
  url: string;
  manufacturer?: string;
  serialNumber?: string;
  pnpId?: string;
  locationId?: string;
  vendorId?: string;
  productId?: string;
}

/**
 * Enumerates serial ports (USB adapters, on-board UARTs) via serialport's SerialPort.list(). On Linux that
 * needs `udevadm` (udev); where it is missing (containers, minimal systems) the ports are read from sysfs
 * (/sys/class/tty/<name>/device), with USB ids and strings where the kernel exposes them.
 */
export async function listSerialPorts(): Promise<SerialPortInfo[]> {
  let ports: Array<Omit<SerialPortInfo, 'url'>>;
  try {
    ports = await SerialPort.list();
  } catch (err) {
    if (process.platform !== 'linux') {
      throw new TransportError(
        TransportErrorCode.PORT_LIST_FAILED,
        `cannot list serial ports: ${errorMessage(err)}`,
        {},
        {
          cause: err,
        },
      );
    }
    try {
      ports = await listFromSysfs();
    } catch (sysErr) {
      throw new TransportError(
        TransportErrorCode.PORT_LIST_FAILED,
        `cannot list serial ports: ${errorMessage(err)}; sysfs fallback: ${errorMessage(sysErr)}`,
        {},
        { cause: err },
      );
    }
  }
  return ports.map((p) => {
    const info: SerialPortInfo = { path: p.path, url: formatDeviceUrl({ kind: 'serial', path: p.path }) };
    for (const key of [
      'manufacturer',
      'serialNumber',
      'pnpId',
      'locationId',
      'vendorId',
      'productId',
    ] as const) {
      const v = p[key];
      if (v) info[key] = v;
    }
    return info;
  });
}

async function readTrim(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (s) => s.trim() || undefined,
    () => undefined,
  );
}

async function listFromSysfs(): Promise<Array<Omit<SerialPortInfo, 'url'>>> {
  const root = '/sys/class/tty';
  const out: Array<Omit<SerialPortInfo, 'url'>> = [];
  for (const name of (await readdir(root)).sort()) {
    const device = await realpath(join(root, name, 'device')).catch(() => undefined);
    if (!device) continue; // virtual consoles, ptys: no hardware behind them
    if ((await readTrim(join(root, name, 'type'))) === '0') continue; // 8250 placeholder with no UART
    const info: Omit<SerialPortInfo, 'url'> = { path: `/dev/${name}` };
    // USB adapters: the USB device (with idVendor) is a few levels up from the tty's device.
    let dir = device;
    for (let i = 0; i < 6 && dir !== '/'; i++, dir = dirname(dir)) {
      const vendorId = await readTrim(join(dir, 'idVendor'));
      if (!vendorId) continue;
      info.vendorId = vendorId;
      const productId = await readTrim(join(dir, 'idProduct'));
      const manufacturer = await readTrim(join(dir, 'manufacturer'));
      const serialNumber = await readTrim(join(dir, 'serial'));
      if (productId) info.productId = productId;
      if (manufacturer) info.manufacturer = manufacturer;
      if (serialNumber) info.serialNumber = serialNumber;
      info.locationId = basename(dir);
      break;
    }
    out.push(info);
  }
  return out;
}
