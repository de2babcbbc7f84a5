/**
 * Secure execution on a serial line (PROTOCOL.md §12 over §2 framing with ARQ): the standalone simulator on one
 * end of a pty pair, the driver on the other through serial://, with line damage injected on the host side.
 * The CRC catches the damage, the ARQ retransmits (new counter and MAC), the data arrives byte-exact; a board
 * power cycle (a link reset) ends the session and the driver authenticates again before anything else.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OffloadDevice } from '../../src/index.js';
import { FaultTransport } from '../../src/transport/index.js';
import { type DevicePath, nativeServer, pattern, sha256, startPath, waitFor } from '../driver/paths.js';

const key = randomBytes(32);

describe('secure channel on a serial line (pty pair, ARQ)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offload-serial-keys-'));
  let path: DevicePath;

  beforeAll(async () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, JSON.stringify({ 3: key.toString('hex') }), { mode: 0o600 });
    path = await startPath('pty', { extraArgs: ['--keys', file] });
  }, 60_000);
  afterAll(async () => {
    await path?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('line damage is repaired by the ARQ, never mistaken for forgery; a power cycle re-handshakes', async () => {
    let wire: FaultTransport | undefined;
    const dev: OffloadDevice = await path.open({
      secure: { keyId: 3, key },
      wrapTransport: (t) => {
        wire = new FaultTransport(t, { seed: 4, corruptRate: 2e-5, dropWriteRate: 0.01, direction: 'both' });
        return wire;
      },
    });
    const echo = await nativeServer((s: net.Socket) => s.pipe(s));
    try {
      expect(dev.info.secure).toBe(true);
      expect(dev.info.link.arq).toBe(true);
      const N = 512 * 1024;
      const data = pattern(N, 3);
      const sock = dev.createConnection({ host: '127.0.0.1', port: echo.port });
      await waitFor(sock, 'connect', 20_000);
      const h = createHash('sha256');
      let got = 0;
      const back = new Promise<void>((resolve, reject) => {
        sock.on('data', (d: Buffer) => {
          h.update(d);
          got += d.length;
          if (got >= N) resolve();
        });
        sock.on('error', reject);
      });
      for (let off = 0; off < N; off += 8192) {
        if (!sock.write(data.subarray(off, off + 8192))) await waitFor(sock, 'drain', 30_000);
      }
      await back;
      expect(h.digest('hex')).toBe(sha256(data));
      const c = dev.device.link.counters;
      expect(wire!.stats.read.corruptedBytes + wire!.stats.write.corruptedBytes).toBeGreaterThan(0);
      expect(c.retransmits).toBeGreaterThan(0);
      expect(c.secureFramesReceived).toBeGreaterThan(0);
      expect(c.secureBadMac).toBe(0);
      sock.destroy();

      // Power cycle: a new simulator process on the same line, a new link incarnation and a new epoch.
      const ready = waitFor(dev, 'ready', 30_000);
      await path.restartDevice!();
      await ready;
      expect(dev.info.secure).toBe(true);
      expect(dev.device.link.isSecure).toBe(true);
      expect(await dev.ping(Buffer.from('after the power cycle'))).toBeGreaterThanOrEqual(0);
    } finally {
      await echo.close();
      await dev.close();
    }
  }, 120_000);
});
