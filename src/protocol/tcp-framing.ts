/**
 * TCP-shim framing: u32 little-endian frame length, then the frame (no COBS). A reliable transport
 * keeps record boundaries, so a bad CRC loses one record; an impossible length ends the stream.
 */
import { ProtocolError } from './errors.js';
import { crc32 } from './crc32.js';
import { decodeFrame, encodeFrame, type Frame, frameSize } from './frame.js';
import { FRAME_VERSION, FrameFlag, Limits } from './generated.js';
import type { DeframerOutput } from './serial-framing.js';

const PREFIX = Limits.tcpLengthPrefixSize;
const HEADER = Limits.frameHeaderSize;
const CRC = Limits.crcSize;

export function encodeTcpRecord(frame: Frame): Buffer {
  const body = encodeFrame(frame);
  const out = Buffer.allocUnsafe(PREFIX + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, PREFIX);
  return out;
}

/** Payloads at least this long are not copied by encodeTcpRecordParts (below it, one buffer is cheaper). */
const PARTS_MIN_PAYLOAD = 1024;

/**
 * The same record as encodeTcpRecord, as buffers to write in order (a writev): length prefix and frame header,
 * the payload itself (not copied: it must not change until written), the CRC. Small and SECURE frames come
 * back as one buffer.
 */
export function encodeTcpRecordParts(frame: Frame): Buffer[] {
  const payload = frame.payload;
  const len = payload.length;
  if (len < PARTS_MIN_PAYLOAD || (frame.flags & FrameFlag.SECURE) !== 0) return [encodeTcpRecord(frame)];
  if (len > Limits.maxPayloadAbsolute) throw new RangeError(`payload of ${len} bytes exceeds 65535`);
  const head = Buffer.allocUnsafe(PREFIX + HEADER);
  head.writeUInt32LE(frameSize(len), 0);
  head[PREFIX] = FRAME_VERSION;
  head[PREFIX + 1] = frame.flags;
  head[PREFIX + 2] = frame.channel;
  head[PREFIX + 3] = frame.type;
  head.writeUInt16LE(frame.seq & 0xffff, PREFIX + 4);
  head.writeUInt16LE(frame.ack & 0xffff, PREFIX + 6);
  head.writeUInt16LE(len, PREFIX + 8);
  const tail = Buffer.allocUnsafe(CRC);
  tail.writeUInt32LE(crc32(payload, crc32(head.subarray(PREFIX))), 0);
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, len);
  return [head, body, tail];
}

export type TcpDeframerOutput = DeframerOutput | { kind: 'fatal'; error: ProtocolError };

export class TcpDeframer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed = false;

  constructor(private maxPayload: number) {}

  setMaxPayload(maxPayload: number): void {
    this.maxPayload = maxPayload;
  }

  push(chunk: Uint8Array): TcpDeframerOutput[] {
    const out: TcpDeframerOutput[] = [];
    if (this.failed) return out;
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.length;
    const maxRecord = frameSize(this.maxPayload, true);
    while (this.buffered >= PREFIX) {
      const head = this.peek(PREFIX);
      const length = head.readUInt32LE(0);
      if (length > maxRecord || length < frameSize(0)) {
        this.failed = true;
        out.push({
          kind: 'fatal',
          error: new ProtocolError(
            length > maxRecord ? 'FRAME_OVERSIZE' : 'FRAME_TOO_SHORT',
            `TCP record length ${length} outside ${frameSize(0)}..${maxRecord}`,
          ),
        });
        return out;
      }
      if (this.buffered < PREFIX + length) break;
      const record = this.take(PREFIX + length).subarray(PREFIX);
      try {
        out.push({ kind: 'frame', frame: decodeFrame(record, this.maxPayload), wireBytes: PREFIX + length });
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        out.push({ kind: 'discarded', error: err, byteCount: PREFIX + length });
      }
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.gather(n);
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.gather(n);
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }

  /**
   * Makes the first chunk at least `n` bytes long by copying exactly the first `n` bytes into one buffer; the rest
   * stays where it is (views of the chunks as read), so that no byte is copied twice however records and reads
   * interleave.
   */
  private gather(n: number): void {
    const joined = Buffer.allocUnsafe(n);
    let filled = 0;
    let i = 0;
    while (filled < n) {
      const c = this.chunks[i] as Buffer;
      const k = Math.min(c.length, n - filled);
      c.copy(joined, filled, 0, k);
      filled += k;
      if (k === c.length) i++;
      else this.chunks[i] = c.subarray(k);
    }
    this.chunks.splice(0, i, joined);
  }
}
