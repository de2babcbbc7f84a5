/**
 * A small Telnet codec (RFC 854/855) and option negotiation state machine (RFC 1143 "Q method", without the
 * queue bits), as much as an RFC 2217 client needs: IAC escaping of data in both directions, commands,
 * subnegotiations, and WILL/WONT/DO/DONT bookkeeping that can never loop. Pure: no I/O, no timers.
 *
 * Checked against npm first: 'telnet-stream' (a Transform that splits IAC commands off, no negotiation state,
 * no RFC 2217) and 'telnet-client' (a line-oriented shell client) do not fit; this file is the part we need.
 */

/** Telnet command bytes. */
export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const GA = 0xf9;
export const EL = 0xf8;
export const EC = 0xf7;
export const AYT = 0xf6;
export const AO = 0xf5;
export const IP = 0xf4;
export const BRK = 0xf3;
export const DM = 0xf2;
export const NOP = 0xf1;
export const SE = 0xf0;

/** Telnet options this project names. */
export const TelnetOption = {
  BINARY: 0,
  ECHO: 1,
  SGA: 3,
  /** RFC 2217 COM-PORT-OPTION. */
  COM_PORT: 44,
} as const;

export type NegotiationVerb = typeof WILL | typeof WONT | typeof DO | typeof DONT;

const VERB_NAMES: Record<number, string> = { [WILL]: 'WILL', [WONT]: 'WONT', [DO]: 'DO', [DONT]: 'DONT' };
const OPTION_NAMES: Record<number, string> = { 0: 'BINARY', 1: 'ECHO', 3: 'SGA', 44: 'COM-PORT-OPTION' };

export function verbName(verb: number): string {
  return VERB_NAMES[verb] ?? `CMD(${verb})`;
}

export function optionName(option: number): string {
  return OPTION_NAMES[option] ?? `option ${option}`;
}

/** What the decoder found in the byte stream, in order. */
export type TelnetEvent =
  | { type: 'data'; data: Buffer }
  | { type: 'negotiation'; verb: NegotiationVerb; option: number }
  | { type: 'subnegotiation'; option: number; payload: Buffer }
  /** Any other two-byte command (NOP, DM, BRK, AYT, GA ...). */
  | { type: 'command'; command: number };

type DecodeState = 'data' | 'iac' | 'verb' | 'sb-option' | 'sb-data' | 'sb-iac';

/** Largest subnegotiation payload kept; longer ones are truncated (a broken or hostile peer). */
const MAX_SUBNEGOTIATION = 4096;

/**
 * Streaming decoder: feed chunks as they come; state (a trailing IAC, a subnegotiation in progress)
 * carries over chunk boundaries. Data bytes come out unescaped (IAC IAC → 0xFF).
 */
export class TelnetDecoder {
  private state: DecodeState = 'data';
  private verb: NegotiationVerb = WILL;
  private sbOption = 0;
  private sb: number[] = [];

  /** Decodes one chunk; consecutive data bytes come out as one 'data' event. */
  decode(chunk: Uint8Array): TelnetEvent[] {
    const out: TelnetEvent[] = [];
    let data: Buffer | undefined;
    let dataLen = 0;
    let runStart = -1;
    const pushByte = (b: number): void => {
      data ??= Buffer.allocUnsafe(chunk.length);
      data[dataLen++] = b;
    };
    const flushRun = (end: number): void => {
      if (runStart < 0) return;
      data ??= Buffer.allocUnsafe(chunk.length);
      for (let j = runStart; j < end; j++) data[dataLen++] = chunk[j] as number;
      runStart = -1;
    };
    const flushData = (): void => {
      if (data && dataLen > 0) out.push({ type: 'data', data: data.subarray(0, dataLen) });
      data = undefined;
      dataLen = 0;
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      switch (this.state) {
        case 'data':
          if (b === IAC) {
            flushRun(i);
            this.state = 'iac';
          } else if (runStart < 0) {
            runStart = i;
          }
          break;
        case 'iac':
          if (b === IAC) {
            pushByte(IAC);
            this.state = 'data';
          } else if (b === WILL || b === WONT || b === DO || b === DONT) {
            this.verb = b;
            this.state = 'verb';
          } else if (b === SB) {
            this.state = 'sb-option';
          } else {
            flushData();
            out.push({ type: 'command', command: b });
            this.state = 'data';
          }
          break;
        case 'verb':
          flushData();
          out.push({ type: 'negotiation', verb: this.verb, option: b });
          this.state = 'data';
          break;
        case 'sb-option':
          this.sbOption = b;
          this.sb = [];
          this.state = 'sb-data';
          break;
        case 'sb-data':
          if (b === IAC) this.state = 'sb-iac';
          else if (this.sb.length < MAX_SUBNEGOTIATION) this.sb.push(b);
          break;
        case 'sb-iac':
          if (b === IAC) {
            if (this.sb.length < MAX_SUBNEGOTIATION) this.sb.push(IAC);
            this.state = 'sb-data';
          } else if (b === SE) {
            flushData();
            out.push({ type: 'subnegotiation', option: this.sbOption, payload: Buffer.from(this.sb) });
            this.sb = [];
            this.state = 'data';
          } else {
            // IAC <cmd> inside a subnegotiation is a protocol error (RFC 855): end the SB here and treat
            // the command normally, as most implementations do.
            flushData();
            out.push({ type: 'subnegotiation', option: this.sbOption, payload: Buffer.from(this.sb) });
            this.sb = [];
            this.state = 'iac';
            i--;
          }
          break;
      }
    }
    flushRun(chunk.length);
    flushData();
    return out;
  }

  /** True while a command or subnegotiation is half received (for tests and diagnostics). */
  get midSequence(): boolean {
    return this.state !== 'data';
  }
}

/** Doubles every 0xFF (IAC) so data can travel over Telnet. Returns the input itself when it has none. */
export function escapeIac(data: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let count = 0;
  let at = buf.indexOf(IAC);
  while (at >= 0) {
    count++;
    at = buf.indexOf(IAC, at + 1);
  }
  if (count === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + count);
  let o = 0;
  let start = 0;
  at = buf.indexOf(IAC);
  while (at >= 0) {
    o += buf.copy(out, o, start, at + 1);
    out[o++] = IAC;
    start = at + 1;
    at = buf.indexOf(IAC, start);
  }
  buf.copy(out, o, start);
  return out;
}

/** IAC <verb> <option>. */
export function encodeNegotiation(verb: NegotiationVerb, option: number): Buffer {
  return Buffer.from([IAC, verb, option]);
}

/** IAC SB <option> <payload, IAC doubled> IAC SE. */
export function encodeSubnegotiation(option: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([IAC, SB, option]), escapeIac(payload), Buffer.from([IAC, SE])]);
}

/** RFC 1143 per-side option state. */
export type OptionState = 'no' | 'yes' | 'want-no' | 'want-yes';

export interface NegotiationChange {
  option: number;
  /** 'local': an option we perform (WILL / WONT from us, DO / DONT from the peer); 'remote': one the peer performs. */
  side: 'local' | 'remote';
  enabled: boolean;
  /** We asked to enable it and the peer said no (DONT to our WILL, WONT to our DO). */
  refused: boolean;
}

export interface NegotiationResult {
  /** Bytes to send back (already encoded), possibly empty. */
  reply: Buffer[];
  /** The option state that changed, if any. */
  change?: NegotiationChange;
}

/**
 * The option negotiation state machine (RFC 1143 Q method without the queue: a request made while the opposite
 * one is pending is ignored). `acceptLocal` are the options we agree to perform when the peer asks (DO X → WILL X),
 * `acceptRemote` the ones we let the peer perform (WILL X → DO X); everything else is refused, so
 * negotiation never loops.
 */
export class TelnetNegotiator {
  private readonly us = new Map<number, OptionState>();
  private readonly him = new Map<number, OptionState>();

  constructor(
    private readonly acceptLocal: ReadonlySet<number>,
    private readonly acceptRemote: ReadonlySet<number>,
  ) {}

  local(option: number): OptionState {
    return this.us.get(option) ?? 'no';
  }

  remote(option: number): OptionState {
    return this.him.get(option) ?? 'no';
  }

  /** We want to perform `option` (send WILL), or stop (WONT). Returns the bytes to send (maybe none). */
  requestLocal(option: number, enable: boolean): Buffer[] {
    return this.request(this.us, option, enable, enable ? WILL : WONT);
  }

  /** We want the peer to perform `option` (send DO), or stop (DONT). */
  requestRemote(option: number, enable: boolean): Buffer[] {
    return this.request(this.him, option, enable, enable ? DO : DONT);
  }

  private request(
    table: Map<number, OptionState>,
    option: number,
    enable: boolean,
    verb: NegotiationVerb,
  ): Buffer[] {
    const s = table.get(option) ?? 'no';
    if (enable) {
      if (s !== 'no') return [];
      table.set(option, 'want-yes');
    } else {
      if (s !== 'yes') return [];
      table.set(option, 'want-no');
    }
    return [encodeNegotiation(verb, option)];
  }

  /** Handles a received IAC <verb> <option>. */
  receive(verb: NegotiationVerb, option: number): NegotiationResult {
    // WILL / WONT are about what the peer performs; DO / DONT about what we perform.
    const remoteSide = verb === WILL || verb === WONT;
    const table = remoteSide ? this.him : this.us;
    const accept = (remoteSide ? this.acceptRemote : this.acceptLocal).has(option);
    const positive = remoteSide ? DO : WILL;
    const negative = remoteSide ? DONT : WONT;
    const side = remoteSide ? 'remote' : 'local';
    const s = table.get(option) ?? 'no';
    const enableAsked = verb === WILL || verb === DO;
    if (enableAsked) {
      switch (s) {
        case 'no':
          if (accept) {
            table.set(option, 'yes');
            return {
              reply: [encodeNegotiation(positive, option)],
              change: { option, side, enabled: true, refused: false },
            };
          }
          return { reply: [encodeNegotiation(negative, option)] };
        case 'yes':
          return { reply: [] };
        case 'want-no':
          // The peer answered our disable with an enable: RFC 1143 says it is an error; take "no".
          table.set(option, 'no');
          return { reply: [], change: { option, side, enabled: false, refused: false } };
        case 'want-yes':
          table.set(option, 'yes');
          return { reply: [], change: { option, side, enabled: true, refused: false } };
      }
    }
    switch (s) {
      case 'no':
        return { reply: [] };
      case 'yes':
        table.set(option, 'no');
        return {
          reply: [encodeNegotiation(negative, option)],
          change: { option, side, enabled: false, refused: false },
        };
      case 'want-no':
        table.set(option, 'no');
        return { reply: [], change: { option, side, enabled: false, refused: false } };
      case 'want-yes':
        table.set(option, 'no');
        return { reply: [], change: { option, side, enabled: false, refused: true } };
    }
  }
}
