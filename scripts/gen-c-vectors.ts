/**
 * Turns the golden vectors (the firmware-protocol/vectors JSON files) into C tables, firmware-protocol/c/vectors_data.c,
 * for the C reference codec's test (firmware-protocol/c/test_vectors.c; types in vectors_data.h). Field types
 * come from protocol.json (next to the vectors directory), so every expected value is typed: hex strings of
 * bytes fields become byte arrays, str8 strings become their UTF-8 bytes, addr and entry values become
 * sub-tables. Deterministic: the same JSON in gives the same C out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface FieldDef {
  name: string;
  type: string;
  count?: string;
}
interface MessageDef {
  name: string;
  opcode: number;
  kind: 'command' | 'event' | 'error';
  request?: FieldDef[];
  response?: FieldDef[];
  errorResponse?: FieldDef[];
  fields?: FieldDef[];
}
interface Definition {
  structs: Record<string, { fields: FieldDef[] }>;
  messages: MessageDef[];
  decodeErrors: { name: string; value: number }[];
}

interface CrcVector {
  name: string;
  inputHex: string;
  crc32: number;
}
interface CobsVector {
  name: string;
  decodedHex: string;
  encodedHex: string;
}
interface FrameVector {
  name: string;
  header: {
    version: number;
    flags: number;
    channel: number;
    type: number;
    seq: number;
    ack: number;
    length: number;
  };
  counterHex?: string;
  payloadHex: string;
  macHex?: string;
  frameHex: string;
  wireHex: string;
  tcpHex: string;
}
interface MessageVector {
  name: string;
  hex: string;
  message: {
    kind: 'command' | 'response' | 'event' | 'error';
    name: string;
    opcode: number;
    tag: number;
    status?: number;
    epoch?: number;
    seq?: number;
    fields: Record<string, unknown>;
  };
}
interface SecureVector {
  name: string;
  kind: 'handshake' | 'frame' | 'reject' | 'replay';
  keyHex?: string;
  keyId?: number;
  channel?: number;
  hostNonceHex?: string;
  deviceNonceHex?: string;
  deviceProofHex?: string;
  hostProofHex?: string;
  kH2dHex?: string;
  kD2hHex?: string;
  counter?: string;
  frameHex?: string;
  macHex?: string;
  acceptedBeforeHex?: string;
  verdict?: string;
  ordered?: boolean;
  counters?: { counter: string; verdict: string }[];
}
interface NegativeVector {
  name: string;
  layer: 'cobs' | 'frame' | 'wire' | 'message';
  hex: string;
  maxPayload?: number;
  error: string;
}

const FT: Record<string, string> = {
  u8: 'OFFLOAD_FT_U8',
  u16: 'OFFLOAD_FT_U16',
  u32: 'OFFLOAD_FT_U32',
  bytes16: 'OFFLOAD_FT_BYTES16',
  addr: 'OFFLOAD_FT_ADDR',
  entry: 'OFFLOAD_FT_ENTRY',
  str8: 'OFFLOAD_FT_STR8',
  bytes: 'OFFLOAD_FT_BYTES',
  'u32[]': 'OFFLOAD_FT_U32_ARRAY',
  'entry[]': 'OFFLOAD_FT_ENTRY_ARRAY',
};

const KIND: Record<string, string> = {
  command: 'OFFLOAD_KIND_COMMAND',
  response: 'OFFLOAD_KIND_RESPONSE',
  event: 'OFFLOAD_KIND_EVENT',
  error: 'OFFLOAD_KIND_ERROR',
};

const LAYER: Record<string, string> = {
  cobs: 'VEC_LAYER_COBS',
  frame: 'VEC_LAYER_FRAME',
  wire: 'VEC_LAYER_WIRE',
  message: 'VEC_LAYER_MESSAGE',
};

function cString(s: string): string {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}""`; // "" ends the hex escape
  }
  return `${out}"`;
}

function hexBytes(hex: string, where: string): Buffer {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`gen-c-vectors: ${where}: not a hex string`);
  return Buffer.from(hex, 'hex');
}

function int(v: unknown, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
    throw new Error(`gen-c-vectors: ${where}: ${String(v)} is not an integer in 0..${max}`);
  return v;
}

class Emitter {
  readonly decls: string[] = [];
  private n = 0;

  /** A static byte array (at least one element, so empty data still has a valid pointer). */
  bytes(b: Uint8Array): string {
    const name = `b${this.n++}`;
    const items = b.length === 0 ? ['0x00'] : Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0')}`);
    const lines: string[] = [];
    for (let i = 0; i < items.length; i += 16) lines.push(`  ${items.slice(i, i + 16).join(', ')},`);
    this.decls.push(`static const uint8_t ${name}[${items.length}] = {\n${lines.join('\n')}\n};`);
    return name;
  }

  words(w: number[]): string {
    const name = `w${this.n++}`;
    const items = w.length === 0 ? ['0u'] : w.map((x) => `${x}u`);
    this.decls.push(`static const uint32_t ${name}[${items.length}] = {${items.join(', ')}};`);
    return name;
  }

  values(rows: string[]): string {
    const name = `f${this.n++}`;
    const body = rows.length === 0 ? '  {0}' : rows.map((r) => `  ${r},`).join('\n');
    this.decls.push(`static const vec_value_t ${name}[${Math.max(rows.length, 1)}] = {\n${body}\n};`);
    return name;
  }
}

/** One vec_value_t initializer: {name, type, num, family, bytes, len, u32s, sub, nsub}. */
function valueRow(e: Emitter, def: Definition, f: FieldDef, v: unknown, where: string): string {
  const w = `${where}.${f.name}`;
  const row = (
    num: string,
    family: string,
    bytes: string,
    len: number,
    u32s: string,
    sub: string,
    nsub: number,
  ) => `{${cString(f.name)}, ${FT[f.type]}, ${num}, ${family}, ${bytes}, ${len}, ${u32s}, ${sub}, ${nsub}}`;
  switch (f.type) {
    case 'u8':
    case 'u16':
    case 'u32': {
      const max = f.type === 'u8' ? 0xff : f.type === 'u16' ? 0xffff : 0xffffffff;
      return row(`${int(v, max, w)}u`, '0', 'NULL', 0, 'NULL', 'NULL', 0);
    }
    case 'bytes16':
    case 'bytes': {
      if (typeof v !== 'string') throw new Error(`gen-c-vectors: ${w}: expected a hex string`);
      const b = hexBytes(v, w);
      if (f.type === 'bytes16' && b.length !== 16)
        throw new Error(`gen-c-vectors: ${w}: bytes16 of ${b.length} bytes`);
      return row('0u', '0', e.bytes(b), b.length, 'NULL', 'NULL', 0);
    }
    case 'str8': {
      if (typeof v !== 'string') throw new Error(`gen-c-vectors: ${w}: expected a string`);
      const b = Buffer.from(v, 'utf8');
      return row('0u', '0', e.bytes(b), b.length, 'NULL', 'NULL', 0);
    }
    case 'addr': {
      const a = v as { family?: unknown; port?: unknown; addressHex?: unknown };
      if (!a || typeof a !== 'object' || typeof a.addressHex !== 'string')
        throw new Error(`gen-c-vectors: ${w}: expected an addr object`);
      const b = hexBytes(a.addressHex, w);
      if (b.length !== 16) throw new Error(`gen-c-vectors: ${w}: addressHex of ${b.length} bytes`);
      return row(
        `${int(a.port, 0xffff, w)}u`,
        `${int(a.family, 0xff, w)}`,
        e.bytes(b),
        16,
        'NULL',
        'NULL',
        0,
      );
    }
    case 'entry': {
      const sub = structRows(e, def, 'entry', v, w);
      return row('0u', '0', 'NULL', 0, 'NULL', e.values(sub), sub.length);
    }
    case 'u32[]': {
      if (!Array.isArray(v)) throw new Error(`gen-c-vectors: ${w}: expected an array`);
      const words = v.map((x, i) => int(x, 0xffffffff, `${w}[${i}]`));
      return row(`${words.length}u`, '0', 'NULL', 0, e.words(words), 'NULL', 0);
    }
    case 'entry[]': {
      if (!Array.isArray(v)) throw new Error(`gen-c-vectors: ${w}: expected an array`);
      const entryField: FieldDef = { name: 'entry', type: 'entry' };
      const rows = v.map((x, i) => valueRow(e, def, entryField, x, `${w}[${i}]`));
      return row(`${rows.length}u`, '0', 'NULL', 0, 'NULL', e.values(rows), rows.length);
    }
    default:
      throw new Error(`gen-c-vectors: ${w}: unknown field type ${f.type}`);
  }
}

function fieldRows(
  e: Emitter,
  def: Definition,
  fields: FieldDef[],
  values: unknown,
  where: string,
  optional: Set<string>,
): string[] {
  if (!values || typeof values !== 'object' || Array.isArray(values))
    throw new Error(`gen-c-vectors: ${where}: expected an object`);
  const obj = values as Record<string, unknown>;
  const known = new Set(fields.map((f) => f.name));
  for (const k of Object.keys(obj))
    if (!known.has(k)) throw new Error(`gen-c-vectors: ${where}: field ${k} is not in the definition`);
  const rows: string[] = [];
  for (const f of fields) {
    let v = obj[f.name];
    if (v === undefined) {
      if (!optional.has(f.name)) throw new Error(`gen-c-vectors: ${where}: field ${f.name} missing`);
      v = 0;
    }
    rows.push(valueRow(e, def, f, v, where));
  }
  return rows;
}

function structRows(e: Emitter, def: Definition, struct: string, v: unknown, where: string): string[] {
  const s = def.structs[struct];
  if (!s) throw new Error(`gen-c-vectors: struct ${struct} missing from the definition`);
  // The TS codec writes a missing `reserved` as 0; accept the same.
  return fieldRows(e, def, s.fields, v, where, new Set(['reserved']));
}

function messageFields(def: Definition, m: MessageVector['message'], where: string): FieldDef[] {
  const d = def.messages.find((x) => x.name === m.name);
  if (!d) throw new Error(`gen-c-vectors: ${where}: unknown message ${m.name}`);
  switch (m.kind) {
    case 'command':
      return d.request ?? [];
    case 'response':
      return m.status === 0 ? (d.response ?? []) : (d.errorResponse ?? []);
    case 'event':
      return d.fields ?? [];
    case 'error':
      return d.fields ?? [];
    default:
      throw new Error(`gen-c-vectors: ${where}: kind ${String(m.kind)}`);
  }
}

function load<T>(dir: string, file: string): T[] {
  const v = JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown;
  if (!Array.isArray(v)) throw new Error(`gen-c-vectors: ${file} is not an array`);
  return v as T[];
}

export function generateCVectors(vectorsDir: string): string {
  const def = JSON.parse(readFileSync(join(vectorsDir, '..', 'protocol.json'), 'utf8')) as Definition;
  const errors = new Set(def.decodeErrors.map((x) => x.name));
  const e = new Emitter();
  const tables: string[] = [];
  const count = (name: string, n: number) => `const size_t ${name} = ${n};`;

  const crc = load<CrcVector>(vectorsDir, 'crc32.json');
  const crcRows = crc.map((v) => {
    const b = hexBytes(v.inputHex, v.name);
    return `{${cString(v.name)}, ${e.bytes(b)}, ${b.length}, ${int(v.crc32, 0xffffffff, v.name)}u}`;
  });
  tables.push(
    `const vec_crc_t vec_crc[${Math.max(crc.length, 1)}] = {\n${crcRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_crc_count', crc.length));

  const cobs = load<CobsVector>(vectorsDir, 'cobs.json');
  const cobsRows = cobs.map((v) => {
    const d = hexBytes(v.decodedHex, v.name);
    const x = hexBytes(v.encodedHex, v.name);
    return `{${cString(v.name)}, ${e.bytes(d)}, ${d.length}, ${e.bytes(x)}, ${x.length}}`;
  });
  tables.push(
    `const vec_cobs_t vec_cobs[${Math.max(cobs.length, 1)}] = {\n${cobsRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_cobs_count', cobs.length));

  const frames = load<FrameVector>(vectorsDir, 'frames.json');
  const frameRows = frames.map((v) => {
    const h = v.header;
    const p = hexBytes(v.payloadHex, v.name);
    let counter = '0u';
    if (v.counterHex !== undefined) {
      const c = hexBytes(v.counterHex, `${v.name}.counterHex`);
      if (c.length !== 8) throw new Error(`gen-c-vectors: ${v.name}: counterHex of ${c.length} bytes`);
      counter = `UINT64_C(0x${c.readBigUInt64LE(0).toString(16)})`;
    }
    let mac = 'NULL';
    if (v.macHex !== undefined) {
      const m = hexBytes(v.macHex, `${v.name}.macHex`);
      if (m.length !== 16) throw new Error(`gen-c-vectors: ${v.name}: macHex of ${m.length} bytes`);
      mac = e.bytes(m);
    }
    const fr = hexBytes(v.frameHex, v.name);
    const wi = hexBytes(v.wireHex, v.name);
    const tc = hexBytes(v.tcpHex, v.name);
    const hdr = [
      int(h.version, 0xff, 'version'),
      int(h.flags, 0xff, 'flags'),
      int(h.channel, 0xff, 'channel'),
      int(h.type, 0xff, 'type'),
      int(h.seq, 0xffff, 'seq'),
      int(h.ack, 0xffff, 'ack'),
      int(h.length, 0xffff, 'length'),
    ].join(', ');
    return `{${cString(v.name)}, ${hdr}, ${v.counterHex !== undefined ? 1 : 0}, ${counter}, ${e.bytes(p)}, ${p.length}, ${mac}, ${e.bytes(fr)}, ${fr.length}, ${e.bytes(wi)}, ${wi.length}, ${e.bytes(tc)}, ${tc.length}}`;
  });
  tables.push(
    `const vec_frame_t vec_frames[${Math.max(frames.length, 1)}] = {\n${frameRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_frame_count', frames.length));

  const msgs = load<MessageVector>(vectorsDir, 'messages.json');
  const msgRows = msgs.map((v) => {
    const m = v.message;
    const b = hexBytes(v.hex, v.name);
    const kind = KIND[m.kind];
    if (!kind) throw new Error(`gen-c-vectors: ${v.name}: kind ${m.kind}`);
    const rows = fieldRows(e, def, messageFields(def, m, v.name), m.fields, v.name, new Set());
    const opt = (x: number | undefined, max: number, what: string) =>
      x === undefined ? '0, 0u' : `1, ${int(x, max, `${v.name}.${what}`)}u`;
    return `{${cString(v.name)}, ${e.bytes(b)}, ${b.length}, ${kind}, ${cString(m.name)}, ${int(m.opcode, 0xff, `${v.name}.opcode`)}u, ${int(m.tag ?? 0, 0xffff, `${v.name}.tag`)}u, ${opt(m.status, 0xffff, 'status')}, ${opt(m.epoch, 0xffffffff, 'epoch')}, ${opt(m.seq, 0xffffffff, 'seq')}, ${e.values(rows)}, ${rows.length}}`;
  });
  tables.push(
    `const vec_msg_t vec_msgs[${Math.max(msgs.length, 1)}] = {\n${msgRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_msg_count', msgs.length));

  const neg = load<NegativeVector>(vectorsDir, 'negative.json');
  const negRows = neg.map((v) => {
    const b = hexBytes(v.hex, v.name);
    const layer = LAYER[v.layer];
    if (!layer) throw new Error(`gen-c-vectors: ${v.name}: layer ${v.layer}`);
    if (!errors.has(v.error))
      throw new Error(`gen-c-vectors: ${v.name}: error ${v.error} is not in decodeErrors`);
    const max =
      v.maxPayload === undefined ? '0, 0u' : `1, ${int(v.maxPayload, 0xffff, `${v.name}.maxPayload`)}u`;
    return `{${cString(v.name)}, ${layer}, ${e.bytes(b)}, ${b.length}, ${max}, OFFLOAD_ERR_${v.error}}`;
  });
  tables.push(
    `const vec_negative_t vec_negative[${Math.max(neg.length, 1)}] = {\n${negRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_negative_count', neg.length));

  const sec = load<SecureVector>(vectorsDir, 'secure.json');
  const VERDICT: Record<string, string> = {
    ok: 'OFFLOAD_OK',
    mac: 'OFFLOAD_SECURE_BAD_MAC',
    replay: 'OFFLOAD_SECURE_REPLAY',
    old: 'OFFLOAD_SECURE_TOO_OLD',
    plain: 'OFFLOAD_SECURE_NOT_SECURE',
  };
  const SKIND: Record<string, string> = {
    handshake: 'VEC_SECURE_HANDSHAKE',
    frame: 'VEC_SECURE_FRAME',
    reject: 'VEC_SECURE_REJECT',
    replay: 'VEC_SECURE_REPLAY',
  };
  const u64 = (text: string | undefined, where: string) => {
    const v = BigInt(text ?? '0');
    if (v < 0n || v > 0xffffffffffffffffn) throw new Error(`gen-c-vectors: ${where}: counter out of range`);
    return `UINT64_C(0x${v.toString(16)})`;
  };
  const verdict = (v: string | undefined, where: string) => {
    const c = VERDICT[v ?? 'ok'];
    if (!c) throw new Error(`gen-c-vectors: ${where}: verdict ${v}`);
    return c;
  };
  const opt = (h: string | undefined, where: string, size?: number) => {
    if (h === undefined) return 'NULL';
    const b = hexBytes(h, where);
    if (size !== undefined && b.length !== size)
      throw new Error(`gen-c-vectors: ${where}: ${b.length} bytes, not ${size}`);
    return e.bytes(b);
  };
  const secRows = sec.map((v, i) => {
    const kind = SKIND[v.kind];
    if (!kind) throw new Error(`gen-c-vectors: ${v.name}: kind ${v.kind}`);
    const fr = v.frameHex === undefined ? undefined : hexBytes(v.frameHex, v.name);
    const before = v.acceptedBeforeHex === undefined ? undefined : hexBytes(v.acceptedBeforeHex, v.name);
    let counters = 'NULL';
    const list = v.counters ?? [];
    if (list.length > 0) {
      counters = `sc${i}`;
      const rows = list.map((c) => `  {${u64(c.counter, v.name)}, ${verdict(c.verdict, v.name)}},`);
      e.decls.push(`static const vec_counter_t ${counters}[${list.length}] = {\n${rows.join('\n')}\n};`);
    }
    return `{${cString(v.name)}, ${kind}, ${opt(v.keyHex, `${v.name}.keyHex`, 32)}, ${int(v.keyId ?? 0, 0xffffffff, v.name)}u, ${int(v.channel ?? 0, 0xff, v.name)}u, ${opt(v.hostNonceHex, v.name, 16)}, ${opt(v.deviceNonceHex, v.name, 16)}, ${opt(v.deviceProofHex, v.name, 16)}, ${opt(v.hostProofHex, v.name, 16)}, ${opt(v.kH2dHex, v.name, 32)}, ${opt(v.kD2hHex, v.name, 32)}, ${u64(v.counter, v.name)}, ${fr ? e.bytes(fr) : 'NULL'}, ${fr?.length ?? 0}, ${opt(v.macHex, v.name, 16)}, ${before ? e.bytes(before) : 'NULL'}, ${before?.length ?? 0}, ${verdict(v.verdict, v.name)}, ${v.ordered ? 1 : 0}, ${counters}, ${list.length}}`;
  });
  tables.push(
    `const vec_secure_t vec_secure[${Math.max(sec.length, 1)}] = {\n${secRows.map((r) => `  ${r},`).join('\n') || '  {0}'}\n};`,
  );
  tables.push(count('vec_secure_count', sec.length));

  return [
    '/* GENERATED from the firmware-protocol/vectors JSON files by scripts/gen-c-vectors.ts (npm run gen) — do not edit. */',
    '#include "vectors_data.h"',
    '',
    ...e.decls,
    '',
    ...tables,
    '',
  ].join('\n');
}
