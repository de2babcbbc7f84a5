import { ProtocolError } from './errors.js';

/** Worst-case encoded size of `n` bytes: one overhead byte per 254 plus one. */
export function cobsMaxEncodedLength(n: number): number {
  return n + Math.floor(n / 254) + 1;
}

/**
 * Canonical COBS (Cheshire & Baker): the output holds no zero byte. Empty input encodes to 01;
 * a final full block (code FF) is not followed by an extra 01.
 */
export function cobsEncode(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(cobsMaxEncodedLength(input.length));
  let codeAt = 0;
  let o = 1;
  let code = 1;
  for (let i = 0; i < input.length; i++) {
    const b = input[i]!;
    if (b === 0) {
      out[codeAt] = code;
      codeAt = o++;
      code = 1;
      continue;
    }
    out[o++] = b;
    code++;
    if (code === 0xff) {
      out[codeAt] = code;
      code = 1;
      // A full block that ends the input needs no further block.
      if (i === input.length - 1) return out.subarray(0, o);
      codeAt = o++;
    }
  }
  out[codeAt] = code;
  return out.subarray(0, o);
}

/** Decodes one COBS block sequence (without the 0x00 delimiter). Accepts both forms of a final full block. */
export function cobsDecode(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let o = 0;
  let i = 0;
  while (i < input.length) {
    const code = input[i]!;
    if (code === 0) throw new ProtocolError('COBS_INVALID', 'zero byte inside a COBS frame', { offset: i });
    const end = i + code;
    if (end > input.length) {
      throw new ProtocolError('COBS_INVALID', 'COBS block runs past the end of the frame', {
        offset: i,
        code,
      });
    }
    for (let j = i + 1; j < end; j++) {
      const b = input[j]!;
      if (b === 0) throw new ProtocolError('COBS_INVALID', 'zero byte inside a COBS frame', { offset: j });
      out[o++] = b;
    }
    i = end;
    if (code !== 0xff && i < input.length) out[o++] = 0;
  }
  return out.subarray(0, o);
}
