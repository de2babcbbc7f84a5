/**
 * A scriptable device for the driver's own edge cases (version mismatch, silent commands, unknown ids): it
 * speaks the real protocol through the real codec and a real Link (role 'device') over an in-process
 * transport pair. Its behaviour is a table of small handlers, one per command, that a test overrides one at a
 * time; anything not handled answers like a minimal device.
 */
import { Link } from '../../src/link/index.js';
import {
  type AnyCommand,
  type AnyEvent,
  Capability,
  type CommandName,
  decodeMessage,
  encodeMessage,
  type EventBodies,
  type EventName,
  event,
  failedResponse,
  Limits,
  okResponse,
  PROTOCOL_VERSION_WORD,
  StatusCode,
} from '../../src/protocol/index.js';
import { createTransportPair, type Transport } from '../../src/transport/index.js';

export type Handler = (cmd: AnyCommand, dev: FakeDevice) => 'handled' | 'silent' | undefined;

export class FakeDevice {
  readonly transport: Transport;
  readonly link: Link;
  epoch = 7;
  seq = 1;
  readonly received: AnyCommand[] = [];
  outstanding = 0;
  maxOutstanding = 0;
  /** Delay every answer by this long (to see the host's in-flight bound). */
  answerDelayMs = 0;
  readonly handlers: Partial<Record<CommandName, Handler>> = {};

  constructor() {
    const [host, device] = createTransportPair({ name: 'fake' });
    this.transport = host;
    this.link = new Link(device, { role: 'device', framing: 'tcp' });
    this.link.on('message', (b) => this.onMessage(b));
    void this.link.start().catch(() => undefined);
  }

  private onMessage(bytes: Buffer): void {
    const msg = decodeMessage(bytes);
    if (msg.kind !== 'command') return;
    this.received.push(msg);
    const h = this.handlers[msg.name];
    const r = h?.(msg, this);
    if (r === 'handled' || r === 'silent') return;
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    const answer = () => {
      this.outstanding--;
      this.defaultAnswer(msg);
    };
    if (this.answerDelayMs > 0) setTimeout(answer, this.answerDelayMs);
    else answer();
  }

  send(m: Parameters<typeof encodeMessage>[0]): void {
    this.link.send(encodeMessage(m));
  }

  emitEvent<N extends EventName>(name: N, body: EventBodies[N]): void {
    this.seq++;
    this.send(event(name, this.epoch, this.seq, body) as AnyEvent);
  }

  private defaultAnswer(msg: AnyCommand): void {
    switch (msg.name) {
      case 'HELLO':
        this.send(
          okResponse('HELLO', msg.tag, {
            protoVersion: PROTOCOL_VERSION_WORD,
            caps: Capability.TCP | Capability.SNAPSHOT,
            slots: 8,
            maxPayload: 4096,
            epoch: this.epoch,
            eventSeq: this.seq,
            sendQueueSize: 8192,
            recvQueueSize: 8192,
            firmware: 'fake-1',
          }),
        );
        return;
      case 'PING':
        this.send(okResponse('PING', msg.tag, { payload: msg.body.payload }));
        return;
      case 'SNAPSHOT':
        this.send(
          okResponse('SNAPSHOT', msg.tag, {
            epoch: this.epoch,
            eventSeq: this.seq,
            nextSlot: 0xffff,
            count: 0,
            entries: [],
          }),
        );
        return;
      case 'REG_READ':
        this.send(okResponse('REG_READ', msg.tag, { values: Array(msg.body.count).fill(0) }));
        return;
      default:
        this.send(failedResponse(msg.name, msg.tag, StatusCode.E_NOT_SUPPORTED, {} as never) as never);
    }
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

export { Limits };
