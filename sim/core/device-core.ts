/**
 * DeviceCore: the deterministic device. Protocol messages, network events and time go in; encoded
 * messages (per channel) and network actions come out. It knows nothing of transports and never reads
 * the system clock. Nothing that comes in can make it throw: undecodable input is answered with
 * ERROR_RESPONSE, internal failures are logged and counted (counters.internalErrors).
 *
 * Inputs are processed one at a time: an input that arrives while another is being processed (a listener
 * calling back synchronously) is queued and processed right after, in order.
 */
import type { NetworkAction, NetworkEvent } from '../network/backend.js';
import {
  type AnyCommand,
  BootReason,
  type BootReasonName,
  type CommandName,
  Limits,
  MESSAGE_SCHEMAS,
  type MessageSchema,
  NO_ADDR,
  ProtocolError,
  type ResponseBodies,
  type SessionKeys,
  type SocketEntry,
  Capability,
  SocketStatus,
  StatusCode,
  type StatusCodeName,
  decodeMessage,
  peekHeader,
} from '../../src/protocol/index.js';
import { DEVICE_HANDLERS, isDeviceCommand } from './commands.js';
import { CHANNEL_HANDLERS, isChannelCommand } from './channel-commands.js';
import {
  channelDeadline,
  expireChannels,
  isAdmin,
  linkDown,
  linkStarted,
  linkUp,
  openGate,
} from './channels.js';
import { type ChannelState, CoreState, type DeviceCounters, endSecureSession, Reply } from './core-state.js';
import { LOCKED_ALLOWED, secureFinish, secureInit } from './secure-commands.js';
import { applyNetworkEvent } from './network-events.js';
import { type DefectModes, type DeviceCoreOptions, resolveOptions } from './options.js';
import type { Socket } from './socket.js';
import { SOCKET_HANDLERS } from './socket-commands.js';
import type { RegisterOverlay } from './registers.js';
import { type SocketCommandName, checkTransition, firstTarget, isSocketCommand } from './transitions.js';

const SCHEMA_BY_OPCODE = new Map<number, MessageSchema>(MESSAGE_SCHEMAS.map((s) => [s.opcode, s]));
const SCHEMA_BY_NAME = new Map<string, MessageSchema>(MESSAGE_SCHEMAS.map((s) => [s.name, s]));
/** Commands allowed before HELLO. */
const BEFORE_HELLO: ReadonlySet<string> = new Set(['HELLO', 'PING', 'REG_READ']);
/** Commands queued behind one socket's pending network operation, at most. */
const MAX_DEFERRED = 64;

export class DeviceCore {
  private readonly core: CoreState;
  private busy = false;
  private readonly inbox: (() => void)[] = [];

  constructor(opts: DeviceCoreOptions) {
    this.core = new CoreState(resolveOptions(opts));
  }

  /** Encoded messages to the host, per channel. */
  onOutput(fn: (channel: number, message: Buffer) => void): void {
    this.core.outputs.push(fn);
  }

  /**
   * A secure handshake completed on `channel`: its link must seal and verify frames with these keys from the
   * frame after the SECURE_FINISH response (already handed to onOutput when this is called).
   */
  onSecureSession(fn: (channel: number, keys: SessionKeys) => void): void {
    this.core.secureListeners.push(fn);
  }

  /** Whether `channel` has a secure session / is locked after one ended (diagnostics, tests). */
  secureState(channel: number): { secure: boolean; locked: boolean } {
    const ch = this.core.channels.get(channel);
    return { secure: ch?.secure ?? false, locked: ch?.locked ?? false };
  }

  /** Actions for the network backend. */
  onNetworkAction(fn: (action: NetworkAction) => void): void {
    this.core.actionListeners.push(fn);
  }

  get epoch(): number {
    return this.core.epoch;
  }

  get counters(): Readonly<DeviceCounters> {
    return this.core.counters;
  }

  get defects(): Readonly<DefectModes> {
    return this.core.opts.defects;
  }

  /** A channel's state (role, open, secure session); created on first use. */
  channelState(channel: number): ChannelState {
    return this.core.channel(channel);
  }

  /** Capabilities the device advertises. */
  get capabilities(): number {
    return this.core.opts.capabilities;
  }

  /**
   * One raw message (a frame's payload) from the host on `channel`. Never throws. The core takes `bytes` over:
   * data in it (SEND) may go to the network without a copy, so the caller must not modify or reuse it.
   */
  handleHostMessage(channel: number, bytes: Uint8Array): void {
    if (!Number.isInteger(channel) || channel < 0 || channel > 255 || !(bytes instanceof Uint8Array)) {
      this.core.counters.undecodable++;
      this.core.log.warn({ channel }, 'message on an invalid channel, or not bytes: dropped');
      return;
    }
    this.run(() => this.hostMessage(channel, bytes));
  }

  /** One event from the network backend. Never throws. */
  handleNetworkEvent(event: NetworkEvent): void {
    this.run(() => {
      const s = applyNetworkEvent(this.core, event);
      if (s) this.resumeDeferred(s);
    });
  }

  /**
   * The link to `channel` is up (synchronised): the channel becomes active and, if nothing was sent on
   * it in this epoch yet, gets BOOT (seq 1) with the last boot reason. A link (re)start ends the channel's
   * secure session: it is locked until a new handshake (§12.3). An ADMIN channel must be opened again
   * (CHANNEL_OPEN with the credential): the new link may be another host. Optional: a channel also becomes
   * active with its first message, without BOOT (HELLO then reports eventSeq 0).
   */
  channelUp(channel: number): void {
    this.run(() => {
      const ch = this.core.channel(channel);
      ch.active = true;
      endSecureSession(ch);
      linkStarted(ch);
      if (ch.seq === 0)
        this.core.emit(channel, 'BOOT', {
          reason: BootReason[this.core.bootReason],
          slots: this.core.opts.slots,
        });
    });
  }

  /**
   * The link to `channel` is gone (no host serves it): after channelTimeoutMs without a channelUp the channel's
   * sockets are aborted and it is no longer open (PROTOCOL.md §11).
   */
  channelDown(channel: number): void {
    this.run(() => linkDown(this.core, this.core.channel(channel)));
  }

  /** The largest message on `channel` (negotiated by the link); clamped to 256..65535. */
  setChannelMaxPayload(channel: number, maxPayload: number): void {
    const v = Math.max(
      Limits.minMaxPayload,
      Math.min(Limits.maxPayloadAbsolute, Math.floor(maxPayload) || 0),
    );
    this.core.channel(channel).maxPayload = v;
  }

  /** Time-based work: coalesced status announcements, batched credit, close deadlines. */
  tick(now: number): void {
    this.run(() => {
      const core = this.core;
      const coalesce = core.opts.statusCoalesceMs;
      expireChannels(core, now);
      for (const s of core.table.all()) {
        if (s.closing && now >= s.closeDeadline) {
          core.log.debug({ id: s.id }, 'graceful close timed out: aborting');
          core.closeHandle(s, true);
          core.terminate(s, StatusCode.ECONNABORTED);
          continue;
        }
        if (s.pendingCredit > 0 && s.pendingCreditSince !== null && now - s.pendingCreditSince >= coalesce) {
          core.flushCredit(s, true);
        }
        if (s.minorSince !== null && now - s.minorSince >= coalesce) core.syncStatus(s, true);
      }
    });
  }

  /** The earliest time at which tick() has work to do, if any (for a timer-driven server). */
  nextDeadline(): number | undefined {
    let t: number | undefined;
    const coalesce = this.core.opts.statusCoalesceMs;
    const at = (x: number) => {
      t = t === undefined ? x : Math.min(t, x);
    };
    const ch = channelDeadline(this.core);
    if (ch !== undefined) at(ch);
    for (const s of this.core.table.all()) {
      if (s.closing && Number.isFinite(s.closeDeadline)) at(s.closeDeadline);
      if (s.pendingCredit > 0 && s.pendingCreditSince !== null) at(s.pendingCreditSince + coalesce);
      if (s.minorSince !== null) at(s.minorSince + coalesce);
    }
    return t;
  }

  /** Drops every socket (closing network handles), epoch + 1, BOOT (seq 1) on every active channel. */
  reset(reason: BootReasonName): void {
    this.run(() => this.core.reset(reason));
  }

  /** Every used slot's entry, in slot order, all channels (for tests and diagnostics). */
  table(): SocketEntry[] {
    return this.core.table.all().map((s) => s.toEntry());
  }

  /** Register-space bytes (registers, socket-table window; 0 elsewhere), raw view of every channel. */
  readWindow(offset: number, length: number): Buffer {
    return this.core.registers.readWindow(offset, length);
  }

  /** One register as REG_READ on `channel` would see it. */
  readRegister(offset: number, channel = 0): number {
    return this.core.registers.readWord(offset, channel);
  }

  /**
   * Registers owned by whoever serves the board (the PCIe window: interrupt, doorbell, scratch and ring registers),
   * so that REG_READ / REG_WRITE see what the host sees in the window.
   */
  setRegisterOverlay(overlay: RegisterOverlay | undefined): void {
    this.core.registers.overlay = overlay;
  }

  // ------------------------------------------------------------------ processing

  private run(fn: () => void): void {
    if (this.busy) {
      this.inbox.push(fn);
      return;
    }
    this.busy = true;
    try {
      for (let next: (() => void) | undefined = fn; next; next = this.inbox.shift()) {
        try {
          next();
        } catch (err) {
          this.core.internalError(err, { where: 'input' });
        }
        try {
          for (const s of this.core.table.all()) this.core.pump(s);
        } catch (err) {
          this.core.internalError(err, { where: 'pump' });
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private hostMessage(channel: number, bytes: Uint8Array): void {
    const core = this.core;
    core.counters.messagesIn++;
    core.counters.bytesIn += bytes.length;
    const ch = core.channel(channel);
    ch.active = true;
    linkUp(ch);
    // BOOT is the first event of an epoch on a channel: if the link-up (channelUp) was not reported, the
    // channel's first message stands for it.
    if (ch.seq === 0)
      this.core.emit(channel, 'BOOT', { reason: BootReason[core.bootReason], slots: core.opts.slots });
    const { opcode, tag } = peekHeader(bytes);
    if (bytes.length === 0 || bytes.length > ch.maxPayload) {
      this.undecodable(channel, tag, 'E_BAD_LENGTH', opcode);
      return;
    }
    const schema = SCHEMA_BY_OPCODE.get(opcode);
    if (schema?.kind !== 'command') {
      // ---- DEFECT ignoreUnknownOpcode: no answer at all.
      if (core.opts.defects.ignoreUnknownOpcode) return;
      this.undecodable(channel, tag, 'E_BAD_OPCODE', opcode);
      return;
    }
    let msg: AnyCommand;
    try {
      // SEND data stays a view into `bytes` (ours to keep) and goes to the network without a copy.
      const m = decodeMessage(bytes, { bytesView: true });
      if (m.kind !== 'command') {
        this.undecodable(channel, tag, 'E_BAD_OPCODE', opcode);
        return;
      }
      msg = m;
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      const code: StatusCodeName =
        err.decodeError === 'MSG_UNKNOWN_OPCODE'
          ? 'E_BAD_OPCODE'
          : err.decodeError === 'MSG_BAD_FIELD'
            ? 'E_INVALID'
            : 'E_BAD_LENGTH';
      this.undecodable(channel, tag, code, opcode);
      return;
    }
    this.dispatch(channel, msg);
  }

  private undecodable(channel: number, tag: number, code: StatusCodeName, opcode: number): void {
    this.core.counters.undecodable++;
    this.core.log.debug({ channel, tag, opcode, code }, 'undecodable message');
    this.core.errorResponse(channel, tag, code, opcode);
  }

  private dispatch(channel: number, msg: AnyCommand): void {
    const core = this.core;
    core.counters.commands++;
    core.counters.commandsByName[msg.name] = (core.counters.commandsByName[msg.name] ?? 0) + 1;
    const r = new Reply(core, channel, msg.name, msg.tag);
    try {
      // PROTOCOL.md §5.4: HELLO first, then the capability, then the socket id, status and fields.
      if (!core.channel(channel).hello && !BEFORE_HELLO.has(msg.name)) {
        r.fail('E_BAD_STATE');
        return;
      }
      const closed = openGate(core, channel, msg.name);
      if (closed) {
        r.fail(closed);
        return;
      }
      const cap = SCHEMA_BY_NAME.get(msg.name)?.capability;
      if (cap && (core.opts.capabilities & Capability[cap]) === 0) {
        r.fail('E_NOT_SUPPORTED');
        return;
      }
      if (core.channel(channel).locked && !LOCKED_ALLOWED.has(msg.name)) {
        r.fail('E_AUTH');
        return;
      }
      if (msg.name === 'SECURE_INIT' || msg.name === 'SECURE_FINISH') {
        if (msg.name === 'SECURE_INIT') secureInit(core, msg.body as never, r as never);
        else secureFinish(core, msg.body as never, r as never);
        return;
      }
      if (isChannelCommand(msg.name)) {
        const h = CHANNEL_HANDLERS[msg.name] as (c: CoreState, b: unknown, r: Reply) => void;
        h(core, msg.body, r);
        return;
      }
      if (isSocketCommand(msg.name)) {
        this.socketCommand(channel, msg, r);
        return;
      }
      if (isDeviceCommand(msg.name)) {
        const h = DEVICE_HANDLERS[msg.name] as (c: CoreState, b: unknown, r: Reply) => void;
        h(core, msg.body, r);
        return;
      }
      r.fail('E_NOT_SUPPORTED');
    } catch (err) {
      core.internalError(err, { channel, tag: msg.tag, command: msg.name });
      r.fail('E_INTERNAL');
    }
  }

  private socketCommand(channel: number, msg: AnyCommand, r: Reply): void {
    const core = this.core;
    const name = msg.name as SocketCommandName;
    const id = (msg.body as { id: number }).id;
    // The admin channel may CLOSE any channel's socket (§11); every other id of another channel is unknown.
    // ---- DEFECT foreignIdAccepted: any channel's socket is found, as if it were this channel's own.
    const foreignOk = core.opts.defects.foreignIdAccepted;
    const s =
      core.table.get(id, foreignOk ? undefined : channel) ??
      (name === 'CLOSE' && isAdmin(core, channel) ? core.table.get(id) : undefined);
    if (!s) {
      // ---- DEFECT updateUnknownChangesTable: the unknown id's flags land on some socket in the table.
      if (name === 'UPDATE' && core.opts.defects.updateUnknownChangesTable) {
        const victim = core.table.atSlot(id & 0xff) ?? core.table.all()[0];
        if (victim) victim.flags |= (msg.body as { setFlags: number }).setFlags | 0x1000;
      }
      r.fail('E_UNKNOWN_SOCKET');
      return;
    }
    if (s.pendingOp) {
      if (s.deferred.length >= MAX_DEFERRED) {
        r.fail('E_BUSY');
        return;
      }
      core.counters.deferredCommands++;
      s.deferred.push({ channel, msg });
      return;
    }
    if (s.channel !== channel && !foreignOk) {
      adminClose(core, s, msg.body as { abort: number }, r);
      return;
    }
    const check = checkTransition(name, s.type, s.status);
    if (!check.allowed) {
      // ---- DEFECT acceptIllegalTransition: answer OK and move to the rule's target anyway.
      if (core.opts.defects.acceptIllegalTransition) {
        r.ok(defaultOkBody(name) as never);
        const target = firstTarget(check.rule);
        if (target) s.status = SocketStatus[target];
        return;
      }
      r.fail(check.code);
      return;
    }
    const h = SOCKET_HANDLERS[name] as (c: CoreState, s: Socket, b: unknown, r: Reply, to: unknown) => void;
    h(core, s, msg.body, r, check.to);
  }

  /** Runs the commands that waited behind a completed network operation, in order. */
  private resumeDeferred(s: Socket): void {
    while (!s.pendingOp && s.deferred.length > 0) {
      const d = s.deferred.shift()!;
      const r = new Reply(this.core, d.channel, d.msg.name, d.msg.tag);
      try {
        this.socketCommand(d.channel, d.msg, r);
      } catch (err) {
        this.core.internalError(err, { tag: d.msg.tag, command: d.msg.name });
        r.fail('E_INTERNAL');
      }
    }
  }
}

/** CLOSE of another channel's socket by the admin: an abort, the final STATUS on the owning channel (§11). */
function adminClose(core: CoreState, s: Socket, body: { abort: number }, r: Reply): void {
  if (body.abort > 1) {
    r.fail('E_INVALID');
    return;
  }
  core.log.info({ id: s.id, owner: s.channel, by: r.channel }, 'admin CLOSE');
  r.ok({} as never);
  core.closeHandle(s, true);
  core.terminate(s, StatusCode.ECONNABORTED);
}

/** A zero-valued OK body for any command (used by the acceptIllegalTransition defect). */
export function defaultOkBody(name: CommandName): ResponseBodies[CommandName] {
  const schema = SCHEMA_BY_NAME.get(name)!;
  const body: Record<string, unknown> = {};
  for (const f of schema.response) {
    switch (f.type) {
      case 'addr':
        body[f.name] = NO_ADDR;
        break;
      case 'bytes':
        body[f.name] = Buffer.alloc(0);
        break;
      case 'bytes16':
        body[f.name] = Buffer.alloc(16);
        break;
      case 'str8':
        body[f.name] = '';
        break;
      case 'u32[]':
      case 'entry[]':
        body[f.name] = [];
        break;
      case 'entry':
        body[f.name] = ZERO_ENTRY;
        break;
      default:
        body[f.name] = 0;
    }
  }
  return body as unknown as ResponseBodies[CommandName];
}

const ZERO_ENTRY: SocketEntry = {
  id: 0,
  type: 0,
  family: 0,
  protocol: 0,
  status: 0,
  flags: 0,
  lastError: 0,
  options: 0,
  blocking: 0,
  channel: 0,
  backlog: 0,
  connQueued: 0,
  reserved: 0,
  sendQueued: 0,
  recvQueued: 0,
  sendSpace: 0,
  recvCredit: 0,
  local: NO_ADDR,
  remote: NO_ADDR,
  pendingEvents: 0,
};
