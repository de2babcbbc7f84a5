/** Loads firmware-protocol/protocol.json: the single source of the protocol's numbers and layouts. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFINITION_PATH = join(ROOT, 'firmware-protocol', 'protocol.json');

export interface FieldDef {
  name: string;
  type: string;
  doc?: string;
  count?: string;
}
export interface NamedValue {
  name: string;
  value: number;
  doc?: string;
  posix?: string | null;
  boolean?: boolean;
}
export interface NamedBit {
  name: string;
  bit: number;
  doc?: string;
  hostWritable?: boolean | 'clear';
}
export interface MessageDef {
  name: string;
  opcode: number;
  kind: 'command' | 'event' | 'error';
  doc: string;
  capability?: string;
  request?: FieldDef[];
  response?: FieldDef[];
  errorResponse?: FieldDef[];
  fields?: FieldDef[];
}
export interface RegisterDef {
  name: string;
  offset: number;
  access: 'RO' | 'RW' | 'WO' | 'RW1C';
  doc: string;
}
export interface ProtocolDefinition {
  version: { major: number; minor: number };
  limits: Record<string, number>;
  frameHeader: FieldDef[];
  frameVersion: number;
  frameFlags: NamedBit[];
  frameTypes: NamedValue[];
  syncPayload: FieldDef[];
  syncAckPayload: FieldDef[];
  structs: Record<string, { size: number; doc: string; fields: FieldDef[] }>;
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
  transitions: {
    doc: string;
    commands: {
      command: string;
      type: string;
      from: Record<string, string>;
      else: Record<string, string>;
      note?: string;
    }[];
    network: { event: string; from: string[]; to: string; note?: string }[];
  };
  decodeErrors: NamedValue[];
}

export function loadDefinition(path = DEFINITION_PATH): ProtocolDefinition {
  return JSON.parse(readFileSync(path, 'utf8')) as ProtocolDefinition;
}
