/**
 * Per-socket queues: a byte FIFO for stream data and a datagram FIFO for UDP. Capacity is enforced by the
 * socket (credits, pause/resume), not here: a queue never drops what it is given.
 */
import type { Addr } from '../../src/protocol/index.js';

/**
 * A FIFO of bytes kept as a list of chunks (no copying on push: the queue keeps what it is given). take()
 * copies only what spans chunks; otherwise it returns the chunk, or a view into it.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private bytes = 0;

  get length(): number {
    return this.bytes;
  }

  push(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.bytes += data.length;
  }

  /** Removes and returns up to n bytes. */
  take(n: number): Buffer {
    const want = Math.min(n, this.bytes);
    if (want <= 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (this.head === 0 && first.length === want) {
      this.chunks.shift();
      this.bytes -= want;
      return first;
    }
    if (first.length - this.head >= want) {
      // Within the first chunk: a view, no copy.
      const out = first.subarray(this.head, this.head + want);
      this.head += want;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      this.bytes -= want;
      return out;
    }
    const out = Buffer.allocUnsafe(want);
    let filled = 0;
    while (filled < want) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const k = Math.min(avail, want - filled);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.bytes -= want;
    return out;
  }

  /** Removes `n` bytes (at most length) and copies them into `out` at `offset`. */
  takeInto(out: Buffer, offset: number, n: number): void {
    let left = Math.min(n, this.bytes);
    let o = offset;
    this.bytes -= left;
    while (left > 0) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.head, left);
      c.copy(out, o, this.head, this.head + k);
      o += k;
      left -= k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }

  clear(): number {
    const n = this.bytes;
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
    return n;
  }
}

export interface QueuedDatagram {
  from: Addr;
  data: Buffer;
}

/** A FIFO of datagrams with a byte total (payload bytes only). */
export class DatagramQueue {
  private items: QueuedDatagram[] = [];
  private bytes = 0;

  /** Payload bytes queued. */
  get length(): number {
    return this.bytes;
  }
  get count(): number {
    return this.items.length;
  }
  push(d: QueuedDatagram): void {
    this.items.push(d);
    this.bytes += d.data.length;
  }
  peek(): QueuedDatagram | undefined {
    return this.items[0];
  }
  shift(): QueuedDatagram | undefined {
    const d = this.items.shift();
    if (d) this.bytes -= d.data.length;
    return d;
  }
  clear(): number {
    const n = this.bytes;
    this.items = [];
    this.bytes = 0;
    return n;
  }
}
