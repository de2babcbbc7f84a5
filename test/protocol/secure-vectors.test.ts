/** firmware-protocol/vectors/secure.json against the TypeScript implementation (the C codec checks the same file). */
import { describe, expect, it } from 'vitest';
import { SecureSession } from '../../src/link/index.js';
import {
  decodeFrame,
  deriveSessionKeys,
  deviceProof,
  hostProof,
  ProtocolError,
} from '../../src/protocol/index.js';
import { loadVectors } from './vectors.js';

interface SecureVector {
  name: string;
  kind: 'handshake' | 'frame' | 'reject' | 'replay';
  keyHex: string;
  channel: number;
  hostNonceHex: string;
  deviceNonceHex: string;
  deviceProofHex: string;
  hostProofHex: string;
  kH2dHex: string;
  kD2hHex: string;
  counter: string;
  frameHex: string;
  macHex: string;
  acceptedBeforeHex?: string;
  verdict: string;
  ordered: boolean;
  counters: { counter: string; verdict: string }[];
}

const vectors = loadVectors<SecureVector>('secure.json');
const h = (s: string) => Buffer.from(s, 'hex');

/** The link's verdict on a raw frame: plain frames are refused before any MAC is computed. */
function verdict(rx: SecureSession, bytes: Buffer, ordered = false): string {
  let frame: ReturnType<typeof decodeFrame>;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    if (err instanceof ProtocolError) return err.decodeError;
    throw err;
  }
  if (frame.counter === undefined) return 'plain';
  return rx.open(frame, ordered);
}

describe('secure golden vectors (secure.json)', () => {
  it('covers every kind', () => {
    expect(new Set(vectors.map((v) => v.kind))).toEqual(new Set(['handshake', 'frame', 'reject', 'replay']));
  });

  for (const v of vectors) {
    it(`${v.kind} ${v.name}`, () => {
      if (v.kind === 'handshake') {
        const [k, hn, dn] = [h(v.keyHex), h(v.hostNonceHex), h(v.deviceNonceHex)];
        expect(deviceProof(k, hn, dn, v.channel).toString('hex')).toBe(v.deviceProofHex);
        expect(hostProof(k, hn, dn, v.channel).toString('hex')).toBe(v.hostProofHex);
        const keys = deriveSessionKeys(k, hn, dn);
        expect(keys.h2d.toString('hex')).toBe(v.kH2dHex);
        expect(keys.d2h.toString('hex')).toBe(v.kD2hHex);
        return;
      }
      const key = h(v.keyHex ?? '00'.repeat(32));
      const rx = new SecureSession({ txKey: key, rxKey: key });
      if (v.kind === 'frame') {
        const f = decodeFrame(h(v.frameHex));
        const counter = BigInt(v.counter);
        const tx = new SecureSession({ txKey: key, rxKey: key, lastSent: counter - 1n });
        const resealed = { ...f, flags: f.flags & ~1, counter: undefined, mac: undefined };
        tx.seal(resealed);
        expect(resealed.counter).toBe(counter);
        expect(Buffer.from(resealed.mac!).toString('hex')).toBe(v.macHex);
        expect(verdict(rx, h(v.frameHex))).toBe('ok');
        expect(verdict(rx, h(v.frameHex))).toBe('replay');
      } else if (v.kind === 'reject') {
        if (v.acceptedBeforeHex) expect(verdict(rx, h(v.acceptedBeforeHex))).toBe('ok');
        expect(verdict(rx, h(v.frameHex))).toBe(v.verdict);
      } else {
        for (const c of v.counters) {
          const counter = BigInt(c.counter);
          let got = rx.check(counter) as string;
          if (got === 'ok' && v.ordered && counter <= rx.highestReceived) got = 'old';
          expect(got, `counter ${c.counter}`).toBe(c.verdict);
          if (got === 'ok') {
            // Accept it the way a receiver does: a frame sealed with that counter.
            const tx = new SecureSession({ txKey: key, rxKey: key, lastSent: counter - 1n });
            const f = { channel: 0, type: 2, seq: 0, ack: 0, flags: 0, payload: Buffer.alloc(0) };
            tx.seal(f);
            expect(rx.open(f)).toBe('ok');
          }
        }
      }
    });
  }
});
