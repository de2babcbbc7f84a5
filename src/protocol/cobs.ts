import { ProtocolError } from './errors.js';

/** Worst-case encoded size of `n` bytes: one overhead byte per 254 plus one. */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Canonical COBS (Cheshire & Baker): the output holds no zero byte. Empty input encodes to 01;
 * a final full block (code FF) is not followed by an extra 01. With `delimit`, a 0x00 delimiter is appended
 * in the same buffer (the serial wire form). Runs are copied with memcpy rather than byte by byte.
 */
export function cobsEncode(input: Uint8Array, delimit = false): Buffer {
  const out = Buffer.allocUnsafe(cobsMaxEncodedLength(input.length) + (delimit ? 1 : 0));
  return out.subarray(0, cobsEncodeInto(input, out, 0, delimit));
}

/**
 * cobsEncode into `out` from `offset` (which needs cobsMaxEncodedLength(input.length) + 1 bytes of room);
 * returns the offset after the last byte written.
 */
export function cobsEncodeInto(input: Uint8Array, out: Buffer, offset: number, delimit = false): number {
  const src = asBuffer(input);
  const n = src.length;
  let o = offset;
  let i = 0;
  for (;;) {
    let z = src.indexOf(0, i);
    if (z === -1) z = n;
    // The run src[i..z) of non-zero bytes, in blocks of at most 254.
    while (z - i >= 254) {
      out[o] = 0xff;
      src.copy(out, o + 1, i, i + 254);
      o += 255;
      i += 254;
      if (i === n) return finish(out, o, delimit);
    }
    out[o] = z - i + 1;
    src.copy(out, o + 1, i, z);
    o += z - i + 1;
    if (z >= n) return finish(out, o, delimit);
    i = z + 1;
  }
}

function finish(out: Buffer, end: number, delimit: boolean): number {
  if (!delimit) return end;
  out[end] = 0;
  return end + 1;
}

/** Decodes one COBS block sequence (without the 0x00 delimiter). Accepts both forms of a final full block. */
export function cobsDecode(input: Uint8Array): Buffer {
  const src = asBuffer(input);
  const zero = src.indexOf(0);
  if (zero !== -1) throw new ProtocolError('COBS_INVALID', 'zero byte inside a COBS frame', { offset: zero });
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const code = src[i]!;
    const end = i + code;
    if (end > src.length) {
      throw new ProtocolError('COBS_INVALID', 'COBS block runs past the end of the frame', {
        offset: i,
        code,
      });
    }
    src.copy(out, o, i + 1, end);
    o += code - 1;
    i = end;
    if (code !== 0xff && i < src.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}
