/**
 * SocketTable: the host's mirror of the device's socket table (FIG 48, PROTOCOL.md §6.7), one entry per device
 * socket of this channel. It changes only through the apply* methods, which the SocketHub calls with what the
 * device said, in the order it said it: command responses, STATUS / DATA / DATAGRAM / SEND_CREDIT events, and
 * SNAPSHOT pages or QUERY answers. Entries are immutable snapshots: every change replaces the entry and emits
 * `update` with the previous and the new one.
 *
 * Field sources (what "mirror equals snapshot" compares, see compare.ts):
 *   id, type, family, protocol, blocking, channel   SOCKET_OPEN request + response / ACCEPT response
 *   status, flags, lastError, local, remote         responses (BIND, LISTEN, CONNECT, SHUTDOWN, UPDATE ...), STATUS events
 *   options                                         SETOPT responses
 *   backlog                                         LISTEN (+ QUERY: the device may clamp it)
 *   sendSpace                                       initial send credit + SEND_CREDIT − accepted (the host's send credit)
 *   recvCredit                                      granted (SOCKET_OPEN/ACCEPT/RECV_CREDIT) − DATA/DATAGRAM bytes
 * Queue levels (sendQueued, recvQueued, connQueued, pendingEvents) are not announced by the device; the mirror
 * holds the values of the last SNAPSHOT/QUERY that covered the entry (0 for a new entry).
 *
 * FIG 32 on the host side: an event naming an id the mirror does not hold changes nothing; applyEvent* return
 * false and the hub logs, counts and reconciles.
 */
import { EventEmitter } from 'node:events';
import {
  type Addr,
  type AnyResponse,
  BOOLEAN_OPTIONS,
  ConditionFlag,
  NO_ADDR,
  type OkResponseMessage,
  ShutdownHow,
  type SocketEntry,
  SocketStatus,
  SocketType,
  StatusCode,
  type CommandBodies,
  type EventBodies,
} from '../protocol/index.js';

export type MirrorEntry = Readonly<SocketEntry>;

export type RemoveReason =
  /** STATUS TERMINATED. */
  | 'terminated'
  /** A snapshot page showed the id is gone. */
  | 'reconcile'
  /** The device rebooted (new epoch). */
  | 'device-reset'
  /** The mirror was cleared (device closed). */
  | 'cleared';

/** What told the mirror: a command's response, an event, or a SNAPSHOT page / QUERY answer (a correction). */
export type UpdateCause = 'response' | 'event' | 'snapshot';

export interface SocketTableEvents {
  add: [entry: MirrorEntry, cause: UpdateCause];
  update: [prev: MirrorEntry, next: MirrorEntry, cause: UpdateCause];
  remove: [entry: MirrorEntry, reason: RemoveReason];
}

export interface SocketTableCounters {
  /** Events naming an id the mirror does not hold (FIG 32 on the host). */
  unknownIdEvents: number;
  /** Responses saying E_UNKNOWN_SOCKET for an id the mirror holds. */
  unknownIdResponses: number;
  /** Snapshot pages applied. */
  pagesApplied: number;
  /** Entries changed, added or removed by snapshot pages (divergences found). */
  reconciledEntries: number;
}

/** A command as sent (name + body), for applying its response. */
export interface CommandRef {
  name: string;
  body: unknown;
}

const SLOT_COUNT = 256;

function sameAddr(a: Addr, b: Addr): boolean {
  return a.family === b.family && a.port === b.port && a.address === b.address;
}

export function entriesEqual(a: SocketEntry, b: SocketEntry): boolean {
  return (
    a.id === b.id &&
    a.type === b.type &&
    a.family === b.family &&
    a.protocol === b.protocol &&
    a.status === b.status &&
    a.flags === b.flags &&
    a.lastError === b.lastError &&
    a.options === b.options &&
    a.blocking === b.blocking &&
    a.channel === b.channel &&
    a.backlog === b.backlog &&
    a.connQueued === b.connQueued &&
    a.reserved === b.reserved &&
    a.sendQueued === b.sendQueued &&
    a.recvQueued === b.recvQueued &&
    a.sendSpace === b.sendSpace &&
    a.recvCredit === b.recvCredit &&
    sameAddr(a.local, b.local) &&
    sameAddr(a.remote, b.remote) &&
    a.pendingEvents === b.pendingEvents
  );
}

export class SocketTable extends EventEmitter<SocketTableEvents> {
  private readonly entries = new Map<number, MirrorEntry>();
  private cause: UpdateCause = 'response';
  readonly channel: number;
  readonly counters: SocketTableCounters = {
    unknownIdEvents: 0,
    unknownIdResponses: 0,
    pagesApplied: 0,
    reconciledEntries: 0,
  };

  constructor(options: { channel?: number } = {}) {
    super();
    this.setMaxListeners(0);
    this.channel = options.channel ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }
  has(id: number): boolean {
    return this.entries.has(id);
  }
  get(id: number): MirrorEntry | undefined {
    return this.entries.get(id);
  }
  /** Entries in slot order (as SNAPSHOT returns them). */
  list(): MirrorEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.id & 0xff) - (b.id & 0xff) || a.id - b.id);
  }
  values(): IterableIterator<MirrorEntry> {
    return this.entries.values();
  }
  [Symbol.iterator](): IterableIterator<MirrorEntry> {
    return this.entries.values();
  }

  // ---- low-level mutation (every change goes through these) -------------------------------------------

  /** Insert or replace an entry (emits add or update). Exposed for tools and benchmarks that build tables. */
  put(next: MirrorEntry): void {
    const prev = this.entries.get(next.id);
    this.entries.set(next.id, next);
    if (prev) this.emit('update', prev, next, this.cause);
    else this.emit('add', next, this.cause);
  }

  private patch(id: number, changes: Partial<SocketEntry>): boolean {
    const prev = this.entries.get(id);
    if (!prev) return false;
    const next: MirrorEntry = { ...prev, ...changes };
    if (entriesEqual(prev, next)) return true;
    this.entries.set(id, next);
    this.emit('update', prev, next, this.cause);
    return true;
  }

  remove(id: number, reason: RemoveReason): boolean {
    const prev = this.entries.get(id);
    if (!prev) return false;
    this.entries.delete(id);
    this.emit('remove', prev, reason);
    return true;
  }

  /** Remove everything (device reset or close). */
  clear(reason: RemoveReason): void {
    for (const id of [...this.entries.keys()]) this.remove(id, reason);
  }

  // ---- responses -------------------------------------------------------------------------------------

  /**
   * Apply a command's response. Returns 'unknown-id' when the device said E_UNKNOWN_SOCKET for an id the
   * mirror holds (the mirror is behind: reconcile), else 'ok'.
   */
  applyResponse(cmd: CommandRef, resp: AnyResponse): 'ok' | 'unknown-id' {
    this.cause = resp.name === 'QUERY' ? 'snapshot' : 'response';
    const body = cmd.body as Record<string, unknown>;
    const id = typeof body.id === 'number' ? body.id : undefined;
    if (resp.status !== StatusCode.OK) {
      if (resp.status === StatusCode.E_UNKNOWN_SOCKET && id !== undefined && this.entries.has(id)) {
        this.counters.unknownIdResponses++;
        return 'unknown-id';
      }
      // SEND/SENDTO errors still report what was accepted.
      if ((resp.name === 'SEND' || resp.name === 'SENDTO') && id !== undefined) {
        const accepted = (resp.body as { accepted?: number }).accepted ?? 0;
        if (accepted > 0) this.consumeSendSpace(id, accepted);
      }
      return 'ok';
    }
    switch (resp.name) {
      case 'SOCKET_OPEN': {
        const req = body as unknown as CommandBodies['SOCKET_OPEN'];
        const r = (resp as OkResponseMessage<'SOCKET_OPEN'>).body;
        this.put({
          id: r.id,
          type: req.type,
          family: req.family,
          protocol: req.protocol,
          status: SocketStatus.UNCONNECTED,
          flags: ConditionFlag.WRITABLE,
          lastError: 0,
          options: 0,
          blocking: req.blocking,
          channel: this.channel,
          backlog: 0,
          connQueued: 0,
          reserved: 0,
          sendQueued: 0,
          recvQueued: 0,
          sendSpace: r.sendCredit,
          recvCredit: req.recvCredit,
          local: NO_ADDR,
          remote: NO_ADDR,
          pendingEvents: 0,
        });
        break;
      }
      case 'ACCEPT': {
        const req = body as unknown as CommandBodies['ACCEPT'];
        const r = (resp as OkResponseMessage<'ACCEPT'>).body;
        const listener = this.entries.get(req.id);
        this.put({
          id: r.newId,
          type: SocketType.STREAM,
          family: r.local.family || listener?.family || 4,
          protocol: 6,
          status: SocketStatus.CONNECTED,
          flags: ConditionFlag.WRITABLE,
          lastError: 0,
          options: 0,
          blocking: listener?.blocking ?? 0,
          channel: this.channel,
          backlog: 0,
          connQueued: 0,
          reserved: 0,
          sendQueued: 0,
          recvQueued: 0,
          sendSpace: r.sendCredit,
          recvCredit: req.recvCredit,
          local: r.local,
          remote: r.remote,
          pendingEvents: 0,
        });
        if (listener && listener.connQueued > 0) this.patch(req.id, { connQueued: listener.connQueued - 1 });
        break;
      }
      case 'BIND':
        this.patch(id!, {
          status: SocketStatus.BOUND,
          local: (resp as OkResponseMessage<'BIND'>).body.local,
        });
        break;
      case 'LISTEN':
        this.patch(id!, {
          status: SocketStatus.LISTENING,
          local: (resp as OkResponseMessage<'LISTEN'>).body.local,
          backlog: (body as unknown as CommandBodies['LISTEN']).backlog,
        });
        break;
      case 'CONNECT': {
        const e = this.entries.get(id!);
        if (!e) break;
        const req = body as unknown as CommandBodies['CONNECT'];
        this.patch(id!, {
          status: e.type === SocketType.STREAM ? SocketStatus.CONNECTING : SocketStatus.CONNECTED,
          remote: req.addr,
        });
        break;
      }
      case 'SEND':
      case 'SENDTO': {
        const accepted = (resp as OkResponseMessage<'SEND'>).body.accepted;
        const e = this.entries.get(id!);
        if (!e) break;
        const changes: Partial<SocketEntry> = { sendSpace: Math.max(0, e.sendSpace - accepted) };
        if (resp.name === 'SENDTO' && e.status === SocketStatus.UNCONNECTED)
          changes.status = SocketStatus.BOUND;
        this.patch(id!, changes);
        break;
      }
      case 'RECV_CREDIT': {
        const e = this.entries.get(id!);
        if (e)
          this.patch(id!, {
            recvCredit: e.recvCredit + (body as unknown as CommandBodies['RECV_CREDIT']).bytes,
          });
        break;
      }
      case 'SHUTDOWN': {
        const e = this.entries.get(id!);
        if (!e) break;
        const how = (body as unknown as CommandBodies['SHUTDOWN']).how;
        let flags = e.flags;
        let status = e.status;
        if (how & ShutdownHow.READ) flags |= ConditionFlag.READ_SHUT;
        if (how & ShutdownHow.WRITE) {
          flags |= ConditionFlag.WRITE_SHUT;
          status = SocketStatus.SHUTDOWN;
        }
        this.patch(id!, { flags, status });
        break;
      }
      case 'SETOPT': {
        const req = body as unknown as CommandBodies['SETOPT'];
        const e = this.entries.get(id!);
        if (!e || !BOOLEAN_OPTIONS.includes(req.option)) break;
        const bit = 1 << (req.option - 1);
        this.patch(id!, { options: req.value !== 0 ? e.options | bit : e.options & ~bit });
        break;
      }
      case 'UPDATE': {
        const r = (resp as OkResponseMessage<'UPDATE'>).body;
        this.patch(id!, { status: r.status, flags: r.flags });
        break;
      }
      case 'QUERY': {
        const entry = (resp as OkResponseMessage<'QUERY'>).body.entry;
        if (this.entries.has(entry.id)) this.put(entry);
        break;
      }
      default:
        break;
    }
    return 'ok';
  }

  private consumeSendSpace(id: number, n: number): void {
    const e = this.entries.get(id);
    if (e) this.patch(id, { sendSpace: Math.max(0, e.sendSpace - n) });
  }

  // ---- events: false = unknown id (FIG 32: nothing changed) ------------------------------------------

  applyStatus(b: EventBodies['STATUS']): boolean {
    this.cause = 'event';
    if (!this.entries.has(b.id)) return false;
    if (b.status === SocketStatus.TERMINATED) {
      const prev = this.entries.get(b.id)!;
      // Show the final state to listeners before the entry goes.
      this.patch(b.id, {
        status: b.status,
        flags: b.flags,
        lastError: b.error,
        local: b.local,
        remote: b.remote,
      });
      this.entries.delete(b.id);
      this.emit('remove', { ...prev, status: b.status, flags: b.flags, lastError: b.error }, 'terminated');
      return true;
    }
    return this.patch(b.id, {
      status: b.status,
      flags: b.flags,
      lastError: b.error,
      local: b.local,
      remote: b.remote,
    });
  }

  applyData(id: number, length: number): boolean {
    this.cause = 'event';
    const e = this.entries.get(id);
    if (!e) return false;
    this.patch(id, { recvCredit: Math.max(0, e.recvCredit - length) });
    return true;
  }

  applySendCredit(id: number, bytes: number): boolean {
    this.cause = 'event';
    const e = this.entries.get(id);
    if (!e) return false;
    this.patch(id, { sendSpace: e.sendSpace + bytes });
    return true;
  }

  // ---- snapshots --------------------------------------------------------------------------------------

  /**
   * Apply one SNAPSHOT page (PROTOCOL.md §8.2): in the page's slot range the page is the truth. Returns the ids
   * the page showed that the mirror did not hold (now added; the hub closes them) and the ids removed.
   */
  applyPage(page: { startSlot: number; nextSlot: number; entries: readonly SocketEntry[] }): {
    added: number[];
    removed: MirrorEntry[];
    changed: number;
  } {
    this.counters.pagesApplied++;
    this.cause = 'snapshot';
    const end = page.nextSlot === 0xffff ? SLOT_COUNT : page.nextSlot;
    const inPage = new Map<number, SocketEntry>();
    for (const e of page.entries) if (e.channel === this.channel) inPage.set(e.id, e);
    const removed: MirrorEntry[] = [];
    const added: number[] = [];
    let changed = 0;
    for (const [id, e] of [...this.entries]) {
      const slot = id & 0xff;
      if (slot < page.startSlot || slot >= end) continue;
      if (!inPage.has(id)) {
        removed.push(e);
        this.remove(id, 'reconcile');
        changed++;
      }
    }
    for (const e of inPage.values()) {
      const prev = this.entries.get(e.id);
      if (!prev) {
        added.push(e.id);
        this.put(e);
        changed++;
      } else if (!entriesEqual(prev, e)) {
        this.put(e);
        changed++;
      }
    }
    this.counters.reconciledEntries += changed;
    return { added, removed, changed };
  }
}
