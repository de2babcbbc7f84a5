/**
 * Link frames: header (10 bytes, little-endian) [+ 8-byte counter if SECURE] + payload [+ 16-byte MAC if SECURE]
 * + CRC-32 over everything before it. The layout is firmware-protocol/protocol.json's frameHeader.
 */
import { crc32 } from './crc32.js';
import { ProtocolError } from './errors.js';
import { FRAME_VERSION, FrameFlag, FrameType, Limits } from './generated.js';

export interface Frame {
  channel: number;
  type: number;
  seq: number;
  ack: number;
  /** Frame flags other than SECURE are reserved and must be 0. */
  flags: number;
  payload: Uint8Array;
  /** Present on SECURE frames. */
  counter?: bigint;
  /** Present on SECURE frames. */
  mac?: Uint8Array;
}

const HEADER = Limits.frameHeaderSize;
const CRC = Limits.crcSize;
const COUNTER = Limits.secureCounterSize;
const MAC = Limits.secureMacSize;
const FRAME_TYPES = new Set<number>(Object.values(FrameType));

/** Bytes a frame with `payloadLength` bytes of payload occupies before COBS. */
export function frameSize(payloadLength: number, secure = false): number {
  return HEADER + payloadLength + CRC + (secure ? COUNTER + MAC : 0);
}

export function encodeFrame(frame: Frame): Buffer {
  const buf = Buffer.allocUnsafe(frameSize(frame.payload.length, (frame.flags & FrameFlag.SECURE) !== 0));
  encodeFrameInto(frame, buf);
  return buf;
}

/** The 10-byte frame header (§2.1) into the start of `buf`; its length field is the payload's length. */
export function writeFrameHeader(
  frame: Pick<Frame, 'flags' | 'channel' | 'type' | 'seq' | 'ack' | 'payload'>,
  buf: Buffer,
): void {
  buf[0] = FRAME_VERSION;
  buf[1] = frame.flags;
  buf[2] = frame.channel;
  buf[3] = frame.type;
  buf.writeUInt16LE(frame.seq & 0xffff, 4);
  buf.writeUInt16LE(frame.ack & 0xffff, 6);
  buf.writeUInt16LE(frame.payload.length, 8);
}

/** encodeFrame into the start of `buf` (at least frameSize() bytes); returns the frame's length. */
export function encodeFrameInto(frame: Frame, buf: Buffer): number {
  const secure = (frame.flags & FrameFlag.SECURE) !== 0;
  if (secure && (frame.counter === undefined || frame.mac?.length !== MAC)) {
    throw new RangeError('a SECURE frame needs a counter and a 16-byte MAC');
  }
  const len = frame.payload.length;
  if (len > Limits.maxPayloadAbsolute) throw new RangeError(`payload of ${len} bytes exceeds 65535`);
  writeFrameHeader(frame, buf);
  let o = HEADER;
  if (secure) {
    buf.writeBigUInt64LE(frame.counter!, o);
    o += COUNTER;
  }
  buf.set(frame.payload, o);
  o += len;
  if (secure) {
    buf.set(frame.mac!, o);
    o += MAC;
  }
  buf.writeUInt32LE(crc32(buf.subarray(0, o)), o);
  return o + CRC;
}

/**
 * Decodes one frame. Checks, in this order: size, CRC, version, type, length field, maximum payload.
 * Throws only ProtocolError. The payload is a view into `bytes`.
 */
export function decodeFrame(bytes: Uint8Array, maxPayload: number = Limits.maxPayloadAbsolute): Frame {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER + CRC) {
    throw new ProtocolError('FRAME_TOO_SHORT', `frame of ${buf.length} bytes is shorter than header + CRC`);
  }
  const body = buf.length - CRC;
  const expected = buf.readUInt32LE(body);
  const actual = crc32(buf.subarray(0, body));
  if (expected !== actual) {
    throw new ProtocolError('FRAME_BAD_CRC', 'frame CRC mismatch', { expected, actual });
  }
  if (buf[0] !== FRAME_VERSION) {
    throw new ProtocolError('FRAME_BAD_VERSION', `frame version ${buf[0]} (expected ${FRAME_VERSION})`);
  }
  const flags = buf[1]!;
  const type = buf[3]!;
  if (!FRAME_TYPES.has(type)) throw new ProtocolError('FRAME_BAD_TYPE', `unknown frame type ${type}`);
  const secure = (flags & FrameFlag.SECURE) !== 0;
  const length = buf.readUInt16LE(8);
  const overhead = HEADER + CRC + (secure ? COUNTER + MAC : 0);
  if (buf.length < overhead) {
    throw new ProtocolError(
      'FRAME_TOO_SHORT',
      `secure frame of ${buf.length} bytes is shorter than its overhead`,
    );
  }
  if (buf.length - overhead !== length) {
    throw new ProtocolError(
      'FRAME_LENGTH_MISMATCH',
      `length field ${length}, ${buf.length - overhead} payload bytes present`,
    );
  }
  if (length > maxPayload) {
    throw new ProtocolError('FRAME_OVERSIZE', `payload of ${length} bytes exceeds the maximum ${maxPayload}`);
  }
  let o = HEADER;
  const frame: Frame = {
    flags,
    channel: buf[2]!,
    type,
    seq: buf.readUInt16LE(4),
    ack: buf.readUInt16LE(6),
    payload: new Uint8Array(0),
  };
  if (secure) {
    frame.counter = buf.readBigUInt64LE(o);
    o += COUNTER;
  }
  frame.payload = buf.subarray(o, o + length);
  o += length;
  if (secure) frame.mac = buf.subarray(o, o + MAC);
  return frame;
}
