import { TransportError, TransportErrorCode } from './errors.js';

export type SerialParity = 'none' | 'even' | 'odd' | 'mark' | 'space';
export type SerialDataBits = 5 | 6 | 7 | 8;
export type SerialStopBits = 1 | 1.5 | 2;

export interface SerialUrl {
  kind: 'serial';
  path: string;
  baudRate: number;
  dataBits: SerialDataBits;
  parity: SerialParity;
  stopBits: SerialStopBits;
  rtscts: boolean;
  lock: boolean;
}

export interface TcpUrl {
  kind: 'tcp';
  /** Hostname or IP address; IPv6 without brackets. */
  host: string;
  port: number;
  connectTimeoutMs: number;
  noDelay: boolean;
}

/** In-process simulator; opened by the sim layer. `name` selects an instance, params are the sim's own. */
export interface SimUrl {
  kind: 'sim';
  name: string;
  params: Record<string, string>;
}

/** PCIe character-device shim (e.g. XDMA user BAR); opened by the PCIe layer. */
export interface PcieUrl {
  kind: 'pcie';
  path: string;
  /** Events device (e.g. /dev/xdma0_events_0), from ?events=. */
  events?: string;
  /** Any other query parameters, for the PCIe layer to interpret. */
  params: Record<string, string>;
}

/** Serial port exposed over the network with RFC 2217 (Telnet COM port control); opened by a later layer. */
export interface Rfc2217Url {
  kind: 'rfc2217';
  host: string;
  port: number;
  params: Record<string, string>;
}

export type DeviceUrl = SerialUrl | TcpUrl | SimUrl | PcieUrl | Rfc2217Url;
export type DeviceUrlKind = DeviceUrl['kind'];

export const SERIAL_DEFAULTS = {
  baudRate: 115200,
  dataBits: 8,
  parity: 'none',
  stopBits: 1,
  rtscts: false,
  lock: true,
} as const satisfies Omit<SerialUrl, 'kind' | 'path'>;

export const TCP_DEFAULTS = { connectTimeoutMs: 5000, noDelay: true } as const;

export const MIN_BAUD = 50;
export const MAX_BAUD = 20_000_000;

export const URL_EXAMPLES: Readonly<Record<DeviceUrlKind, string>> = {
  serial: 'serial:///dev/ttyUSB0?baud=921600&rtscts=true&databits=8&parity=none&stopbits=1',
  tcp: 'tcp://127.0.0.1:7070?timeout=2000&nodelay=1',
  sim: 'sim:default',
  pcie: 'pcie:///dev/xdma0_user?events=/dev/xdma0_events_0',
  rfc2217: 'rfc2217://192.168.1.50:4000',
};

const SCHEMES = Object.keys(URL_EXAMPLES) as DeviceUrlKind[];

function badUrl(input: string, what: string, kind?: DeviceUrlKind): TransportError {
  const example = kind
    ? `example: ${URL_EXAMPLES[kind]}`
    : `examples: ${SCHEMES.map((k) => URL_EXAMPLES[k]).join(' , ')}`;
  return new TransportError(TransportErrorCode.BAD_URL, `bad device URL '${input}': ${what}; ${example}`, {
    url: input,
    problem: what,
    ...(kind ? { kind } : {}),
  });
}

interface RawUrl {
  scheme: string;
  /** Text after '//' up to the next '/', or undefined when the URL has no '//'. */
  authority: string | undefined;
  path: string;
  query: Map<string, string>;
}

function splitUrl(input: string): RawUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(input);
  if (!m) throw badUrl(input, 'no scheme (expected something like serial: or tcp:)');
  const scheme = (m[1] as string).toLowerCase();
  let rest = m[2] as string;
  if (!(SCHEMES as string[]).includes(scheme)) {
    throw badUrl(input, `unknown scheme '${scheme}:' (supported: ${SCHEMES.map((s) => `${s}:`).join(', ')})`);
  }
  const kind = scheme as DeviceUrlKind;
  if (rest.includes('#')) throw badUrl(input, 'a fragment (#...) is not allowed', kind);
  const q = rest.indexOf('?');
  const queryText = q >= 0 ? rest.slice(q + 1) : '';
  if (q >= 0) rest = rest.slice(0, q);
  const query = new Map<string, string>();
  if (queryText !== '') {
    for (const part of queryText.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const rawKey = eq >= 0 ? part.slice(0, eq) : part;
      const rawValue = eq >= 0 ? part.slice(eq + 1) : '';
      let key: string;
      let value: string;
      try {
        key = decodeURIComponent(rawKey.replace(/\+/g, ' ')).toLowerCase();
        value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
      } catch {
        throw badUrl(input, `malformed percent-encoding in query parameter '${part}'`, kind);
      }
      if (key === '') throw badUrl(input, `query parameter '${part}' has no name`, kind);
      if (query.has(key)) throw badUrl(input, `query parameter '${key}' given twice`, kind);
      query.set(key, value);
    }
  }
  let authority: string | undefined;
  let path = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    authority = slash >= 0 ? rest.slice(2, slash) : rest.slice(2);
    path = slash >= 0 ? rest.slice(slash) : '';
  }
  try {
    path = decodeURIComponent(path);
  } catch {
    throw badUrl(input, 'malformed percent-encoding in path', kind);
  }
  return { scheme, authority, path, query };
}

function checkKeys(
  input: string,
  kind: DeviceUrlKind,
  query: Map<string, string>,
  allowed: readonly string[],
): void {
  for (const key of query.keys()) {
    if (!allowed.includes(key)) {
      throw badUrl(
        input,
        `unknown query parameter '${key}' for ${kind}: (allowed: ${allowed.length ? allowed.join(', ') : 'none'})`,
        kind,
      );
    }
  }
}

function parseBool(input: string, kind: DeviceUrlKind, key: string, value: string): boolean {
  switch (value.toLowerCase()) {
    case '':
    case '1':
    case 'true':
    case 'yes':
    case 'on':
      return true;
    case '0':
    case 'false':
    case 'no':
    case 'off':
      return false;
    default:
      throw badUrl(input, `'${key}' must be true or false (or 1/0), got '${value}'`, kind);
  }
}

function parseIntStrict(value: string): number | undefined {
  return /^\d{1,10}$/.test(value) ? Number(value) : undefined;
}

function parseHostPort(input: string, kind: 'tcp' | 'rfc2217', raw: RawUrl): { host: string; port: number } {
  if (raw.authority === undefined) throw badUrl(input, `a ${kind} URL needs '//' before host:port`, kind);
  if (raw.path !== '' && raw.path !== '/')
    throw badUrl(input, `a ${kind} URL has no path (got '${raw.path}')`, kind);
  const auth = raw.authority;
  if (auth.includes('@')) throw badUrl(input, 'user information (user@host) is not supported', kind);
  let host: string;
  let portText: string | undefined;
  if (auth.startsWith('[')) {
    const close = auth.indexOf(']');
    if (close < 0) throw badUrl(input, "IPv6 address is missing its closing ']'", kind);
    host = auth.slice(1, close);
    const after = auth.slice(close + 1);
    if (after !== '' && !after.startsWith(':'))
      throw badUrl(input, `unexpected '${after}' after the IPv6 address`, kind);
    portText = after === '' ? undefined : after.slice(1);
    if (!host.includes(':')) throw badUrl(input, `'[${host}]' is not an IPv6 address`, kind);
  } else {
    const colon = auth.lastIndexOf(':');
    if (colon >= 0 && auth.indexOf(':') !== colon) {
      throw badUrl(input, 'an IPv6 address must be written in brackets, e.g. [::1]:7070', kind);
    }
    host = colon >= 0 ? auth.slice(0, colon) : auth;
    portText = colon >= 0 ? auth.slice(colon + 1) : undefined;
  }
  if (host === '') throw badUrl(input, 'missing host', kind);
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) throw badUrl(input, `invalid host '${host}'`, kind);
  if (portText === undefined || portText === '') throw badUrl(input, 'missing port (host:port)', kind);
  const port = parseIntStrict(portText);
  if (port === undefined) throw badUrl(input, `port '${portText}' is not a number`, kind);
  if (port < 1 || port > 65535) throw badUrl(input, `port ${port} is out of range (1-65535)`, kind);
  return { host, port };
}

function rest(query: Map<string, string>, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) if (!skip.includes(k)) out[k] = v;
  return out;
}

const SERIAL_KEYS = ['baud', 'baudrate', 'databits', 'parity', 'stopbits', 'rtscts', 'lock'] as const;
const TCP_KEYS = ['timeout', 'connecttimeout', 'nodelay'] as const;

function parseSerial(input: string, raw: RawUrl): SerialUrl {
  const kind = 'serial';
  if (raw.authority !== undefined && raw.authority !== '') {
    throw badUrl(
      input,
      `unexpected host '${raw.authority}' (use three slashes: serial:///dev/ttyUSB0)`,
      kind,
    );
  }
  const path = raw.path;
  if (path === '' || path === '/') throw badUrl(input, 'missing device path', kind);
  checkKeys(input, kind, raw.query, SERIAL_KEYS);
  if (raw.query.has('baud') && raw.query.has('baudrate'))
    throw badUrl(input, "give 'baud' or 'baudrate', not both", kind);
  const url: SerialUrl = { kind, path, ...SERIAL_DEFAULTS };
  const baud = raw.query.get('baud') ?? raw.query.get('baudrate');
  if (baud !== undefined) {
    const n = parseIntStrict(baud);
    if (n === undefined || n < MIN_BAUD || n > MAX_BAUD) {
      throw badUrl(input, `baud '${baud}' is not a whole number between ${MIN_BAUD} and ${MAX_BAUD}`, kind);
    }
    url.baudRate = n;
  }
  const dataBits = raw.query.get('databits');
  if (dataBits !== undefined) {
    if (!['5', '6', '7', '8'].includes(dataBits))
      throw badUrl(input, `databits must be 5, 6, 7 or 8, got '${dataBits}'`, kind);
    url.dataBits = Number(dataBits) as SerialDataBits;
  }
  const parity = raw.query.get('parity');
  if (parity !== undefined) {
    const p = parity.toLowerCase();
    if (!['none', 'even', 'odd', 'mark', 'space'].includes(p)) {
      throw badUrl(input, `parity must be none, even, odd, mark or space, got '${parity}'`, kind);
    }
    url.parity = p as SerialParity;
  }
  const stopBits = raw.query.get('stopbits');
  if (stopBits !== undefined) {
    if (!['1', '1.5', '2'].includes(stopBits))
      throw badUrl(input, `stopbits must be 1, 1.5 or 2, got '${stopBits}'`, kind);
    url.stopBits = Number(stopBits) as SerialStopBits;
  }
  const rtscts = raw.query.get('rtscts');
  if (rtscts !== undefined) url.rtscts = parseBool(input, kind, 'rtscts', rtscts);
  const lock = raw.query.get('lock');
  if (lock !== undefined) url.lock = parseBool(input, kind, 'lock', lock);
  return url;
}

function parseTcp(input: string, raw: RawUrl): TcpUrl {
  const kind = 'tcp';
  const { host, port } = parseHostPort(input, kind, raw);
  checkKeys(input, kind, raw.query, TCP_KEYS);
  if (raw.query.has('timeout') && raw.query.has('connecttimeout')) {
    throw badUrl(input, "give 'timeout' or 'connecttimeout', not both", kind);
  }
  const url: TcpUrl = { kind, host, port, ...TCP_DEFAULTS };
  const timeout = raw.query.get('timeout') ?? raw.query.get('connecttimeout');
  if (timeout !== undefined) {
    const n = parseIntStrict(timeout);
    if (n === undefined || n < 1 || n > 2_147_483_647) {
      throw badUrl(input, `timeout '${timeout}' must be a positive number of milliseconds`, kind);
    }
    url.connectTimeoutMs = n;
  }
  const noDelay = raw.query.get('nodelay');
  if (noDelay !== undefined) url.noDelay = parseBool(input, kind, 'nodelay', noDelay);
  return url;
}

function parseSim(input: string, raw: RawUrl): SimUrl {
  let name = raw.authority ?? raw.path;
  if (raw.authority !== undefined && raw.path !== '' && raw.path !== '/') {
    throw badUrl(input, `unexpected path '${raw.path}' after the simulator name`, 'sim');
  }
  name = name.replace(/^\/+/, '');
  if (name !== '' && !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw badUrl(input, `simulator name '${name}' may only contain letters, digits, '.', '_' and '-'`, 'sim');
  }
  return { kind: 'sim', name: name === '' ? 'default' : name, params: rest(raw.query) };
}

function parsePcie(input: string, raw: RawUrl): PcieUrl {
  const kind = 'pcie';
  if (raw.authority !== undefined && raw.authority !== '') {
    throw badUrl(
      input,
      `unexpected host '${raw.authority}' (use three slashes: pcie:///dev/xdma0_user)`,
      kind,
    );
  }
  if (raw.path === '' || raw.path === '/') throw badUrl(input, 'missing device path', kind);
  const events = raw.query.get('events');
  if (events === '') throw badUrl(input, "'events' needs a device path", kind);
  const url: PcieUrl = { kind, path: raw.path, params: rest(raw.query, ['events']) };
  if (events !== undefined) url.events = events;
  return url;
}

function parseRfc2217(input: string, raw: RawUrl): Rfc2217Url {
  const { host, port } = parseHostPort(input, 'rfc2217', raw);
  return { kind: 'rfc2217', host, port, params: rest(raw.query) };
}

/**
 * Parses a device URL into a typed DeviceUrl. Throws TransportError 'E_OFFLOAD_BAD_URL' whose message
 * says what is wrong and shows an example.
 */
export function parseDeviceUrl(input: string): DeviceUrl {
  if (typeof input !== 'string') throw badUrl(String(input), 'a device URL must be a string');
  const text = input.trim();
  if (text === '') throw badUrl(input, 'empty URL');
  const raw = splitUrl(text);
  switch (raw.scheme as DeviceUrlKind) {
    case 'serial':
      return parseSerial(text, raw);
    case 'tcp':
      return parseTcp(text, raw);
    case 'sim':
      return parseSim(text, raw);
    case 'pcie':
      return parsePcie(text, raw);
    case 'rfc2217':
      return parseRfc2217(text, raw);
  }
  /* c8 ignore next */
  throw badUrl(input, `unknown scheme '${raw.scheme}:'`);
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function encodePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => encodeURIComponent(c));
}

function queryString(entries: Array<[string, string]>): string {
  return entries.length
    ? `?${entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`
    : '';
}

/** What formatDeviceUrl accepts: a DeviceUrl, where serial settings and tcp options may be left out. */
export type DeviceUrlInit =
  | (Pick<SerialUrl, 'kind' | 'path'> & Partial<SerialUrl>)
  | (Pick<TcpUrl, 'kind' | 'host' | 'port'> & Partial<TcpUrl>)
  | (Pick<SimUrl, 'kind'> & Partial<SimUrl>)
  | (Pick<PcieUrl, 'kind' | 'path'> & Partial<PcieUrl>)
  | (Pick<Rfc2217Url, 'kind' | 'host' | 'port'> & Partial<Rfc2217Url>);

/**
 * The canonical URL text for a DeviceUrl; parseDeviceUrl(formatDeviceUrl(u)) deep-equals u (with defaults filled).
 * Serial URLs always show the baud rate, and other settings only when they differ from the defaults.
 */
export function formatDeviceUrl(u: DeviceUrlInit): string {
  switch (u.kind) {
    case 'serial': {
      const q: Array<[string, string]> = [['baud', String(u.baudRate ?? SERIAL_DEFAULTS.baudRate)]];
      if (u.dataBits !== undefined && u.dataBits !== SERIAL_DEFAULTS.dataBits)
        q.push(['databits', String(u.dataBits)]);
      if (u.parity !== undefined && u.parity !== SERIAL_DEFAULTS.parity) q.push(['parity', u.parity]);
      if (u.stopBits !== undefined && u.stopBits !== SERIAL_DEFAULTS.stopBits)
        q.push(['stopbits', String(u.stopBits)]);
      if (u.rtscts) q.push(['rtscts', 'true']);
      if (u.lock === false) q.push(['lock', 'false']);
      const base = u.path.startsWith('/') ? `serial://${encodePath(u.path)}` : `serial:${encodePath(u.path)}`;
      return base + queryString(q);
    }
    case 'tcp': {
      const q: Array<[string, string]> = [];
      if (u.connectTimeoutMs !== undefined && u.connectTimeoutMs !== TCP_DEFAULTS.connectTimeoutMs) {
        q.push(['timeout', String(u.connectTimeoutMs)]);
      }
      if (u.noDelay === false) q.push(['nodelay', '0']);
      return `tcp://${hostPort(u.host, u.port)}${queryString(q)}`;
    }
    case 'sim':
      return `sim:${u.name ?? 'default'}${queryString(Object.entries(u.params ?? {}))}`;
    case 'pcie': {
      const q: Array<[string, string]> = u.events !== undefined ? [['events', u.events]] : [];
      q.push(...Object.entries(u.params ?? {}));
      return `pcie://${encodePath(u.path.startsWith('/') ? u.path : `/${u.path}`)}${queryString(q)}`;
    }
    case 'rfc2217':
      return `rfc2217://${hostPort(u.host, u.port)}${queryString(Object.entries(u.params ?? {}))}`;
  }
}
