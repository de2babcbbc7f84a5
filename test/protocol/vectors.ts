/** Loads the golden vectors and converts their JSON field values back to codec values. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Addr, bytesToAddress } from '../../src/protocol/index.js';

const DIR = join(import.meta.dirname, '..', '..', 'firmware-protocol', 'vectors');
export function loadVectors<T>(file: string): T[] {
  return JSON.parse(readFileSync(join(DIR, file), 'utf8')) as T[];
}

export interface MessageVector {
  name: string;
  hex: string;
  message: {
    kind: string;
    name: string;
    opcode: number;
    tag: number;
    status?: number;
    epoch?: number;
    seq?: number;
    fields: Record<string, unknown>;
  };
}

const BYTE_FIELDS = new Set([
  'data',
  'payload',
  'credential',
  'hostNonce',
  'deviceNonce',
  'deviceProof',
  'hostProof',
]);

/** JSON field values → the values decodeMessage produces. */
export function fromJson(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => fromJson(v));
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('addressHex' in o) {
      const family = o.family as Addr['family'];
      return {
        family,
        port: o.port,
        address: bytesToAddress(family, Buffer.from(o.addressHex as string, 'hex')),
      };
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fromJson(v, k)]));
  }
  if (typeof value === 'string' && BYTE_FIELDS.has(key)) return Buffer.from(value, 'hex');
  return value;
}
