/** Hex and message descriptions for failure reports. */
import {
  type Addr,
  decodeMessage,
  type Message,
  SOCKET_STATUS_NAME,
  STATUS_NAME,
} from '../protocol/index.js';

/** `01 00 2A 00 …` (at most `max` bytes, then the total length). */
export function hexOf(bytes: Uint8Array, max = 96): string {
  const n = Math.min(bytes.length, max);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(bytes[i]!.toString(16).toUpperCase().padStart(2, '0'));
  let s = parts.join(' ');
  if (bytes.length > max) s += ` … (${bytes.length} bytes)`;
  if (bytes.length === 0) s = '(empty)';
  return s;
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

export function hexId(id: number): string {
  return `0x${id.toString(16).toUpperCase().padStart(4, '0')}`;
}

export function statusName(code: number): string {
  return STATUS_NAME[code] ?? `status ${code}`;
}

export function socketStatusName(s: number): string {
  return SOCKET_STATUS_NAME[s] ?? `status ${s}`;
}

export function addrText(a: Addr): string {
  if (a.family === 0) return '-';
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** One line naming a decoded message. */
export function describeMessage(m: Message): string {
  switch (m.kind) {
    case 'command':
      return `${m.name} tag ${m.tag}`;
    case 'response':
      return `${m.name} response tag ${m.tag} ${statusName(m.status)}`;
    case 'error':
      return `ERROR_RESPONSE tag ${m.tag} ${statusName(m.status)} offendingOpcode 0x${m.body.offendingOpcode.toString(16).padStart(2, '0')}`;
    case 'event':
      return `${m.name} event epoch ${m.epoch} seq ${m.seq}`;
  }
}

/** Hex plus the decoded meaning of message bytes (when they decode). */
export function describeBytes(bytes: Uint8Array, max = 96): string {
  let meaning = '';
  try {
    meaning = ` = ${describeMessage(decodeMessage(bytes))}`;
  } catch {
    meaning = '';
  }
  return `${hexOf(bytes, max)}${meaning}`;
}
