/** Generates src/protocol/generated.ts (constants, schemas and message types) from protocol.json. */
import type { FieldDef, MessageDef, NamedBit, NamedValue, ProtocolDefinition } from './definition.js';

const TS_TYPES: Record<string, string> = {
  u8: 'number',
  u16: 'number',
  u32: 'number',
  bytes: 'Uint8Array',
  bytes16: 'Uint8Array',
  str8: 'string',
  addr: 'Addr',
  entry: 'SocketEntry',
  'u32[]': 'number[]',
  'entry[]': 'SocketEntry[]',
};

function tsType(t: string): string {
  const mapped = TS_TYPES[t];
  if (!mapped) throw new Error(`unknown field type ${t}`);
  return mapped;
}

function constObject(name: string, doc: string, entries: [string, number][], hex = false): string {
  const body = entries.map(([k, v]) => `  ${k}: ${hex ? `0x${v.toString(16)}` : v},`).join('\n');
  return `/** ${doc} */\nexport const ${name} = {\n${body}\n} as const;\nexport type ${name}Name = keyof typeof ${name};\n`;
}

const values = (list: NamedValue[]): [string, number][] => list.map((e) => [e.name, e.value]);
const masks = (list: NamedBit[]): [string, number][] => list.map((e) => [e.name, 2 ** e.bit]);

function bodyInterface(fields: FieldDef[] | undefined): string {
  if (!fields || fields.length === 0) return 'Record<string, never>';
  return `{ ${fields.map((f) => `${f.name}: ${tsType(f.type)};`).join(' ')} }`;
}

function schemaFields(fields: FieldDef[] | undefined): string {
  return JSON.stringify(
    (fields ?? []).map((f) =>
      f.count ? { name: f.name, type: f.type, count: f.count } : { name: f.name, type: f.type },
    ),
  );
}

export function generateTs(def: ProtocolDefinition): string {
  const out: string[] = [];
  out.push('// GENERATED from firmware-protocol/protocol.json by `npm run gen`. Do not edit.');
  out.push('/* eslint-disable */');
  out.push('');
  out.push(
    `export const PROTOCOL_VERSION = { major: ${def.version.major}, minor: ${def.version.minor} } as const;`,
  );
  out.push(`/** major << 8 | minor, as carried by HELLO and the VERSION register. */`);
  out.push(
    `export const PROTOCOL_VERSION_WORD = 0x${((def.version.major << 8) | def.version.minor).toString(16).padStart(4, '0')};`,
  );
  out.push(`export const FRAME_VERSION = ${def.frameVersion};`);
  out.push('');
  out.push(constObject('Limits', 'Sizes and limits.', Object.entries(def.limits)));
  out.push(constObject('FrameType', 'Link frame types.', values(def.frameTypes)));
  out.push(constObject('FrameFlag', 'Frame header flag masks.', masks(def.frameFlags), true));
  out.push(
    constObject('Capability', 'Capability bit masks (HELLO, CAPS register).', masks(def.capabilities), true),
  );
  out.push(constObject('StatusCode', 'Response and error status codes.', values(def.statusCodes)));
  out.push(
    `/** POSIX / Node error code each status maps to (null for OK). */\nexport const STATUS_POSIX: Readonly<Record<number, string | null>> = {\n${def.statusCodes
      .map((s) => `  ${s.value}: ${JSON.stringify(s.posix ?? null)},`)
      .join('\n')}\n};\n`,
  );
  out.push(
    `/** Name of each status code. */\nexport const STATUS_NAME: Readonly<Record<number, StatusCodeName>> = {\n${def.statusCodes
      .map((s) => `  ${s.value}: '${s.name}',`)
      .join('\n')}\n};\n`,
  );
  out.push(constObject('SocketType', 'Socket types.', values(def.socketTypes)));
  out.push(constObject('SocketStatus', 'The ten socket statuses.', values(def.socketStatuses)));
  out.push(
    `export const SOCKET_STATUS_NAME: readonly SocketStatusName[] = [${def.socketStatuses
      .sort((a, b) => a.value - b.value)
      .map((s) => `'${s.name}'`)
      .join(', ')}];\n`,
  );
  out.push(
    constObject('ConditionFlag', 'Condition flag masks beside the status.', masks(def.conditionFlags), true),
  );
  const settable = def.conditionFlags
    .filter((f) => f.hostWritable === true)
    .reduce((m, f) => m | (2 ** f.bit), 0);
  const clearable = def.conditionFlags.filter((f) => f.hostWritable).reduce((m, f) => m | (2 ** f.bit), 0);
  out.push(
    `/** Flags the host may set with UPDATE. */\nexport const HOST_SETTABLE_FLAGS = 0x${settable.toString(16)};`,
  );
  out.push(
    `/** Flags the host may clear with UPDATE. */\nexport const HOST_CLEARABLE_FLAGS = 0x${clearable.toString(16)};\n`,
  );
  out.push(constObject('SocketOption', 'Socket options (SETOPT/GETOPT).', values(def.options)));
  out.push(
    `/** Options whose state is a bit in the entry's options field (bit = value - 1). */\nexport const BOOLEAN_OPTIONS: readonly number[] = [${def.options
      .filter((o) => o.boolean)
      .map((o) => o.value)
      .join(', ')}];\n`,
  );
  out.push(constObject('ShutdownHow', 'SHUTDOWN directions.', values(def.shutdownHow)));
  out.push(constObject('BootReason', 'BOOT event reasons.', values(def.bootReasons)));
  out.push(constObject('ChannelRole', 'CHANNEL_OPEN roles.', values(def.channelRoles)));
  out.push(constObject('EgressKind', 'Egress rule kinds.', values(def.egressKinds)));
  out.push(constObject('DeviceStatusBit', 'STATUS register bits.', masks(def.deviceStatusBits), true));
  out.push(constObject('IrqBit', 'IRQ_STATUS / IRQ_MASK bits.', masks(def.irqBits), true));
  out.push(
    constObject(
      'Register',
      'Register byte offsets.',
      def.registers.map((r) => [r.name, r.offset]),
      true,
    ),
  );
  out.push(
    `export type RegisterAccess = 'RO' | 'RW' | 'WO' | 'RW1C';\n/** Every register with its access and meaning. */\nexport const REGISTERS: readonly { name: RegisterName; offset: number; access: RegisterAccess; doc: string }[] = [\n${def.registers
      .map(
        (r) =>
          `  { name: '${r.name}', offset: 0x${r.offset.toString(16)}, access: '${r.access}', doc: ${JSON.stringify(r.doc)} },`,
      )
      .join('\n')}\n];\n`,
  );
  out.push(
    constObject(
      'RegisterWindow',
      'Register window layout.',
      [
        ['socketWindowOffset', def.registerWindow.socketWindowOffset],
        ['socketWindowStride', def.registerWindow.socketWindowStride],
        ['ringsOffset', def.registerWindow.ringsOffset],
      ],
      true,
    ),
  );
  out.push(
    constObject('DecodeError', 'Decode error codes (ProtocolError.decodeError).', values(def.decodeErrors)),
  );
  out.push(
    constObject(
      'Opcode',
      'Message opcodes (responses are command | 0x80).',
      def.messages.map((m) => [m.name, m.opcode]),
      true,
    ),
  );

  out.push('/** Field layouts, interpreted by src/protocol/messages.ts. */');
  out.push(
    'export interface FieldSchema { readonly name: string; readonly type: FieldTypeName; readonly count?: string }',
  );
  out.push(
    `export type FieldTypeName = ${Object.keys(TS_TYPES)
      .map((t) => `'${t}'`)
      .join(' | ')};`,
  );
  out.push('export const STRUCT_SCHEMAS = {');
  for (const [name, s] of Object.entries(def.structs)) {
    out.push(`  ${name}: { size: ${s.size}, fields: ${schemaFields(s.fields)} as readonly FieldSchema[] },`);
  }
  out.push('} as const;\n');
  out.push('export interface MessageSchema {');
  out.push(
    "  readonly name: string; readonly opcode: number; readonly kind: 'command' | 'event' | 'error'; readonly capability?: CapabilityName;",
  );
  out.push(
    '  readonly request: readonly FieldSchema[]; readonly response: readonly FieldSchema[]; readonly errorResponse: readonly FieldSchema[]; readonly fields: readonly FieldSchema[];',
  );
  out.push('}');
  out.push('export const MESSAGE_SCHEMAS: readonly MessageSchema[] = [');
  for (const m of def.messages) {
    const cap = m.capability ? `, capability: '${m.capability}'` : '';
    out.push(
      `  { name: '${m.name}', opcode: 0x${m.opcode.toString(16)}, kind: '${m.kind}'${cap}, request: ${schemaFields(m.request)}, response: ${schemaFields(m.response)}, errorResponse: ${schemaFields(m.errorResponse)}, fields: ${schemaFields(m.fields)} },`,
    );
  }
  out.push('];\n');
  out.push(`export const SYNC_SCHEMA: readonly FieldSchema[] = ${schemaFields(def.syncPayload)};`);
  out.push(`export const SYNC_ACK_SCHEMA: readonly FieldSchema[] = ${schemaFields(def.syncAckPayload)};\n`);

  out.push('/** Command rules per socket type and status (PROTOCOL.md, state transitions). */');
  out.push(
    "export interface TransitionRule { readonly command: CommandName; readonly type: SocketTypeName | '*'; readonly from: Readonly<Partial<Record<SocketStatusName, SocketStatusName | '='>>>; readonly else: Readonly<Partial<Record<SocketStatusName | '*', StatusCodeName>>> }",
  );
  out.push(
    `export const TRANSITIONS: readonly TransitionRule[] = ${JSON.stringify(def.transitions.commands.map(({ command, type, from, else: otherwise }) => ({ command, type, from, else: otherwise })))} as readonly TransitionRule[];\n`,
  );

  out.push('/** A network endpoint. address: dotted IPv4 or IPv6 text; empty for family 0. */');
  out.push('export interface Addr { family: 0 | 4 | 6; port: number; address: string }');
  out.push('/** One socket table entry (FIG 48). */');
  out.push(`export interface SocketEntry ${bodyInterface(def.structs.entry!.fields)}\n`);

  const commands = def.messages.filter((m) => m.kind === 'command');
  const events = def.messages.filter((m) => m.kind === 'event');
  const iface = (name: string, list: MessageDef[], pick: (m: MessageDef) => FieldDef[] | undefined) =>
    `export interface ${name} {\n${list.map((m) => `  ${m.name}: ${bodyInterface(pick(m))};`).join('\n')}\n}\n`;
  out.push(iface('CommandBodies', commands, (m) => m.request));
  out.push(iface('ResponseBodies', commands, (m) => m.response));
  out.push(iface('ErrorBodies', commands, (m) => m.errorResponse));
  out.push(iface('EventBodies', events, (m) => m.fields));
  out.push('export type CommandName = keyof CommandBodies;');
  out.push('export type EventName = keyof EventBodies;');
  return `${out.join('\n')}\n`;
}
