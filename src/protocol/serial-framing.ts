/**
 * Serial wire framing: COBS(frame) followed by a 0x00 delimiter, and the streaming extractor that
 * turns arbitrary chunks back into frames, resynchronising at the next delimiter after any garbage.
 */
import { cobsDecode, cobsEncode, cobsEncodeInto, cobsMaxEncodedLength } from './cobs.js';
import { ProtocolError } from './errors.js';
import { decodeFrame, encodeFrame, encodeFrameInto, type Frame, frameSize } from './frame.js';
import { FrameFlag } from './generated.js';

export type DeframerOutput =
  | { kind: 'frame'; frame: Frame; wireBytes: number }
  | { kind: 'discarded'; error: ProtocolError; byteCount: number };

export function encodeSerialFrame(frame: Frame): Buffer {
  return cobsEncode(encodeFrame(frame), true);
}

/** Scratch for encodeSerialFrameInto's unencoded frame (used and done with inside each call). */
let scratch = Buffer.allocUnsafe(0);

/** Room encodeSerialFrameInto needs for a frame (COBS worst case plus the delimiter). */
export function serialWireRoom(frame: Frame): number {
  return cobsMaxEncodedLength(frameSize(frame.payload.length, (frame.flags & FrameFlag.SECURE) !== 0)) + 1;
}

/**
 * encodeSerialFrame into `out` from `offset` (serialWireRoom(frame) bytes of room), without allocating: for
 * writing several frames as one buffer. Returns the offset after the delimiter.
 */
export function encodeSerialFrameInto(frame: Frame, out: Buffer, offset: number): number {
  const size = frameSize(frame.payload.length, (frame.flags & FrameFlag.SECURE) !== 0);
  if (scratch.length < size) scratch = Buffer.allocUnsafe(Math.max(size, 8192));
  const n = encodeFrameInto(frame, scratch);
  return cobsEncodeInto(scratch.subarray(0, n), out, offset, true);
}

/** Largest COBS-encoded frame (without delimiter) for a maximum payload. */
export function maxEncodedFrameLength(maxPayload: number): number {
  return cobsMaxEncodedLength(frameSize(maxPayload, true));
}

export class SerialDeframer {
  private maxPayload: number;
  private buffer: Buffer;
  private used = 0;
  /** Bytes dropped since the frame grew past the maximum; non-zero means "skip to the next delimiter". */
  private overflowed = 0;

  constructor(maxPayload: number) {
    this.maxPayload = maxPayload;
    this.buffer = Buffer.allocUnsafe(maxEncodedFrameLength(maxPayload));
  }

  /** Changes the accepted maximum (after link negotiation). Drops any partial frame. */
  setMaxPayload(maxPayload: number): void {
    this.maxPayload = maxPayload;
    this.buffer = Buffer.allocUnsafe(maxEncodedFrameLength(maxPayload));
    this.used = 0;
    this.overflowed = 0;
  }

  /** Feeds received bytes; returns the frames completed and the garbage discarded, in order. */
  push(chunk: Uint8Array): DeframerOutput[] {
    const out: DeframerOutput[] = [];
    let start = 0;
    while (start < chunk.length) {
      const zero = chunk.indexOf(0, start);
      const end = zero === -1 ? chunk.length : zero;
      this.append(chunk, start, end);
      if (zero === -1) break;
      this.finishFrame(out);
      start = zero + 1;
    }
    return out;
  }

  private append(chunk: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n === 0) return;
    if (this.overflowed > 0 || this.used + n > this.buffer.length) {
      this.overflowed += this.used + n;
      this.used = 0;
      return;
    }
    this.buffer.set(chunk.subarray(start, end), this.used);
    this.used += n;
  }

  private finishFrame(out: DeframerOutput[]): void {
    if (this.overflowed > 0) {
      out.push({
        kind: 'discarded',
        error: new ProtocolError(
          'FRAME_OVERSIZE',
          `${this.overflowed} bytes without a delimiter exceed the maximum frame`,
        ),
        byteCount: this.overflowed + 1,
      });
      this.overflowed = 0;
      return;
    }
    if (this.used === 0) return; // back-to-back delimiters are idle fill
    const wire = this.buffer.subarray(0, this.used);
    const wireBytes = this.used + 1;
    this.used = 0;
    try {
      // cobsDecode returns a fresh buffer, so the frame outlives the reusable receive buffer.
      const frame = decodeFrame(cobsDecode(wire), this.maxPayload);
      out.push({ kind: 'frame', frame, wireBytes });
    } catch (err) {
      out.push({ kind: 'discarded', error: asProtocolError(err), byteCount: wireBytes });
    }
  }
}

function asProtocolError(err: unknown): ProtocolError {
  if (err instanceof ProtocolError) return err;
  throw err; // a bug, not bad input
}
