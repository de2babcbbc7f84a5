/**
 * Handlers for the commands that name a socket. The dispatcher (device-core.ts) has already checked that
 * the id exists on the channel, that no network operation is pending on it, and that TRANSITIONS allows
 * the command in the socket's status; `to` is the rule's target. Each handler validates its arguments,
 * answers exactly once (possibly later, when the network answers) and changes nothing when it refuses.
 */
import {
  type Addr,
  type CommandBodies,
  ConditionFlag,
  HOST_CLEARABLE_FLAGS,
  HOST_SETTABLE_FLAGS,
  type SocketStatusName,
  Capability,
  EgressKind,
  ShutdownHow,
  SocketOption,
  SocketStatus,
  StatusCode,
  type StatusCodeName,
} from '../../src/protocol/index.js';
import { type CoreState, MAX_DATAGRAM, type Reply, anyAddr, isAnyAddress } from './core-state.js';
import { MAX_QUEUE_SIZE, MIN_QUEUE_SIZE } from './options.js';
import { LINGER_OFF, type Socket } from './socket.js';
import { type SocketCommandName, targetStatus } from './transitions.js';
import { queueBytes, queueRefusal, slotRefusal } from './channels.js';

type To = SocketStatusName | '=';
type Handler<N extends SocketCommandName> = (
  core: CoreState,
  s: Socket,
  body: CommandBodies[N],
  r: Reply<N>,
  to: To,
) => void;

/** Checks a remote/local address for a socket: family 0 or a port of 0 where one is needed are invalid. */
function checkAddr(core: CoreState, s: Socket, a: Addr, needPort: boolean): StatusCodeName | null {
  if (a.family === 0) return 'E_INVALID';
  if (a.family === 6 && (core.opts.capabilities & Capability.IPV6) === 0) return 'EAFNOSUPPORT';
  if (a.family !== s.family) return 'EAFNOSUPPORT';
  if (needPort && (a.port === 0 || isAnyAddress(a))) return 'E_INVALID';
  return null;
}

const bind: Handler<'BIND'> = (core, s, body, r) => {
  const bad =
    checkAddr(core, s, body.addr, false) ?? core.egress.check(s.channel, EgressKind.LISTEN, body.addr);
  if (bad) return r.fail(bad);
  if (s.isStream) {
    // TCP has no network bind action: the address is reserved on the device and used by LISTEN/CONNECT.
    if (body.addr.port !== 0 && !s.option(SocketOption.REUSEADDR)) {
      const clash = core.table
        .all()
        .some(
          (o) =>
            o !== s &&
            o.isStream &&
            o.local.port === body.addr.port &&
            o.local.family === body.addr.family &&
            (o.local.address === body.addr.address || isAnyAddress(o.local) || isAnyAddress(body.addr)),
        );
      if (clash) return r.fail('EADDRINUSE');
    }
    s.local = body.addr;
    s.status = SocketStatus.BOUND;
    return r.ok({ local: s.local });
  }
  const handle = core.newHandle(s, 'udp');
  s.pendingOp = { kind: 'bind', channel: r.channel, tag: r.tag };
  core.perform({
    kind: 'udp-bind',
    handle,
    local: body.addr,
    reuseAddr: s.option(SocketOption.REUSEADDR),
    broadcast: s.option(SocketOption.BROADCAST),
  });
};

const listen: Handler<'LISTEN'> = (core, s, body, r) => {
  if (body.backlog === 0) return r.fail('E_INVALID');
  const backlog = Math.min(body.backlog, core.opts.backlogMax);
  const local = s.status === SocketStatus.BOUND ? s.local : anyAddr(s.family);
  const denied = core.egress.check(s.channel, EgressKind.LISTEN, local);
  if (denied) return r.fail(denied);
  const handle = core.newHandle(s, 'listener');
  s.pendingOp = { kind: 'listen', channel: r.channel, tag: r.tag, backlog };
  core.perform({ kind: 'tcp-listen', handle, local, backlog, reuseAddr: s.option(SocketOption.REUSEADDR) });
};

const connect: Handler<'CONNECT'> = (core, s, body, r, to) => {
  const kind = s.isStream ? EgressKind.CONNECT : EgressKind.SENDTO;
  const bad = checkAddr(core, s, body.addr, true) ?? core.egress.check(s.channel, kind, body.addr);
  if (bad) return r.fail(bad);
  if (s.isStream) {
    const local = s.status === SocketStatus.BOUND ? s.local : null;
    const handle = core.newHandle(s, 'tcp');
    s.remote = body.addr;
    s.status = targetStatus(s.status, to); // CONNECTING
    r.ok({});
    core.perform({
      kind: 'tcp-connect',
      handle,
      remote: body.addr,
      local,
      timeoutMs: body.timeoutMs || core.opts.connectTimeoutMs,
      noDelay: s.option(SocketOption.NODELAY),
      keepAliveMs: s.keepAliveMs,
    });
    return;
  }
  if (s.status === SocketStatus.UNCONNECTED) {
    // UDP needs a local port first: bind to an ephemeral one, answer when the network did.
    const handle = core.newHandle(s, 'udp');
    s.pendingOp = { kind: 'connect-bind', channel: r.channel, tag: r.tag, remote: body.addr };
    core.perform({
      kind: 'udp-bind',
      handle,
      local: anyAddr(s.family),
      reuseAddr: s.option(SocketOption.REUSEADDR),
      broadcast: s.option(SocketOption.BROADCAST),
    });
    return;
  }
  s.remote = body.addr;
  s.status = targetStatus(s.status, to); // CONNECTED
  r.ok({});
};

const accept: Handler<'ACCEPT'> = (core, s, body, r) => {
  const conn = s.conns[0];
  if (!conn) return r.fail('E_WOULD_BLOCK');
  const full = slotRefusal(core, s.channel, queueBytes(conn));
  if (full) return r.fail(full);
  s.conns.shift();
  core.table.insert(conn);
  conn.recvCredit = body.recvCredit;
  // The response tells the host the socket is CONNECTED and writable; anything else is announced by STATUS.
  conn.announced = {
    status: SocketStatus.CONNECTED,
    flags: ConditionFlag.WRITABLE,
    lastError: 0,
    local: conn.local,
    remote: conn.remote,
  };
  r.ok({ newId: conn.id, sendCredit: conn.hostCredit, local: conn.local, remote: conn.remote });
  // Data that arrived while the connection waited is delivered by the pump that follows this input.
};

function sendStream(core: CoreState, s: Socket, data: Uint8Array, r: Reply<'SEND'>, to: To): void {
  if (data.length === 0) {
    r.fail('E_INVALID');
    return;
  }
  if (s.closing || s.hasFlag(ConditionFlag.WRITE_SHUT)) {
    r.fail('EPIPE');
    return;
  }
  if (s.status === SocketStatus.DISCONNECTED && (s.lastError !== 0 || !s.connLive)) {
    r.fail('EPIPE');
    return;
  }
  const accepted = Math.min(data.length, s.sendSpace);
  if (accepted > 0) {
    core.consumeSend(s, accepted);
    s.status = targetStatus(s.status, to);
    // `data` is a view into the host's message, which DeviceCore owns (handleHostMessage): no copy.
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    core.perform({ kind: 'tcp-send', handle: s.handle, data: buf.subarray(0, accepted) });
  }
  if (accepted < data.length) {
    r.fail('E_QUEUE_FULL', accepted);
    return;
  }
  r.ok({ accepted });
}

/** Queues one datagram (all or nothing) and hands it to the network. */
function sendDatagram(core: CoreState, s: Socket, to: Addr, data: Buffer): void {
  core.consumeSend(s, data.length);
  s.udpInFlight.push(data.length);
  core.perform({ kind: 'udp-send', handle: s.handle, to, data });
}

function datagramRefusal(s: Socket, length: number): StatusCodeName | null {
  if (s.closing) return 'EPIPE';
  if (length > MAX_DATAGRAM) return 'EMSGSIZE';
  if (length > s.sendSpace) return 'E_QUEUE_FULL';
  return null;
}

const send: Handler<'SEND'> = (core, s, body, r, to) => {
  if (s.isStream) return sendStream(core, s, body.data, r, to);
  const bad = datagramRefusal(s, body.data.length);
  if (bad) return r.fail(bad, 0);
  sendDatagram(core, s, s.remote, Buffer.from(body.data));
  r.ok({ accepted: body.data.length });
};

const sendto: Handler<'SENDTO'> = (core, s, body, r) => {
  const badAddr =
    checkAddr(core, s, body.addr, true) ?? core.egress.check(s.channel, EgressKind.SENDTO, body.addr);
  if (badAddr) return r.fail(badAddr, 0);
  if (body.addr.address === '255.255.255.255' && !s.option(SocketOption.BROADCAST))
    return r.fail('EACCES', 0);
  const bad = datagramRefusal(s, body.data.length);
  if (bad) return r.fail(bad, 0);
  const data = Buffer.from(body.data);
  if (s.status === SocketStatus.UNCONNECTED) {
    const handle = core.newHandle(s, 'udp');
    s.pendingOp = { kind: 'sendto-bind', channel: r.channel, tag: r.tag, to: body.addr, data };
    core.perform({
      kind: 'udp-bind',
      handle,
      local: anyAddr(s.family),
      reuseAddr: s.option(SocketOption.REUSEADDR),
      broadcast: s.option(SocketOption.BROADCAST),
    });
    return;
  }
  sendDatagram(core, s, body.addr, data);
  r.ok({ accepted: data.length });
};

const recvCredit: Handler<'RECV_CREDIT'> = (_core, s, body, r) => {
  if (s.recvCredit + body.bytes > 0xffffffff) return r.fail('E_INVALID');
  s.recvCredit += body.bytes;
  r.ok({});
};

const shutdown: Handler<'SHUTDOWN'> = (core, s, body, r, to) => {
  if (body.how < ShutdownHow.READ || body.how > ShutdownHow.BOTH) return r.fail('E_INVALID');
  if (body.how & ShutdownHow.READ) {
    s.flags |= ConditionFlag.READ_SHUT;
    // Unread data is thrown away; reading goes on (and is discarded) so the peer is not stalled.
    core.discardReceived(s);
  }
  if (body.how & ShutdownHow.WRITE) {
    if (!s.hasFlag(ConditionFlag.WRITE_SHUT)) {
      s.flags |= ConditionFlag.WRITE_SHUT;
      if (s.connLive) core.perform({ kind: 'tcp-end', handle: s.handle });
    }
    s.status = targetStatus(s.status, to); // SHUTDOWN
  }
  r.ok({});
};

const close: Handler<'CLOSE'> = (core, s, body, r) => {
  if (body.abort > 1) return r.fail('E_INVALID');
  r.ok({});
  if (s.closing) {
    // Already draining: abort = 1 aborts the drain, abort = 0 changes nothing.
    if (body.abort === 1) {
      core.closeHandle(s, true);
      core.terminate(s, StatusCode.ECONNABORTED);
    }
    return;
  }
  const abort = body.abort === 1 || s.linger === 0;
  if (!abort && s.connLive && s.sendQueued > 0) {
    // Graceful: the receive queue is dropped, the send queue drains, then FIN; TERMINATED when done.
    // LINGER (or closeTimeoutMs) bounds the wait; then the close becomes an abort.
    s.closing = true;
    const waitMs = s.linger !== LINGER_OFF ? s.linger * 1000 : core.opts.closeTimeoutMs;
    s.closeDeadline = waitMs > 0 ? core.now() + waitMs : Number.POSITIVE_INFINITY;
    core.discardReceived(s);
    return;
  }
  core.closeHandle(s, abort);
  core.terminate(s, abort ? StatusCode.ECONNABORTED : 0);
};

function optionValid(core: CoreState, s: Socket, option: number): StatusCodeName | null {
  switch (option) {
    case SocketOption.REUSEADDR:
    case SocketOption.RCVBUF:
    case SocketOption.SNDBUF:
    case SocketOption.TTL:
      return null;
    case SocketOption.NODELAY:
    case SocketOption.LINGER:
      return s.isStream ? null : 'E_INVALID';
    case SocketOption.KEEPALIVE:
      if ((core.opts.capabilities & Capability.KEEPALIVE) === 0) return 'E_NOT_SUPPORTED';
      return s.isStream ? null : 'E_INVALID';
    case SocketOption.BROADCAST:
      return s.isStream ? 'E_INVALID' : null;
    default:
      return 'E_NOT_SUPPORTED';
  }
}

function queueSize(v: number): number {
  return Math.max(MIN_QUEUE_SIZE, Math.min(MAX_QUEUE_SIZE, v));
}

const setopt: Handler<'SETOPT'> = (core, s, body, r) => {
  const bad = optionValid(core, s, body.option);
  if (bad) return r.fail(bad);
  const { option, value } = body;
  const bit = 1 << (option - 1);
  switch (option) {
    case SocketOption.REUSEADDR:
    case SocketOption.NODELAY:
    case SocketOption.BROADCAST:
      if (value > 1) return r.fail('E_INVALID');
      s.options = value ? s.options | bit : s.options & ~bit;
      break;
    case SocketOption.KEEPALIVE:
      s.keepAliveMs = value;
      s.options = value ? s.options | bit : s.options & ~bit;
      break;
    case SocketOption.RCVBUF: {
      if (value === 0) return r.fail('E_INVALID');
      const over = queueRefusal(core, s, s.sendCapTarget, queueSize(value));
      if (over) return r.fail(over);
      s.recvCap = queueSize(value);
      break;
    }
    case SocketOption.SNDBUF: {
      if (value === 0) return r.fail('E_INVALID');
      const target = queueSize(value);
      const over = queueRefusal(core, s, target, s.recvCap);
      if (over) return r.fail(over);
      s.sendCapTarget = target;
      if (target > s.sendCap) {
        // The extra space is granted at once (SEND_CREDIT).
        s.pendingCredit += target - s.sendCap;
        s.sendCap = target;
        r.ok({});
        core.flushCredit(s, true);
        return;
      } else {
        // Credit already granted cannot be taken back: shrink by what is not granted, the rest as it drains.
        const d = Math.min(s.pendingCredit, s.sendCap - target);
        s.pendingCredit -= d;
        s.sendCap -= d;
      }
      break;
    }
    case SocketOption.LINGER:
      s.linger = value;
      break;
    case SocketOption.TTL:
      if (value < 1 || value > 255) return r.fail('E_INVALID');
      s.ttl = value;
      break;
  }
  r.ok({});
  if ((option === SocketOption.NODELAY || option === SocketOption.KEEPALIVE) && s.connLive) {
    core.perform({
      kind: 'tcp-setopt',
      handle: s.handle,
      ...(option === SocketOption.NODELAY ? { noDelay: value === 1 } : { keepAliveMs: value }),
    });
  }
};

const getopt: Handler<'GETOPT'> = (core, s, body, r) => {
  const bad = optionValid(core, s, body.option);
  if (bad) return r.fail(bad);
  r.ok({ value: s.getOption(body.option) });
};

const update: Handler<'UPDATE'> = (_core, s, body, r) => {
  s.refresh();
  if (body.status !== 0xff && body.status !== s.status) return r.fail('E_BAD_STATE');
  if (
    (body.setFlags & ~HOST_SETTABLE_FLAGS) !== 0 ||
    (body.clearFlags & ~HOST_CLEARABLE_FLAGS) !== 0 ||
    (body.setFlags & body.clearFlags) !== 0
  ) {
    return r.fail('E_INVALID');
  }
  s.flags = (s.flags | body.setFlags) & ~body.clearFlags;
  r.ok({ status: s.status, flags: s.flags });
};

const query: Handler<'QUERY'> = (_core, s, _body, r) => {
  r.ok({ entry: s.toEntry() });
};

export const SOCKET_HANDLERS: { [N in SocketCommandName]: Handler<N> } = {
  BIND: bind,
  LISTEN: listen,
  CONNECT: connect,
  ACCEPT: accept,
  SEND: send,
  SENDTO: sendto,
  RECV_CREDIT: recvCredit,
  SHUTDOWN: shutdown,
  CLOSE: close,
  SETOPT: setopt,
  GETOPT: getopt,
  UPDATE: update,
  QUERY: query,
};
