/**
 * Ring descriptors (PROTOCOL.md §10.1) and the pcie: URL options, without a window.
 */
import { describe, expect, it } from 'vitest';
import {
  checkRingDescriptor,
  checkRingFirstWord,
  encodeMessage,
  encodeRingDescriptor,
  parseRingFirstWord,
  ringFirstWord,
  ringUsed,
} from '../../src/protocol/index.js';
import { parseDeviceUrl, type PcieUrl } from '../../src/transport/index.js';
import { pcieUrlOptions } from '../../src/transport/pcie-window.js';

describe('ring descriptors', () => {
  it('the §10.1 example: PING {DE AD BE EF}, tag 0x21, producer index 5', () => {
    const msg = encodeMessage({
      kind: 'command',
      name: 'PING',
      tag: 0x21,
      body: { payload: Buffer.from('deadbeef', 'hex') },
    });
    expect(msg.toString('hex')).toBe('02002100deadbeef');
    expect(encodeRingDescriptor(msg, 5).toString('hex')).toBe('08000105c1722fb602002100deadbeef');
    expect(ringFirstWord(8, 5)).toBe(0x05010008);
    expect(parseRingFirstWord(0x05010008)).toEqual({ length: 8, flags: 1, valid: true, index: 5 });
  });

  it('what a consumer must not act on: not VALID, another lap (index), too long, a torn body (CRC)', () => {
    const msg = Buffer.from('02002100deadbeef', 'hex');
    const d = encodeRingDescriptor(msg, 0x105); // index byte 0x05
    const word = d.readUInt32LE(0);
    const crc = d.readUInt32LE(4);
    expect(checkRingDescriptor(word, crc, msg, 0x105, 100)).toBe('ok');
    expect(checkRingDescriptor(word, crc, msg, 0x205, 100)).toBe('ok'); // 8-bit index: laps look alike (§10.3 step 2)
    expect(checkRingFirstWord(0, 0x105, 100)).toBe('not-valid');
    expect(checkRingFirstWord(word, 0x106, 100)).toBe('stale-index');
    expect(checkRingFirstWord(word, 0x105, 4)).toBe('too-long');
    const torn = Buffer.from(msg);
    torn[7] = 0;
    expect(checkRingDescriptor(word, crc, torn, 0x105, 100)).toBe('bad-crc');
  });

  it('free-running u32 indices: used = tail − head mod 2³²', () => {
    expect(ringUsed(5, 5)).toBe(0);
    expect(ringUsed(3, 0xfffffffe)).toBe(5);
    expect(ringUsed(0, 0xffffffc0)).toBe(64);
    expect(3 & 7).toBe((0x1_0000_0003 % 8) & 7);
  });
});

describe('pcie: URL options', () => {
  const opts = (u: string) => pcieUrlOptions(parseDeviceUrl(u) as PcieUrl, u);
  it('access, poll and ring overrides', () => {
    expect(opts('pcie:///dev/xdma0_user?events=/dev/xdma0_events_0')).toEqual({ access: 'word' });
    expect(
      opts(
        'pcie:///dev/shm/w?access=block&poll=5&cmdentries=16&cplentries=0x20&descsize=1032&cmdoffset=0x10000',
      ),
    ).toEqual({
      access: 'block',
      pollMs: 5,
      cmdRingEntries: 16,
      cplRingEntries: 32,
      descSize: 1032,
      cmdRingOffset: 0x10000,
    });
  });
  it.each([
    ['pcie:///dev/shm/w?access=byte', "access must be 'word' or 'block'"],
    ['pcie:///dev/shm/w?cmdentries=12', 'power of two'],
    ['pcie:///dev/shm/w?descsize=1030', 'multiple of 4'],
    ['pcie:///dev/shm/w?cmdoffset=0x100', "'cmdoffset' must be a whole number from 65536"],
    ['pcie:///dev/shm/w?poll=0', "'poll' must be"],
    ['pcie:///dev/xdma1_user?bar=2', "unknown query parameter 'bar'"],
  ])('%s is refused (%s)', (u, why) => {
    expect(() => opts(u)).toThrow(
      expect.objectContaining({ code: 'E_OFFLOAD_BAD_URL', message: expect.stringContaining(why) }),
    );
  });
});
