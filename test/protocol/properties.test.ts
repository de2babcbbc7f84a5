import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cobsDecode,
  cobsEncode,
  decodeFrame,
  decodeMessage,
  encodeMessage,
  encodeSerialFrame,
  encodeTcpRecord,
  type Frame,
  FrameType,
  ProtocolError,
  SerialDeframer,
  TcpDeframer,
} from '../../src/protocol/index.js';
import { messageArb } from './arbitraries.js';

const RUNS = { numRuns: 400 };

const frameArb: fc.Arbitrary<Frame> = fc.record({
  channel: fc.integer({ min: 0, max: 255 }),
  type: fc.constantFrom(...Object.values(FrameType)),
  seq: fc.integer({ min: 0, max: 0xffff }),
  ack: fc.integer({ min: 0, max: 0xffff }),
  flags: fc.constant(0),
  payload: fc.uint8Array({ maxLength: 1500 }).map((b) => Buffer.from(b)),
});

function onlyProtocolErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}

describe('round trips', () => {
  it('COBS: decode(encode(x)) = x, and the encoding has no zero byte', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => {
        const enc = cobsEncode(data);
        expect(enc.includes(0)).toBe(false);
        expect(Buffer.compare(cobsDecode(enc), Buffer.from(data))).toBe(0);
      }),
      RUNS,
    );
  });

  it('messages: decode(encode(m)) re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeMessage(m);
        const decoded = decodeMessage(bytes);
        expect(decoded.kind).toBe(m.kind);
        expect(decoded.name).toBe(m.name);
        expect(encodeMessage(decoded).equals(bytes)).toBe(true);
      }),
      RUNS,
    );
  });

  it('frames through the serial deframer, split at arbitrary points', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 })),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map(encodeSerialFrame));
          const d = new SerialDeframer(4096);
          const got: Frame[] = [];
          let at = 0;
          for (const c of [...cuts, wire.length]) {
            if (at >= wire.length) break;
            for (const o of d.push(wire.subarray(at, at + c))) if (o.kind === 'frame') got.push(o.frame);
            at += c;
          }
          if (at < wire.length)
            for (const o of d.push(wire.subarray(at))) if (o.kind === 'frame') got.push(o.frame);
          expect(got.map((f) => Buffer.from(f.payload).toString('hex'))).toEqual(
            frames.map((f) => Buffer.from(f.payload).toString('hex')),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('frames through the TCP deframer, split at arbitrary points', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 97 }),
        (frames, step) => {
          const wire = Buffer.concat(frames.map(encodeTcpRecord));
          const d = new TcpDeframer(4096);
          const got: Frame[] = [];
          for (let at = 0; at < wire.length; at += step) {
            for (const o of d.push(wire.subarray(at, at + step))) if (o.kind === 'frame') got.push(o.frame);
          }
          expect(got.length).toBe(frames.length);
          got.forEach((f, i) => {
            expect(Buffer.compare(f.payload, frames[i]!.payload)).toBe(0);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('arbitrary input never breaks the decoders', () => {
  it('decodeMessage throws only ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => onlyProtocolErrors(() => decodeMessage(b))),
      { numRuns: 3000 },
    );
  });

  it('mutated valid messages: ProtocolError or a message that re-encodes identically', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (m, flips, cut) => {
          const b = Buffer.from(encodeMessage(m));
          for (const [pos, val] of flips) if (b.length) b[pos % b.length] = val;
          const bytes = b.subarray(0, b.length - (cut % 3));
          try {
            const d = decodeMessage(bytes);
            expect(encodeMessage(d).equals(bytes)).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decodeFrame and the deframers take any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        onlyProtocolErrors(() => decodeFrame(b, 256));
        new SerialDeframer(256).push(b);
        new TcpDeframer(256).push(b);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('resynchronisation', () => {
  it('loses no frame that follows garbage, truncation or oversize runs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(frameArb, fc.uint8Array({ maxLength: 80 }), fc.boolean()), {
          minLength: 1,
          maxLength: 10,
        }),
        (parts) => {
          const d = new SerialDeframer(2048);
          const wanted: string[] = [];
          const chunks: Buffer[] = [];
          for (const [frame, garbage, truncateBefore] of parts) {
            // Garbage (without delimiters) then a delimiter, optionally a truncated copy of the frame.
            chunks.push(Buffer.from(garbage.map((x) => x || 1)), Buffer.from([0]));
            if (truncateBefore) {
              const w = encodeSerialFrame(frame);
              chunks.push(w.subarray(0, Math.max(1, w.length >> 1)), Buffer.from([0]));
            }
            chunks.push(encodeSerialFrame(frame));
            wanted.push(Buffer.from(frame.payload).toString('hex'));
          }
          chunks.push(Buffer.alloc(5000, 7), Buffer.from([0])); // an oversize run: discarded without buffering
          const out = d.push(Buffer.concat(chunks));
          const got = out
            .filter((o) => o.kind === 'frame')
            .map((o) => (o.kind === 'frame' ? Buffer.from(o.frame.payload).toString('hex') : ''));
          expect(got).toEqual(wanted);
          const last = out[out.length - 1]!;
          expect(last.kind === 'discarded' && last.error.decodeError).toBe('FRAME_OVERSIZE');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reports garbage as discarded bytes rather than dropping it silently', () => {
    const d = new SerialDeframer(256);
    const out = d.push(Buffer.from([9, 9, 9, 0]));
    expect(out).toEqual([expect.objectContaining({ kind: 'discarded', byteCount: 4 })]);
  });

  it('a TCP record with an impossible length is fatal', () => {
    const d = new TcpDeframer(256);
    const out = d.push(Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]));
    expect(out).toEqual([expect.objectContaining({ kind: 'fatal' })]);
  });
});
