/**
 * The kit's wire tap: a transport between the kit's Link and the real transport. It passes bytes through
 * unchanged, watches every frame the device sends (so tests can see NAK, ACK and retransmissions), and lets
 * a link test tamper with single frames: drop or corrupt the next frame the host writes or the device sends,
 * inject raw bytes (garbage, truncated or duplicated frames, a HEARTBEAT) between the Link's own frames.
 *
 * Host → device: the Link writes whole frames (serial: COBS + 0x00, possibly batched; tcp: length-prefixed
 * records), so write boundaries are frame boundaries. Device → host: chunks are arbitrary; a splitter keeps
 * frame alignment. Read-side tampering is serial-only (the only framing where a lost frame is recoverable).
 */
import {
  cobsDecode,
  cobsEncode,
  decodeFrame,
  encodeFrame,
  type Frame,
  FrameType,
  Limits,
  TcpDeframer,
} from '../protocol/index.js';
import { BaseTransport, type Transport } from '../transport/index.js';

export type Framing = 'serial' | 'tcp';

/** What to do with one frame: pass it, drop it, or send these bytes instead (wire form, delimiter included). */
export type FrameVerdict = 'pass' | 'drop' | Buffer;
export type FrameHook = (frame: Frame, wire: Buffer) => FrameVerdict;

export interface SeenFrame {
  at: number;
  frame: Frame;
  /** Wire bytes (serial: COBS + delimiter; tcp: length + frame). */
  wire: Buffer;
}

const MAX_SEEN = 4096;

export class TamperTransport extends BaseTransport {
  readonly kind = 'fault' as const;
  /** Frames the device sent (most recent MAX_SEEN), valid ones only. */
  readonly fromDevice: SeenFrame[] = [];
  /** Frames the host wrote (most recent MAX_SEEN), as written by the Link (before tampering). */
  readonly fromHost: SeenFrame[] = [];
  /** The last SYNC the host sent (kept apart: fromHost is bounded). */
  lastHostSync: Frame | undefined;
  /** Device frames that failed to decode (bad CRC ...), counted. */
  badDeviceFrames = 0;
  private writeHook: FrameHook | undefined;
  private readHook: FrameHook | undefined;
  /** Serial read splitter: bytes of the frame in progress, and whether they were already passed on. */
  private partial: Buffer[] = [];
  private partialForwarded = false;
  private readonly tcpObserver: TcpDeframer | undefined;
  private readonly frameListeners = new Set<() => void>();

  constructor(
    readonly inner: Transport,
    readonly framing: Framing,
  ) {
    super('fault', `tap(${inner.description})`, undefined);
    if (inner.isOpen) this.state = 'open';
    this.tcpObserver = framing === 'tcp' ? new TcpDeframer(Limits.maxPayloadAbsolute) : undefined;
    inner.on('data', (d) => this.onInnerData(d));
    inner.on('drain', () => this.emit('drain'));
    inner.on('close', (err) => this.finish(err));
  }

  /** Calls `fn` at every frame from the device (until the returned function is called). */
  onDeviceFrame(fn: () => void): () => void {
    this.frameListeners.add(fn);
    return () => this.frameListeners.delete(fn);
  }

  /** Tamper with frames the host writes until the hook is cleared (setWriteHook(undefined)). */
  setWriteHook(hook: FrameHook | undefined): void {
    this.writeHook = hook;
  }

  /** Tamper with frames the device sends (serial only). */
  setReadHook(hook: FrameHook | undefined): void {
    if (hook && this.framing !== 'serial') throw new Error('read-side tampering needs serial framing');
    this.readHook = hook;
  }

  /** Writes raw bytes to the device now, between the Link's frames. */
  inject(bytes: Uint8Array): void {
    if (this.state !== 'open') return;
    this.inner.write(Buffer.from(bytes));
  }

  /** The wire form of a frame for this framing. */
  wireOf(frame: Frame): Buffer {
    return this.framing === 'serial' ? serialWire(encodeFrame(frame)) : tcpWire(encodeFrame(frame));
  }

  /** Raw frame bytes (header … CRC) in this framing's wire form. */
  wireOfRaw(raw: Buffer): Buffer {
    return this.framing === 'serial' ? serialWire(raw) : tcpWire(raw);
  }

  /** The same frame with its CRC broken (wire form): a receiver must discard it. */
  corruptWire(frame: Frame): Buffer {
    const raw = Buffer.from(encodeFrame(frame));
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0x5a;
    return this.framing === 'serial' ? serialWire(raw) : tcpWire(raw);
  }

  // ---- transport plumbing

  protected doOpen(): Promise<void> {
    return this.inner.open();
  }

  protected doWrite(chunk: Buffer): boolean {
    const frames = this.splitHostChunk(chunk);
    const hook = this.writeHook;
    if (!hook) {
      return this.inner.write(chunk);
    }
    let ok = true;
    for (const f of frames) {
      if (!f.frame) {
        ok = this.inner.write(f.wire) && ok;
        continue;
      }
      const v = hook(f.frame, f.wire);
      if (v === 'drop') continue;
      ok = this.inner.write(v === 'pass' ? f.wire : v) && ok;
    }
    return ok;
  }

  protected async doClose(): Promise<void> {
    await this.inner.close();
  }

  /** Splits what the Link wrote into frames (and records them). */
  private splitHostChunk(chunk: Buffer): Array<{ frame?: Frame; wire: Buffer }> {
    const out: Array<{ frame?: Frame; wire: Buffer }> = [];
    const now = Date.now();
    if (this.framing === 'serial') {
      let start = 0;
      while (start < chunk.length) {
        const z = chunk.indexOf(0, start);
        const end = z < 0 ? chunk.length : z + 1;
        const wire = chunk.subarray(start, end);
        start = end;
        const frame = z < 0 || wire.length === 1 ? undefined : tryDecodeSerial(wire.subarray(0, -1));
        if (frame) this.recordHost({ at: now, frame, wire });
        out.push(frame ? { frame, wire } : { wire });
      }
      return out;
    }
    let o = 0;
    while (o + 4 <= chunk.length) {
      const len = chunk.readUInt32LE(o);
      if (o + 4 + len > chunk.length) break;
      const wire = chunk.subarray(o, o + 4 + len);
      let frame: Frame | undefined;
      try {
        frame = decodeFrame(wire.subarray(4));
      } catch {
        frame = undefined;
      }
      if (frame) this.recordHost({ at: now, frame, wire });
      out.push(frame ? { frame, wire } : { wire });
      o += 4 + len;
    }
    if (o < chunk.length) out.push({ wire: chunk.subarray(o) });
    return out;
  }

  private onInnerData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    if (this.framing === 'tcp') {
      for (const o of this.tcpObserver!.push(chunk)) {
        if (o.kind === 'frame') this.seen({ at: Date.now(), frame: o.frame, wire: Buffer.alloc(0) });
        else this.badDeviceFrames++;
      }
      this.emit('data', chunk);
      return;
    }
    // Serial: split at delimiters, keeping alignment whether or not a hook is active.
    const hook = this.readHook;
    if (!hook) this.emit('data', chunk);
    let start = 0;
    while (start < chunk.length) {
      const z = chunk.indexOf(0, start);
      if (z < 0) {
        const rest = chunk.subarray(start);
        this.partial.push(Buffer.from(rest));
        if (!hook) this.partialForwarded = true;
        else if (this.partialForwarded) this.emit('data', rest);
        break;
      }
      const piece = chunk.subarray(start, z + 1);
      start = z + 1;
      const wire = Buffer.concat([...this.partial, piece]);
      const forwarded = this.partialForwarded;
      this.partial = [];
      this.partialForwarded = false;
      const frame = wire.length > 1 ? tryDecodeSerial(wire.subarray(0, -1)) : undefined;
      if (frame) this.seen({ at: Date.now(), frame, wire });
      else if (wire.length > 1) this.badDeviceFrames++;
      if (!hook) continue;
      if (forwarded || !frame) {
        this.emit('data', forwarded ? piece : wire);
        continue;
      }
      const v = hook(frame, wire);
      if (v === 'drop') continue;
      this.emit('data', v === 'pass' ? wire : v);
    }
  }

  private recordHost(s: SeenFrame): void {
    if (s.frame.type === FrameType.SYNC)
      this.lastHostSync = { ...s.frame, payload: Buffer.from(s.frame.payload) };
    record(this.fromHost, s);
  }

  private seen(s: SeenFrame): void {
    record(this.fromDevice, s);
    for (const fn of [...this.frameListeners]) fn();
  }
}

function record(list: SeenFrame[], s: SeenFrame): void {
  list.push(s);
  if (list.length > MAX_SEEN) list.splice(0, list.length - MAX_SEEN);
}

function tryDecodeSerial(cobs: Buffer): Frame | undefined {
  try {
    return decodeFrame(cobsDecode(cobs));
  } catch {
    return undefined;
  }
}

function serialWire(raw: Buffer): Buffer {
  return cobsEncode(raw, true);
}

function tcpWire(raw: Buffer): Buffer {
  const out = Buffer.alloc(4 + raw.length);
  out.writeUInt32LE(raw.length, 0);
  raw.copy(out, 4);
  return out;
}

export const FRAME_TYPE_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(FrameType).map(([k, v]) => [v, k]),
);
