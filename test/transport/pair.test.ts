import { describe, expect, it } from 'vitest';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { createTransportPair } from '../../src/transport/pair.js';
import { allByteValues, collect, nextClose, sha256, tick, writeAll } from './util.js';

describe('createTransportPair', () => {
  it('is open from the start and delivers asynchronously, never inside write()', async () => {
    const [a, b] = createTransportPair();
    expect(a.isOpen && b.isOpen).toBe(true);
    await a.open(); // no-op
    const got: number[] = [];
    let inWrite = false;
    b.on('data', (d) => {
      expect(inWrite).toBe(false);
      got.push(...d);
      // Writing back from a data handler must not re-enter a's listeners synchronously either.
      b.write(Uint8Array.of(d[0] as number));
    });
    const echoed: number[] = [];
    a.on('data', (d) => echoed.push(...d));
    inWrite = true;
    a.write(Uint8Array.of(1, 2, 3));
    inWrite = false;
    expect(got).toEqual([]);
    await tick();
    expect(got).toEqual([1, 2, 3]);
    await tick();
    expect(echoed).toEqual([1]);
  });

  it('keeps order across many writes and copies each chunk', async () => {
    const [a, b] = createTransportPair();
    const data = allByteValues(300_000, 7);
    const received = collect(b, data.length);
    const scratch = Buffer.alloc(1000);
    for (let off = 0; off < data.length; off += 1000) {
      data.copy(scratch, 0, off, off + 1000);
      a.write(scratch); // reused buffer: the pair must have copied it
    }
    scratch.fill(0xee);
    expect(sha256(await received)).toBe(sha256(data));
  });

  it('applies backpressure: write returns false above the high-water mark, then drain', async () => {
    const [a, b] = createTransportPair({ highWaterMark: 1024 });
    b.pause();
    expect(a.write(Buffer.alloc(1000))).toBe(true);
    expect(a.bufferedAmount).toBe(1000);
    expect(a.write(Buffer.alloc(100))).toBe(false);
    expect(a.bufferedAmount).toBe(1100);
    let drained = false;
    a.on('drain', () => {
      drained = true;
    });
    for (let i = 0; i < 5; i++) await tick();
    expect(drained).toBe(false); // reader paused: nothing moves
    const received = collect(b, 1100);
    b.resume();
    expect((await received).length).toBe(1100);
    await tick();
    expect(drained).toBe(true);
    expect(a.bufferedAmount).toBe(0);
  });

  it('moves 4 MiB both ways at once through a small high-water mark', async () => {
    const [a, b] = createTransportPair({ highWaterMark: 16 * 1024, maxBytesPerTick: 8 * 1024 });
    const ab = allByteValues(4 << 20, 1);
    const ba = allByteValues(4 << 20, 2);
    const [gotB, gotA, blockedA, blockedB] = await Promise.all([
      collect(b, ab.length),
      collect(a, ba.length),
      writeAll(a, ab, 32 * 1024),
      writeAll(b, ba, 32 * 1024),
    ]);
    expect(sha256(gotB)).toBe(sha256(ab));
    expect(sha256(gotA)).toBe(sha256(ba));
    expect(blockedA).toBeGreaterThan(0);
    expect(blockedB).toBeGreaterThan(0);
  });

  it('close propagates: local side gets undefined, peer gets the bytes in flight then E_OFFLOAD_LINK_DOWN', async () => {
    const [a, b] = createTransportPair();
    const events: string[] = [];
    b.on('data', (d) => events.push(`data:${d.length}`));
    const closeA = nextClose(a);
    const closeB = nextClose(b);
    a.write(Buffer.alloc(10));
    const closing = a.close();
    expect(a.isOpen).toBe(false);
    expect(() => a.write(Buffer.alloc(1))).toThrow(TransportError);
    await closing;
    expect(await closeA).toBeUndefined();
    const errB = await closeB;
    events.push('close');
    expect(errB).toBeInstanceOf(TransportError);
    expect(errB?.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(events).toEqual(['data:10', 'close']);
    expect(b.isOpen).toBe(false);
    try {
      b.write(Buffer.alloc(1));
      expect.unreachable();
    } catch (err) {
      expect((err as TransportError).code).toBe(TransportErrorCode.TRANSPORT_CLOSED);
      expect((err as TransportError).message).toContain('E_OFFLOAD_LINK_DOWN');
    }
  });

  it("emits 'close' exactly once however often close() is called, and open() after close rejects", async () => {
    const [a, b] = createTransportPair();
    let closesA = 0;
    let closesB = 0;
    a.on('close', () => closesA++);
    b.on('close', () => closesB++);
    await Promise.all([a.close(), a.close(), b.close()]);
    await a.close();
    for (let i = 0; i < 5; i++) await tick();
    expect(closesA).toBe(1);
    expect(closesB).toBe(1);
    await expect(a.open()).rejects.toMatchObject({ code: TransportErrorCode.TRANSPORT_CLOSED });
  });

  it('a data listener that closes its own end stops further delivery', async () => {
    const [a, b] = createTransportPair({ maxBytesPerTick: 1 << 20 });
    let seen = 0;
    b.on('data', () => {
      seen++;
      void b.close();
    });
    a.write(Buffer.alloc(1));
    a.write(Buffer.alloc(1));
    a.write(Buffer.alloc(1));
    await nextClose(a);
    expect(seen).toBe(1);
  });
});
