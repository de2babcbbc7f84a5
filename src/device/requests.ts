/**
 * Request/response correlation (the "waitress"): every command gets a tag, its waiter is registered before
 * the message leaves, its timer starts when it actually leaves, and exactly one response (or a typed
 * failure) settles it. At most `maxInFlight` commands are outstanding; the rest wait in a FIFO queue, which
 * also absorbs link backpressure (the link's send() returning false stops the pump until 'drain').
 */
import type { Logger } from 'pino';
import {
  type AnyResponse,
  type CommandBodies,
  type CommandName,
  type ErrorResponseMessage,
  encodeMessage,
  Opcode,
  type ResponseMessage,
  STATUS_NAME,
} from '../protocol/index.js';
import { DeviceError, DeviceErrorCode } from './errors.js';

export interface RequestOptions {
  /** Response timeout in ms, counted from the moment the command leaves. */
  timeoutMs?: number;
  /** The socket the command names (for logs and error details). */
  socketId?: number;
  /**
   * Called synchronously when the response arrives, before any other message is processed and before
   * the promise settles; lets upper layers register state (a new socket id) before the next event.
   */
  onResponse?: (response: AnyResponse) => void;
  /** Skip the queue's pause (used for HELLO while the mailbox is re-handshaking). */
  priority?: boolean;
  /** Capture the caller's stack for a timeout error (default true; internal hot-path commands turn it off). */
  captureStack?: boolean;
  /**
   * Builds the command's bytes once its tag is known, instead of encodeMessage(name, tag, body): for a hot path
   * that lays a large body out itself (a SEND gathered from several writes, copied once). It must return
   * exactly what encodeMessage would, and the body must still describe the command (logs, observers).
   */
  encode?: (tag: number) => Buffer;
}

/** What the response observer sees: the command as sent and its answer. */
export interface SentCommand {
  name: CommandName;
  tag: number;
  body: unknown;
  socketId: number | undefined;
}

interface Pending {
  name: CommandName;
  body: unknown;
  tag: number;
  socketId: number | undefined;
  timeoutMs: number;
  onResponse: ((response: AnyResponse) => void) | undefined;
  resolve: (r: AnyResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
  /** Call-site stack, so that a timeout points at the caller. */
  origin: Error;
  priority: boolean;
  encode: ((tag: number) => Buffer) | undefined;
}

export interface RequestTrackerOptions {
  maxInFlight: number;
  defaultTimeoutMs: number;
  channel: number;
  log: Logger;
  /** Hand one encoded message to the link; false = backpressure (the message is still taken). */
  send: (message: Buffer) => boolean;
  /** Observer of every response, called synchronously before the waiter's own onResponse. */
  observe?: (command: SentCommand, response: AnyResponse) => void;
}

export interface RequestCounters {
  sent: number;
  answered: number;
  failedStatus: number;
  timedOut: number;
  unmatched: number;
  queuedMax: number;
}

const TAG_LIMIT = 0x10000;

/**
 * The caller's stack, so that a timeout error points at the code that sent the command. Only the top frames
 * are captured (the full default depth costs a quarter of the mailbox's throughput at 50k+ commands/s).
 */
const NO_ORIGIN = new Error('request origin not captured');

function captureOrigin(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 16;
  const e = new Error('request origin');
  Error.stackTraceLimit = limit;
  return e;
}

export class RequestTracker {
  private readonly inFlight = new Map<number, Pending>();
  private queue: Pending[] = [];
  private queueHead = 0;
  private nextTag = 1;
  private paused = false;
  private linkWritable = true;
  private pumping = false;
  private idleWaiters: (() => void)[] = [];
  readonly counters: RequestCounters = {
    sent: 0,
    answered: 0,
    failedStatus: 0,
    timedOut: 0,
    unmatched: 0,
    queuedMax: 0,
  };

  constructor(private readonly opts: RequestTrackerOptions) {}

  get inFlightCount(): number {
    return this.inFlight.size;
  }
  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }
  get maxInFlight(): number {
    return this.opts.maxInFlight;
  }

  /** Queue a command; resolves with its response whatever the status (callers decide). */
  submit<N extends CommandName>(
    name: N,
    body: CommandBodies[N],
    options: RequestOptions = {},
  ): Promise<ResponseMessage<N>> {
    return new Promise<ResponseMessage<N>>((resolve, reject) => {
      const p: Pending = {
        name,
        body,
        tag: 0,
        socketId: options.socketId,
        timeoutMs: options.timeoutMs ?? this.opts.defaultTimeoutMs,
        onResponse: options.onResponse,
        resolve: resolve as (r: AnyResponse) => void,
        reject,
        timer: undefined,
        origin: options.captureStack === false ? NO_ORIGIN : captureOrigin(),
        priority: options.priority ?? false,
        encode: options.encode,
      };
      if (p.priority) {
        // Priority commands go first, even when the queue is paused.
        this.queue.splice(this.queueHead, 0, p);
      } else {
        this.queue.push(p);
      }
      const q = this.queuedCount;
      if (q > this.counters.queuedMax) this.counters.queuedMax = q;
      this.pump();
    });
  }

  /** Stop sending queued (non-priority) commands, e.g. while re-handshaking. */
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** The link can take more. */
  drained(): void {
    this.linkWritable = true;
    this.pump();
  }

  private allocTag(): number {
    for (let i = 0; i < TAG_LIMIT; i++) {
      const tag = this.nextTag;
      this.nextTag = tag + 1 >= TAG_LIMIT ? 1 : tag + 1;
      if (!this.inFlight.has(tag)) return tag;
    }
    /* c8 ignore next */
    throw new Error('no free request tag');
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (
        this.linkWritable &&
        this.queueHead < this.queue.length &&
        this.inFlight.size < this.opts.maxInFlight
      ) {
        const p = this.queue[this.queueHead]!;
        if (this.paused && !p.priority) break;
        this.queue[this.queueHead] = undefined as unknown as Pending;
        this.queueHead++;
        this.dispatch(p);
      }
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
    } finally {
      this.pumping = false;
    }
    if (this.idleWaiters.length > 0 && this.inFlight.size === 0 && this.queueHead >= this.queue.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once nothing is in flight or queued. */
  whenIdle(): Promise<void> {
    if (this.inFlight.size === 0 && this.queueHead >= this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private dispatch(p: Pending): void {
    p.tag = this.allocTag();
    let bytes: Buffer;
    try {
      bytes = p.encode
        ? p.encode(p.tag)
        : encodeMessage({ kind: 'command', name: p.name, tag: p.tag, body: p.body } as never);
    } catch (err) {
      p.reject(err as Error);
      return;
    }
    // Register the waiter before the message leaves, then start its clock.
    this.inFlight.set(p.tag, p);
    p.timer = setTimeout(() => this.timeout(p), p.timeoutMs);
    this.counters.sent++;
    if (this.opts.log.isLevelEnabled('trace')) {
      this.opts.log.trace(
        { tag: p.tag, opcode: p.name, socketId: p.socketId, channel: this.opts.channel },
        'command sent',
      );
    }
    let writable: boolean;
    try {
      writable = this.opts.send(bytes);
    } catch (err) {
      this.inFlight.delete(p.tag);
      clearTimeout(p.timer);
      p.reject(err as Error);
      return;
    }
    if (!writable) this.linkWritable = false;
  }

  private timeout(p: Pending): void {
    if (this.inFlight.get(p.tag) !== p) return;
    this.inFlight.delete(p.tag);
    this.counters.timedOut++;
    const err = new DeviceError(
      DeviceErrorCode.REQUEST_TIMEOUT,
      `no response to ${p.name} (tag ${p.tag}${p.socketId !== undefined ? `, socket ${p.socketId}` : ''}) within ${p.timeoutMs} ms`,
      {
        opcode: p.name,
        tag: p.tag,
        socketId: p.socketId,
        channel: this.opts.channel,
        timeoutMs: p.timeoutMs,
      },
    );
    err.stack = `${err.name}: ${err.message}\n${p.origin.stack?.split('\n').slice(1).join('\n') ?? ''}`;
    this.opts.log.warn(
      { tag: p.tag, opcode: p.name, socketId: p.socketId, channel: this.opts.channel },
      'request timed out',
    );
    p.reject(err);
    this.pump();
  }

  /** Match a response (or ERROR_RESPONSE) to its waiter. Returns false when no waiter holds the tag. */
  settle(msg: AnyResponse | ErrorResponseMessage): boolean {
    const p = this.inFlight.get(msg.tag);
    if (!p) {
      this.counters.unmatched++;
      this.opts.log.warn(
        { tag: msg.tag, opcode: msg.name, channel: this.opts.channel },
        'response for no pending request',
      );
      return false;
    }
    this.inFlight.delete(msg.tag);
    clearTimeout(p.timer);
    this.counters.answered++;
    if (msg.kind === 'error') {
      this.counters.failedStatus++;
      this.opts.log.debug(
        {
          tag: p.tag,
          opcode: p.name,
          socketId: p.socketId,
          status: STATUS_NAME[msg.status],
          offending: msg.body.offendingOpcode,
        },
        'device could not decode the command',
      );
      // Present it as a failed response of the command so callers see one shape.
      const asResponse = {
        kind: 'response',
        name: p.name,
        tag: p.tag,
        status: msg.status || 1,
        body: {},
      } as unknown as AnyResponse;
      this.deliver(p, asResponse);
    } else if (msg.name !== p.name) {
      this.counters.unmatched++;
      p.reject(
        new DeviceError(
          DeviceErrorCode.PROTOCOL_VIOLATION,
          `device answered ${p.name} (tag ${p.tag}) with a ${msg.name} response`,
          { tag: p.tag, opcode: p.name, got: msg.name, socketId: p.socketId },
        ),
      );
    } else {
      if (msg.status !== 0) this.counters.failedStatus++;
      this.deliver(p, msg);
    }
    this.pump();
    return true;
  }

  private deliver(p: Pending, response: AnyResponse): void {
    if (this.opts.observe) {
      try {
        this.opts.observe({ name: p.name, tag: p.tag, body: p.body, socketId: p.socketId }, response);
      } catch (err) {
        this.opts.log.error({ err, tag: p.tag, opcode: p.name }, 'response observer threw');
      }
    }
    if (p.onResponse) {
      try {
        p.onResponse(response);
      } catch (err) {
        this.opts.log.error({ err, tag: p.tag, opcode: p.name }, 'response hook threw');
      }
    }
    p.resolve(response);
  }

  /** Fail commands already sent (their answers will never come), leaving the queue. */
  failInFlight(
    makeError: (p: { name: CommandName; tag: number; socketId: number | undefined }) => Error,
  ): void {
    const all = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(makeError(p));
    }
    this.pump();
  }

  /** Fail everything: sent and queued. */
  failAll(makeError: (p: { name: CommandName; tag: number; socketId: number | undefined }) => Error): void {
    const queued = this.queue.slice(this.queueHead);
    this.queue = [];
    this.queueHead = 0;
    this.failInFlight(makeError);
    for (const p of queued) p.reject(makeError(p));
    this.pump();
  }

  /** Opcode helper for logs. */
  static opcodeOf(name: CommandName): number {
    return Opcode[name];
  }
}
