/**
 * What DeviceCore does with each NetworkEvent from the backend: deferred responses (LISTEN, UDP BIND,
 * auto-binds), connect outcomes, incoming connections into the connection queue, data into the receive
 * queues, 'sent' into send credit, FIN and resets into status changes (TRANSITIONS.network).
 */
import type { NetworkEvent } from '../network/backend.js';
import {
  type Addr,
  ConditionFlag,
  NO_ADDR,
  SocketOption,
  SocketStatus,
  StatusCode,
  type StatusCodeName,
} from '../../src/protocol/index.js';
import { type CoreState, Reply } from './core-state.js';
import { Socket, isEstablished } from './socket.js';

function opReply(core: CoreState, s: Socket): Reply | null {
  const op = s.pendingOp;
  if (!op) return null;
  const name =
    op.kind === 'listen'
      ? 'LISTEN'
      : op.kind === 'bind'
        ? 'BIND'
        : op.kind === 'sendto-bind'
          ? 'SENDTO'
          : 'CONNECT';
  return new Reply(core, op.channel, name, op.tag);
}

function onListenResult(
  core: CoreState,
  s: Socket,
  ev: Extract<NetworkEvent, { kind: 'listen-result' }>,
): void {
  const op = s.pendingOp;
  if (op?.kind !== 'listen') {
    stray(core, ev);
    return;
  }
  const r = opReply(core, s)!;
  s.pendingOp = null;
  if (ev.error) {
    core.handleGone(s);
    s.handleKind = 'none';
    r.fail(ev.error);
    return;
  }
  s.local = ev.local ?? s.local;
  s.backlog = op.backlog;
  s.status = SocketStatus.LISTENING;
  r.ok({ local: s.local });
}

function onBindResult(core: CoreState, s: Socket, ev: Extract<NetworkEvent, { kind: 'bind-result' }>): void {
  const op = s.pendingOp;
  if (!op || op.kind === 'listen') {
    stray(core, ev);
    return;
  }
  const r = opReply(core, s)!;
  s.pendingOp = null;
  if (ev.error) {
    core.handleGone(s);
    s.handleKind = 'none';
    r.fail(ev.error, 0);
    return;
  }
  s.local = ev.local ?? s.local;
  s.status = SocketStatus.BOUND;
  switch (op.kind) {
    case 'bind':
      r.ok({ local: s.local });
      break;
    case 'sendto-bind':
      core.consumeSend(s, op.data.length);
      s.udpInFlight.push(op.data.length);
      core.perform({ kind: 'udp-send', handle: s.handle, to: op.to, data: op.data });
      r.ok({ accepted: op.data.length });
      break;
    case 'connect-bind':
      s.remote = op.remote;
      s.status = SocketStatus.CONNECTED;
      r.ok({});
      break;
  }
}

function onConnectResult(
  core: CoreState,
  s: Socket,
  ev: Extract<NetworkEvent, { kind: 'connect-result' }>,
): void {
  if (s.status !== SocketStatus.CONNECTING) {
    stray(core, ev);
    return;
  }
  if (ev.error) {
    core.handleGone(s);
    s.status = SocketStatus.DISCONNECTED;
    core.setError(s, ev.error);
    return;
  }
  if (ev.local) s.local = ev.local;
  if (ev.remote) s.remote = ev.remote;
  s.status = SocketStatus.CONNECTED;
}

function onIncoming(core: CoreState, l: Socket, ev: Extract<NetworkEvent, { kind: 'incoming' }>): void {
  const refuse = () => core.perform({ kind: 'close', handle: ev.handle, reset: true });
  if (
    l.status !== SocketStatus.LISTENING ||
    l.closing ||
    l.conns.length >= l.backlog ||
    core.table.byHandle(ev.handle)
  ) {
    refuse();
    return;
  }
  // The new connection waits in the connection queue with its own queues; ACCEPT gives it a slot.
  const c = new Socket({
    channel: l.channel,
    type: l.type,
    family: l.family,
    protocol: l.protocol,
    blocking: l.blocking,
    sendCap: l.sendCapTarget,
    recvCap: l.recvCap,
    recvCredit: 0,
  });
  c.options = l.options;
  c.keepAliveMs = l.keepAliveMs;
  c.linger = l.linger;
  c.ttl = l.ttl;
  c.local = ev.local;
  c.remote = ev.remote;
  c.status = SocketStatus.CONNECTED;
  c.handle = ev.handle;
  c.handleKind = 'tcp';
  c.handleLive = true;
  core.table.mapHandle(ev.handle, c);
  l.conns.push(c);
  if (c.option(SocketOption.NODELAY) || c.keepAliveMs > 0) {
    core.perform({
      kind: 'tcp-setopt',
      handle: c.handle,
      noDelay: c.option(SocketOption.NODELAY),
      keepAliveMs: c.keepAliveMs,
    });
  }
}

function onData(core: CoreState, s: Socket, data: Buffer): void {
  if (!s.isStream) return;
  core.counters.dataFromNetwork += data.length;
  let d = data;
  // ---- DEFECT dropDataByte: lose the first byte of every segment of two bytes or more.
  if (core.opts.defects.dropDataByte && d.length >= 2) d = d.subarray(1);
  if (s.closing || s.hasFlag(ConditionFlag.READ_SHUT)) {
    core.counters.dataDiscarded += d.length;
    return;
  }
  // The backend hands the buffer over (NetworkEvent 'data'): queued as it is, up to the queue's size; a read that
  // came in before the pause took effect waits beyond it, in order.
  const room = s.recvCap - s.recvQueue.length;
  if (s.netHeld.length === 0 && d.length <= room) s.recvQueue.push(d);
  else {
    if (s.netHeld.length === 0 && room > 0) {
      s.recvQueue.push(d.subarray(0, room));
      d = d.subarray(room);
    }
    s.netHeld.push(d);
  }
  core.flowControl(s);
}

function onDatagram(core: CoreState, s: Socket, from: Addr, data: Buffer): void {
  if (s.isStream) return;
  core.counters.dataFromNetwork += data.length;
  if (s.closing || s.hasFlag(ConditionFlag.READ_SHUT)) {
    core.counters.dataDiscarded += data.length;
    return;
  }
  // UDP cannot be paused: a datagram that does not fit the receive queue (or could never be delivered
  // in one DATAGRAM message) is dropped here, at the network side, and counted.
  if (data.length > core.maxDatagramDelivery(s.channel)) {
    core.counters.datagramsDropped++;
    if (s.id !== 0) core.emit(s.channel, 'ERROR', { id: s.id, code: StatusCode.EMSGSIZE });
    return;
  }
  if (s.datagrams.length + data.length > s.recvCap) {
    core.counters.datagramsDropped++;
    return;
  }
  s.datagrams.push({ from, data: Buffer.from(data) });
}

function onSent(core: CoreState, s: Socket, bytes: number): void {
  if (s.isStream) core.releaseSend(s, bytes);
  else core.releaseSend(s, s.udpInFlight.shift() ?? bytes);
}

function onSendError(core: CoreState, s: Socket, error: StatusCodeName): void {
  if (s.isStream) {
    connectionLost(core, s, error);
    return;
  }
  // One datagram failed (e.g. ICMP unreachable, broadcast refused): it leaves the queue; tell the host.
  core.releaseSend(s, s.udpInFlight.shift() ?? 0);
  if (s.id !== 0) core.emit(s.channel, 'ERROR', { id: s.id, code: codeOf(error) });
}

function codeOf(name: StatusCodeName): number {
  return (StatusCode as Record<string, number>)[name] ?? StatusCode.E_INTERNAL;
}

function onPeerEnd(s: Socket): void {
  if (!s.isStream) return;
  s.flags |= ConditionFlag.PEER_CLOSED;
  s.refresh();
  if (isEstablished(s.status)) s.status = SocketStatus.DISCONNECTED;
}

/** The connection is gone: reset by the peer, timed out, failed. Received data stays deliverable. */
function connectionLost(core: CoreState, s: Socket, error: StatusCodeName | undefined): void {
  core.handleGone(s);
  if (s.closing) {
    // The pump completes the close; the final STATUS carries the network's error.
    if (error) s.lastError = StatusCode[error];
    return;
  }
  if (s.handleKind === 'listener' || !s.isStream) {
    if (error) core.setError(s, error);
    return;
  }
  s.refresh();
  if (!error && s.status === SocketStatus.CONNECTING) error = 'ECONNRESET';
  if (error) {
    // The send queue is dropped; nothing more can be sent.
    s.sendQueued = 0;
    s.udpInFlight.length = 0;
    s.status = SocketStatus.DISCONNECTED;
    core.setError(s, error);
  } else if (isEstablished(s.status)) {
    // A clean close we were not told about with peer-end: treat as FIN.
    s.flags |= ConditionFlag.PEER_CLOSED;
    s.sendQueued = 0;
    s.status = SocketStatus.DISCONNECTED;
  }
}

function stray(core: CoreState, ev: NetworkEvent): void {
  core.counters.strayNetworkEvents++;
  core.log.debug({ event: ev.kind, handle: ev.handle }, 'network event for no pending operation');
}

/** Applies one network event. Returns the socket it concerned, if any. */
export function applyNetworkEvent(core: CoreState, ev: NetworkEvent): Socket | undefined {
  const s = core.table.byHandle(ev.kind === 'incoming' ? ev.listener : ev.handle);
  if (!s) {
    stray(core, ev);
    // An incoming connection for a listener we no longer have: refuse it so the backend can release it.
    if (ev.kind === 'incoming') core.perform({ kind: 'close', handle: ev.handle, reset: true });
    return undefined;
  }
  switch (ev.kind) {
    case 'listen-result':
      onListenResult(core, s, ev);
      break;
    case 'bind-result':
      onBindResult(core, s, ev);
      break;
    case 'connect-result':
      onConnectResult(core, s, ev);
      break;
    case 'incoming':
      onIncoming(core, s, ev);
      break;
    case 'data':
      onData(core, s, ev.data);
      break;
    case 'datagram':
      onDatagram(core, s, ev.from ?? NO_ADDR, ev.data);
      break;
    case 'sent':
      onSent(core, s, ev.bytes);
      break;
    case 'send-error':
      onSendError(core, s, ev.error);
      break;
    case 'peer-end':
      onPeerEnd(s);
      break;
    case 'closed':
      connectionLost(core, s, ev.error);
      break;
    default:
      stray(core, ev as NetworkEvent);
  }
  return s;
}
