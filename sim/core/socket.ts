/**
 * One socket-table entry (FIG 48): the local socket structure (id, type, protocol, family, options,
 * addresses, pending events, blocking mode), the remote structure, status, condition flags, lastError,
 * options, and the bounded send, receive and connection queues, plus the device-internal state that
 * drives them (network handle, credits, deferred commands, what the host was last told).
 */
import {
  type Addr,
  type AnyCommand,
  ConditionFlag,
  NO_ADDR,
  Opcode,
  SocketOption,
  SocketStatus,
  type SocketEntry,
  SocketType,
} from '../../src/protocol/index.js';
import { ByteQueue, DatagramQueue } from './queues.js';

/** A network operation whose outcome the socket (and its deferred response) waits for. */
export type PendingOp =
  | { kind: 'listen'; channel: number; tag: number; backlog: number }
  | { kind: 'bind'; channel: number; tag: number }
  | { kind: 'sendto-bind'; channel: number; tag: number; to: Addr; data: Buffer }
  | { kind: 'connect-bind'; channel: number; tag: number; remote: Addr };

export type HandleKind = 'none' | 'tcp' | 'listener' | 'udp';

/** Flags the device recomputes from the queues after every input. */
export const DERIVED_FLAGS =
  ConditionFlag.READABLE |
  ConditionFlag.WRITABLE |
  ConditionFlag.ACCEPT_PENDING |
  ConditionFlag.SEND_BLOCKED |
  ConditionFlag.RECV_BLOCKED;

/** Flags whose toggling is announced lazily (coalesced), see DeviceCoreOptions.statusCoalesceMs. */
export const MINOR_FLAGS =
  ConditionFlag.READABLE | ConditionFlag.WRITABLE | ConditionFlag.SEND_BLOCKED | ConditionFlag.RECV_BLOCKED;

const ESTABLISHED: ReadonlySet<number> = new Set([
  SocketStatus.CONNECTED,
  SocketStatus.SENDING,
  SocketStatus.RECEIVING,
]);

export function isEstablished(status: number): boolean {
  return ESTABLISHED.has(status);
}

export const LINGER_OFF = 0xffffffff;

export interface Announced {
  status: number;
  flags: number;
  lastError: number;
  local: Addr;
  remote: Addr;
}

export class Socket {
  // ---- local socket structure
  id = 0;
  slot = -1;
  readonly channel: number;
  readonly type: number;
  readonly family: 4 | 6;
  readonly protocol: number;
  readonly blocking: number;
  status: number = SocketStatus.UNCONNECTED;
  /** Sticky and host flags; the DERIVED_FLAGS part is recomputed by refresh(). */
  flags = 0;
  lastError = 0;
  /** Bit (option - 1) per boolean option that is on. */
  options = 0;
  keepAliveMs = 0;
  linger = LINGER_OFF;
  ttl = 64;
  local: Addr = NO_ADDR;
  // ---- remote socket structure
  remote: Addr = NO_ADDR;

  // ---- network side
  handle = 0;
  handleKind: HandleKind = 'none';
  /** False once the backend said the handle is gone (failed connect, closed, failed bind/listen). */
  handleLive = false;
  /** tcp-pause sent and not yet resumed. */
  paused = false;

  // ---- send queue and send credit (device → host)
  sendCap: number;
  /** SNDBUF asked for; sendCap shrinks towards it as queued bytes drain. */
  sendCapTarget: number;
  sendQueued = 0;
  /** Credit the host holds: granted and not yet used. */
  hostCredit: number;
  /** Freed send-queue bytes not yet granted (batched into SEND_CREDIT events). */
  pendingCredit = 0;
  pendingCreditSince: number | null = null;
  /** Sizes of UDP datagrams handed to the backend and not yet reported sent. */
  readonly udpInFlight: number[] = [];

  // ---- receive queue and receive credit (host → device)
  recvCap: number;
  readonly recvQueue = new ByteQueue();
  /**
   * Bytes the network delivered beyond the receive queue's room: a board's TCP window would have left them in the
   * network. Never counted in recvQueued; moved into recvQueue as it drains (core-state refillFromNetwork), so the
   * queue never holds more than its size and is never empty while these wait.
   */
  readonly netHeld = new ByteQueue();
  readonly datagrams = new DatagramQueue();
  recvCredit: number;

  // ---- connection queue (listeners)
  backlog = 0;
  readonly conns: Socket[] = [];

  // ---- close
  closing = false;
  closeDeadline = 0;

  // ---- commands waiting for pendingOp to complete (processed in order)
  pendingOp: PendingOp | null = null;
  readonly deferred: { channel: number; msg: AnyCommand }[] = [];

  // ---- what the host was last told (STATUS events); null = nothing yet
  announced: Announced | null = null;
  minorSince: number | null = null;

  constructor(init: {
    channel: number;
    type: number;
    family: 4 | 6;
    protocol: number;
    blocking: number;
    sendCap: number;
    recvCap: number;
    recvCredit: number;
  }) {
    this.channel = init.channel;
    this.type = init.type;
    this.family = init.family;
    this.protocol = init.protocol;
    this.blocking = init.blocking;
    this.sendCap = init.sendCap;
    this.sendCapTarget = init.sendCap;
    this.hostCredit = init.sendCap;
    this.recvCap = init.recvCap;
    this.recvCredit = init.recvCredit;
  }

  get isStream(): boolean {
    return this.type === SocketType.STREAM;
  }

  get recvQueued(): number {
    return this.isStream ? this.recvQueue.length : this.datagrams.length;
  }

  get sendSpace(): number {
    return Math.max(0, this.sendCap - this.sendQueued);
  }

  hasFlag(f: number): boolean {
    return (this.flags & f) !== 0;
  }

  option(opt: number): boolean {
    return (this.options & (1 << (opt - 1))) !== 0;
  }

  /** A TCP connection handle that still carries data. */
  get connLive(): boolean {
    return this.handleKind === 'tcp' && this.handleLive;
  }

  /** Recomputes the derived status (CONNECTED/SENDING/RECEIVING) and flags from the queues. */
  refresh(): void {
    if (this.isStream && isEstablished(this.status)) {
      this.status =
        this.sendQueued > 0
          ? SocketStatus.SENDING
          : this.recvQueue.length > 0
            ? SocketStatus.RECEIVING
            : SocketStatus.CONNECTED;
    }
    let f = 0;
    if (this.recvQueued > 0) f |= ConditionFlag.READABLE | ConditionFlag.RECV_BLOCKED;
    // Literal meanings (PROTOCOL.md §6.4): WRITABLE = the send queue has free space, SEND_BLOCKED = it is full.
    f |= this.sendSpace > 0 ? ConditionFlag.WRITABLE : ConditionFlag.SEND_BLOCKED;
    if (this.conns.length > 0) f |= ConditionFlag.ACCEPT_PENDING;
    this.flags = (this.flags & ~DERIVED_FLAGS) | f;
  }

  /** Bit (event opcode - 0x40) for each event kind this socket has waiting for the host. */
  pendingEvents(): number {
    let p = 0;
    if (this.minorSince !== null) p |= 1 << (Opcode.STATUS - Opcode.BOOT);
    if (this.isStream && this.recvQueue.length > 0) p |= 1 << (Opcode.DATA - Opcode.BOOT);
    if (!this.isStream && this.datagrams.count > 0) p |= 1 << (Opcode.DATAGRAM - Opcode.BOOT);
    if (this.pendingCredit > 0) p |= 1 << (Opcode.SEND_CREDIT - Opcode.BOOT);
    return p;
  }

  getOption(opt: number): number {
    switch (opt) {
      case SocketOption.KEEPALIVE:
        return this.keepAliveMs >>> 0;
      case SocketOption.RCVBUF:
        return this.recvCap;
      case SocketOption.SNDBUF:
        return this.sendCapTarget;
      case SocketOption.LINGER:
        return this.linger >>> 0;
      case SocketOption.TTL:
        return this.ttl;
      default:
        return this.option(opt) ? 1 : 0;
    }
  }

  toEntry(): SocketEntry {
    this.refresh();
    return {
      id: this.id,
      type: this.type,
      family: this.family,
      protocol: this.protocol,
      status: this.status,
      flags: this.flags,
      lastError: this.lastError,
      options: this.options,
      blocking: this.blocking,
      channel: this.channel,
      backlog: this.status === SocketStatus.LISTENING ? this.backlog : 0,
      connQueued: this.conns.length,
      reserved: 0,
      sendQueued: clampU32(this.sendQueued),
      recvQueued: clampU32(this.recvQueued),
      sendSpace: clampU32(this.sendSpace),
      recvCredit: clampU32(this.recvCredit),
      local: this.local,
      remote: this.remote,
      pendingEvents: this.pendingEvents(),
    };
  }

  announcement(): Announced {
    return {
      status: this.status,
      flags: this.flags,
      lastError: this.lastError,
      local: this.local,
      remote: this.remote,
    };
  }
}

export function clampU32(n: number): number {
  return Math.max(0, Math.min(0xffffffff, Math.floor(n)));
}

export function sameAddr(a: Addr, b: Addr): boolean {
  return a.family === b.family && a.port === b.port && a.address === b.address;
}

/** How the current state differs from what the host was told: none, minor (coalescable) or major. */
export function announceDiff(s: Socket): 'none' | 'minor' | 'major' {
  const a = s.announced;
  if (!a) return 'major';
  if (a.lastError !== s.lastError || !sameAddr(a.local, s.local) || !sameAddr(a.remote, s.remote))
    return 'major';
  const df = a.flags ^ s.flags;
  if ((df & ~MINOR_FLAGS) !== 0) return 'major';
  // After the peer's FIN, READABLE clearing means end of stream for the host: announce it at once.
  if ((s.flags & ConditionFlag.PEER_CLOSED) !== 0 && (df & ConditionFlag.READABLE) !== 0) return 'major';
  if (a.status !== s.status) {
    if (!(isEstablished(a.status) && isEstablished(s.status))) return 'major';
    return 'minor';
  }
  return df !== 0 ? 'minor' : 'none';
}
