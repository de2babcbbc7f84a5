/**
 * Channels in DeviceCore (PROTOCOL.md §11): CHANNEL_OPEN and roles, the gate before it, isolation of every
 * socket-id opcode, quotas, the admin's powers, RESET under other channels, and the channel timeout.
 */
import { describe, expect, it } from 'vitest';
import {
  type CommandBodies,
  ChannelRole,
  Limits,
  SocketOption,
  SocketStatus,
  StatusCode,
  command,
  encodeMessage,
} from '../../../src/protocol/index.js';
import { SOCKET_COMMAND_NAMES, type SocketCommandName } from '../../../sim/core/index.js';
import { type Rig, RawHost, addr, connectTcp, makeRig, openTcp, openUdp } from './harness.js';

const CRED = 'let-me-in';
const NONE = Buffer.alloc(0);

function openChannel(rig: Rig, channel: number, role = 0, credential: Uint8Array = NONE): RawHost {
  const h = new RawHost(rig.core, rig.net, channel);
  h.hello();
  h.ok('CHANNEL_OPEN', { role, credential });
  return h;
}

/** Raw output bytes of one channel, for byte-for-byte comparisons. */
function rawOutput(rig: Rig, channel: number): Buffer[] {
  const out: Buffer[] = [];
  rig.core.onOutput((ch, b) => {
    if (ch === channel) out.push(Buffer.from(b));
  });
  return out;
}

/** A valid body for every command that names a socket. */
function bodyFor(name: SocketCommandName, id: number): CommandBodies[SocketCommandName] {
  const to = addr('10.0.0.99:7');
  const bodies: { [N in SocketCommandName]: CommandBodies[N] } = {
    BIND: { id, addr: addr('0.0.0.0:0') },
    LISTEN: { id, backlog: 4 },
    CONNECT: { id, timeoutMs: 0, addr: to },
    ACCEPT: { id, recvCredit: 100 },
    SEND: { id, data: Buffer.from('x') },
    SENDTO: { id, addr: to, data: Buffer.from('x') },
    RECV_CREDIT: { id, bytes: 10 },
    SHUTDOWN: { id, how: 2 },
    CLOSE: { id, abort: 1 },
    SETOPT: { id, option: SocketOption.REUSEADDR, value: 1 },
    GETOPT: { id, option: SocketOption.REUSEADDR },
    UPDATE: { id, status: 0xff, setFlags: 0x1000, clearFlags: 0 },
    QUERY: { id },
  };
  return bodies[name];
}

describe('CHANNEL_OPEN', () => {
  it('only HELLO, PING, REG_READ and CHANNEL_OPEN before CHANNEL_OPEN on a channel other than 0', () => {
    const rig = makeRig();
    const h = new RawHost(rig.core, rig.net, 4);
    h.hello();
    expect(h.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_BAD_STATE',
    );
    expect(h.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 0 })).toBe('E_BAD_STATE');
    expect(h.code('QUERY', { id: 0x0100 })).toBe('E_BAD_STATE');
    expect(h.code('RESET', { magic: Limits.resetMagic })).toBe('E_BAD_STATE');
    expect(h.code('PING', { payload: NONE })).toBe('OK');
    expect(h.code('REG_READ', { offset: 0, count: 1 })).toBe('OK');
    const q = h.ok('CHANNEL_OPEN', { role: ChannelRole.NORMAL, credential: NONE });
    expect(q).toEqual({ slotQuota: 32, queueQuota: 32 * 2 * 65536 });
    expect(openTcp(h)).toBeGreaterThan(0);
    // Channel 0 is open from boot: its sockets need no CHANNEL_OPEN.
    expect(openTcp(rig.host)).toBeGreaterThan(0);
  });

  it('roles: credential checks, channel 255 ADMIN only, another role is E_BAD_STATE, field errors', () => {
    const rig = makeRig({ adminCredential: CRED });
    const h = new RawHost(rig.core, rig.net, 7);
    h.hello();
    expect(h.code('CHANNEL_OPEN', { role: 2, credential: NONE })).toBe('E_INVALID');
    expect(h.code('CHANNEL_OPEN', { role: 0, credential: Buffer.from('x') })).toBe('E_INVALID');
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from('let-me-i') })).toBe('E_AUTH');
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(`${CRED}!`) })).toBe('E_AUTH');
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: NONE })).toBe('E_AUTH');
    expect(h.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_BAD_STATE',
    );
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('OK');
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('OK');
    expect(h.code('CHANNEL_OPEN', { role: 0, credential: NONE })).toBe('E_BAD_STATE');
    const adm = new RawHost(rig.core, rig.net, 255);
    adm.hello();
    expect(adm.code('CHANNEL_OPEN', { role: 0, credential: NONE })).toBe('E_NOT_PERMITTED');
    expect(adm.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('OK');
    // Channel 0 is NORMAL for good.
    expect(rig.host.code('CHANNEL_OPEN', { role: 0, credential: NONE })).toBe('OK');
    expect(rig.host.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('E_BAD_STATE');
  });

  it('a new link on an ADMIN channel (another host?) needs the credential again; a NORMAL channel stays open', () => {
    const rig = makeRig({ adminCredential: CRED });
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    const one = openChannel(rig, 1);
    const mine = openTcp(adm);
    rig.core.channelUp(255);
    rig.core.channelUp(1);
    expect(adm.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 1 })).toBe('E_BAD_STATE');
    expect(adm.code('CHANNEL_RESET', { channel: 1 })).toBe('E_BAD_STATE');
    expect(adm.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from('guess') })).toBe('E_AUTH');
    expect(openTcp(one)).toBeGreaterThan(0);
    expect(adm.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('OK');
    // The channel's sockets survived the new link.
    expect(adm.query(mine).channel).toBe(255);
  });

  it('without a configured credential no channel becomes ADMIN', () => {
    const rig = makeRig();
    const h = new RawHost(rig.core, rig.net, 255);
    h.hello();
    expect(h.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from('anything') })).toBe('E_AUTH');
  });

  it('a device without CHANNELS: CHANNEL_OPEN unsupported, other channels usable as before', () => {
    const rig = makeRig({ capabilities: 0x7f & ~0x40 });
    const h = new RawHost(rig.core, rig.net, 2);
    h.hello();
    expect(h.code('CHANNEL_OPEN', { role: 0, credential: NONE })).toBe('E_NOT_SUPPORTED');
    expect(h.code('CHANNEL_RESET', { channel: 0 })).toBe('E_NOT_SUPPORTED');
    expect(openTcp(h)).toBeGreaterThan(0);
  });
});

describe('isolation', () => {
  it('every opcode naming another channel’s socket answers byte for byte as a never-allocated id, changing nothing', () => {
    const rig = makeRig({ adminCredential: CRED });
    const other = openChannel(rig, 1);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    rig.net.echoServer('10.0.0.99:7');
    // The other channel's sockets in several states.
    const foreign = [openTcp(other), openUdp(other)];
    const l = openTcp(other);
    other.ok('BIND', { id: l, addr: addr('0.0.0.0:0') });
    other.ok('LISTEN', { id: l, backlog: 2 });
    foreign.push(l);
    const c = openTcp(other);
    other.ok('CONNECT', { id: c, timeoutMs: 0, addr: addr('10.0.0.99:7') });
    rig.net.runUntil(() => other.mirror.get(c)?.status === SocketStatus.CONNECTED, 2000);
    foreign.push(c);
    const mine = openTcp(rig.host);
    const tableBefore = JSON.stringify(rig.core.table());
    const otherSnapBefore = other.snapshotBytes();
    const admSnap = () => adm.ok('SNAPSHOT', { startSlot: 0, maxEntries: 255, allChannels: 1 }).entries;
    const admBefore = JSON.stringify(admSnap());
    const otherEventsBefore = other.events.length;
    const out = rawOutput(rig, 0);
    // Never allocated: slot 200 (beyond every used slot), generation 1.
    const unknown = 0x01c8;
    let tag = 1000;
    let compared = 0;
    for (const name of SOCKET_COMMAND_NAMES) {
      for (const id of foreign) {
        tag++;
        const n = out.length;
        rig.core.handleHostMessage(0, encodeMessage(command(name, tag, bodyFor(name, id) as never) as never));
        rig.core.handleHostMessage(
          0,
          encodeMessage(command(name, tag, bodyFor(name, unknown) as never) as never),
        );
        expect(out.length, name).toBe(n + 2);
        expect(out[n + 1]!.equals(out[n]!), `${name} on ${id}`).toBe(true);
        expect(out[n]!.readUInt16LE(4), name).toBe(StatusCode.E_UNKNOWN_SOCKET);
        compared++;
      }
    }
    expect(compared).toBe(SOCKET_COMMAND_NAMES.length * foreign.length);
    rig.net.advance(50);
    expect(JSON.stringify(rig.core.table())).toBe(tableBefore);
    expect(other.snapshotBytes().equals(otherSnapBefore)).toBe(true);
    expect(JSON.stringify(admSnap())).toBe(admBefore);
    expect(other.events.length).toBe(otherEventsBefore);
    // The channel sees only its own socket, in SNAPSHOT, QUERY and the register window.
    expect(rig.host.snapshot().entries.map((e) => e.id)).toEqual([mine]);
    const window = rig.host.ok('REG_READ', { offset: 0x1000 + (c & 0xff) * Limits.entrySize, count: 4 });
    expect(window.values).toEqual([0, 0, 0, 0]);
  });

  it('the admin is isolated too, except SNAPSHOT allChannels and CLOSE', () => {
    const rig = makeRig({ adminCredential: CRED });
    const other = openChannel(rig, 1);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    const id = openTcp(other);
    expect(adm.code('QUERY', { id })).toBe('E_UNKNOWN_SOCKET');
    expect(adm.code('SETOPT', { id, option: SocketOption.REUSEADDR, value: 1 })).toBe('E_UNKNOWN_SOCKET');
    expect(adm.code('SEND', { id, data: Buffer.from('x') })).toBe('E_UNKNOWN_SOCKET');
    expect(other.query(id).options).toBe(0);
  });
});

describe('quotas', () => {
  it('slot quota: E_QUOTA for the channel, E_NO_SLOT when the device is full', () => {
    const rig = makeRig({ slots: 4, channelQuotas: { 1: { slotQuota: 2 } } });
    const one = openChannel(rig, 1);
    expect(one.ok('CHANNEL_OPEN', { role: 0, credential: NONE }).slotQuota).toBe(2);
    expect(one.hello().slots).toBe(2);
    openTcp(one);
    openUdp(one);
    expect(one.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_QUOTA',
    );
    openTcp(rig.host);
    openTcp(rig.host);
    expect(
      rig.host.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 }),
    ).toBe('E_NO_SLOT');
    expect(rig.core.table()).toHaveLength(4);
  });

  it('queue quota: SOCKET_OPEN and SETOPT RCVBUF/SNDBUF beyond it are E_QUOTA and change nothing', () => {
    const rig = makeRig({ sendQueueSize: 1024, recvQueueSize: 1024, queueQuota: 5000 });
    const one = openChannel(rig, 1);
    expect(one.ok('CHANNEL_OPEN', { role: 0, credential: NONE }).queueQuota).toBe(5000);
    const a = openTcp(one);
    const b = openTcp(one); // 4096 of 5000
    expect(one.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_QUOTA',
    );
    expect(one.code('SETOPT', { id: a, option: SocketOption.RCVBUF, value: 2048 })).toBe('E_QUOTA');
    expect(one.code('SETOPT', { id: a, option: SocketOption.SNDBUF, value: 2048 })).toBe('E_QUOTA');
    expect(one.ok('GETOPT', { id: a, option: SocketOption.RCVBUF }).value).toBe(1024);
    expect(one.ok('GETOPT', { id: a, option: SocketOption.SNDBUF }).value).toBe(1024);
    expect(one.code('SETOPT', { id: a, option: SocketOption.RCVBUF, value: 1900 })).toBe('OK');
    // Lowering is always allowed and frees room.
    expect(one.code('SETOPT', { id: b, option: SocketOption.RCVBUF, value: 256 })).toBe('OK');
    expect(one.code('SETOPT', { id: a, option: SocketOption.SNDBUF, value: 1700 })).toBe('OK');
    // Another channel's quota is its own.
    openTcp(rig.host);
    openTcp(rig.host);
  });

  it('ACCEPT beyond the slot quota is E_QUOTA and the connection stays queued', () => {
    const rig = makeRig({ channelQuotas: { 1: { slotQuota: 1 } } });
    const one = openChannel(rig, 1);
    const l = openTcp(one);
    one.ok('BIND', { id: l, addr: addr('10.0.0.1:80') });
    one.ok('LISTEN', { id: l, backlog: 2 });
    rig.net.connect('10.0.0.1:80');
    rig.net.advance(10);
    expect(one.code('ACCEPT', { id: l, recvCredit: 0 })).toBe('E_QUOTA');
    expect(one.query(l).connQueued).toBe(1);
  });
});

describe('admin powers', () => {
  it('SNAPSHOT allChannels shows every socket with its channel; only ADMIN may ask', () => {
    const rig = makeRig({ adminCredential: CRED });
    const one = openChannel(rig, 1);
    const two = openChannel(rig, 2);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    const a = openTcp(rig.host);
    const b = openTcp(one);
    const c = openUdp(two);
    expect(one.code('SNAPSHOT', { startSlot: 0, maxEntries: 10, allChannels: 1 })).toBe('E_NOT_PERMITTED');
    const all = adm.ok('SNAPSHOT', { startSlot: 0, maxEntries: 255, allChannels: 1 }).entries;
    expect(all.map((e) => [e.id, e.channel])).toEqual([
      [a, 0],
      [b, 1],
      [c, 2],
    ]);
    expect(adm.snapshot().entries).toEqual([]);
  });

  it('CLOSE of another channel’s socket: aborted, final STATUS with ECONNABORTED on the owning channel', () => {
    const rig = makeRig({ adminCredential: CRED });
    const one = openChannel(rig, 1);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    rig.net.echoServer('10.0.0.99:7');
    const id = connectTcp({ ...rig, host: one }, '10.0.0.99:7');
    const keep = openTcp(one);
    expect(adm.code('CLOSE', { id, abort: 2 })).toBe('E_INVALID');
    expect(one.mirror.has(id)).toBe(true);
    expect(adm.code('CLOSE', { id, abort: 0 })).toBe('OK');
    const last = one.eventsNamed('STATUS').at(-1)!;
    expect(last.body).toMatchObject({ id, status: SocketStatus.TERMINATED, error: StatusCode.ECONNABORTED });
    expect(adm.eventsNamed('STATUS')).toEqual([]);
    expect(one.snapshot().entries.map((e) => e.id)).toEqual([keep]);
    expect(one.violations).toEqual([]);
    // A NORMAL channel cannot.
    const other = openTcp(rig.host);
    expect(one.code('CLOSE', { id: other, abort: 1 })).toBe('E_UNKNOWN_SOCKET');
  });

  it('CHANNEL_RESET aborts one channel’s sockets only', () => {
    const rig = makeRig({ adminCredential: CRED });
    const one = openChannel(rig, 1);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    const a = openTcp(one);
    const b = openUdp(one);
    const mine = openTcp(rig.host);
    expect(one.code('CHANNEL_RESET', { channel: 0 })).toBe('E_NOT_PERMITTED');
    expect(adm.ok('CHANNEL_RESET', { channel: 1 })).toEqual({ closed: 2 });
    expect(
      one
        .eventsNamed('STATUS')
        .filter((e) => e.body.status === SocketStatus.TERMINATED)
        .map((e) => [e.body.id, e.body.error]),
    ).toEqual([
      [a, StatusCode.ECONNABORTED],
      [b, StatusCode.ECONNABORTED],
    ]);
    expect(rig.core.table().map((e) => e.id)).toEqual([mine]);
    expect(adm.ok('CHANNEL_RESET', { channel: 9 })).toEqual({ closed: 0 });
    // The channel stays open: it opens sockets again.
    expect(openTcp(one)).toBeGreaterThan(0);
  });
});

describe('RESET with several channels', () => {
  it('a NORMAL channel may not reset while another open channel has a host; the admin may; all reopen after', () => {
    const rig = makeRig({ adminCredential: CRED });
    const one = openChannel(rig, 1);
    openTcp(one);
    expect(rig.host.code('RESET', { magic: Limits.resetMagic })).toBe('E_NOT_PERMITTED');
    expect(one.code('RESET', { magic: Limits.resetMagic })).toBe('E_NOT_PERMITTED');
    expect(rig.core.table()).toHaveLength(1);
    const adm = openChannel(rig, 255, 1, Buffer.from(CRED));
    expect(adm.code('RESET', { magic: Limits.resetMagic })).toBe('OK');
    expect(rig.core.table()).toEqual([]);
    // Every channel other than 0 must be opened again.
    one.hello();
    expect(one.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_BAD_STATE',
    );
    rig.host.hello();
    expect(openTcp(rig.host)).toBeGreaterThan(0);
  });

  it('a channel whose link went down does not block RESET', () => {
    const rig = makeRig();
    openChannel(rig, 1);
    rig.core.channelDown(1);
    expect(rig.host.code('RESET', { magic: Limits.resetMagic })).toBe('OK');
  });
});

describe('channel timeout', () => {
  it('a channel down for channelTimeoutMs loses its sockets and must be opened again; a link back in time keeps them', () => {
    const rig = makeRig({ channelTimeoutMs: 1000 });
    const one = openChannel(rig, 1);
    const two = openChannel(rig, 2);
    const a = openTcp(one);
    const b = openTcp(two);
    const mine = openTcp(rig.host);
    rig.core.channelDown(1);
    rig.core.channelDown(2);
    expect(rig.core.nextDeadline()).toBe(rig.net.now() + 1000);
    rig.net.advance(500);
    rig.core.channelUp(2); // back in time
    rig.net.advance(499);
    expect(rig.core.table().map((e) => e.id)).toEqual([a, b, mine]);
    rig.net.advance(2);
    expect(rig.core.table().map((e) => e.id)).toEqual([b, mine]);
    const term = one.eventsNamed('STATUS').at(-1)!;
    expect(term.body).toMatchObject({
      id: a,
      status: SocketStatus.TERMINATED,
      error: StatusCode.ECONNABORTED,
    });
    expect(one.code('SOCKET_OPEN', { type: 1, family: 4, protocol: 6, blocking: 0, recvCredit: 0 })).toBe(
      'E_BAD_STATE',
    );
    expect(two.query(b).channel).toBe(2);
    // Channel 0 times out its sockets too but stays open.
    rig.core.channelDown(0);
    rig.net.advance(1001);
    expect(rig.core.table().map((e) => e.id)).toEqual([b]);
    expect(openTcp(rig.host)).toBeGreaterThan(0);
  });
});
