import { describe, expect, it } from 'vitest';
import { TransportErrorCode } from '../../src/transport/errors.js';
import { FaultTransport, type FaultOptions } from '../../src/transport/fault.js';
import { createTransportPair } from '../../src/transport/pair.js';
import { Prng, mulberry32 } from '../../src/transport/prng.js';
import { allByteValues, collect, nextClose, sha256, tick, writeAll } from './util.js';

/** Sends `data` in 1000-byte writes through a FaultTransport on the write path; returns what the peer got. */
async function through(
  options: FaultOptions,
  data: Buffer,
  settleMs = 50,
): Promise<{ out: Buffer; f: FaultTransport }> {
  const [a, b] = createTransportPair({ highWaterMark: 1 << 30 });
  const f = new FaultTransport(a, options);
  const chunks: Buffer[] = [];
  b.on('data', (d) => chunks.push(Buffer.from(d)));
  for (let off = 0; off < data.length; off += 1000) f.write(data.subarray(off, off + 1000));
  await new Promise((r) => setTimeout(r, settleMs));
  await f.close();
  return { out: Buffer.concat(chunks), f };
}

describe('Prng (mulberry32)', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const sa = Array.from({ length: 8 }, () => a.nextU32());
    const sb = Array.from({ length: 8 }, () => b.nextU32());
    const sc = Array.from({ length: 8 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    // First outputs of the reference mulberry32 (bryc's public-domain version) for seed 1: pins the
    // algorithm so seeds recorded in bug reports keep reproducing the same faults.
    const ref = new Prng(1);
    expect([ref.nextU32(), ref.nextU32(), ref.nextU32()]).toEqual([2693262067, 11749833, 2265367787]);
    const f = mulberry32(5);
    const g = mulberry32(5);
    expect([f(), f(), f()]).toEqual([g(), g(), g()]);
  });

  it('is roughly uniform', () => {
    const r = new Prng(9);
    const buckets = new Array(10).fill(0) as number[];
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.next();
      if (x < 0 || x >= 1) outside++;
      else (buckets[Math.floor(x * 10)] as number)++;
    }
    expect(outside).toBe(0);
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});

describe('FaultTransport', () => {
  const data = allByteValues(200_000, 3);

  it('passes everything through unchanged with no faults configured', async () => {
    const { out, f } = await through({}, data);
    expect(sha256(out)).toBe(sha256(data));
    expect(f.stats.write.bytesIn).toBe(data.length);
    expect(f.stats.write.bytesOut).toBe(data.length);
    expect(f.kind).toBe('fault');
    expect(f.description).toBe('fault(pair:pair/a)');
  });

  it('same seed => same corruption pattern; another seed => another pattern', async () => {
    const opts = { corruptRate: 0.01, dropByteRate: 0.002, dropWriteRate: 0.01 };
    const r1 = await through({ ...opts, seed: 1234 }, data);
    const r2 = await through({ ...opts, seed: 1234 }, data);
    const r3 = await through({ ...opts, seed: 4321 }, data);
    expect(sha256(r1.out)).toBe(sha256(r2.out));
    expect(r1.f.stats).toEqual(r2.f.stats);
    expect(sha256(r1.out)).not.toBe(sha256(r3.out));
    expect(sha256(r1.out)).not.toBe(sha256(data));
  });

  it('honours the corruption rate and counts exactly the bytes it changed', async () => {
    const { out, f } = await through({ seed: 5, corruptRate: 0.01 }, data);
    expect(out.length).toBe(data.length);
    let changed = 0;
    for (let i = 0; i < data.length; i++) if (out[i] !== data[i]) changed++;
    expect(changed).toBe(f.stats.write.corruptedBytes); // XOR with a non-zero value always changes the byte
    expect(changed).toBeGreaterThan(2000 * 0.85);
    expect(changed).toBeLessThan(2000 * 1.15);
  });

  it('honours byte and write drop rates', async () => {
    const bytes = await through({ seed: 6, dropByteRate: 0.05 }, data);
    expect(bytes.f.stats.write.droppedBytes).toBeGreaterThan(10_000 * 0.9);
    expect(bytes.f.stats.write.droppedBytes).toBeLessThan(10_000 * 1.1);
    expect(bytes.out.length).toBe(data.length - bytes.f.stats.write.droppedBytes);

    const writes = await through({ seed: 6, dropWriteRate: 0.25 }, data);
    const dropped = writes.f.stats.write.droppedChunks;
    expect(dropped).toBeGreaterThan(50 * 0.6);
    expect(dropped).toBeLessThan(50 * 1.4);
    expect(writes.out.length).toBe(data.length - dropped * 1000);
  });

  it('reorders whole writes without losing any', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, { seed: 8, reorderRate: 0.3, reorderWindowMs: 5 });
    const got: number[] = [];
    b.on('data', (d) => got.push(...d));
    for (let i = 0; i < 200; i++) f.write(Uint8Array.of(i));
    await new Promise((r) => setTimeout(r, 30));
    expect(got.length).toBe(200);
    expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(got).not.toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(f.stats.write.reorderedChunks).toBeGreaterThan(30);
    await f.close();
  });

  it('delays chunks by delayMs, keeping order', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, { delayMs: 40 });
    const got: Array<[number, number]> = [];
    const t0 = performance.now();
    b.on('data', (d) => got.push([d[0] as number, performance.now() - t0]));
    f.write(Uint8Array.of(1));
    f.write(Uint8Array.of(2));
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(got.map(([v]) => v)).toEqual([1, 2]);
    expect(got[0]?.[1]).toBeGreaterThanOrEqual(35);
    expect(f.stats.write.delayedChunks).toBe(2);
    await f.close();
  });

  it('applies faults on the read path when asked, leaving the write path clean', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, { seed: 11, corruptRate: 0.05, direction: 'read' });
    const up = collect(b, 50_000);
    const down = collect(f, 50_000);
    const payload = allByteValues(50_000, 12);
    f.write(payload);
    b.write(payload);
    expect(sha256(await up)).toBe(sha256(payload));
    const got = await down;
    expect(sha256(got)).not.toBe(sha256(payload));
    expect(f.stats.read.corruptedBytes).toBeGreaterThan(2000);
    expect(f.stats.write.corruptedBytes).toBe(0);
    await f.close();
  });

  it('cut() closes both directions as if the wire was cut', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, {});
    const closeF = nextClose(f);
    const closeB = nextClose(b);
    let late = 0;
    f.on('data', () => late++);
    await f.cut();
    b.write(Buffer.alloc(5)); // b has not seen the close yet: accepted, but nothing may reach f
    expect((await closeF)?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect((await closeF)?.details.reason).toBe('cut');
    expect((await closeB)?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(f.isOpen).toBe(false);
    expect(f.stats.cut).toBe(true);
    expect(() => f.write(Buffer.alloc(1))).toThrow(/closed/);
    await tick();
    expect(late).toBe(0);
  });

  it('cutAfterBytes passes exactly that many bytes, then cuts', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, { cutAfterBytes: 2500 });
    const chunks: Buffer[] = [];
    b.on('data', (d) => chunks.push(Buffer.from(d)));
    const closeF = nextClose(f);
    const closeB = nextClose(b);
    await expect(writeAll(f, data.subarray(0, 10_000), 1000)).resolves.toBe(0);
    expect((await closeF)?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect((await closeB)?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(Buffer.concat(chunks).equals(data.subarray(0, 2500))).toBe(true);
  });

  it('reports backpressure while delayed bytes pile up, then drains', async () => {
    const [a, b] = createTransportPair({ highWaterMark: 1 << 30 });
    const f = new FaultTransport(a, { delayMs: 10, highWaterMark: 4096 });
    const received = collect(b, 64 * 1024);
    const blocked = await writeAll(f, data.subarray(0, 64 * 1024), 1024);
    expect(blocked).toBeGreaterThan(0);
    expect(sha256(await received)).toBe(sha256(data.subarray(0, 64 * 1024)));
    await f.close();
  });

  it('bitRate paces the line: every byte arrives in order and no sooner than a UART at that rate sends it', async () => {
    const [a, b] = createTransportPair({ highWaterMark: 1 << 30 });
    const bitRate = 1_000_000; // 100 bytes per ms at 10 bits a byte
    const f = new FaultTransport(a, { bitRate, highWaterMark: 1 << 20 });
    // Large chunks and one-byte chunks mixed: timers of very different lengths must not reorder them.
    const sizes = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? 2000 : 1));
    const total = sizes.reduce((x, y) => x + y, 0);
    const arrivals: { at: number; bytes: number }[] = [];
    const chunks: Buffer[] = [];
    const t0 = performance.now();
    const done = new Promise<void>((resolve) => {
      let got = 0;
      b.on('data', (d) => {
        arrivals.push({ at: performance.now() - t0, bytes: d.length });
        chunks.push(Buffer.from(d));
        got += d.length;
        if (got >= total) resolve();
      });
    });
    let off = 0;
    for (const n of sizes) {
      f.write(data.subarray(off, off + n));
      off += n;
    }
    await done;
    expect(Buffer.concat(chunks).equals(data.subarray(0, total))).toBe(true);
    let through = 0;
    for (const { at, bytes } of arrivals) {
      through += bytes;
      // 0.5 ms: what the line releases early at most (a timer that fires earlier is armed again).
      expect(at).toBeGreaterThanOrEqual((through * 10 * 1000) / bitRate - 0.5);
    }
    expect(f.stats.write.delayedChunks).toBe(sizes.length);
    await f.close();
  });

  it('local close() gives undefined and discards pending delayed chunks', async () => {
    const [a, b] = createTransportPair();
    const f = new FaultTransport(a, { delayMs: 20 });
    let got = 0;
    b.on('data', (d) => {
      got += d.length;
    });
    const closeF = nextClose(f);
    f.write(Buffer.alloc(100));
    await f.close();
    expect(await closeF).toBeUndefined();
    expect((await nextClose(b))?.code).toBe(TransportErrorCode.LINK_DOWN);
    await new Promise((r) => setTimeout(r, 40));
    expect(got).toBe(0);
  });
});
