/**
 * Writes larger than one SEND: the end of one write goes out with the start of the next (no tiny SEND after
 * every write), and a remainder held back for that still reaches the peer when the application ends, destroys
 * or simply stops writing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OffloadDevice } from '../../src/index.js';
import { collect, type DevicePath, nativeServer, pattern, sha256, startPath, waitFor } from './paths.js';

describe('SEND gathering over the in-process simulator', () => {
  let path: DevicePath;
  let dev: OffloadDevice;

  beforeAll(async () => {
    path = await startPath('sim');
    dev = await path.open();
  }, 30_000);

  afterAll(async () => {
    await dev?.close();
    await path?.close();
  });

  async function peerReceiving() {
    let got!: (b: Buffer) => void;
    const received = new Promise<Buffer>((r) => {
      got = r;
    });
    const peer = await nativeServer((s) => {
      void collect(s).then(got);
    });
    return { peer, received };
  }

  async function connect(port: number) {
    const s = dev.createConnection({ host: '127.0.0.1', port });
    await waitFor(s, 'connect');
    return s;
  }

  it('writes of maxSendData + a few bytes: every byte arrives, in order, with fewer SENDs than writes × 2', async () => {
    const max = dev.device.maxSendData;
    const writes = 20;
    const size = max + 7;
    const data = pattern(writes * size, 5);
    const { peer, received } = await peerReceiving();
    try {
      const s = await connect(peer.port);
      const before = dev.device.stats().requests.sent;
      for (let i = 0; i < writes; i++) {
        if (!s.write(data.subarray(i * size, (i + 1) * size))) await waitFor(s, 'drain');
      }
      s.end();
      const got = await received;
      expect(got.length).toBe(data.length);
      expect(sha256(got)).toBe(sha256(data));
      // Without gathering each write is two SENDs (max + 7): 40. With it about one per maxSendData, plus a few
      // cut short by the send credit, plus SHUTDOWN.
      expect(dev.device.stats().requests.sent - before).toBeLessThan(writes * 1.5);
    } finally {
      await peer.close();
    }
  });

  it('a held remainder goes out when nothing else is written, and before a destroy() from the write callback', async () => {
    const max = dev.device.maxSendData;
    const data = pattern(max + 11, 6);
    const { peer, received } = await peerReceiving();
    try {
      const s = await connect(peer.port);
      s.write(data, () => s.destroy());
      const got = await received;
      expect(sha256(got)).toBe(sha256(data));
    } finally {
      await peer.close();
    }
  });
});
