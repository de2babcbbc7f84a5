/**
 * Fault injection for the simulator, switchable at run time: the `faults` object of a running simulator is
 * read every time it matters, so a test can change any field between two steps.
 *
 * - wire: corruption / loss / delay on the wire, through src/transport's FaultTransport wrapping each accepted
 *   transport. Read when a connection is accepted (TCP) or when the serial line is opened: change it, then
 *   (re)connect.
 * - events: drop the next n events, drop events at random, delay events (responses are never delayed, so they
 *   overtake the delayed events, as on a board whose event path lags), optionally only for some event kinds.
 * - board reset: at a time (resetAt) or when a given command arrives (resetOnCommand); also sim.reset().
 * - peer reset of network connections: sim.resetPeerConnections().
 * - queue full: sim.setQueueSizes() shrinks the socket queues.
 */
import type { Logger } from 'pino';
import { type CommandName, type EventName, MESSAGE_SCHEMAS, Opcode } from '../src/protocol/index.js';
import { Prng } from '../src/transport/prng.js';

/** Wire faults; the subset of FaultTransport's options that make sense for a simulator. */
export interface WireFaults {
  /** Probability per byte that it is corrupted. */
  corruptRate?: number;
  /** Probability per byte that it is dropped. */
  dropByteRate?: number;
  /** Probability per chunk that it is dropped. */
  dropWriteRate?: number;
  /** Every chunk delayed this long. */
  delayMs?: number;
  /** Which path: 'write' (device → host), 'read' (host → device) or 'both'. Default 'both'. */
  direction?: 'write' | 'read' | 'both';
  /** PRNG seed; default SimulatorFaults.seed. */
  seed?: number;
}

export interface SimulatorFaults {
  /** Seed for the random faults below (and the wire faults unless they give their own). Default 1. */
  seed: number;
  /** Wire faults for connections accepted from now on (TCP) / the serial line when (re)opened. null = none. */
  wire: WireFaults | null;
  /** Drop this many upcoming event messages (counted down as they are dropped). */
  dropNextEvents: number;
  /** Probability that an event message is dropped. */
  dropEventRate: number;
  /** Delay event messages by this long (their order among themselves is kept). */
  delayEventsMs: number;
  /** Which event kinds the drop / delay faults apply to; null = every event. */
  eventKinds: EventName[] | null;
  /** Reset the board when the Date.now() clock reaches this value (then cleared). */
  resetAt: number | null;
  /** Reset the board when the next command with this name arrives, before handling it (then cleared). */
  resetOnCommand: CommandName | null;
}

export function defaultFaults(): SimulatorFaults {
  return {
    seed: 1,
    wire: null,
    dropNextEvents: 0,
    dropEventRate: 0,
    delayEventsMs: 0,
    eventKinds: null,
    resetAt: null,
    resetOnCommand: null,
  };
}

export function hasWireFaults(w: WireFaults | null | undefined): w is WireFaults {
  return (
    !!w &&
    ((w.corruptRate ?? 0) > 0 ||
      (w.dropByteRate ?? 0) > 0 ||
      (w.dropWriteRate ?? 0) > 0 ||
      (w.delayMs ?? 0) > 0)
  );
}

const EVENT_BY_OPCODE = new Map<number, EventName>(
  MESSAGE_SCHEMAS.filter((s) => s.kind === 'event').map((s) => [s.opcode, s.name as EventName]),
);
const COMMAND_BY_OPCODE = new Map<number, CommandName>(
  MESSAGE_SCHEMAS.filter((s) => s.kind === 'command').map((s) => [s.opcode, s.name as CommandName]),
);

/** The event a device → host message carries, or undefined for responses and error responses. */
export function eventNameOf(message: Uint8Array): EventName | undefined {
  if (message.length < 12) return undefined;
  const op = message[0]!;
  if (op === Opcode.ERROR_RESPONSE || (op & 0x80) !== 0) return undefined;
  return EVENT_BY_OPCODE.get(op);
}

/** The command a host → device message names, or undefined (not a known command opcode). */
export function commandNameOf(message: Uint8Array): CommandName | undefined {
  if (message.length < 4) return undefined;
  const op = message[0]!;
  if ((op & 0x80) !== 0) return undefined;
  return COMMAND_BY_OPCODE.get(op);
}

export interface OutputFaultStats {
  droppedEvents: number;
  delayedEvents: number;
}

interface Pending {
  due: number;
  bytes: Buffer;
}

/**
 * Applies the event faults to the device's output, per channel, then hands messages to `deliver`.
 * Order is kept among events of a channel (a delayed event holds back later events of that channel);
 * responses go straight through.
 */
export class OutputFaults {
  readonly stats: OutputFaultStats = { droppedEvents: 0, delayedEvents: 0 };
  private prng: Prng;
  private prngSeed: number;
  private readonly queues = new Map<number, Pending[]>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly faults: SimulatorFaults,
    private readonly deliver: (channel: number, bytes: Buffer) => void,
    private readonly log: Logger,
  ) {
    this.prngSeed = faults.seed;
    this.prng = new Prng(faults.seed ^ 0x2545f491);
  }

  push(channel: number, bytes: Buffer): void {
    if (this.closed) return;
    const event = eventNameOf(bytes);
    const f = this.faults;
    const queue = this.queues.get(channel);
    if (event === undefined) {
      this.deliver(channel, bytes);
      return;
    }
    const applies = f.eventKinds === null || f.eventKinds.includes(event);
    if (applies && f.dropNextEvents > 0) {
      f.dropNextEvents--;
      this.dropped(channel, event);
      return;
    }
    if (applies && f.dropEventRate > 0) {
      if (this.prngSeed !== f.seed) {
        this.prngSeed = f.seed;
        this.prng = new Prng(f.seed ^ 0x2545f491);
      }
      if (this.prng.chance(f.dropEventRate)) {
        this.dropped(channel, event);
        return;
      }
    }
    const delay = applies ? f.delayEventsMs : 0;
    if (delay <= 0 && !queue?.length) {
      this.deliver(channel, bytes);
      return;
    }
    if (delay > 0) this.stats.delayedEvents++;
    const list = queue ?? [];
    this.queues.set(channel, list);
    const last = list.length > 0 ? list[list.length - 1]!.due : 0;
    list.push({ due: Math.max(Date.now() + delay, last), bytes });
    this.arm(channel);
  }

  private dropped(channel: number, event: EventName): void {
    this.stats.droppedEvents++;
    this.log.info({ channel, event }, 'fault: event dropped');
  }

  private arm(channel: number): void {
    if (this.timers.has(channel)) return;
    const list = this.queues.get(channel);
    if (!list?.length) return;
    const wait = Math.max(0, list[0]!.due - Date.now());
    this.timers.set(
      channel,
      setTimeout(() => {
        this.timers.delete(channel);
        const now = Date.now();
        while (!this.closed && list.length > 0 && list[0]!.due <= now)
          this.deliver(channel, list.shift()!.bytes);
        this.arm(channel);
      }, wait),
    );
  }

  /** Drops whatever is held for a channel (its host went away). */
  forget(channel: number): void {
    this.queues.delete(channel);
    const t = this.timers.get(channel);
    if (t) clearTimeout(t);
    this.timers.delete(channel);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.queues.clear();
  }
}
