/**
 * A second look at the kit's byte stream: another channel's link (PROTOCOL.md §11: every frame names its
 * channel) runs over the same transport as the kit's main link. The view passes every byte both ways; closing
 * it only detaches it, so the kit's own link and the transport carry on.
 */
import type { TransportError } from '../transport/index.js';
import { BaseTransport, type Transport } from '../transport/index.js';

export class ChannelView extends BaseTransport {
  readonly kind: Transport['kind'];
  private readonly onData = (chunk: Buffer) => {
    if (this.isOpen) this.emit('data', chunk);
  };
  private readonly onDrain = () => this.emit('drain');
  private readonly onClose = (err: TransportError | undefined) => this.finish(err);

  constructor(private readonly inner: Transport) {
    super(inner.kind, `${inner.description}#view`, undefined);
    this.kind = inner.kind;
    if (inner.isOpen) this.state = 'open';
    inner.on('data', this.onData);
    inner.on('drain', this.onDrain);
    inner.on('close', this.onClose);
  }

  protected async doOpen(): Promise<void> {
    if (!this.inner.isOpen) await this.inner.open();
  }

  protected doWrite(chunk: Buffer): boolean {
    return this.inner.write(chunk);
  }

  /** Detaches from the shared stream; the stream itself stays open for the kit's other links. */
  protected doClose(): Promise<void> {
    this.inner.off('data', this.onData);
    this.inner.off('drain', this.onDrain);
    this.inner.off('close', this.onClose);
    return Promise.resolve();
  }
}
