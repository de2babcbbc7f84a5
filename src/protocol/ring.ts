/**
 * PCIe ring descriptors (PROTOCOL.md §10.1), shared by the driver's ring channel and the simulator's window:
 *
 *   +0 length u16 | +2 flags u8 (bit 0 VALID) | +3 index u8 (low 8 bits of the producer index) | +4 crc u32 | +8 message
 *
 * The first word is written last by the producer, as one 32-bit write, and cleared (0) by the consumer.
 */
import { crc32 } from './crc32.js';
import { Limits } from './generated.js';

/** Bytes before the message: length, flags, index, crc. */
export const RING_DESCRIPTOR_HEADER = 8;
/** flags bit 0. */
export const RING_DESC_VALID = 0x01;

/** The first word of a descriptor: `length | VALID << 16 | (index & 0xFF) << 24`. */
export function ringFirstWord(length: number, producerIndex: number): number {
  return ((length & 0xffff) | (RING_DESC_VALID << 16) | ((producerIndex & 0xff) << 24)) >>> 0;
}

export interface RingFirstWord {
  length: number;
  flags: number;
  valid: boolean;
  index: number;
}

export function parseRingFirstWord(word: number): RingFirstWord {
  const flags = (word >>> 16) & 0xff;
  return { length: word & 0xffff, flags, valid: (flags & RING_DESC_VALID) !== 0, index: word >>> 24 };
}

/**
 * Why a descriptor must not be acted on (§10.3 consumer step 1), or 'ok'. 'not-valid', 'stale-index' and
 * 'bad-crc' are what a descriptor still being written (torn) or left from an earlier lap (stale) looks like.
 */
export type RingDescriptorCheck = 'ok' | 'not-valid' | 'stale-index' | 'too-long' | 'bad-crc';

/** Checks the first word against the consumer index and the largest message a descriptor can hold. */
export function checkRingFirstWord(
  word: number,
  consumerIndex: number,
  maxMessage: number,
): RingDescriptorCheck {
  const w = parseRingFirstWord(word);
  if (!w.valid) return 'not-valid';
  if (w.index !== (consumerIndex & 0xff)) return 'stale-index';
  if (w.length > maxMessage) return 'too-long';
  return 'ok';
}

/** Checks a whole descriptor: first word, then the CRC of its message bytes. */
export function checkRingDescriptor(
  word: number,
  crc: number,
  message: Uint8Array,
  consumerIndex: number,
  maxMessage: number,
): RingDescriptorCheck {
  const first = checkRingFirstWord(word, consumerIndex, maxMessage);
  if (first !== 'ok') return first;
  if (message.length !== (word & 0xffff) || crc32(message) !== crc >>> 0) return 'bad-crc';
  return 'ok';
}

/** A whole descriptor's bytes (header + message), as a producer lays it out; for tests and vectors. */
export function encodeRingDescriptor(message: Uint8Array, producerIndex: number): Buffer {
  if (message.length > Limits.maxPayloadAbsolute)
    throw new RangeError('a descriptor message is at most 65535 bytes');
  const b = Buffer.alloc(RING_DESCRIPTOR_HEADER + message.length);
  b.writeUInt32LE(ringFirstWord(message.length, producerIndex), 0);
  b.writeUInt32LE(crc32(message), 4);
  b.set(message, RING_DESCRIPTOR_HEADER);
  return b;
}

/** `tail − head` as a free-running u32 difference (descriptors in the ring). */
export function ringUsed(tail: number, head: number): number {
  return (tail - head) >>> 0;
}
