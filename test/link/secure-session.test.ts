/** SecureSession: the spec's vectors, the MAC, and the replay window's edges (PROTOCOL.md §12). */
import { describe, expect, it } from 'vitest';
import { LinkErrorCode, MAX_COUNTER, REPLAY_WINDOW, SecureSession } from '../../src/link/index.js';
import {
  decodeFrame,
  deriveSessionKeys,
  deviceProof,
  encodeFrame,
  type Frame,
  FrameType,
  hostProof,
} from '../../src/protocol/index.js';

const K = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const HOST_NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xa0 + i));
const DEVICE_NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xb0 + i));
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function pair(): { host: SecureSession; device: SecureSession } {
  const keys = deriveSessionKeys(K, HOST_NONCE, DEVICE_NONCE);
  return { host: SecureSession.forHost(keys), device: SecureSession.forDevice(keys) };
}

function msg(payload: number[], seq = 0): Frame {
  return { channel: 1, type: FrameType.MSG, seq, ack: 0, flags: 0, payload: Buffer.from(payload) };
}

/** A sealed frame with a chosen counter (a session whose last counter was counter − 1). */
function sealedWith(counter: bigint, txKey: Buffer): Frame {
  const s = new SecureSession({ txKey, rxKey: txKey, lastSent: counter - 1n });
  const f = msg([1, 2, 3]);
  s.seal(f);
  return f;
}

describe('secure execution crypto (PROTOCOL.md §12.2 / §12.3 vectors)', () => {
  it('proofs and session keys match the handshake vector', () => {
    expect(deviceProof(K, HOST_NONCE, DEVICE_NONCE, 1)).toEqual(hex('25D460578523DF55E2F8489A1A8A0BE8'));
    expect(hostProof(K, HOST_NONCE, DEVICE_NONCE, 1)).toEqual(hex('D925EEA071DEF28C504EE5C9C5E5085A'));
    const keys = deriveSessionKeys(K, HOST_NONCE, DEVICE_NONCE);
    expect(keys.h2d).toEqual(hex('EA3D1C94FB2F66D47D05C8DC1DFB38E1540BA5312E88A5150A7CA33FFEFA981F'));
    expect(keys.d2h).toEqual(hex('80B720CD60003367AA30D39B76511CD74D172B819E4CCB244C0FD3F7336ABAD6'));
    // A different channel byte gives a different proof (the proof binds the channel).
    expect(deviceProof(K, HOST_NONCE, DEVICE_NONCE, 2)).not.toEqual(
      deviceProof(K, HOST_NONCE, DEVICE_NONCE, 1),
    );
  });

  it("seals the spec's secure PING frame byte for byte, and the device accepts it", () => {
    const { host, device } = pair();
    const f: Frame = {
      channel: 1,
      type: FrameType.MSG,
      seq: 2,
      ack: 1,
      flags: 0,
      payload: hex('020003000102'),
    };
    host.seal(f);
    expect(f.counter).toBe(1n);
    const wire = encodeFrame(f);
    expect(wire).toEqual(
      hex('01010101020001000600 0100000000000000 020003000102 F37A0D17908D276AFD38680EFF6BF33E D2C619DE'),
    );
    expect(device.open(decodeFrame(wire))).toBe('ok');
    // The host cannot accept its own frame: directions have their own keys.
    expect(host.open(decodeFrame(wire))).toBe('mac');
  });
});

describe('SecureSession', () => {
  it('counters start at 1 and increase with every frame; a retransmission gets a new counter and MAC', () => {
    const { host } = pair();
    const a = msg([9, 9], 5);
    const b = msg([9, 9], 5);
    host.seal(a);
    host.seal(b);
    expect([a.counter, b.counter]).toEqual([1n, 2n]);
    expect(Buffer.from(a.mac!)).not.toEqual(Buffer.from(b.mac!));
  });

  it('refuses an altered header, counter, payload or MAC', () => {
    const { host, device } = pair();
    const alter = (fn: (f: Frame) => void) => {
      const f = msg([1, 2, 3, 4], 7);
      host.seal(f);
      fn(f);
      return device.open(f);
    };
    expect(alter(() => undefined)).toBe('ok');
    expect(alter((f) => (f.seq ^= 1))).toBe('mac');
    expect(alter((f) => (f.ack ^= 0x100))).toBe('mac');
    expect(alter((f) => (f.type = FrameType.ACK))).toBe('mac');
    expect(alter((f) => (f.channel = 2))).toBe('mac');
    expect(alter((f) => (f.counter = f.counter! + 1000n))).toBe('mac');
    expect(alter((f) => (f.payload = Buffer.from([1, 2, 3, 5])))).toBe('mac');
    expect(alter((f) => (f.mac = Buffer.from(f.mac!).fill(0, 15)))).toBe('mac');
    expect(alter((f) => (f.mac = f.mac!.subarray(0, 15)))).toBe('mac');
    // A refused frame moves nothing: the window still has only the honest frame.
    expect(device.highestReceived).toBe(1n);
  });

  it('replay window: duplicates refused, out of order within 64 accepted once, 64 below the highest too old', () => {
    const key = Buffer.alloc(32, 7);
    const rx = new SecureSession({ txKey: key, rxKey: key });
    const open = (c: bigint) => rx.open(sealedWith(c, key));
    expect(open(0n + 1n)).toBe('ok');
    expect(open(1n)).toBe('replay');
    expect(open(100n)).toBe('ok'); // jumps ahead: the window slides
    const W = BigInt(REPLAY_WINDOW);
    // Exactly at the edge: highest − 63 is the oldest counter the window holds ...
    expect(open(100n - (W - 1n))).toBe('ok');
    expect(open(100n - (W - 1n))).toBe('replay');
    // ... highest − 64 is outside.
    expect(open(100n - W)).toBe('old');
    expect(open(1n)).toBe('old');
    // Reordered inside the window: each accepted once.
    expect(open(99n)).toBe('ok');
    expect(open(50n)).toBe('ok');
    expect(open(50n)).toBe('replay');
    expect(open(100n)).toBe('replay');
    // A frame with counter 0 is never valid (counters start at 1).
    expect(new SecureSession({ txKey: key, rxKey: key }).check(0n)).toBe('old');
    // The window slides by more than its size: only the new highest is remembered.
    expect(open(1000n)).toBe('ok');
    expect(open(999n)).toBe('ok');
    expect(open(1000n - W)).toBe('old');
  });

  it('refuses to send once the 64-bit counter is exhausted instead of reusing a counter', () => {
    const key = Buffer.alloc(32, 1);
    const s = new SecureSession({ txKey: key, rxKey: key, lastSent: MAX_COUNTER - 1n });
    const last = msg([1]);
    s.seal(last);
    expect(last.counter).toBe(MAX_COUNTER);
    expect(() => s.seal(msg([2]))).toThrow(
      expect.objectContaining({ code: LinkErrorCode.COUNTER_EXHAUSTED }),
    );
    expect(s.lastSent).toBe(MAX_COUNTER);
    const rx = new SecureSession({ txKey: key, rxKey: key });
    expect(rx.open(last)).toBe('ok');
    expect(rx.highestReceived).toBe(MAX_COUNTER);
  });
});

describe('SecureSession on an ordered transport (ARQ off)', () => {
  it('accepts only counters above the highest: a reordered frame is refused as old, a repeat as replay', () => {
    const key = Buffer.alloc(32, 9);
    const rx = new SecureSession({ txKey: key, rxKey: key });
    const open = (c: bigint) => rx.open(sealedWith(c, key), true);
    expect(open(1n)).toBe('ok');
    expect(open(3n)).toBe('ok');
    expect(open(2n)).toBe('old'); // overtaken by 3: on TCP only an attacker reorders
    expect(open(3n)).toBe('replay');
    expect(open(4n)).toBe('ok');
  });
});
