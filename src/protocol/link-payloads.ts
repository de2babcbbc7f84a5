/** Payloads of the link's SYNC and SYNC_ACK frames. */
import { FieldReader, FieldWriter, readFields, writeFields } from './fields.js';
import { ProtocolError } from './errors.js';
import { SYNC_ACK_SCHEMA, SYNC_SCHEMA } from './generated.js';

export interface SyncPayload {
  nonce: number;
  window: number;
  arq: number;
  maxPayload: number;
}
export interface SyncAckPayload extends SyncPayload {
  peerNonce: number;
}

function decodeExact(bytes: Uint8Array, schema: typeof SYNC_SCHEMA, what: string): Record<string, unknown> {
  const r = new FieldReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const out = readFields(r, schema, what);
  if (r.remaining !== 0) throw new ProtocolError('MSG_BAD_LENGTH', `${r.remaining} extra bytes in ${what}`);
  return out;
}

export function encodeSync(p: SyncPayload): Buffer {
  const w = new FieldWriter(8);
  writeFields(w, SYNC_SCHEMA, p as unknown as Record<string, unknown>);
  return w.finish();
}
export function decodeSync(bytes: Uint8Array): SyncPayload {
  return decodeExact(bytes, SYNC_SCHEMA, 'SYNC') as unknown as SyncPayload;
}
export function encodeSyncAck(p: SyncAckPayload): Buffer {
  const w = new FieldWriter(12);
  writeFields(w, SYNC_ACK_SCHEMA, p as unknown as Record<string, unknown>);
  return w.finish();
}
export function decodeSyncAck(bytes: Uint8Array): SyncAckPayload {
  return decodeExact(bytes, SYNC_ACK_SCHEMA, 'SYNC_ACK') as unknown as SyncAckPayload;
}
