/**
 * Secure-execution key files (PROTOCOL.md §12.1): the simulator's provisioned keys, and a host's key for
 * `OFFLOAD_KEY_FILE` / `--key-file`. Format:
 *
 *   JSON:   {"1": "000102…1f", "7": "…"}            keyId (decimal u32) → 64 hex characters
 *   lines:  1 000102…1f                              one `keyId hex` per line; blank lines and # comments ignored
 *
 * A board keeps them in OTP fuses, a secure element or a protected flash page; they never travel in messages.
 */
import { readFileSync } from 'node:fs';
import { parseSecureKey } from './secure.js';

export class KeyFileError extends Error {
  readonly code = 'E_OFFLOAD_KEY_FILE';
}

function keyId(text: string, where: string): number {
  const id = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(id) || id > 0xffffffff) {
    throw new KeyFileError(`${where}: keyId ${JSON.stringify(text)} is not a u32`);
  }
  return id;
}

function key(hex: unknown, where: string): Buffer {
  try {
    if (typeof hex !== 'string') throw new RangeError('not a string');
    return parseSecureKey(hex);
  } catch (err) {
    throw new KeyFileError(`${where}: key must be 64 hex characters (${(err as Error).message})`);
  }
}

export function parseKeyFile(text: string, name = 'key file'): Map<number, Buffer> {
  const keys = new Map<number, Buffer>();
  const add = (id: number, k: Buffer, where: string) => {
    if (keys.has(id)) throw new KeyFileError(`${where}: keyId ${id} given twice`);
    keys.set(id, k);
  };
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch (err) {
      throw new KeyFileError(`${name}: not valid JSON (${(err as Error).message})`);
    }
    for (const [id, hex] of Object.entries(obj as Record<string, unknown>)) {
      add(keyId(id, name), key(hex, `${name} key ${id}`), name);
    }
    return keys;
  }
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${name} line ${i + 1}`;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new KeyFileError(`${where}: expected "keyId hex"`);
    add(keyId(parts[0] as string, where), key(parts[1], where), where);
  }
  return keys;
}

export function loadKeyFile(path: string): Map<number, Buffer> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`);
  }
  return parseKeyFile(text, path);
}
