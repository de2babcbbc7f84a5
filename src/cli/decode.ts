/** Decoding registers, flags and socket entries into words a board engineer reads. */
import {
  type Addr,
  Capability,
  ConditionFlag,
  DeviceStatusBit,
  IrqBit,
  Limits,
  REGISTERS,
  type RegisterName,
  RegisterWindow,
  SOCKET_STATUS_NAME,
  STATUS_NAME,
  SocketOption,
  type SocketEntry,
  SocketType,
} from '../protocol/index.js';
import { formatDuration, hex, hexId } from './output.js';

export function bitNames(value: number, bits: Readonly<Record<string, number>>): string[] {
  const names: string[] = [];
  let known = 0;
  for (const [name, mask] of Object.entries(bits)) {
    known |= mask;
    if ((value & mask) !== 0) names.push(name);
  }
  const rest = (value & ~known) >>> 0;
  if (rest !== 0) names.push(hex(rest, 1));
  return names;
}

export function flagNames(flags: number): string {
  const n = bitNames(flags, ConditionFlag);
  return n.length ? n.join('|') : '-';
}

export function capabilityList(caps: number): string[] {
  return bitNames(caps, Capability);
}

/** One register value, decoded per its meaning (PROTOCOL.md §9.1). */
export function decodeRegister(name: RegisterName | string, v: number): string {
  switch (name) {
    case 'MAGIC':
      return v === Limits.registerMagic
        ? "'OFLD' (ok)"
        : v === 0xffffffff
          ? 'all ones: no device / dead link'
          : `unexpected (expected ${hex(Limits.registerMagic)})`;
    case 'VERSION':
      return `protocol ${(v >> 8) & 0xff}.${v & 0xff}`;
    case 'CAPS':
      return capabilityList(v).join(' ') || 'none';
    case 'STATUS':
      return bitNames(v, DeviceStatusBit).join('|') || 'none';
    case 'BOOT_EPOCH':
      return `epoch ${v}`;
    case 'SLOTS':
      return `${v >>> 16} of ${v & 0xffff} in use`;
    case 'MAX_PAYLOAD':
      return `${v} bytes`;
    case 'FIRMWARE_BUILD':
      return `build ${v}`;
    case 'IRQ_STATUS':
    case 'IRQ_MASK':
      return bitNames(v, IrqBit).join('|') || 'none';
    case 'DOORBELL':
      return 'write-only';
    case 'EVENT_SEQ':
      return `last event #${v}`;
    case 'SCRATCH':
      return String(v);
    case 'UPTIME_MS':
      return formatDuration(v);
    case 'CMD_RING_ENTRIES':
    case 'CPL_RING_ENTRIES':
      return v === 0 ? 'no rings (stream transport)' : `${v} descriptors`;
    case 'CMD_RING_OFFSET':
    case 'CPL_RING_OFFSET':
      return v === 0 ? 'no rings (stream transport)' : `at ${hex(v, 5)}`;
    case 'CMD_HEAD':
    case 'CMD_TAIL':
    case 'CPL_HEAD':
    case 'CPL_TAIL':
      return String(v);
    case 'RING_DESC_SIZE':
      return v === 0 ? '-' : `${v} bytes`;
    case 'SOCKET_WINDOW_OFFSET':
      return v === 0 ? 'no window' : `window at ${hex(v, 5)}`;
    case 'SOCKET_WINDOW_STRIDE':
      return v === 0 ? '-' : `${v} bytes per slot`;
    default:
      return '';
  }
}

export interface RegisterRow {
  offset: string;
  name: string;
  access: string;
  value: string;
  raw: number;
  decoded: string;
  doc: string;
}

export function registerRow(reg: (typeof REGISTERS)[number], v: number): RegisterRow {
  return {
    offset: hex(reg.offset, 2),
    name: reg.name,
    access: reg.access,
    value: hex(v),
    raw: v >>> 0,
    decoded: decodeRegister(reg.name, v),
    doc: reg.doc,
  };
}

/** Name of a register-space offset (registers, socket window slots). */
export function describeOffset(offset: number): string | undefined {
  const reg = REGISTERS.find((r) => r.offset === offset);
  if (reg) return reg.name;
  if (offset >= RegisterWindow.socketWindowOffset && offset < RegisterWindow.ringsOffset) {
    const rel = offset - RegisterWindow.socketWindowOffset;
    const slot = Math.floor(rel / RegisterWindow.socketWindowStride);
    return `slot ${slot}+0x${(rel % RegisterWindow.socketWindowStride).toString(16)}`;
  }
  return undefined;
}

export function addrText(a: Addr): string {
  if (a.family === 0) return '-';
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export function typeName(e: Pick<SocketEntry, 'type' | 'family'>): string {
  const t = e.type === SocketType.STREAM ? 'TCP' : e.type === SocketType.DGRAM ? 'UDP' : `type${e.type}`;
  return e.family === 6 ? `${t}6` : t;
}

export function optionNames(options: number): string {
  const names = Object.entries(SocketOption)
    .filter(([, v]) => v <= 4 && (options & (1 << (v - 1))) !== 0)
    .map(([k]) => k);
  return names.length ? names.join('|') : '-';
}

/** A socket entry as a row (the same shape for the mirror and for the device's snapshot). */
export interface EntryRow {
  id: string;
  slot: number;
  type: string;
  status: string;
  flags: string;
  local: string;
  remote: string;
  sendQueued: number;
  recvQueued: number;
  connQueued: number;
  sendSpace: number;
  recvCredit: number;
  lastError: string;
  options: string;
  backlog: number;
  channel: number;
}

export function entryRow(e: SocketEntry): EntryRow {
  return {
    id: hexId(e.id),
    slot: e.id & 0xff,
    type: typeName(e),
    status: SOCKET_STATUS_NAME[e.status] ?? String(e.status),
    flags: flagNames(e.flags),
    local: addrText(e.local),
    remote: addrText(e.remote),
    sendQueued: e.sendQueued,
    recvQueued: e.recvQueued,
    connQueued: e.connQueued,
    sendSpace: e.sendSpace,
    recvCredit: e.recvCredit,
    lastError: e.lastError === 0 ? '-' : (STATUS_NAME[e.lastError] ?? String(e.lastError)),
    options: optionNames(e.options),
    backlog: e.backlog,
    channel: e.channel,
  };
}

export const ENTRY_HEADERS = [
  'ID',
  'TYPE',
  'STATUS',
  'FLAGS',
  'LOCAL',
  'REMOTE',
  'SEND-Q',
  'RECV-Q',
  'ERROR',
];

export function entryCells(r: EntryRow): Array<string | number> {
  const q = r.status === 'LISTENING' ? `${r.connQueued} conn` : r.recvQueued;
  return [r.id, r.type, r.status, r.flags, r.local, r.remote, r.sendQueued, q, r.lastError];
}
