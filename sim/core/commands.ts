/**
 * Handlers for the commands that do not name a socket: HELLO, PING, REG_READ, REG_WRITE, RESET, SNAPSHOT
 * and SOCKET_OPEN. (CHANNEL_* and EGRESS_* are in channel-commands.ts, SECURE_* in secure-commands.ts.)
 */
import {
  Capability,
  type CommandBodies,
  type CommandName,
  Limits,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_WORD,
  type SocketEntry,
  SocketType,
} from '../../src/protocol/index.js';
import type { CoreState, Reply } from './core-state.js';
import { Socket } from './socket.js';
import { hasChannels, isAdmin, quotaOf, resetRefusal, slotRefusal } from './channels.js';

type DeviceCommandName = 'HELLO' | 'PING' | 'REG_READ' | 'REG_WRITE' | 'RESET' | 'SNAPSHOT' | 'SOCKET_OPEN';
type Handler<N extends CommandName> = (core: CoreState, body: CommandBodies[N], r: Reply<N>) => void;

const RESPONSE_HEADER = Limits.messageHeaderSize + 2;
/** epoch u32, eventSeq u32, nextSlot u16, count u8. */
const SNAPSHOT_FIXED = RESPONSE_HEADER + 11;
const NO_MORE = 0xffff;
/** REG_READ count limit (protocol.json), so that the response fits the smallest maxPayload. */
export const MAX_REG_READ = Limits.maxRegisterRead;

const hello: Handler<'HELLO'> = (core, body, r) => {
  if (body.protoVersion >> 8 !== PROTOCOL_VERSION.major) return r.fail('E_BAD_VERSION');
  const ch = core.channel(r.channel);
  ch.hello = true;
  r.ok({
    protoVersion: PROTOCOL_VERSION_WORD,
    caps: core.opts.capabilities,
    // With CHANNELS: this channel's share (§5.8.1 HELLO).
    slots: hasChannels(core)
      ? Math.min(core.opts.slots, quotaOf(core, r.channel).slotQuota)
      : core.opts.slots,
    maxPayload: ch.maxPayload,
    epoch: core.epoch,
    eventSeq: ch.seq,
    sendQueueSize: core.opts.sendQueueSize,
    recvQueueSize: core.opts.recvQueueSize,
    firmware: core.opts.firmware,
  });
};

const ping: Handler<'PING'> = (core, body, r) => {
  if (body.payload.length + RESPONSE_HEADER > core.channel(r.channel).maxPayload) return r.fail('E_INVALID');
  r.ok({ payload: body.payload });
};

const regRead: Handler<'REG_READ'> = (core, body, r) => {
  const { offset, count } = body;
  if (offset % 4 !== 0 || count < 1 || count > MAX_REG_READ || offset + count * 4 > 0x100000000)
    return r.fail('E_INVALID');
  if (RESPONSE_HEADER + count * 4 > core.channel(r.channel).maxPayload) return r.fail('E_INVALID');
  const values: number[] = [];
  for (let i = 0; i < count; i++) values.push(core.registers.readWord(offset + i * 4, r.channel) >>> 0);
  r.ok({ values });
};

const regWrite: Handler<'REG_WRITE'> = (core, body, r) => {
  const code = core.registers.write(body.offset, body.value);
  if (code !== 'OK') return r.fail(code);
  r.ok({});
};

const reset: Handler<'RESET'> = (core, body, r) => {
  if (body.magic !== Limits.resetMagic) return r.fail('E_INVALID');
  const refused = resetRefusal(core, r.channel);
  if (refused) return r.fail(refused);
  r.ok({});
  core.reset('HOST_RESET');
};

const snapshot: Handler<'SNAPSHOT'> = (core, body, r) => {
  if (body.maxEntries === 0 || body.allChannels > 1) return r.fail('E_INVALID');
  // Every channel's sockets is for the admin channel only, and without CHANNELS there is none.
  const all = body.allChannels === 1;
  if (all && !isAdmin(core, r.channel)) return r.fail('E_NOT_PERMITTED');
  const ch = core.channel(r.channel);
  const fit = Math.floor((ch.maxPayload - SNAPSHOT_FIXED) / Limits.entrySize);
  const limit = Math.min(body.maxEntries, fit);
  const entries: SocketEntry[] = [];
  let nextSlot = NO_MORE;
  for (let slot = body.startSlot; slot < core.opts.slots; slot++) {
    const s = core.table.atSlot(slot);
    if (!s || (!all && s.channel !== r.channel)) continue;
    if (entries.length === limit) {
      nextSlot = slot;
      break;
    }
    entries.push(s.toEntry());
  }
  r.ok({ epoch: core.epoch, eventSeq: ch.seq, nextSlot, count: entries.length, entries });
};

const socketOpen: Handler<'SOCKET_OPEN'> = (core, body, r) => {
  const caps = core.opts.capabilities;
  const { type, family, protocol, blocking } = body;
  if (type !== SocketType.STREAM && type !== SocketType.DGRAM) return r.fail('E_INVALID');
  if (family !== 4 && family !== 6) return r.fail('EAFNOSUPPORT');
  if (family === 6 && (caps & Capability.IPV6) === 0) return r.fail('EAFNOSUPPORT');
  if (protocol !== (type === SocketType.STREAM ? 6 : 17)) return r.fail('E_INVALID');
  if (blocking > 1) return r.fail('E_INVALID');
  if ((caps & (type === SocketType.STREAM ? Capability.TCP : Capability.UDP)) === 0)
    return r.fail('E_NOT_SUPPORTED');
  const full = slotRefusal(core, r.channel, core.opts.sendQueueSize + core.opts.recvQueueSize);
  if (full) return r.fail(full);
  const s = new Socket({
    channel: r.channel,
    type,
    family,
    protocol,
    blocking,
    sendCap: core.opts.sendQueueSize,
    recvCap: core.opts.recvQueueSize,
    recvCredit: body.recvCredit,
  });
  if (!core.table.insert(s)) return r.fail('E_NO_SLOT');
  // No STATUS announces the creation: the host starts from the state the response implies.
  s.refresh();
  s.announced = s.announcement();
  r.ok({ id: s.id, sendCredit: s.hostCredit });
};

export const DEVICE_HANDLERS: { [N in DeviceCommandName]: Handler<N> } = {
  HELLO: hello,
  PING: ping,
  REG_READ: regRead,
  REG_WRITE: regWrite,
  RESET: reset,
  SNAPSHOT: snapshot,
  SOCKET_OPEN: socketOpen,
};

export function isDeviceCommand(name: string): name is DeviceCommandName {
  return Object.hasOwn(DEVICE_HANDLERS, name);
}
