/**
 * RFC 2217 transport: a serial port on another host, exported by ser2net (`accepter: telnet(rfc2217),tcp,PORT`)
 * or any RFC 2217 server, opened as `rfc2217://host:port?baud=921600&databits=8&parity=none&stopbits=1&rtscts=false`.
 *
 * Open: TCP connect (errors exactly as tcp://), then Telnet negotiation (WILL/DO BINARY both ways, SGA both
 * ways, WILL COM-PORT-OPTION), then the line settings (SET-BAUDRATE, SET-DATASIZE, SET-PARITY, SET-STOPSIZE,
 * SET-CONTROL for flow control) and the notification masks. open() resolves once the server has agreed to
 * COM-PORT-OPTION and BINARY and acknowledged every line setting; `lineSettings` holds the values the server
 * reports in effect (which may differ from those asked for: check them). A server that refuses COM-PORT-OPTION
 * or BINARY → E_OFFLOAD_RFC2217_REFUSED; one that does not answer → E_OFFLOAD_RFC2217_NO_ANSWER.
 *
 * While open: data is IAC-escaped both ways; NOTIFY-LINESTATE / NOTIFY-MODEMSTATE arrive as 'line-state' /
 * 'modem-state' events; setLineSettings() / purge() send COM-port commands and resolve with the server's answer.
 * The connection going away ends in 'close' with E_OFFLOAD_LINK_DOWN, like tcp://.
 */
import type { Logger } from 'pino';
import { TransportError, TransportErrorCode } from './errors.js';
import { TcpTransport } from './tcp.js';
import {
  encodeSubnegotiation,
  type NegotiationChange,
  optionName,
  TelnetDecoder,
  type TelnetEvent,
  TelnetNegotiator,
  TelnetOption,
  escapeIac,
} from './telnet.js';
import {
  BaseTransport,
  type TransportEvents,
  type TransportLogOptions,
  type TransportState,
} from './transport.js';
import {
  MAX_BAUD,
  MIN_BAUD,
  type Rfc2217Url,
  SERIAL_DEFAULTS,
  type SerialDataBits,
  type SerialParity,
  type SerialStopBits,
  TCP_DEFAULTS,
  URL_EXAMPLES,
  formatDeviceUrl,
} from './url.js';

/** RFC 2217 COM-PORT-OPTION commands, client → server (the server answers with the code + 100). */
export const ComPortCommand = {
  SIGNATURE: 0,
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  NOTIFY_LINESTATE: 6,
  NOTIFY_MODEMSTATE: 7,
  FLOWCONTROL_SUSPEND: 8,
  FLOWCONTROL_RESUME: 9,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
} as const;

/** Server → client codes are the client codes + 100. */
export const SERVER_OFFSET = 100;

const PARITY_CODES: Record<SerialParity, number> = { none: 1, odd: 2, even: 3, mark: 4, space: 5 };
const STOP_CODES: Record<string, number> = { '1': 1, '2': 2, '1.5': 3 };
/** SET-CONTROL values for outbound flow control. */
const FLOW_CODES = { none: 1, xonxoff: 2, rtscts: 3 } as const;

export type FlowControl = keyof typeof FLOW_CODES;

/** Serial line settings, as asked for or as the server reports them in effect. */
export interface LineSettings {
  baudRate: number;
  dataBits: SerialDataBits;
  parity: SerialParity;
  stopBits: SerialStopBits;
  flowControl: FlowControl;
}

/** NOTIFY-LINESTATE (the server's UART line status register). */
export interface LineState {
  /** The raw byte. */
  value: number;
  dataReady: boolean;
  overrunError: boolean;
  parityError: boolean;
  framingError: boolean;
  breakDetected: boolean;
  transferHoldingEmpty: boolean;
  transferShiftEmpty: boolean;
  timeoutError: boolean;
}

/** NOTIFY-MODEMSTATE (the server's modem status register). */
export interface ModemState {
  /** The raw byte. */
  value: number;
  cts: boolean;
  dsr: boolean;
  ri: boolean;
  cd: boolean;
  deltaCts: boolean;
  deltaDsr: boolean;
  trailingEdgeRi: boolean;
  deltaCd: boolean;
}

export function decodeLineState(value: number): LineState {
  return {
    value,
    dataReady: (value & 0x01) !== 0,
    overrunError: (value & 0x02) !== 0,
    parityError: (value & 0x04) !== 0,
    framingError: (value & 0x08) !== 0,
    breakDetected: (value & 0x10) !== 0,
    transferHoldingEmpty: (value & 0x20) !== 0,
    transferShiftEmpty: (value & 0x40) !== 0,
    timeoutError: (value & 0x80) !== 0,
  };
}

export function decodeModemState(value: number): ModemState {
  return {
    value,
    deltaCts: (value & 0x01) !== 0,
    deltaDsr: (value & 0x02) !== 0,
    trailingEdgeRi: (value & 0x04) !== 0,
    deltaCd: (value & 0x08) !== 0,
    cts: (value & 0x10) !== 0,
    dsr: (value & 0x20) !== 0,
    ri: (value & 0x40) !== 0,
    cd: (value & 0x80) !== 0,
  };
}

/** IAC SB COM-PORT-OPTION <command> <value> IAC SE, value escaped. */
export function encodeComPort(command: number, value: Uint8Array | number[]): Buffer {
  return encodeSubnegotiation(TelnetOption.COM_PORT, Buffer.from([command, ...value]));
}

/** The SET-* messages for the given settings (value 0 = "tell me the current value" where a field is undefined). */
export function encodeLineSettings(s: Partial<LineSettings>): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  if (s.baudRate !== undefined) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(s.baudRate);
    out.set(ComPortCommand.SET_BAUDRATE, encodeComPort(ComPortCommand.SET_BAUDRATE, b));
  }
  if (s.dataBits !== undefined)
    out.set(ComPortCommand.SET_DATASIZE, encodeComPort(ComPortCommand.SET_DATASIZE, [s.dataBits]));
  if (s.parity !== undefined)
    out.set(ComPortCommand.SET_PARITY, encodeComPort(ComPortCommand.SET_PARITY, [PARITY_CODES[s.parity]]));
  if (s.stopBits !== undefined) {
    const code = STOP_CODES[String(s.stopBits)] as number;
    out.set(ComPortCommand.SET_STOPSIZE, encodeComPort(ComPortCommand.SET_STOPSIZE, [code]));
  }
  if (s.flowControl !== undefined) {
    out.set(
      ComPortCommand.SET_CONTROL,
      encodeComPort(ComPortCommand.SET_CONTROL, [FLOW_CODES[s.flowControl]]),
    );
  }
  return out;
}

export interface Rfc2217Events extends TransportEvents {
  /** NOTIFY-LINESTATE from the server (errors on the serial line: overrun, parity, framing, break). */
  'line-state': [LineState];
  /** NOTIFY-MODEMSTATE from the server (CTS, DSR, RI, CD and their changes). */
  'modem-state': [ModemState];
  /** The server acknowledged a line setting; the settings now in effect. */
  'line-settings': [LineSettings];
}

export interface Rfc2217TransportOptions extends TransportLogOptions, Partial<LineSettings> {
  host: string;
  port: number;
  /** TCP connect timeout (E_OFFLOAD_CONNECT_TIMEOUT). Default 5000. */
  connectTimeoutMs?: number;
  /** Telnet negotiation + line settings must complete within this after connecting. Default 3000. */
  negotiationTimeoutMs?: number;
  /** Each later COM-port command (setLineSettings, purge) must be answered within this. Default 3000. */
  controlTimeoutMs?: number;
  /** TCP_NODELAY. Default true. */
  noDelay?: boolean;
  /** NOTIFY-LINESTATE mask sent at open. Default 0x1e (overrun, parity, framing errors and break). */
  lineStateMask?: number;
  /** NOTIFY-MODEMSTATE mask sent at open. Default 0xff. */
  modemStateMask?: number;
  /** For logs and errors; default the rfc2217:// URL. */
  description?: string;
}

const RFC2217_KEYS = [
  'baud',
  'baudrate',
  'databits',
  'parity',
  'stopbits',
  'rtscts',
  'xonxoff',
  'timeout',
  'connecttimeout',
  'nodelay',
] as const;

function badParam(url: string, problem: string): TransportError {
  return new TransportError(
    TransportErrorCode.BAD_URL,
    `bad device URL '${url}': ${problem}; example: ${URL_EXAMPLES.rfc2217}?baud=921600&databits=8&parity=none&stopbits=1&rtscts=false`,
    { url, problem, kind: 'rfc2217' },
  );
}

function boolParam(url: string, key: string, value: string): boolean {
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
      throw badParam(url, `'${key}' must be true or false (or 1/0), got '${value}'`);
  }
}

/**
 * The transport options of a parsed rfc2217:// URL (its query parameters: baud / baudrate, databits, parity,
 * stopbits, rtscts, xonxoff, timeout / connecttimeout, nodelay). Throws E_OFFLOAD_BAD_URL.
 */
export function rfc2217OptionsFromUrl(
  u: Rfc2217Url,
  description = formatDeviceUrl(u),
): Rfc2217TransportOptions {
  const q = new Map(Object.entries(u.params).map(([k, v]) => [k.toLowerCase(), v]));
  for (const k of q.keys()) {
    if (!(RFC2217_KEYS as readonly string[]).includes(k)) {
      throw badParam(
        description,
        `unknown query parameter '${k}' for rfc2217: (allowed: ${RFC2217_KEYS.join(', ')})`,
      );
    }
  }
  const pick = (a: string, b: string): string | undefined => {
    if (q.has(a) && q.has(b)) throw badParam(description, `give '${a}' or '${b}', not both`);
    return q.get(a) ?? q.get(b);
  };
  const opts: Rfc2217TransportOptions = { host: u.host, port: u.port, description };
  const baud = pick('baud', 'baudrate');
  if (baud !== undefined) {
    const n = /^\d{1,10}$/.test(baud) ? Number(baud) : Number.NaN;
    if (!(n >= MIN_BAUD && n <= MAX_BAUD))
      throw badParam(description, `baud '${baud}' is not a whole number between ${MIN_BAUD} and ${MAX_BAUD}`);
    opts.baudRate = n;
  }
  const dataBits = q.get('databits');
  if (dataBits !== undefined) {
    if (!['5', '6', '7', '8'].includes(dataBits))
      throw badParam(description, `databits must be 5, 6, 7 or 8, got '${dataBits}'`);
    opts.dataBits = Number(dataBits) as SerialDataBits;
  }
  const parity = q.get('parity');
  if (parity !== undefined) {
    const p = parity.toLowerCase();
    if (!(p in PARITY_CODES))
      throw badParam(description, `parity must be none, even, odd, mark or space, got '${parity}'`);
    opts.parity = p as SerialParity;
  }
  const stopBits = q.get('stopbits');
  if (stopBits !== undefined) {
    if (!(stopBits in STOP_CODES))
      throw badParam(description, `stopbits must be 1, 1.5 or 2, got '${stopBits}'`);
    opts.stopBits = Number(stopBits) as SerialStopBits;
  }
  const rtscts = q.get('rtscts');
  const xonxoff = q.get('xonxoff');
  const hw = rtscts !== undefined && boolParam(description, 'rtscts', rtscts);
  const sw = xonxoff !== undefined && boolParam(description, 'xonxoff', xonxoff);
  if (hw && sw) throw badParam(description, 'rtscts and xonxoff cannot both be on');
  if (rtscts !== undefined || xonxoff !== undefined)
    opts.flowControl = hw ? 'rtscts' : sw ? 'xonxoff' : 'none';
  const timeout = pick('timeout', 'connecttimeout');
  if (timeout !== undefined) {
    const n = /^\d{1,10}$/.test(timeout) ? Number(timeout) : 0;
    if (n < 1 || n > 2_147_483_647)
      throw badParam(description, `timeout '${timeout}' must be a positive number of milliseconds`);
    opts.connectTimeoutMs = n;
  }
  const noDelay = q.get('nodelay');
  if (noDelay !== undefined) opts.noDelay = boolParam(description, 'nodelay', noDelay);
  return opts;
}

interface PendingControl {
  resolve: (value: Buffer) => void;
  reject: (err: TransportError) => void;
  timer: NodeJS.Timeout;
}

const PARITY_BY_CODE: Record<number, SerialParity> = {
  1: 'none',
  2: 'odd',
  3: 'even',
  4: 'mark',
  5: 'space',
};
const STOP_BY_CODE: Record<number, SerialStopBits> = { 1: 1, 2: 2, 3: 1.5 };
const FLOW_BY_CODE: Record<number, FlowControl> = { 1: 'none', 2: 'xonxoff', 3: 'rtscts' };

/** Options we perform when asked (BINARY, SGA, COM-PORT-OPTION) and let the server perform (BINARY, SGA). */
function newNegotiator(): TelnetNegotiator {
  return new TelnetNegotiator(
    new Set([TelnetOption.BINARY, TelnetOption.SGA, TelnetOption.COM_PORT]),
    new Set([TelnetOption.BINARY, TelnetOption.SGA]),
  );
}

type Listener<K extends keyof Rfc2217Events> = (...args: Rfc2217Events[K]) => void;

export class Rfc2217Transport extends BaseTransport {
  readonly kind = 'rfc2217' as const;
  readonly host: string;
  readonly port: number;
  /**
   * The settings asked for (`baudRate` is also what the link uses for its retransmission timeout).
   * After open, `lineSettings` has what the server reports in effect.
   */
  readonly options: Readonly<
    LineSettings & { connectTimeoutMs: number; negotiationTimeoutMs: number; controlTimeoutMs: number }
  >;
  private readonly noDelay: boolean;
  private readonly lineStateMask: number;
  private readonly modemStateMask: number;
  private readonly logger: Logger | undefined;
  private tcp: TcpTransport | undefined;
  private decoder = new TelnetDecoder();
  private negotiator = newNegotiator();
  private readonly pending = new Map<number, PendingControl[]>();
  private readonly settings: Partial<LineSettings> = {};
  private early: Buffer[] = [];
  private negotiationWaiter: (() => void) | undefined;
  private negotiationFailure: TransportError | undefined;
  private abortNegotiation: ((err: TransportError) => void) | undefined;
  /** The last NOTIFY-MODEMSTATE / NOTIFY-LINESTATE seen, if any. */
  modemState: ModemState | undefined;
  lineState: LineState | undefined;
  /** The server's signature string, if it sent one. */
  signature: string | undefined;

  constructor(options: Rfc2217TransportOptions) {
    const baudRate = options.baudRate ?? SERIAL_DEFAULTS.baudRate;
    super(
      'rfc2217',
      options.description ??
        formatDeviceUrl({
          kind: 'rfc2217',
          host: options.host,
          port: options.port,
          params: { baud: String(baudRate) },
        }),
      options.logger,
    );
    this.host = options.host;
    this.port = options.port;
    this.logger = options.logger;
    this.noDelay = options.noDelay ?? TCP_DEFAULTS.noDelay;
    this.lineStateMask = options.lineStateMask ?? 0x1e;
    this.modemStateMask = options.modemStateMask ?? 0xff;
    this.options = {
      baudRate,
      dataBits: options.dataBits ?? SERIAL_DEFAULTS.dataBits,
      parity: options.parity ?? SERIAL_DEFAULTS.parity,
      stopBits: options.stopBits ?? SERIAL_DEFAULTS.stopBits,
      flowControl: options.flowControl ?? (SERIAL_DEFAULTS.rtscts ? 'rtscts' : 'none'),
      connectTimeoutMs: options.connectTimeoutMs ?? TCP_DEFAULTS.connectTimeoutMs,
      negotiationTimeoutMs: options.negotiationTimeoutMs ?? 3000,
      controlTimeoutMs: options.controlTimeoutMs ?? 3000,
    };
  }

  /** The line settings the server reported in effect (its answers to SET-*); complete once open. */
  get lineSettings(): Readonly<Partial<LineSettings>> {
    return { ...this.settings };
  }

  // Typed overloads for the RFC 2217 events (the base class knows only data / drain / close).
  override on<K extends keyof Rfc2217Events>(event: K, listener: Listener<K>): this {
    return super.on(event as 'data', listener as never);
  }
  override once<K extends keyof Rfc2217Events>(event: K, listener: Listener<K>): this {
    return super.once(event as 'data', listener as never);
  }
  override off<K extends keyof Rfc2217Events>(event: K, listener: Listener<K>): this {
    return super.off(event as 'data', listener as never);
  }
  private emitRfc2217<K extends 'line-state' | 'modem-state' | 'line-settings'>(
    event: K,
    ...args: Rfc2217Events[K]
  ): void {
    (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
  }

  protected async doOpen(): Promise<void> {
    this.decoder = new TelnetDecoder();
    this.negotiator = newNegotiator();
    this.negotiationFailure = undefined;
    this.early = [];
    for (const k of Object.keys(this.settings)) delete this.settings[k as keyof LineSettings];
    const tcp = new TcpTransport({
      host: this.host,
      port: this.port,
      connectTimeoutMs: this.options.connectTimeoutMs,
      noDelay: this.noDelay,
      description: this.description,
      ...(this.logger ? { logger: this.logger } : {}),
    });
    this.tcp = tcp;
    tcp.on('data', (chunk) => this.onBytes(chunk));
    tcp.on('drain', () => {
      if (this.state === 'open') this.emit('drain');
    });
    tcp.on('close', (err) => this.onTcpClose(err));
    try {
      await tcp.open(); // connect errors exactly as tcp://
    } catch (err) {
      tcp.removeAllListeners();
      this.tcp = undefined;
      throw err;
    }
    try {
      await this.negotiate();
    } catch (err) {
      tcp.removeAllListeners();
      await tcp.close().catch(() => undefined);
      this.tcp = undefined;
      this.rejectPending(err as TransportError);
      throw err;
    }
    // Deliver what arrived while opening once BaseTransport has marked us open.
    setImmediate(() => this.flushEarly());
  }

  private async negotiate(): Promise<void> {
    const deadline = Date.now() + this.options.negotiationTimeoutMs;
    const n = this.negotiator;
    this.sendRaw([
      ...n.requestLocal(TelnetOption.BINARY, true),
      ...n.requestRemote(TelnetOption.BINARY, true),
      ...n.requestLocal(TelnetOption.SGA, true),
      ...n.requestRemote(TelnetOption.SGA, true),
      ...n.requestLocal(TelnetOption.COM_PORT, true),
    ]);
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (this.negotiationFailure) {
          finish(this.negotiationFailure);
        } else if (
          n.local(TelnetOption.COM_PORT) === 'yes' &&
          n.local(TelnetOption.BINARY) === 'yes' &&
          n.remote(TelnetOption.BINARY) === 'yes'
        ) {
          finish();
        }
      };
      const finish = (err?: TransportError): void => {
        clearTimeout(timer);
        this.negotiationWaiter = undefined;
        this.abortNegotiation = undefined;
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(
        () => {
          const missing = [
            n.local(TelnetOption.COM_PORT) !== 'yes' ? 'DO COM-PORT-OPTION' : undefined,
            n.local(TelnetOption.BINARY) !== 'yes' ? 'DO BINARY' : undefined,
            n.remote(TelnetOption.BINARY) !== 'yes' ? 'WILL BINARY' : undefined,
          ].filter(Boolean);
          finish(
            new TransportError(
              TransportErrorCode.RFC2217_NO_ANSWER,
              `${this.description}: no answer to the telnet negotiation within ${this.options.negotiationTimeoutMs} ms ` +
                `(still waiting for ${missing.join(', ')}); is this an RFC 2217 server (ser2net 'accepter: telnet(rfc2217),tcp,PORT')? ` +
                'For a raw TCP serial bridge use tcp://',
              { url: this.description, missing },
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      this.negotiationWaiter = check;
      this.abortNegotiation = finish;
      check();
    });
    // Line settings, then the notification masks (not all servers answer those, so not awaited).
    const want: LineSettings = {
      baudRate: this.options.baudRate,
      dataBits: this.options.dataBits,
      parity: this.options.parity,
      stopBits: this.options.stopBits,
      flowControl: this.options.flowControl,
    };
    const acks = this.sendSettings(want, Math.max(1, deadline - Date.now()));
    this.sendRaw([
      encodeComPort(ComPortCommand.SET_LINESTATE_MASK, [this.lineStateMask]),
      encodeComPort(ComPortCommand.SET_MODEMSTATE_MASK, [this.modemStateMask]),
    ]);
    await acks;
    const got = this.settings;
    const differs = (Object.keys(want) as Array<keyof LineSettings>).filter((k) => got[k] !== want[k]);
    if (differs.length > 0) {
      this.log.warn({ asked: want, inEffect: got, differs }, 'RFC 2217 server set different line settings');
    }
    this.log.debug({ lineSettings: got }, 'RFC 2217 line settings acknowledged');
  }

  /**
   * Changes line settings through RFC 2217 (only the fields given); resolves with the settings the server then
   * reports in effect. Rejects E_OFFLOAD_RFC2217_NO_ANSWER if it does not answer within controlTimeoutMs.
   */
  async setLineSettings(settings: Partial<LineSettings>): Promise<Readonly<Partial<LineSettings>>> {
    this.requireOpen('setLineSettings');
    await this.sendSettings(settings, this.options.controlTimeoutMs);
    return this.lineSettings;
  }

  /** Asks the server for its current line settings (SET-* with value 0) and returns them. */
  async refreshLineSettings(): Promise<Readonly<Partial<LineSettings>>> {
    this.requireOpen('refreshLineSettings');
    const b = Buffer.alloc(4);
    const msgs = new Map<number, Buffer>([
      [ComPortCommand.SET_BAUDRATE, encodeComPort(ComPortCommand.SET_BAUDRATE, b)],
      [ComPortCommand.SET_DATASIZE, encodeComPort(ComPortCommand.SET_DATASIZE, [0])],
      [ComPortCommand.SET_PARITY, encodeComPort(ComPortCommand.SET_PARITY, [0])],
      [ComPortCommand.SET_STOPSIZE, encodeComPort(ComPortCommand.SET_STOPSIZE, [0])],
      [ComPortCommand.SET_CONTROL, encodeComPort(ComPortCommand.SET_CONTROL, [0])],
    ]);
    await Promise.all([...msgs].map(([cmd, msg]) => this.control(cmd, msg, this.options.controlTimeoutMs)));
    return this.lineSettings;
  }

  /** PURGE-DATA: discard the server's receive ('rx', from the board), transmit ('tx') buffers, or both. */
  async purge(which: 'rx' | 'tx' | 'both' = 'both'): Promise<void> {
    this.requireOpen('purge');
    const code = which === 'rx' ? 1 : which === 'tx' ? 2 : 3;
    await this.control(
      ComPortCommand.PURGE_DATA,
      encodeComPort(ComPortCommand.PURGE_DATA, [code]),
      this.options.controlTimeoutMs,
    );
  }

  private requireOpen(op: string): void {
    if (this.state === 'open') return;
    throw this.state === 'idle' || this.state === 'opening'
      ? new TransportError(
          TransportErrorCode.NOT_OPEN,
          `${op} on ${this.description}: transport is not open yet`,
          {
            url: this.description,
          },
        )
      : this.closedError(op);
  }

  private sendSettings(s: Partial<LineSettings>, timeoutMs: number): Promise<unknown> {
    const msgs = encodeLineSettings(s);
    return Promise.all([...msgs].map(([cmd, msg]) => this.control(cmd, msg, timeoutMs)));
  }

  /** Sends a COM-port command and resolves with the server's answer (payload after the command byte). */
  private control(command: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const list = this.pending.get(command) ?? [];
      this.pending.set(command, list);
      const entry: PendingControl = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = list.indexOf(entry);
          if (i >= 0) list.splice(i, 1);
          reject(
            new TransportError(
              TransportErrorCode.RFC2217_NO_ANSWER,
              `${this.description}: the RFC 2217 server did not answer COM-port command ${command} within ${timeoutMs} ms`,
              { url: this.description, command },
            ),
          );
        }, timeoutMs),
      };
      list.push(entry);
      this.sendRaw([message]);
    });
  }

  private rejectPending(err: TransportError): void {
    for (const list of this.pending.values()) {
      for (const p of list.splice(0)) {
        clearTimeout(p.timer);
        p.reject(err);
      }
    }
  }

  private sendRaw(chunks: Buffer[]): void {
    const tcp = this.tcp;
    if (!tcp?.isOpen || chunks.length === 0) return;
    tcp.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  }

  private onBytes(chunk: Buffer): void {
    let events: TelnetEvent[];
    try {
      events = this.decoder.decode(chunk);
    } catch (err) {
      this.log.warn({ err }, 'telnet decode failed');
      return;
    }
    for (const ev of events) {
      switch (ev.type) {
        case 'data':
          this.deliver(ev.data);
          break;
        case 'negotiation': {
          const r = this.negotiator.receive(ev.verb, ev.option);
          this.sendRaw(r.reply);
          this.log.trace({ verb: ev.verb, option: ev.option, change: r.change }, 'telnet negotiation');
          if (r.change) this.onOptionChange(r.change);
          this.negotiationWaiter?.();
          break;
        }
        case 'subnegotiation':
          if (ev.option === TelnetOption.COM_PORT) this.onComPort(ev.payload);
          break;
        case 'command':
          break;
      }
    }
  }

  private onOptionChange(c: NegotiationChange): void {
    const essential =
      (c.option === TelnetOption.COM_PORT && c.side === 'local') || c.option === TelnetOption.BINARY;
    if (!essential || c.enabled) return;
    const what =
      c.option === TelnetOption.COM_PORT
        ? `refused COM-PORT-OPTION (${verbFor(c)}): it is a telnet server without RFC 2217 serial port control. ` +
          "With ser2net, use 'accepter: telnet(rfc2217),tcp,PORT'; for a raw TCP bridge use tcp://"
        : `refused binary transmission (${verbFor(c)} ${optionName(c.option)}): bytes 0x0d / 0xff of the ` +
          'serial stream would be altered';
    const err = new TransportError(
      TransportErrorCode.RFC2217_REFUSED,
      `${this.description}: the server ${what}`,
      { url: this.description, option: c.option, side: c.side },
    );
    if (this.state === 'opening') {
      this.negotiationFailure = err;
    } else if (this.state === 'open') {
      // Turned off while open: the stream can no longer be trusted.
      this.tcp?.removeAllListeners('close');
      this.rejectPending(err);
      this.finish(err);
      void this.tcp?.close();
    }
  }

  private onComPort(payload: Buffer): void {
    if (payload.length < 1) return;
    const code = payload[0] as number;
    const value = payload.subarray(1);
    if (code < SERVER_OFFSET) return; // a client → server command echoed or sent by a peer acting as client
    const command = code - SERVER_OFFSET;
    switch (command) {
      case ComPortCommand.SIGNATURE:
        this.signature = value.toString('latin1');
        break;
      case ComPortCommand.SET_BAUDRATE:
        if (value.length >= 4) this.settings.baudRate = value.readUInt32BE(0);
        break;
      case ComPortCommand.SET_DATASIZE:
        if (value[0] !== undefined && value[0] >= 5 && value[0] <= 8)
          this.settings.dataBits = value[0] as SerialDataBits;
        break;
      case ComPortCommand.SET_PARITY: {
        const p = PARITY_BY_CODE[value[0] ?? -1];
        if (p) this.settings.parity = p;
        break;
      }
      case ComPortCommand.SET_STOPSIZE: {
        const s = STOP_BY_CODE[value[0] ?? -1];
        if (s !== undefined) this.settings.stopBits = s;
        break;
      }
      case ComPortCommand.SET_CONTROL: {
        const f = FLOW_BY_CODE[value[0] ?? -1];
        if (f) this.settings.flowControl = f;
        break;
      }
      case ComPortCommand.NOTIFY_LINESTATE:
        if (value[0] !== undefined) {
          this.lineState = decodeLineState(value[0]);
          if (this.state !== 'closed') this.emitRfc2217('line-state', this.lineState);
        }
        return;
      case ComPortCommand.NOTIFY_MODEMSTATE:
        if (value[0] !== undefined) {
          this.modemState = decodeModemState(value[0]);
          if (this.state !== 'closed') this.emitRfc2217('modem-state', this.modemState);
        }
        return;
      default:
        break;
    }
    if (
      command >= ComPortCommand.SET_BAUDRATE &&
      command <= ComPortCommand.SET_CONTROL &&
      this.state === 'open'
    ) {
      this.emitRfc2217('line-settings', { ...this.settings } as LineSettings);
    }
    const p = this.pending.get(command)?.shift();
    if (p) {
      clearTimeout(p.timer);
      p.resolve(Buffer.from(value));
    }
  }

  private deliver(data: Buffer): void {
    if (this.state === 'open' && this.early.length === 0) {
      this.emit('data', data);
    } else if (this.state === 'opening' || this.state === 'open') {
      // Copy: the decoder's output may share memory with nothing else, but keep ownership simple.
      this.early.push(Buffer.from(data));
      if (this.state === 'open') this.flushEarly();
    }
  }

  private flushEarly(): void {
    if (this.state !== 'open' || this.early.length === 0) return;
    const all = Buffer.concat(this.early);
    this.early = [];
    this.emit('data', all);
  }

  private onTcpClose(err: TransportError | undefined): void {
    const reason =
      err ??
      new TransportError(TransportErrorCode.LINK_DOWN, `connection to ${this.description} closed`, {
        url: this.description,
      });
    if (this.state === 'opening') {
      // ser2net hangs up with a text line when it cannot open the port ("Port already in use").
      const said = Buffer.concat(this.early)
        .toString('latin1')
        .replace(/[^\x20-\x7e]+/g, ' ')
        .trim()
        .slice(0, 200);
      const failure = new TransportError(
        TransportErrorCode.CONNECT_FAILED,
        `${this.description}: the server closed the connection while opening` +
          (said ? ` saying '${said}'` : ` (${reason.message})`) +
          '; is the serial port in use by another client, or missing on the server?',
        { url: this.description, serverSaid: said },
        { cause: reason },
      );
      this.rejectPending(failure);
      this.abortNegotiation?.(failure);
      return;
    }
    this.rejectPending(reason);
    this.finish(reason);
  }

  protected doWrite(chunk: Buffer): boolean {
    return (this.tcp as TcpTransport).write(escapeIac(chunk));
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    const tcp = this.tcp;
    this.abortNegotiation?.(this.closedError('open'));
    if (!tcp) return;
    tcp.removeAllListeners('close');
    await tcp.close();
  }

  protected override abortOpen(): void {
    this.abortNegotiation?.(this.closedError('open'));
    void this.tcp?.close();
  }

  protected override onFinished(): void {
    this.rejectPending(this.closedError('control'));
    this.early = [];
  }
}

/** The verb the peer sent to turn an option off: DONT for one we perform, WONT for one it performs. */
function verbFor(c: NegotiationChange): string {
  return c.side === 'local' ? 'DONT' : 'WONT';
}
