/**
 * Secure execution crypto (PROTOCOL.md §12): handshake proofs, session keys and the frame MAC. Only
 * HMAC-SHA256 and HKDF-SHA256, so that a microcontroller needs nothing but SHA-256.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { type Frame, writeFrameHeader } from './frame.js';
import { Limits, Opcode, StatusCode } from './generated.js';
import { RESPONSE_BIT } from './messages.js';

export const SECURE_KEY_SIZE = 32;
export const SECURE_NONCE_SIZE = 16;
export const SECURE_PROOF_SIZE = 16;

const DEV = Buffer.from('dev', 'ascii');
const HOST = Buffer.from('host', 'ascii');
const INFO_H2D = Buffer.from('offload h2d', 'ascii');
const INFO_D2H = Buffer.from('offload d2h', 'ascii');

function proof(
  key: Uint8Array,
  label: Buffer,
  hostNonce: Uint8Array,
  deviceNonce: Uint8Array,
  channel: number,
) {
  return createHmac('sha256', key)
    .update(label)
    .update(hostNonce)
    .update(deviceNonce)
    .update(Uint8Array.of(channel & 0xff))
    .digest()
    .subarray(0, SECURE_PROOF_SIZE);
}

/** deviceProof = HMAC-SHA256(K, "dev" ‖ hostNonce ‖ deviceNonce ‖ channel)[0..16]. */
export function deviceProof(
  key: Uint8Array,
  hostNonce: Uint8Array,
  deviceNonce: Uint8Array,
  channel: number,
): Buffer {
  return proof(key, DEV, hostNonce, deviceNonce, channel);
}

/** hostProof = HMAC-SHA256(K, "host" ‖ hostNonce ‖ deviceNonce ‖ channel)[0..16]. */
export function hostProof(
  key: Uint8Array,
  hostNonce: Uint8Array,
  deviceNonce: Uint8Array,
  channel: number,
): Buffer {
  return proof(key, HOST, hostNonce, deviceNonce, channel);
}

export interface SessionKeys {
  /** Host → device MAC key. */
  h2d: Buffer;
  /** Device → host MAC key. */
  d2h: Buffer;
}

/** K_h2d and K_d2h: HKDF-SHA256(ikm = K, salt = hostNonce ‖ deviceNonce, info = "offload h2d" / "offload d2h", 32). */
export function deriveSessionKeys(
  key: Uint8Array,
  hostNonce: Uint8Array,
  deviceNonce: Uint8Array,
): SessionKeys {
  const salt = Buffer.concat([hostNonce, deviceNonce]);
  return {
    h2d: Buffer.from(hkdfSync('sha256', key, salt, INFO_H2D, SECURE_KEY_SIZE)),
    d2h: Buffer.from(hkdfSync('sha256', key, salt, INFO_D2H, SECURE_KEY_SIZE)),
  };
}

/**
 * MAC = HMAC-SHA256(K_dir, header ‖ counter ‖ payload)[0..16], the header being the frame's 10 header bytes as
 * sent (flags with SECURE set, length = payload length). `scratch` (18 bytes) is reused by the caller.
 */
export function frameMac(
  key: Uint8Array,
  frame: Pick<Frame, 'flags' | 'channel' | 'type' | 'seq' | 'ack' | 'payload'>,
  counter: bigint,
  scratch: Buffer = Buffer.allocUnsafe(Limits.frameHeaderSize + Limits.secureCounterSize),
): Buffer {
  writeFrameHeader(frame, scratch);
  scratch.writeBigUInt64LE(counter, Limits.frameHeaderSize);
  return createHmac('sha256', key)
    .update(scratch)
    .update(frame.payload)
    .digest()
    .subarray(0, Limits.secureMacSize);
}

/** Parses a key given as 64 hex characters (or takes 32 bytes as they are). */
export function parseSecureKey(key: Uint8Array | string): Buffer {
  const buf = typeof key === 'string' ? Buffer.from(key.trim(), 'hex') : Buffer.from(key);
  if (
    buf.length !== SECURE_KEY_SIZE ||
    (typeof key === 'string' && key.trim().length !== SECURE_KEY_SIZE * 2)
  ) {
    throw new RangeError(`a secure key is ${SECURE_KEY_SIZE} bytes (${SECURE_KEY_SIZE * 2} hex characters)`);
  }
  return buf;
}

/**
 * Is this encoded message the OK response to SECURE_FINISH? It is the switch-over point (§12.3): the last frame
 * under the old keys from the device, after which the host requires the new session.
 */
export function isSecureFinishOk(message: Uint8Array): boolean {
  return (
    message.length >= 6 &&
    message[0] === (Opcode.SECURE_FINISH | RESPONSE_BIT) &&
    (message[4]! | (message[5]! << 8)) === StatusCode.OK
  );
}
