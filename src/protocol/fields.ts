/**
 * Field-level encoding shared by every message: little-endian integers, fixed 16-byte strings, the addr
 * and entry structs, length-prefixed UTF-8, and trailing byte/word arrays. Reading past the end throws
 * MSG_TOO_SHORT; impossible values throw MSG_BAD_FIELD.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ProtocolError } from './errors.js';
import { type Addr, type FieldSchema, Limits, STRUCT_SCHEMAS, type SocketEntry } from './generated.js';

const ADDR_SIZE = Limits.addrSize;
const ENTRY_SIZE = Limits.entrySize;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const NO_ADDR: Readonly<Addr> = Object.freeze({ family: 0, port: 0, address: '' });

export class FieldReader {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) {
      throw new ProtocolError('MSG_TOO_SHORT', `message ends inside ${what}`, {
        offset: this.offset,
        need: n,
      });
    }
  }
  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.offset++]!;
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

export class FieldWriter {
  private buf: Buffer;
  offset = 0;
  constructor(initial = 64) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + n));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.offset++] = checkInt(v, 0xff);
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16LE(checkInt(v, 0xffff), this.offset);
    this.offset += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(checkInt(v, 0xffffffff), this.offset);
    this.offset += 4;
  }
  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.offset);
    this.offset += v.length;
  }
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.offset, this.offset + n);
    this.offset += n;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.offset);
  }
}

function checkInt(v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`value ${v} does not fit 0..${max}`);
  return v;
}

/** Address text → 16 bytes in network order (IPv4 in the first 4). */
export function addressToBytes(family: 0 | 4 | 6, address: string): Buffer {
  const out = Buffer.alloc(16);
  if (family === 0) return out;
  if (family === 4) {
    if (!isIPv4(address)) throw new RangeError(`not an IPv4 address: ${address}`);
    address.split('.').forEach((p, i) => {
      out[i] = Number(p);
    });
    return out;
  }
  if (!isIPv6(address)) throw new RangeError(`not an IPv6 address: ${address}`);
  let text = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4tail) {
    const b = addressToBytes(4, v4tail[1]!);
    text = `${text.slice(0, -v4tail[1]!.length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const groups = [...headParts, ...Array(8 - headParts.length - tailParts.length).fill('0'), ...tailParts];
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}

/** 16 bytes → address text (IPv6 in RFC 5952 compressed form). */
export function bytesToAddress(family: 0 | 4 | 6, bytes: Uint8Array): string {
  if (family === 0) return '';
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of two or more zero groups becomes '::'.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function readAddr(r: FieldReader): Addr {
  const raw = r.bytes(ADDR_SIZE, 'addr');
  const family = raw[0]!;
  if (family !== 0 && family !== 4 && family !== 6) {
    throw new ProtocolError('MSG_BAD_FIELD', `address family ${family} (expected 0, 4 or 6)`);
  }
  const address = raw.subarray(4, 20);
  const used = family === 0 ? 0 : family === 4 ? 4 : 16;
  const nonZeroPadding = address.subarray(used).some((b) => b !== 0) || raw[1] !== 0;
  if (nonZeroPadding || (family === 0 && raw.readUInt16LE(2) !== 0)) {
    throw new ProtocolError('MSG_BAD_FIELD', 'address bytes beyond the family, or reserved byte, not zero');
  }
  return { family, port: raw.readUInt16LE(2), address: bytesToAddress(family, address) };
}

export function writeAddr(w: FieldWriter, a: Addr): void {
  w.u8(a.family);
  w.u8(0);
  w.u16(a.family === 0 ? 0 : a.port);
  w.bytes(addressToBytes(a.family, a.address));
}

const ENTRY_FIELDS = STRUCT_SCHEMAS.entry.fields;

export function readEntry(r: FieldReader): SocketEntry {
  r.need(ENTRY_SIZE, 'entry');
  return readFields(r, ENTRY_FIELDS, 'entry') as unknown as SocketEntry;
}

export function writeEntry(w: FieldWriter, e: SocketEntry): void {
  writeFields(w, ENTRY_FIELDS, e as unknown as Record<string, unknown>);
}

/**
 * Reads fields in order. Trailing-array types consume the rest of the reader. A trailing `bytes` field is a
 * copy, or with `bytesView` a view into the reader's buffer (no copy: it shares the buffer's memory).
 */
export function readFields(
  r: FieldReader,
  fields: readonly FieldSchema[],
  context: string,
  bytesView = false,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const what = `${context}.${f.name}`;
    switch (f.type) {
      case 'u8':
        out[f.name] = r.u8(what);
        break;
      case 'u16':
        out[f.name] = r.u16(what);
        break;
      case 'u32':
        out[f.name] = r.u32(what);
        break;
      case 'bytes16':
        out[f.name] = Buffer.from(r.bytes(16, what));
        break;
      case 'bytes':
        out[f.name] = bytesView ? r.rest() : Buffer.from(r.rest());
        break;
      case 'str8': {
        const n = r.u8(what);
        try {
          out[f.name] = utf8.decode(r.bytes(n, what));
        } catch (err) {
          if (err instanceof ProtocolError) throw err;
          throw new ProtocolError('MSG_BAD_FIELD', `${what} is not valid UTF-8`);
        }
        break;
      }
      case 'addr':
        out[f.name] = readAddr(r);
        break;
      case 'entry':
        out[f.name] = readEntry(r);
        break;
      case 'u32[]': {
        if (r.remaining % 4 !== 0)
          throw new ProtocolError('MSG_BAD_LENGTH', `${what}: ${r.remaining} bytes is not whole words`);
        const words: number[] = [];
        while (r.remaining > 0) words.push(r.u32(what));
        out[f.name] = words;
        break;
      }
      case 'entry[]': {
        const count = out[f.count!] as number;
        if (count * ENTRY_SIZE !== r.remaining) {
          throw new ProtocolError(
            'MSG_BAD_FIELD',
            `${what}: count ${count} does not match ${r.remaining} bytes`,
          );
        }
        const entries: SocketEntry[] = [];
        for (let i = 0; i < count; i++) entries.push(readEntry(r));
        out[f.name] = entries;
        break;
      }
    }
  }
  return out;
}

export function writeFields(
  w: FieldWriter,
  fields: readonly FieldSchema[],
  values: Record<string, unknown>,
): void {
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined && f.name !== 'reserved') throw new TypeError(`missing field ${f.name}`);
    switch (f.type) {
      case 'u8':
        w.u8((v as number) ?? 0);
        break;
      case 'u16':
        w.u16((v as number) ?? 0);
        break;
      case 'u32':
        w.u32((v as number) ?? 0);
        break;
      case 'bytes16': {
        const b = v as Uint8Array;
        if (b.length !== 16) throw new RangeError(`${f.name} must be 16 bytes`);
        w.bytes(b);
        break;
      }
      case 'bytes':
        w.bytes(v as Uint8Array);
        break;
      case 'str8': {
        const b = Buffer.from(v as string, 'utf8');
        if (b.length > 255) throw new RangeError(`${f.name} longer than 255 bytes`);
        w.u8(b.length);
        w.bytes(b);
        break;
      }
      case 'addr':
        writeAddr(w, v as Addr);
        break;
      case 'entry':
        writeEntry(w, v as SocketEntry);
        break;
      case 'u32[]':
        for (const word of v as number[]) w.u32(word);
        break;
      case 'entry[]':
        for (const e of v as SocketEntry[]) writeEntry(w, e);
        break;
    }
  }
}
