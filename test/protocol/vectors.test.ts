import { describe, expect, it } from 'vitest';
import {
  cobsDecode,
  cobsEncode,
  crc32,
  decodeFrame,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  encodeSerialFrame,
  encodeTcpRecord,
  type Message,
  ProtocolError,
  SerialDeframer,
} from '../../src/protocol/index.js';
import { fromJson, loadVectors, type MessageVector } from './vectors.js';

const unhex = (h: string) => Buffer.from(h, 'hex');

describe('golden vectors: CRC-32', () => {
  for (const v of loadVectors<{ name: string; inputHex: string; crc32: number }>('crc32.json')) {
    it(v.name, () => expect(crc32(unhex(v.inputHex))).toBe(v.crc32));
  }
  it('has the standard check value', () => expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926));
});

describe('golden vectors: COBS', () => {
  for (const v of loadVectors<{ name: string; decodedHex: string; encodedHex: string }>('cobs.json')) {
    it(v.name, () => {
      expect(cobsEncode(unhex(v.decodedHex)).toString('hex')).toBe(v.encodedHex);
      expect(cobsDecode(unhex(v.encodedHex)).toString('hex')).toBe(v.decodedHex);
      expect(unhex(v.encodedHex).includes(0)).toBe(false);
    });
  }
});

interface FrameVector {
  name: string;
  header: {
    version: number;
    flags: number;
    channel: number;
    type: number;
    seq: number;
    ack: number;
    length: number;
  };
  counterHex?: string;
  payloadHex: string;
  macHex?: string;
  frameHex: string;
  wireHex: string;
  tcpHex: string;
}

describe('golden vectors: frames', () => {
  for (const v of loadVectors<FrameVector>('frames.json')) {
    it(v.name, () => {
      const f = decodeFrame(unhex(v.frameHex));
      expect({ flags: f.flags, channel: f.channel, type: f.type, seq: f.seq, ack: f.ack }).toEqual({
        flags: v.header.flags,
        channel: v.header.channel,
        type: v.header.type,
        seq: v.header.seq,
        ack: v.header.ack,
      });
      expect(Buffer.from(f.payload).toString('hex')).toBe(v.payloadHex);
      expect(f.payload.length).toBe(v.header.length);
      if (v.counterHex) expect(f.counter).toBe(unhex(v.counterHex).readBigUInt64LE(0));
      if (v.macHex) expect(Buffer.from(f.mac!).toString('hex')).toBe(v.macHex);
      expect(encodeFrame(f).toString('hex')).toBe(v.frameHex);
      expect(encodeSerialFrame(f).toString('hex')).toBe(v.wireHex);
      expect(encodeTcpRecord(f).toString('hex')).toBe(v.tcpHex);
      const out = new SerialDeframer(65535).push(unhex(v.wireHex));
      expect(out).toHaveLength(1);
      expect(out[0]!.kind).toBe('frame');
    });
  }
});

describe('golden vectors: messages', () => {
  const vectors = loadVectors<MessageVector>('messages.json');
  it('covers every message kind of the definition', () => {
    const names = new Set(vectors.map((v) => `${v.message.kind}:${v.message.name}`));
    expect(names.size).toBeGreaterThanOrEqual(40);
  });
  for (const v of vectors) {
    it(v.name, () => {
      const decoded = decodeMessage(unhex(v.hex));
      const m = v.message;
      const expected: Record<string, unknown> = { kind: m.kind, name: m.name, body: fromJson(m.fields) };
      if (m.kind !== 'event') expected.tag = m.tag;
      if (m.status !== undefined) expected.status = m.status;
      if (m.kind === 'event') Object.assign(expected, { epoch: m.epoch, seq: m.seq });
      expect(decoded).toEqual(expected);
      expect(encodeMessage(decoded).toString('hex')).toBe(v.hex);
      expect(encodeMessage(expected as unknown as Message).toString('hex')).toBe(v.hex);
    });
  }
});

describe('golden vectors: negative', () => {
  for (const v of loadVectors<{
    name: string;
    layer: string;
    hex: string;
    maxPayload?: number;
    error: string;
  }>('negative.json')) {
    it(`${v.name} → ${v.error}`, () => {
      const bytes = unhex(v.hex);
      let caught: unknown;
      try {
        if (v.layer === 'cobs') cobsDecode(bytes);
        else if (v.layer === 'frame') decodeFrame(bytes, v.maxPayload);
        else if (v.layer === 'message') decodeMessage(bytes);
        else {
          const out = new SerialDeframer(v.maxPayload ?? 4096).push(bytes);
          expect(out).toHaveLength(1);
          const first = out[0]!;
          if (first.kind === 'discarded') caught = first.error;
        }
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ProtocolError);
      expect((caught as ProtocolError).decodeError).toBe(v.error);
      expect((caught as ProtocolError).code).toBe(`E_OFFLOAD_${v.error}`);
    });
  }
});
