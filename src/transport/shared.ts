/**
 * SharedTransport: one byte stream (a serial line, a TCP connection) carrying several channels (PROTOCOL.md §11:
 * every frame names its channel; each channel runs its own link). A hypervisor or a process serving several
 * guests opens the line once and gives each guest a handle; each handle carries one Link, which ignores frames
 * of other channels (counted as foreignFrames), exactly as the device side does with several channels on one
 * transport.
 *
 *   const line = new SharedTransport(createTransport('serial:///dev/ttyUSB0?baud=921600'));
 *   const a = await openDevice({ transport: line.handle(), framing: 'serial', channel: 1 });
 *   const b = await openDevice({ transport: line.handle(), framing: 'serial', channel: 2 });
 *
 * Every handle sees every byte the line receives. Writes go straight to the line: a Link writes whole frames
 * per call, so frames of different channels never interleave. Closing a handle detaches it (its device is
 * done, the others carry on); the line closes with its last handle. When the line itself goes away, every
 * handle closes with the line's error.
 */
import { EventEmitter } from 'node:events';
import { TransportError, TransportErrorCode } from './errors.js';
import type { Transport, TransportEvents, TransportKind } from './transport.js';

export class SharedTransport {
  private readonly handles = new Set<TransportHandle>();
  private made = 0;
  private lineClosed = false;

  constructor(readonly line: Transport) {
    line.on('data', (chunk) => {
      for (const h of this.handles) h.deliver(chunk);
    });
    line.on('drain', () => {
      for (const h of this.handles) h.emit('drain');
    });
    line.on('close', (err) => {
      this.lineClosed = true;
      for (const h of [...this.handles]) h.lineGone(err);
      this.handles.clear();
    });
  }

  /** A new handle on the line (open it, or let openDevice open it). */
  handle(): Transport {
    if (this.lineClosed) {
      throw new TransportError(
        TransportErrorCode.TRANSPORT_CLOSED,
        `${this.line.description} is closed: no new handle on it`,
        { url: this.line.description },
      );
    }
    const h = new TransportHandle(this, ++this.made);
    this.handles.add(h);
    return h;
  }

  /** Handles not closed yet. */
  get handleCount(): number {
    return this.handles.size;
  }

  /** @internal A handle was closed: the line closes with the last one. */
  async release(h: TransportHandle): Promise<void> {
    this.handles.delete(h);
    if (this.handles.size === 0 && !this.lineClosed) await this.line.close();
  }
}

class TransportHandle extends EventEmitter<TransportEvents> implements Transport {
  readonly kind: TransportKind;
  readonly description: string;
  private closed = false;

  constructor(
    private readonly shared: SharedTransport,
    n: number,
  ) {
    super();
    this.kind = shared.line.kind;
    this.description = `${shared.line.description}#${n}`;
  }

  get isOpen(): boolean {
    return !this.closed && this.shared.line.isOpen;
  }

  async open(): Promise<void> {
    if (this.closed) {
      throw new TransportError(TransportErrorCode.TRANSPORT_CLOSED, `${this.description} is closed`, {
        url: this.description,
      });
    }
    await this.shared.line.open();
  }

  write(chunk: Uint8Array): boolean {
    this.assertOpen();
    return this.shared.line.write(chunk);
  }

  writev(chunks: readonly Uint8Array[]): boolean {
    this.assertOpen();
    const line = this.shared.line;
    if (line.writev) return line.writev(chunks);
    let ok = true;
    for (const c of chunks) ok = line.write(c);
    return ok;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', undefined);
    await this.shared.release(this);
  }

  /** @internal */
  deliver(chunk: Buffer): void {
    if (!this.closed) this.emit('data', chunk);
  }

  /** @internal The line went away: this handle closes with its error. */
  lineGone(err: TransportError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close', err);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new TransportError(TransportErrorCode.TRANSPORT_CLOSED, `${this.description} is closed`, {
        url: this.description,
      });
    }
  }
}
