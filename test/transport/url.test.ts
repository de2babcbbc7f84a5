import { describe, expect, it } from 'vitest';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { type DeviceUrl, formatDeviceUrl, parseDeviceUrl } from '../../src/transport/url.js';

const serialDefaults = {
  baudRate: 115200,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
  lock: true,
};

const good: Array<[string, DeviceUrl]> = [
  [
    'serial:///dev/ttyUSB0?baud=921600&rtscts=true&databits=8&parity=none&stopbits=1',
    { kind: 'serial', path: '/dev/ttyUSB0', ...serialDefaults, baudRate: 921600, rtscts: true } as DeviceUrl,
  ],
  ['serial:///dev/ttyACM0', { kind: 'serial', path: '/dev/ttyACM0', ...serialDefaults } as DeviceUrl],
  [
    'serial:///dev/serial/by-id/usb-FTDI_x%20y-if00?baudrate=9600&parity=EVEN&databits=7&stopbits=2&rtscts=0&lock=false',
    {
      kind: 'serial',
      path: '/dev/serial/by-id/usb-FTDI_x y-if00',
      ...serialDefaults,
      baudRate: 9600,
      parity: 'even',
      dataBits: 7,
      stopBits: 2,
      lock: false,
    } as DeviceUrl,
  ],
  [
    'serial:COM3?baud=57600',
    { kind: 'serial', path: 'COM3', ...serialDefaults, baudRate: 57600 } as DeviceUrl,
  ],
  [
    'SERIAL:///dev/ttyS0?BAUD=1500',
    { kind: 'serial', path: '/dev/ttyS0', ...serialDefaults, baudRate: 1500 } as DeviceUrl,
  ],
  [
    'serial:///dev/ttyS1?stopbits=1.5&rtscts',
    { kind: 'serial', path: '/dev/ttyS1', ...serialDefaults, stopBits: 1.5, rtscts: true } as DeviceUrl,
  ],
  [
    'tcp://127.0.0.1:7070?timeout=2000&nodelay=1',
    { kind: 'tcp', host: '127.0.0.1', port: 7070, connectTimeoutMs: 2000, noDelay: true },
  ],
  ['tcp://[::1]:7070', { kind: 'tcp', host: '::1', port: 7070, connectTimeoutMs: 5000, noDelay: true }],
  [
    'tcp://board.local:1/?nodelay=false',
    { kind: 'tcp', host: 'board.local', port: 1, connectTimeoutMs: 5000, noDelay: false },
  ],
  [
    'tcp://localhost:65535',
    { kind: 'tcp', host: 'localhost', port: 65535, connectTimeoutMs: 5000, noDelay: true },
  ],
  [
    '  tcp://10.0.0.2:80  ',
    { kind: 'tcp', host: '10.0.0.2', port: 80, connectTimeoutMs: 5000, noDelay: true },
  ],
  ['sim:', { kind: 'sim', name: 'default', params: {} }],
  ['sim:lab-1?slots=8&latency=5', { kind: 'sim', name: 'lab-1', params: { slots: '8', latency: '5' } }],
  ['sim://b2', { kind: 'sim', name: 'b2', params: {} }],
  [
    'pcie:///dev/xdma0_user?events=/dev/xdma0_events_0',
    { kind: 'pcie', path: '/dev/xdma0_user', events: '/dev/xdma0_events_0', params: {} },
  ],
  ['pcie:///dev/xdma1_user?bar=2', { kind: 'pcie', path: '/dev/xdma1_user', params: { bar: '2' } }],
  ['rfc2217://192.168.1.50:4000', { kind: 'rfc2217', host: '192.168.1.50', port: 4000, params: {} }],
  ['rfc2217://[fe80::1]:2217?x=1', { kind: 'rfc2217', host: 'fe80::1', port: 2217, params: { x: '1' } }],
];

/** [url, a fragment the error message must contain] */
const bad: Array<[string, string]> = [
  ['', 'empty'],
  ['/dev/ttyUSB0', 'no scheme'],
  ['http://127.0.0.1:80', "unknown scheme 'http:'"],
  ['ftp:x', "unknown scheme 'ftp:'"],
  ['serial://', 'missing device path'],
  ['serial:///', 'missing device path'],
  ['serial:', 'missing device path'],
  ['serial://dev/ttyUSB0', "unexpected host 'dev'"],
  ['serial:///dev/ttyUSB0?baud=fast', "baud 'fast'"],
  ['serial:///dev/ttyUSB0?baud=0', "baud '0'"],
  ['serial:///dev/ttyUSB0?baud=-9600', "baud '-9600'"],
  ['serial:///dev/ttyUSB0?baud=115200.5', "baud '115200.5'"],
  ['serial:///dev/ttyUSB0?baud=99999999999', "baud '99999999999'"],
  ['serial:///dev/ttyUSB0?baud=9600&baudrate=9600', 'not both'],
  ['serial:///dev/ttyUSB0?baud=9600&baud=19200', "'baud' given twice"],
  ['serial:///dev/ttyUSB0?databits=9', 'databits must be'],
  ['serial:///dev/ttyUSB0?parity=weird', 'parity must be'],
  ['serial:///dev/ttyUSB0?stopbits=3', 'stopbits must be'],
  ['serial:///dev/ttyUSB0?rtscts=maybe', "'rtscts' must be true or false"],
  ['serial:///dev/ttyUSB0?speed=9600', "unknown query parameter 'speed'"],
  ['serial:///dev/ttyUSB0#x', 'fragment'],
  ['tcp://127.0.0.1', 'missing port'],
  ['tcp://127.0.0.1:', 'missing port'],
  ['tcp://:7070', 'missing host'],
  ['tcp://127.0.0.1:0', 'port 0 is out of range'],
  ['tcp://127.0.0.1:65536', 'port 65536 is out of range'],
  ['tcp://127.0.0.1:70000', 'out of range'],
  ['tcp://127.0.0.1:http', "port 'http' is not a number"],
  ['tcp:127.0.0.1:7070', "needs '//'"],
  ['tcp://::1:7070', 'in brackets'],
  ['tcp://[::1:7070', "closing ']'"],
  ['tcp://[::1]7070', 'after the IPv6 address'],
  ['tcp://user@127.0.0.1:7070', 'user information'],
  ['tcp://127.0.0.1:7070/path', 'has no path'],
  ['tcp://127.0.0.1:7070?timeout=0', 'timeout'],
  ['tcp://127.0.0.1:7070?timeout=soon', 'timeout'],
  ['tcp://127.0.0.1:7070?nodelay=2', "'nodelay' must be true or false"],
  ['tcp://127.0.0.1:7070?baud=9600', "unknown query parameter 'baud'"],
  ['tcp://127.0.0.1:7070?=1', 'has no name'],
  ['pcie://', 'missing device path'],
  ['pcie://host/dev/xdma0_user', "unexpected host 'host'"],
  ['pcie:///dev/xdma0_user?events=', "'events' needs a device path"],
  ['rfc2217://host', 'missing port'],
  ['sim:bad name!', 'simulator name'],
];

describe('parseDeviceUrl', () => {
  it.each(good)('parses %s', (url, expected) => {
    expect(parseDeviceUrl(url)).toEqual(expected);
  });

  it.each(bad)('rejects %j with E_OFFLOAD_BAD_URL (%s)', (url, fragment) => {
    let caught: unknown;
    try {
      parseDeviceUrl(url);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TransportError);
    const err = caught as TransportError;
    expect(err.code).toBe(TransportErrorCode.BAD_URL);
    expect(err.code).toBe('E_OFFLOAD_BAD_URL');
    expect(err.message).toContain(fragment);
    // Every message shows an example of a correct URL.
    expect(err.message).toMatch(/examples?: (serial|tcp|sim|pcie|rfc2217):/);
    expect(err.details.url).toBe(url.trim() === '' ? url : url.trim());
  });

  it('shows the example for the scheme the user meant', () => {
    expect(() => parseDeviceUrl('tcp://127.0.0.1')).toThrow(/example: tcp:\/\/127\.0\.0\.1:7070/);
    expect(() => parseDeviceUrl('serial:///dev/x?baud=x')).toThrow(
      /example: serial:\/\/\/dev\/ttyUSB0\?baud=921600/,
    );
  });
});

describe('formatDeviceUrl', () => {
  it.each(good)('round-trips %s', (_url, expected) => {
    expect(parseDeviceUrl(formatDeviceUrl(expected))).toEqual(expected);
  });

  it('writes canonical URLs', () => {
    expect(formatDeviceUrl({ kind: 'serial', path: '/dev/ttyUSB0' })).toBe(
      'serial:///dev/ttyUSB0?baud=115200',
    );
    expect(
      formatDeviceUrl({
        kind: 'serial',
        path: '/dev/ttyUSB0',
        baudRate: 921600,
        rtscts: true,
        parity: 'odd',
      }),
    ).toBe('serial:///dev/ttyUSB0?baud=921600&parity=odd&rtscts=true');
    expect(formatDeviceUrl({ kind: 'tcp', host: '::1', port: 7070 })).toBe('tcp://[::1]:7070');
    expect(
      formatDeviceUrl({ kind: 'tcp', host: '127.0.0.1', port: 1, connectTimeoutMs: 250, noDelay: false }),
    ).toBe('tcp://127.0.0.1:1?timeout=250&nodelay=0');
  });
});
