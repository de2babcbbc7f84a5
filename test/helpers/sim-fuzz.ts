/**
 * TEST TOOL: fuzz sessions thrown at a simulator's TCP-shim port (used by test/sim/fuzz.test.ts and
 * scripts/fuzz-sim.ts). Two kinds of session, each on its own TCP connection:
 *
 * - junk: arbitrary bytes (the first four are read as a record length: usually impossible, so the simulator
 *   drops the connection, sometimes plausible, so it waits for a record that never completes);
 * - frames: a valid SYNC, then a mix of well-formed commands (random and targeted), random message bytes in
 *   MSG frames, records with flipped bits (bad CRC), frames of random type/channel/flags, and finally a PING
 *   whose answer must come back ("answers what it can"); optionally an impossible record length at the very
 *   end, after which the simulator must close the connection.
 *
 * Every MSG frame the simulator sends must decode as a protocol message.
 */
import net from 'node:net';
import fc from 'fast-check';
import {
  type AnyCommand,
  type CommandName,
  command,
  decodeMessage,
  decodeSyncAck,
  encodeMessage,
  encodeSync,
  encodeTcpRecord,
  type Frame,
  FrameType,
  Limits,
  type Message,
  PROTOCOL_VERSION_WORD,
  TcpDeframer,
} from '../../src/protocol/index.js';
import { messageArb } from '../protocol/arbitraries.js';

export type FuzzItem =
  | { kind: 'command'; message: AnyCommand }
  | { kind: 'msg-bytes'; bytes: Uint8Array }
  | { kind: 'flipped'; message: AnyCommand; bit: number }
  | { kind: 'frame'; type: number; channel: number; flags: number; payload: Uint8Array }
  | { kind: 'garbage-record'; bytes: Uint8Array };

export type FuzzSession =
  | { kind: 'junk'; chunks: Uint8Array[] }
  | { kind: 'frames'; items: FuzzItem[]; fatalEnd: boolean };

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Ids the simulator hands out first (slot | generation << 8), so targeted commands hit real sockets. */
const likelyId = fc.oneof(fc.constantFrom(0x100, 0x101, 0x102, 0x200, 0x201, 0xffff), u16);
const tag = fc.integer({ min: 1, max: 0xfff0 });

function cmd<N extends CommandName>(
  name: N,
  body: fc.Arbitrary<AnyCommand['body']>,
): fc.Arbitrary<AnyCommand> {
  return fc.record({ tag, body }).map(({ tag: t, body: b }) => command(name, t, b as never) as AnyCommand);
}

/** Well-formed commands that reach deep into DeviceCore (real ids, plausible fields). */
const targetedCommand: fc.Arbitrary<AnyCommand> = fc.oneof(
  cmd('HELLO', fc.record({ protoVersion: fc.constantFrom(PROTOCOL_VERSION_WORD, 0x0200, 0), hostCaps: u32 })),
  cmd(
    'SOCKET_OPEN',
    fc.record({
      type: fc.constantFrom(1, 2, 0, 9),
      family: fc.constantFrom(4, 6, 0),
      protocol: fc.constantFrom(6, 17, 0),
      blocking: fc.constantFrom(0, 1),
      recvCredit: fc.oneof(fc.constant(65536), u32),
    }),
  ),
  cmd(
    'BIND',
    fc.record({
      id: likelyId,
      addr: fc.constantFrom(
        { family: 4, port: 0, address: '0.0.0.0' },
        { family: 4, port: 0, address: '10.0.0.1' },
        { family: 6, port: 0, address: '::' },
        { family: 0, port: 0, address: '' },
      ),
    }),
  ),
  cmd('LISTEN', fc.record({ id: likelyId, backlog: fc.constantFrom(0, 1, 4, 0xffff) })),
  cmd(
    'CONNECT',
    fc.record({
      id: likelyId,
      timeoutMs: fc.constantFrom(0, 50, 1000),
      addr: fc.constantFrom(
        { family: 4, port: 7, address: '10.0.0.100' },
        { family: 4, port: 80, address: '10.0.0.101' },
        { family: 4, port: 80, address: '10.0.0.102' },
        { family: 6, port: 7, address: 'fd00::100' },
      ),
    }),
  ),
  cmd('ACCEPT', fc.record({ id: likelyId, recvCredit: u32 })),
  cmd(
    'SEND',
    fc.record({ id: likelyId, data: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) }),
  ),
  cmd(
    'SENDTO',
    fc.record({
      id: likelyId,
      addr: fc.constantFrom(
        { family: 4, port: 7, address: '10.0.0.100' },
        { family: 4, port: 9, address: '10.0.0.100' },
      ),
      data: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    }),
  ),
  cmd('RECV_CREDIT', fc.record({ id: likelyId, bytes: u32 })),
  cmd('SHUTDOWN', fc.record({ id: likelyId, how: fc.constantFrom(0, 1, 2, 3, 9) })),
  cmd('CLOSE', fc.record({ id: likelyId, abort: fc.constantFrom(0, 1, 7) })),
  cmd('SETOPT', fc.record({ id: likelyId, option: fc.integer({ min: 0, max: 10 }), value: u32 })),
  cmd('GETOPT', fc.record({ id: likelyId, option: fc.integer({ min: 0, max: 10 }) })),
  cmd(
    'UPDATE',
    fc.record({ id: likelyId, status: fc.constantFrom(0xff, 4, 9), setFlags: u16, clearFlags: u16 }),
  ),
  cmd('QUERY', fc.record({ id: likelyId })),
  cmd(
    'SNAPSHOT',
    fc.record({
      startSlot: fc.integer({ min: 0, max: 300 }),
      maxEntries: fc.integer({ min: 0, max: 255 }),
      allChannels: fc.constantFrom(0, 1),
    }),
  ),
  cmd(
    'REG_READ',
    fc.record({
      offset: fc.oneof(fc.integer({ min: 0, max: 80 }), u32),
      count: fc.integer({ min: 0, max: 40 }),
    }),
  ),
  cmd('REG_WRITE', fc.record({ offset: fc.integer({ min: 0, max: 80 }), value: u32 })),
  cmd('RESET', fc.record({ magic: fc.oneof(fc.constant(Limits.resetMagic), u32) })),
  cmd('PING', fc.record({ payload: fc.uint8Array({ maxLength: 1000 }).map((b) => Buffer.from(b)) })),
);

/** Any command the codec can express, random fields (mostly refused, exercising every validation). */
const anyCommand = messageArb.filter((m): m is AnyCommand => m.kind === 'command');

const someCommand = fc.oneof({ weight: 3, arbitrary: targetedCommand }, { weight: 1, arbitrary: anyCommand });

export const fuzzItemArb: fc.Arbitrary<FuzzItem> = fc.oneof(
  { weight: 6, arbitrary: someCommand.map((message): FuzzItem => ({ kind: 'command', message })) },
  {
    weight: 2,
    arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): FuzzItem => ({ kind: 'msg-bytes', bytes })),
  },
  {
    weight: 1,
    // A message whose opcode is a command or a device-to-host kind, with random bytes after a plausible header.
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 48 })).map(
      ([op, rest]): FuzzItem => ({
        kind: 'msg-bytes',
        bytes: Buffer.concat([Buffer.from([op, 0, 7, 0]), rest]),
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(someCommand, fc.nat())
      .map(([message, bit]): FuzzItem => ({ kind: 'flipped', message, bit })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        // Every type but BYE, which ends the session's link on purpose (§4.5; test/link covers it).
        type: fc.integer({ min: 0, max: 8 }).filter((t) => t !== FrameType.BYE),
        channel: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
        flags: fc.constantFrom(0, 0, 0, 1, 2),
        payload: fc.uint8Array({ maxLength: 40 }),
      })
      .map((f): FuzzItem => ({ kind: 'frame', ...f })),
  },
  {
    weight: 1,
    // A record whose length prefix is right but whose content is garbage (bad CRC / too short).
    arbitrary: fc
      .uint8Array({ minLength: 14, maxLength: 80 })
      .map((bytes): FuzzItem => ({ kind: 'garbage-record', bytes })),
  },
);

export const fuzzSessionArb: fc.Arbitrary<FuzzSession> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc
      .array(fc.uint8Array({ minLength: 1, maxLength: 512 }), { minLength: 1, maxLength: 4 })
      .map((chunks): FuzzSession => ({ kind: 'junk', chunks })),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ items: fc.array(fuzzItemArb, { minLength: 1, maxLength: 25 }), fatalEnd: fc.boolean() })
      .map((s): FuzzSession => ({ kind: 'frames', ...s })),
  },
);

const FINAL_PING_TAG = 0xfffe;

function record(frame: Omit<Frame, 'seq' | 'ack' | 'flags'> & Partial<Frame>): Buffer {
  return encodeTcpRecord({ seq: 0, ack: 0, flags: 0, ...frame });
}

function msgRecord(bytes: Uint8Array, channel = 0): Buffer {
  return record({ channel, type: FrameType.MSG, payload: bytes });
}

/** The bytes of one item, as TCP records. */
export function itemBytes(item: FuzzItem): Buffer {
  switch (item.kind) {
    case 'command':
      return msgRecord(encodeMessage(item.message));
    case 'msg-bytes':
      return msgRecord(item.bytes);
    case 'flipped': {
      const rec = msgRecord(encodeMessage(item.message));
      const prefix = Limits.tcpLengthPrefixSize;
      const bit = item.bit % ((rec.length - prefix) * 8);
      rec[prefix + (bit >> 3)]! ^= 1 << (bit & 7); // keep the length prefix: the record boundary survives
      return rec;
    }
    case 'frame': {
      const secure = (item.flags & 1) !== 0;
      let payload = item.payload;
      if (item.type === FrameType.SYNC && item.channel === 0 && payload.length === 8) {
        // A valid SYNC restarts our channel's link; keep ARQ off, which is all this client speaks.
        payload = Buffer.from(payload);
        payload[5] = 0;
      }
      const frame: Frame = {
        channel: item.channel,
        type: item.type,
        seq: 0,
        ack: 0,
        flags: item.flags,
        payload,
      };
      if (secure) {
        frame.counter = 1n;
        frame.mac = Buffer.alloc(16);
      }
      return encodeTcpRecord(frame);
    }
    case 'garbage-record': {
      const out = Buffer.alloc(4 + item.bytes.length);
      out.writeUInt32LE(item.bytes.length, 0);
      Buffer.from(item.bytes).copy(out, 4);
      return out;
    }
  }
}

export interface SessionResult {
  /** Frames the simulator sent. */
  framesReceived: number;
  /** MSG frames whose payload did not decode as a message (must be 0). */
  undecodable: number;
  /** Got SYNC_ACK for our SYNC (frames sessions). */
  synced: boolean;
  /** Got the answer to the final PING (frames sessions without fatalEnd). */
  pinged: boolean;
  /** The simulator closed the connection. */
  closedByPeer: boolean;
  /** The simulator broke the record framing (must never happen). */
  badFraming: boolean;
}

/**
 * Runs one session against host:port. Resolves once the expected answer came (or the simulator closed the
 * connection), or after `waitMs` otherwise.
 */
export function runSession(
  host: string,
  port: number,
  session: FuzzSession,
  waitMs = 1500,
): Promise<SessionResult> {
  return new Promise<SessionResult>((resolve) => {
    const result: SessionResult = {
      framesReceived: 0,
      undecodable: 0,
      synced: false,
      pinged: false,
      closedByPeer: false,
      badFraming: false,
    };
    const deframer = new TcpDeframer(Limits.maxPayloadAbsolute);
    const socket = net.connect({ host, port });
    const nonce = 0x1234_0000 + Math.floor(Math.random() * 0xffff);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('error', () => {
      result.closedByPeer = true;
      finish();
    });
    socket.on('close', () => {
      result.closedByPeer = true;
      finish();
    });
    socket.on('data', (chunk) => {
      for (const out of deframer.push(chunk)) {
        if (out.kind === 'fatal' || out.kind === 'discarded') {
          result.badFraming = true;
          continue;
        }
        result.framesReceived++;
        const f = out.frame;
        if (f.type === FrameType.SYNC_ACK && f.channel === 0) {
          try {
            if (decodeSyncAck(f.payload).peerNonce === nonce) result.synced = true;
          } catch {
            result.badFraming = true;
          }
        }
        if (f.type === FrameType.MSG) {
          let m: Message;
          try {
            m = decodeMessage(f.payload);
          } catch {
            result.undecodable++;
            continue;
          }
          if (f.channel === 0 && m.kind === 'response' && m.name === 'PING' && m.tag === FINAL_PING_TAG) {
            result.pinged = true;
            if (session.kind === 'frames' && !session.fatalEnd) finish();
          }
        }
      }
    });
    socket.on('connect', () => {
      if (session.kind === 'junk') {
        for (const c of session.chunks) socket.write(c);
        return;
      }
      const parts: Buffer[] = [
        record({
          channel: 0,
          type: FrameType.SYNC,
          payload: encodeSync({ nonce, window: 16, arq: 0, maxPayload: 16384 }),
        }),
      ];
      for (const item of session.items) parts.push(itemBytes(item));
      parts.push(
        msgRecord(
          encodeMessage(
            command('PING', FINAL_PING_TAG, { payload: Buffer.from('still there?') }) as AnyCommand,
          ),
        ),
      );
      if (session.fatalEnd) {
        const bad = Buffer.alloc(4);
        bad.writeUInt32LE(0xfffffff0, 0); // an impossible record length: the link must give up on this stream
        parts.push(bad);
      }
      socket.write(Buffer.concat(parts));
    });
  });
}
