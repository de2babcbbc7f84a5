/**
 * Generates firmware-protocol/include/offload_protocol.h from firmware-protocol/protocol.json: the C side
 * of the protocol contract. Byte-offset macros (no packed structs), LE get/put helpers, and X-macro tables
 * (messages, fields, structs, registers, status codes, decode errors) that firmware-protocol/c/offload_codec.c
 * interprets. Output is deterministic: same definition in, same bytes out.
 */

interface FieldDef {
  name: string;
  type: string;
  doc?: string;
  count?: string;
}
interface NamedValue {
  name: string;
  value: number;
  doc?: string;
  posix?: string | null;
  boolean?: boolean;
}
interface NamedBit {
  name: string;
  bit: number;
  doc?: string;
  hostWritable?: boolean | 'clear';
}
interface MessageDef {
  name: string;
  opcode: number;
  kind: 'command' | 'event' | 'error';
  doc?: string;
  capability?: string;
  request?: FieldDef[];
  response?: FieldDef[];
  errorResponse?: FieldDef[];
  fields?: FieldDef[];
}
interface RegisterDef {
  name: string;
  offset: number;
  access: 'RO' | 'RW' | 'WO' | 'RW1C';
  doc?: string;
}
interface Definition {
  name: string;
  version: { major: number; minor: number };
  limits: Record<string, number>;
  frameHeader: FieldDef[];
  frameVersion: number;
  frameFlags: NamedBit[];
  frameTypes: NamedValue[];
  syncPayload: FieldDef[];
  syncAckPayload: FieldDef[];
  structs: Record<string, { size: number; doc?: string; fields: FieldDef[] }>;
  capabilities: NamedBit[];
  statusCodes: NamedValue[];
  socketTypes: NamedValue[];
  socketStatuses: NamedValue[];
  conditionFlags: NamedBit[];
  options: NamedValue[];
  shutdownHow: NamedValue[];
  bootReasons: NamedValue[];
  channelRoles: NamedValue[];
  egressKinds: NamedValue[];
  deviceStatusBits: NamedBit[];
  irqBits: NamedBit[];
  registers: RegisterDef[];
  registerWindow: {
    socketWindowOffset: number;
    socketWindowStride: number;
    ringsOffset: number;
    ringDescriptorHeader: FieldDef[];
  };
  messages: MessageDef[];
  decodeErrors: NamedValue[];
}

/** Field types: wire size (0 = variable) and the token used in the X-macro tables (OFFLOAD_FT_<token>). */
const FIELD_TYPES: Record<string, { size: number; token: string; value: number; doc: string }> = {
  u8: { size: 1, token: 'U8', value: 1, doc: 'u8' },
  u16: { size: 2, token: 'U16', value: 2, doc: 'u16 little-endian' },
  u32: { size: 4, token: 'U32', value: 3, doc: 'u32 little-endian' },
  bytes16: { size: 16, token: 'BYTES16', value: 4, doc: '16 raw bytes' },
  addr: { size: 20, token: 'ADDR', value: 5, doc: 'addr struct (OFFLOAD_ADDR_*)' },
  entry: { size: 80, token: 'ENTRY', value: 6, doc: 'entry struct (OFFLOAD_ENTRY_*)' },
  str8: { size: 0, token: 'STR8', value: 7, doc: 'u8 length + that many UTF-8 bytes' },
  bytes: { size: 0, token: 'BYTES', value: 8, doc: 'the rest of the message (last field only)' },
  'u32[]': { size: 0, token: 'U32_ARRAY', value: 9, doc: 'the rest of the message as u32 LE values' },
  'entry[]': {
    size: 0,
    token: 'ENTRY_ARRAY',
    value: 10,
    doc: 'entries; the count is the field named by count',
  },
};

const RESPONSE_BIT = 0x80;
const EVENT_BASE = 0x40;
const RESPONSE_STATUS_SIZE = 2;

/** camelCase / UPPER_SNAKE → UPPER_SNAKE. */
export function cName(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

function hex(v: number, width = 2): string {
  return `0x${v.toString(16).toUpperCase().padStart(width, '0')}u`;
}

function comment(text: string | undefined): string {
  if (!text) return '';
  return ` /* ${text.replace(/\*\//g, '* /').replace(/\s+/g, ' ').trim()} */`;
}

function fieldType(t: string): { size: number; token: string; value: number; doc: string } {
  const ft = FIELD_TYPES[t];
  if (!ft) throw new Error(`gen-c-header: unknown field type ${t}`);
  return ft;
}

class Out {
  private readonly lines: string[] = [];
  private readonly defined = new Map<string, string>();

  line(s = ''): void {
    this.lines.push(s);
  }

  /** #define with a duplicate check: the same name twice must mean the same value, else the definition is inconsistent. */
  define(name: string, value: string, doc?: string): void {
    const prev = this.defined.get(name);
    if (prev !== undefined) {
      if (prev !== value) throw new Error(`gen-c-header: ${name} defined as both ${prev} and ${value}`);
      return;
    }
    this.defined.set(name, value);
    const head = `#define ${name} `;
    this.lines.push(`${head.padEnd(48)}${value}${comment(doc)}`);
  }

  section(title: string): void {
    this.lines.push('');
    this.lines.push(`/* ---- ${title} ${'-'.repeat(Math.max(0, 100 - title.length))} */`);
    this.lines.push('');
  }

  /** A multi-line macro whose body is one item per line (X-macro tables). */
  table(head: string, items: string[], doc: string): void {
    this.lines.push(`/* ${doc} */`);
    if (items.length === 0) {
      this.lines.push(`#define ${head}`);
      return;
    }
    this.lines.push(`#define ${head} \\`);
    items.forEach((it, i) => {
      this.lines.push(`  ${it}${i === items.length - 1 ? '' : ' \\'}`);
    });
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

interface LaidOutField {
  def: FieldDef;
  /** Byte offset from the start of the enclosing message/struct, or undefined after a variable-size field. */
  offset: number | undefined;
  /** Wire size, 0 = variable. */
  size: number;
  /** entry[]: index of the count field within the same list; else undefined. */
  countIndex: number | undefined;
}

function layout(
  fields: FieldDef[],
  start: number,
  where: string,
): { fields: LaidOutField[]; fixed: boolean; size: number } {
  let off: number | undefined = start;
  let fixedBytes = start;
  const out: LaidOutField[] = [];
  fields.forEach((f, i) => {
    const ft = fieldType(f.type);
    let countIndex: number | undefined;
    if (f.type === 'entry[]') {
      countIndex = fields.findIndex((g) => g.name === f.count);
      if (countIndex < 0 || countIndex >= i)
        throw new Error(`gen-c-header: ${where}.${f.name}: count field ${f.count} must precede it`);
      if (!['u8', 'u16', 'u32'].includes(fields[countIndex]!.type))
        throw new Error(`gen-c-header: ${where}.${f.count} must be an integer`);
    }
    if ((f.type === 'bytes' || f.type === 'u32[]' || f.type === 'entry[]') && i !== fields.length - 1) {
      throw new Error(`gen-c-header: ${where}.${f.name} (${f.type}) must be the last field`);
    }
    out.push({ def: f, offset: off, size: ft.size, countIndex });
    if (ft.size === 0) {
      off = undefined;
      if (f.type === 'str8') fixedBytes += 1;
    } else {
      fixedBytes += ft.size;
      if (off !== undefined) off += ft.size;
    }
  });
  return { fields: out, fixed: off !== undefined, size: fixedBytes };
}

function structLayout(def: Definition, name: string): LaidOutField[] {
  const s = def.structs[name];
  if (!s) throw new Error(`gen-c-header: struct ${name} missing`);
  const l = layout(s.fields, 0, name);
  if (!l.fixed || l.size !== s.size)
    throw new Error(`gen-c-header: struct ${name} fields add up to ${l.size}, size says ${s.size}`);
  return l.fields;
}

function emitLayout(o: Out, prefix: string, fields: LaidOutField[]): void {
  for (const f of fields) {
    const n = `${prefix}_${cName(f.def.name)}`;
    const ft = fieldType(f.def.type);
    const typeDoc = f.def.type === 'entry[]' ? `entry[${f.def.count}]` : f.def.type;
    if (f.offset !== undefined) o.define(`${n}_OFF`, `${f.offset}u`, `${typeDoc}: ${f.def.doc ?? ft.doc}`);
    else o.line(`/* ${n}: ${typeDoc} at a variable offset: ${f.def.doc ?? ft.doc} */`);
    if (f.size > 0) o.define(`${n}_SIZE`, `${f.size}u`);
  }
}

function values(o: Out, prefix: string, list: NamedValue[], hexWidth = 0): void {
  for (const v of list)
    o.define(`${prefix}_${cName(v.name)}`, hexWidth ? hex(v.value, hexWidth) : `${v.value}u`, v.doc);
}

function bits(o: Out, prefix: string, list: NamedBit[], width: number): number {
  let all = 0;
  for (const b of list) {
    o.define(
      `${prefix}_${cName(b.name)}`,
      hex(2 ** b.bit, width),
      `bit ${b.bit}${b.doc ? `: ${b.doc}` : ''}`,
    );
    all |= 2 ** b.bit;
  }
  return all;
}

type Part = 'REQ' | 'RSP' | 'ERR' | 'EVT';

export function generateCHeader(input: unknown): string {
  const def = input as Definition;
  const o = new Out();
  const versionWord = (def.version.major << 8) | def.version.minor;

  o.line('/* GENERATED from protocol.json by npm run gen — do not edit. */');
  o.line('/*');
  o.line(
    ` * ${def.name} protocol ${def.version.major}.${def.version.minor}: every number and layout a firmware author needs,`,
  );
  o.line(' * as byte-offset macros (no packed structs: no alignment or endianness traps), little-endian');
  o.line(
    ' * get/put helpers, and X-macro tables that a table-driven codec (firmware-protocol/c) interprets.',
  );
  o.line(' * Multi-byte fields are little-endian. Message offsets count from the first byte of the message');
  o.line(' * (the opcode); struct offsets from the first byte of the struct.');
  o.line(' * Self-contained C11 (also valid C99 and C++): needs only <stdint.h>.');
  o.line(' */');
  o.line('#ifndef OFFLOAD_PROTOCOL_H');
  o.line('#define OFFLOAD_PROTOCOL_H');
  o.line('');
  o.line('#include <stdint.h>');

  o.section('Version');
  o.define('OFFLOAD_PROTOCOL_VERSION_MAJOR', `${def.version.major}u`);
  o.define('OFFLOAD_PROTOCOL_VERSION_MINOR', `${def.version.minor}u`);
  o.define('OFFLOAD_PROTOCOL_VERSION', hex(versionWord, 4), 'major << 8 | minor (HELLO, VERSION register)');
  o.define('OFFLOAD_FRAME_VERSION', `${def.frameVersion}u`, 'frame header version byte');

  o.section('Limits');
  for (const [k, v] of Object.entries(def.limits)) {
    o.define(`OFFLOAD_${cName(k)}`, /magic/i.test(k) ? hex(v, 8) : `${v}u`);
  }

  o.section('Little-endian helpers');
  o.line(
    'static inline uint16_t offload_get_u16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8)); }',
  );
  o.line('static inline uint32_t offload_get_u32(const uint8_t *p) {');
  o.line(
    '  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);',
  );
  o.line('}');
  o.line('static inline uint64_t offload_get_u64(const uint8_t *p) {');
  o.line('  return (uint64_t)offload_get_u32(p) | ((uint64_t)offload_get_u32(p + 4) << 32);');
  o.line('}');
  o.line(
    'static inline void offload_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }',
  );
  o.line('static inline void offload_put_u32(uint8_t *p, uint32_t v) {');
  o.line(
    '  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);',
  );
  o.line('}');
  o.line('static inline void offload_put_u64(uint8_t *p, uint64_t v) {');
  o.line('  offload_put_u32(p, (uint32_t)v); offload_put_u32(p + 4, (uint32_t)(v >> 32));');
  o.line('}');

  o.section('Frame header (then [counter u64 if SECURE] payload [MAC if SECURE] CRC-32 u32)');
  const fh = layout(def.frameHeader, 0, 'frameHeader');
  if (!fh.fixed || fh.size !== def.limits.frameHeaderSize)
    throw new Error('gen-c-header: frameHeader size disagrees with limits');
  emitLayout(o, 'OFFLOAD_FRAME_HDR', fh.fields);
  o.define('OFFLOAD_FRAME_HDR_SIZE', `${fh.size}u`);
  o.line('');
  o.line('/* Frame types. */');
  values(o, 'OFFLOAD_FRAME_TYPE', def.frameTypes);
  o.table(
    'OFFLOAD_FRAME_TYPE_TABLE(X)',
    def.frameTypes.map((t) => `X(${cName(t.name)}, ${t.value})`),
    'X(NAME, value)',
  );
  o.line('/* Frame flags (masks); the other bits are reserved and 0. */');
  bits(o, 'OFFLOAD_FRAME_FLAG', def.frameFlags, 2);
  o.line('/* Frame size before COBS for a payload length (secure: counter and MAC included). */');
  o.define(
    'OFFLOAD_FRAME_SIZE(payloadLen)',
    '((uint32_t)(payloadLen) + OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_CRC_SIZE)',
  );
  o.define(
    'OFFLOAD_FRAME_SIZE_SECURE(payloadLen)',
    '(OFFLOAD_FRAME_SIZE(payloadLen) + OFFLOAD_SECURE_COUNTER_SIZE + OFFLOAD_SECURE_MAC_SIZE)',
  );
  o.line('/* Worst-case COBS encoding of n bytes (without the 0x00 delimiter). */');
  o.define('OFFLOAD_COBS_MAX_ENCODED(n)', '((uint32_t)(n) + (uint32_t)(n) / 254u + 1u)');
  o.line(
    '/* Largest COBS-encoded frame (without delimiter) for a maximum payload: the serial receive buffer. */',
  );
  o.define(
    'OFFLOAD_WIRE_MAX_ENCODED(maxPayload)',
    '(OFFLOAD_COBS_MAX_ENCODED(OFFLOAD_FRAME_SIZE_SECURE(maxPayload)))',
  );

  o.section('SYNC / SYNC_ACK frame payloads');
  const sync = layout(def.syncPayload, 0, 'syncPayload');
  emitLayout(o, 'OFFLOAD_SYNC', sync.fields);
  o.define('OFFLOAD_SYNC_SIZE', `${sync.size}u`);
  const syncAck = layout(def.syncAckPayload, 0, 'syncAckPayload');
  emitLayout(o, 'OFFLOAD_SYNC_ACK', syncAck.fields);
  o.define('OFFLOAD_SYNC_ACK_SIZE', `${syncAck.size}u`);

  o.section('Structs (byte offsets within the struct)');
  const structTokens: string[] = [];
  for (const name of Object.keys(def.structs)) {
    const fields = structLayout(def, name);
    const N = cName(name);
    o.line(`/* ${name}: ${def.structs[name]!.doc ?? ''} */`);
    emitLayout(o, `OFFLOAD_${N}`, fields);
    o.define(`OFFLOAD_${N}_SIZE`, `${def.structs[name]!.size}u`);
    const st = FIELD_TYPES[name];
    if (!st || st.size !== def.structs[name]!.size)
      throw new Error(`gen-c-header: struct ${name} is not a known field type`);
    structTokens.push(N);
    o.line('');
  }
  o.define('OFFLOAD_ADDR_FAMILY_NONE', '0u');
  o.define('OFFLOAD_ADDR_FAMILY_IPV4', '4u');
  o.define('OFFLOAD_ADDR_FAMILY_IPV6', '6u');

  o.section('Capabilities (HELLO caps, CAPS register)');
  bits(o, 'OFFLOAD_CAP', def.capabilities, 4);

  o.section('Status codes (response status; POSIX / Node error code in the comment)');
  for (const s of def.statusCodes) {
    o.define(`OFFLOAD_STATUS_${cName(s.name)}`, `${s.value}u`, `${s.posix ?? '-'}: ${s.doc ?? ''}`);
  }
  o.table(
    'OFFLOAD_STATUS_TABLE(X)',
    def.statusCodes.map((s) => `X(${cName(s.name)}, ${s.value}, ${s.posix ? `"${s.posix}"` : '0'})`),
    'X(NAME, value, posix name or 0)',
  );

  o.section('Socket types, statuses, condition flags, options');
  values(o, 'OFFLOAD_SOCKET_TYPE', def.socketTypes);
  values(o, 'OFFLOAD_SOCKET_STATUS', def.socketStatuses);
  o.define('OFFLOAD_SOCKET_STATUS_KEEP', '0xFFu', 'UPDATE: keep the status');
  o.line('/* Condition flags (masks). */');
  bits(o, 'OFFLOAD_COND', def.conditionFlags, 4);
  const settable = def.conditionFlags
    .filter((f) => f.hostWritable === true)
    .reduce((m, f) => m | (2 ** f.bit), 0);
  const clearable = def.conditionFlags.filter((f) => f.hostWritable).reduce((m, f) => m | (2 ** f.bit), 0);
  o.define('OFFLOAD_COND_HOST_SETTABLE', hex(settable, 4), 'flags the host may set with UPDATE');
  o.define('OFFLOAD_COND_HOST_CLEARABLE', hex(clearable, 4), 'flags the host may clear with UPDATE');
  o.line('/* Options (SETOPT / GETOPT); a boolean option is bit (value - 1) of entry.options. */');
  values(o, 'OFFLOAD_OPT', def.options);
  const boolMask = def.options.filter((x) => x.boolean).reduce((m, x) => m | (2 ** (x.value - 1)), 0);
  o.define('OFFLOAD_OPT_BIT(opt)', '(1u << ((opt) - 1u))', 'entry.options bit of a boolean option');
  o.define('OFFLOAD_OPT_BOOLEAN_BITS', hex(boolMask, 4), 'entry.options bits of the boolean options');

  o.section('Shutdown, boot reasons, channel roles, egress kinds');
  values(o, 'OFFLOAD_SHUT', def.shutdownHow);
  values(o, 'OFFLOAD_BOOT_REASON', def.bootReasons);
  values(o, 'OFFLOAD_ROLE', def.channelRoles);
  values(o, 'OFFLOAD_EGRESS', def.egressKinds);
  o.define('OFFLOAD_CHANNEL_DEFAULT', '0u');
  o.define('OFFLOAD_CHANNEL_ADMIN', '255u');

  o.section('Registers');
  o.line('/* Device status register bits. */');
  bits(o, 'OFFLOAD_DEV_STATUS', def.deviceStatusBits, 2);
  o.line('/* IRQ_STATUS / IRQ_MASK bits. */');
  bits(o, 'OFFLOAD_IRQ', def.irqBits, 2);
  o.line('/* Register access. */');
  const access = ['RO', 'RW', 'WO', 'RW1C'];
  access.forEach((a, i) => {
    o.define(`OFFLOAD_ACCESS_${a}`, `${i}u`);
  });
  o.line('/* Register byte offsets (32-bit registers) and access. */');
  for (const r of def.registers) {
    if (!access.includes(r.access)) throw new Error(`gen-c-header: register ${r.name}: access ${r.access}`);
    o.define(`OFFLOAD_REG_${cName(r.name)}`, hex(r.offset, 2), `${r.access}: ${r.doc ?? ''}`);
    o.define(`OFFLOAD_REG_${cName(r.name)}_ACCESS`, `OFFLOAD_ACCESS_${r.access}`);
  }
  o.table(
    'OFFLOAD_REGISTER_TABLE(X)',
    def.registers.map((r) => `X(${cName(r.name)}, ${hex(r.offset, 2)}, ${r.access})`),
    'X(NAME, offset, ACCESS)',
  );
  o.line('');
  o.line('/* Register window layout. */');
  o.define('OFFLOAD_SOCKET_WINDOW_OFFSET', hex(def.registerWindow.socketWindowOffset, 4));
  o.define('OFFLOAD_SOCKET_WINDOW_STRIDE', `${def.registerWindow.socketWindowStride}u`);
  o.define(
    'OFFLOAD_SOCKET_WINDOW_SLOT(slot)',
    '(OFFLOAD_SOCKET_WINDOW_OFFSET + (uint32_t)(slot) * OFFLOAD_SOCKET_WINDOW_STRIDE)',
    'one entry struct, then zeros',
  );
  o.define('OFFLOAD_RINGS_OFFSET', hex(def.registerWindow.ringsOffset, 5));
  const ring = layout(def.registerWindow.ringDescriptorHeader, 0, 'ringDescriptorHeader');
  emitLayout(o, 'OFFLOAD_RING_DESC', ring.fields);
  o.define('OFFLOAD_RING_DESC_HEADER_SIZE', `${ring.size}u`);
  o.define('OFFLOAD_RING_DESC_FLAG_VALID', '0x01u', 'written last by the producer');

  // Event header: message header, epoch u32, seq u32; limits.eventHeaderSize must agree.
  const eventHeader = def.limits.messageHeaderSize! + 8;
  if (def.limits.eventHeaderSize !== eventHeader) {
    throw new Error(
      `gen-c-header: limits.eventHeaderSize ${def.limits.eventHeaderSize} but an event header is ${eventHeader} bytes`,
    );
  }
  o.section('Messages: header and opcodes');
  o.line('/* Every message: [opcode u8][flags u8 = 0][tag u16] ... */');
  o.define('OFFLOAD_MSG_OPCODE_OFF', '0u');
  o.define('OFFLOAD_MSG_FLAGS_OFF', '1u');
  o.define('OFFLOAD_MSG_TAG_OFF', '2u');
  o.define('OFFLOAD_MSG_HEADER_SIZE', `${def.limits.messageHeaderSize}u`);
  o.line('/* Responses (and ERROR_RESPONSE): [opcode | 0x80][0][tag][status u16] ... */');
  o.define('OFFLOAD_RSP_STATUS_OFF', `${def.limits.messageHeaderSize}u`);
  o.define('OFFLOAD_RSP_HEADER_SIZE', `${def.limits.messageHeaderSize! + RESPONSE_STATUS_SIZE}u`);
  o.line('/* Events: [opcode][0][tag = 0][epoch u32][seq u32] ... */');
  o.define('OFFLOAD_EVT_EPOCH_OFF', `${def.limits.messageHeaderSize}u`);
  o.define('OFFLOAD_EVT_SEQ_OFF', `${def.limits.messageHeaderSize! + 4}u`);
  o.define('OFFLOAD_EVT_HEADER_SIZE', `${eventHeader}u`);
  o.define('OFFLOAD_OP_RESPONSE_BIT', hex(RESPONSE_BIT), 'response opcode = command opcode | 0x80');
  o.define('OFFLOAD_OP_EVENT_BASE', hex(EVENT_BASE), 'events are 0x40..0x7F; commands 0x01..0x3F');
  o.define('OFFLOAD_OP_RESPONSE(op)', '((uint8_t)((op) | OFFLOAD_OP_RESPONSE_BIT))');
  for (const m of def.messages) {
    const N = cName(m.name);
    o.define(
      `OFFLOAD_OP_${N}`,
      hex(m.opcode),
      `${m.kind}${m.capability ? `, capability ${m.capability}` : ''}`,
    );
    if (m.kind === 'command') o.define(`OFFLOAD_OP_${N}_RSP`, hex(m.opcode | RESPONSE_BIT));
  }

  o.section('Messages: field offsets and sizes (from the first byte of the message)');
  const fieldRows: string[] = [];
  const messageRows: string[] = [];
  let maxFields = 0;
  const parts = (m: MessageDef): [Part, FieldDef[], number][] => {
    const rsp = def.limits.messageHeaderSize! + RESPONSE_STATUS_SIZE;
    if (m.kind === 'command') {
      return [
        ['REQ', m.request ?? [], def.limits.messageHeaderSize!],
        ['RSP', m.response ?? [], rsp],
        ['ERR', m.errorResponse ?? [], rsp],
      ];
    }
    if (m.kind === 'event') return [['EVT', m.fields ?? [], eventHeader]];
    if (m.kind === 'error') return [['RSP', m.fields ?? [], rsp]];
    throw new Error(`gen-c-header: message ${m.name}: kind ${m.kind}`);
  };
  const capBits = new Map(def.capabilities.map((c) => [c.name, c.bit]));
  const seenOps = new Set<number>();
  for (const m of def.messages) {
    if (seenOps.has(m.opcode)) throw new Error(`gen-c-header: opcode ${m.opcode} used twice`);
    seenOps.add(m.opcode);
    const okRange =
      m.kind === 'command'
        ? m.opcode >= 1 && m.opcode < EVENT_BASE
        : m.kind === 'event'
          ? m.opcode >= EVENT_BASE && m.opcode < RESPONSE_BIT
          : m.opcode === RESPONSE_BIT;
    if (!okRange)
      throw new Error(`gen-c-header: message ${m.name}: opcode ${m.opcode} outside the range of a ${m.kind}`);
    const N = cName(m.name);
    o.line(`/* ${m.name} (${hex(m.opcode)}, ${m.kind}): ${(m.doc ?? '').replace(/\*\//g, '* /')} */`);
    const ranges: Record<Part, [number, number]> = { REQ: [0, 0], RSP: [0, 0], ERR: [0, 0], EVT: [0, 0] };
    for (const [part, fields, start] of parts(m)) {
      const prefix = m.kind === 'error' ? `OFFLOAD_${N}` : `OFFLOAD_${N}_${part}`;
      const l = layout(fields, start, `${m.name}.${part}`);
      emitLayout(o, prefix, l.fields);
      o.define(
        `${prefix}_${l.fixed ? 'SIZE' : 'MIN_SIZE'}`,
        `${l.size}u`,
        l.fixed ? 'whole message' : 'fixed part; variable data follows',
      );
      l.fields.forEach((f, i) => {
        o.define(`${prefix}_${cName(f.def.name)}_IDX`, `${i}u`);
      });
      ranges[part] = [fieldRows.length, l.fields.length];
      maxFields = Math.max(maxFields, l.fields.length);
      for (const f of l.fields) {
        fieldRows.push(
          `X(${N}, ${part}, ${f.def.name}, ${fieldType(f.def.type).token}, ${f.offset ?? 'OFFLOAD_OFF_VARIABLE'}, ${f.size}, ${f.countIndex ?? 'OFFLOAD_NO_COUNT'})`,
        );
      }
    }
    let cap = '0';
    if (m.capability) {
      const bit = capBits.get(m.capability);
      if (bit === undefined)
        throw new Error(`gen-c-header: message ${m.name}: unknown capability ${m.capability}`);
      cap = `OFFLOAD_CAP_${cName(m.capability)}`;
    }
    const r = (p: Part) => `${ranges[p][0]}, ${ranges[p][1]}`;
    messageRows.push(
      `X(${N}, ${hex(m.opcode)}, ${m.kind.toUpperCase()}, ${cap}, ${r('REQ')}, ${r('RSP')}, ${r('ERR')}, ${r('EVT')})`,
    );
    o.line('');
  }

  o.section('Tables for a table-driven codec (X-macros; expand them where you need them)');
  o.line('/* Field types. */');
  for (const t of Object.values(FIELD_TYPES)) o.define(`OFFLOAD_FT_${t.token}`, `${t.value}u`, t.doc);
  o.define('OFFLOAD_OFF_VARIABLE', '0xFFFFu', 'field offset not fixed (after a variable-size field)');
  o.define('OFFLOAD_NO_COUNT', '0xFFu', 'field has no count field');
  o.define('OFFLOAD_MAX_FIELDS', `${maxFields}u`, 'most fields in one request/response/event');
  o.line('');
  for (const N of structTokens) {
    const name = Object.keys(def.structs).find((k) => cName(k) === N)!;
    o.table(
      `OFFLOAD_${N}_FIELDS(X)`,
      structLayout(def, name).map(
        (f) => `X(${f.def.name}, ${fieldType(f.def.type).token}, ${f.offset}, ${f.size})`,
      ),
      `${name} struct: X(name, TYPE, offset, size)`,
    );
    o.line('');
  }
  o.table(
    'OFFLOAD_FIELD_TABLE(X)',
    fieldRows,
    'Every message field in order. X(MESSAGE, PART, name, TYPE, offset, size, countIndex); PART is REQ, RSP, ERR or EVT;\n   size 0 = variable; countIndex = index (within the same part) of the field holding an entry[] count',
  );
  o.line('');
  o.table(
    'OFFLOAD_MESSAGE_TABLE(X)',
    messageRows,
    'Every message. X(NAME, opcode, KIND, capabilityMask, reqFirst, reqCount, rspFirst, rspCount, errFirst, errCount, evtFirst,\n   evtCount): the field ranges index OFFLOAD_FIELD_TABLE. ERROR_RESPONSE fields are its RSP part.',
  );
  o.define('OFFLOAD_MESSAGE_COUNT', `${def.messages.length}u`);
  o.define('OFFLOAD_FIELD_COUNT', `${fieldRows.length}u`);

  o.section('Decode errors');
  o.line('/* Plain int: the C codec returns them as its int result (0 = OK). */');
  for (const e of def.decodeErrors) o.define(`OFFLOAD_ERR_${cName(e.name)}`, `${e.value}`, e.doc);
  o.table(
    'OFFLOAD_DECODE_ERROR_TABLE(X)',
    def.decodeErrors.map((e) => `X(${cName(e.name)}, ${e.value})`),
    'X(NAME, value)',
  );
  o.line('');
  o.line('#endif /* OFFLOAD_PROTOCOL_H */');
  return o.text();
}
