import { TransportError, TransportErrorCode } from './errors.js';
import { BaseTransport, type TransportLogOptions, type TransportState } from './transport.js';

export interface TransportPairOptions extends TransportLogOptions {
  /**
   * Undelivered bytes per direction above which write() returns false; 'drain' follows once the
   * reader has taken everything. Default 65536.
   */
  highWaterMark?: number;
  /** At most this many bytes are delivered per event-loop turn per direction. Default 65536. */
  maxBytesPerTick?: number;
  /** Used in descriptions: pair:<name>/a and pair:<name>/b. Default 'pair'. */
  name?: string;
}

/**
 * One end of an in-process byte pipe. Delivery is always asynchronous (setImmediate), in order,
 * and never re-entrant: write() never calls a 'data' listener. Each write is copied.
 */
export class PairTransport extends BaseTransport {
  readonly kind = 'pair' as const;
  readonly highWaterMark: number;
  private readonly maxBytesPerTick: number;
  private peer!: PairTransport;
  /** Bytes the peer wrote that this end has not delivered yet. */
  private readonly inbound: Buffer[] = [];
  private inboundBytes = 0;
  private inboundHead = 0;
  private deliveryScheduled = false;
  private paused = false;
  /** The peer asked for 'drain' (its write returned false). */
  private peerNeedsDrain = false;
  /** Set when the peer closed: finish with this once inbound bytes are delivered. */
  private peerClosed = false;

  /** @internal use createTransportPair() */
  constructor(description: string, options: TransportPairOptions) {
    super('pair', description, options.logger);
    this.highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.maxBytesPerTick = Math.max(1, options.maxBytesPerTick ?? 64 * 1024);
    this.state = 'open';
  }

  /** @internal */
  static link(a: PairTransport, b: PairTransport): void {
    a.peer = b;
    b.peer = a;
  }

  /** Bytes written to this end that the other end has not delivered yet. */
  get bufferedAmount(): number {
    return this.peer.inboundBytes;
  }

  /** Stop delivering 'data' on this end (bytes queue up; the writer sees backpressure). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.scheduleDelivery();
  }

  protected doOpen(): Promise<void> {
    // Created open; reached only after a close (base open() rejects then) — never in practice.
    return Promise.resolve();
  }

  protected doWrite(chunk: Buffer): boolean {
    const peer = this.peer;
    if (chunk.length === 0) return peer.inboundBytes <= this.highWaterMark;
    if (peer.state !== 'open') {
      // Peer closed locally; its 'close' is on its way to us. Bytes go nowhere, like a socket awaiting RST.
      return true;
    }
    peer.inbound.push(Buffer.from(chunk));
    peer.inboundBytes += chunk.length;
    peer.scheduleDelivery();
    if (peer.inboundBytes > this.highWaterMark) {
      peer.peerNeedsDrain = true;
      return false;
    }
    return true;
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    setImmediate(() => {
      this.deliveryScheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.state !== 'open' || this.paused) return;
    let budget = this.maxBytesPerTick;
    while (this.inbound.length > 0 && budget > 0) {
      const head = this.inbound[0] as Buffer;
      const take = Math.min(budget, head.length - this.inboundHead);
      const piece =
        take === head.length && this.inboundHead === 0
          ? head
          : head.subarray(this.inboundHead, this.inboundHead + take);
      this.inboundHead += take;
      if (this.inboundHead === head.length) {
        this.inbound.shift();
        this.inboundHead = 0;
      }
      this.inboundBytes -= take;
      budget -= take;
      this.emit('data', piece);
      // A listener may have closed or paused us.
      if ((this.state as TransportState) !== 'open' || this.paused) return;
    }
    if (this.inboundBytes > 0) {
      this.scheduleDelivery();
      return;
    }
    if (this.peerNeedsDrain) {
      this.peerNeedsDrain = false;
      if (this.peer.state === 'open') this.peer.emit('drain');
    }
    if (this.peerClosed) {
      this.finish(
        new TransportError(
          TransportErrorCode.LINK_DOWN,
          `${this.peer.description} closed (in-process pair)`,
          {
            url: this.description,
          },
        ),
      );
    }
  }

  protected async doClose(_prev: TransportState): Promise<void> {
    this.inbound.length = 0;
    this.inboundBytes = 0;
    this.inboundHead = 0;
    const peer = this.peer;
    if (peer.state === 'open') {
      // The peer first gets what we wrote, then its 'close' with E_OFFLOAD_LINK_DOWN.
      peer.peerClosed = true;
      peer.scheduleDelivery();
    }
  }
}

/** Two connected in-process transports, open from the start (open() resolves at once). */
export function createTransportPair(options: TransportPairOptions = {}): [PairTransport, PairTransport] {
  const name = options.name ?? 'pair';
  const a = new PairTransport(`pair:${name}/a`, options);
  const b = new PairTransport(`pair:${name}/b`, options);
  PairTransport.link(a, b);
  return [a, b];
}
