import { createHash } from 'node:crypto';
import type { Transport } from '../../src/transport/index.js';
import { Prng } from '../../src/transport/prng.js';
import type { TransportError } from '../../src/transport/errors.js';

export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** `size` bytes containing every byte value, in a seeded shuffled order (not periodic). */
export function allByteValues(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  const rng = new Prng(seed);
  for (let i = 0; i < size; i++) out[i] = i < 256 ? i : rng.nextU32() & 0xff;
  return out;
}

/** Resolves with everything received once `bytes` have arrived; rejects on 'close' first or after timeoutMs. */
export function collect(t: Transport, bytes: number, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${t.description}: received ${n} of ${bytes} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      chunks.push(Buffer.from(d));
      n += d.length;
      if (n >= bytes) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onClose = (err: TransportError | undefined): void => {
      cleanup();
      reject(
        new Error(`${t.description} closed after ${n} of ${bytes} bytes: ${err?.code ?? 'local close'}`),
      );
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      t.off('data', onData);
      t.off('close', onClose);
    };
    t.on('data', onData);
    t.on('close', onClose);
  });
}

/**
 * Writes `data` in `chunkSize` pieces honouring backpressure; resolves with how many writes returned false.
 * Rejects if a 'drain' does not come within timeoutMs.
 */
export async function writeAll(
  t: Transport,
  data: Buffer,
  chunkSize = 64 * 1024,
  timeoutMs = 20_000,
): Promise<number> {
  let blocked = 0;
  for (let off = 0; off < data.length; off += chunkSize) {
    if (!t.write(data.subarray(off, off + chunkSize))) {
      blocked++;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          t.off('drain', onDrain);
          t.off('close', onClose);
          reject(
            new Error(
              `${t.description}: no 'drain' within ${timeoutMs} ms (wrote ${off} of ${data.length} bytes)`,
            ),
          );
        }, timeoutMs);
        const onDrain = (): void => {
          clearTimeout(timer);
          t.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          clearTimeout(timer);
          t.off('drain', onDrain);
          reject(new Error(`${t.description} closed while waiting for drain`));
        };
        t.once('drain', onDrain);
        t.once('close', onClose);
      });
    }
  }
  return blocked;
}

/** The next 'close' event's argument, or rejects after timeoutMs (so a missing close fails instead of hanging). */
export function nextClose(t: Transport, timeoutMs = 5000): Promise<TransportError | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${t.description}: no 'close' within ${timeoutMs} ms`)),
      timeoutMs,
    );
    t.once('close', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
