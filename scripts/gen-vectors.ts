/**
 * `npm run gen:vectors`: writes the golden vectors in firmware-protocol/vectors/ from hand-chosen field values,
 * encoded by the TypeScript codec. Run it deliberately: the vectors are the contract, and the TS and C tests
 * check their codecs against the committed files, so a codec change that alters bytes fails both.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Addr,
  addressToBytes,
  cobsEncode,
  crc32,
  encodeFrame,
  encodeMessage,
  encodeSerialFrame,
  encodeSync,
  encodeSyncAck,
  encodeTcpRecord,
  type FieldSchema,
  type Frame,
  FrameFlag,
  FrameType,
  MESSAGE_SCHEMAS,
  type Message,
  type SocketEntry,
  SocketStatus,
  StatusCode,
} from '../src/protocol/index.js';
import { deriveSessionKeys, deviceProof, frameMac, hostProof } from '../src/protocol/secure.js';
import { ROOT } from './definition.js';

const OUT = join(ROOT, 'firmware-protocol', 'vectors');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const ADDR_V4: Addr = { family: 4, port: 8080, address: '127.0.0.1' };
const ADDR_V6: Addr = { family: 6, port: 443, address: '::1' };
const ENTRY: SocketEntry = {
  id: 0x0203,
  type: 1,
  family: 4,
  protocol: 6,
  status: SocketStatus.CONNECTED,
  flags: 0x0002,
  lastError: 0,
  options: 0x0002,
  blocking: 0,
  channel: 0,
  backlog: 0,
  connQueued: 0,
  reserved: 0,
  sendQueued: 10,
  recvQueued: 20,
  sendSpace: 65526,
  recvCredit: 4096,
  local: { family: 4, port: 40000, address: '127.0.0.1' },
  remote: ADDR_V4,
  pendingEvents: 0,
};

/** A plausible value for a field, chosen by name first, then by type. */
function sample(f: FieldSchema, i: number): unknown {
  const byName: Record<string, unknown> = {
    id: 0x0203,
    newId: 0x0104,
    protoVersion: 0x0100,
    type: 1,
    family: 4,
    protocol: 6,
    status: 4,
    how: 2,
    option: 2,
    magic: 0x52535421,
    offset: 0x30,
    count: 2,
    values: [0x4f464c44, 0x100],
    firmware: 'offload-sim 0.1',
    payload: Buffer.from('ping'),
    data: Buffer.from('hello, board\n'),
    addr: ADDR_V4,
    local: { family: 4, port: 40000, address: '127.0.0.1' },
    remote: ADDR_V4,
    from: ADDR_V6,
    entry: ENTRY,
    entries: [
      ENTRY,
      { ...ENTRY, id: 0x0105, status: SocketStatus.LISTENING, remote: { family: 0, port: 0, address: '' } },
    ],
    credential: Buffer.from('admin-secret'),
    hostNonce: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
    deviceNonce: Buffer.from('f0e1d2c3b4a5968778695a4b3c2d1e0f', 'hex'),
    deviceProof: Buffer.alloc(16, 0xd1),
    hostProof: Buffer.alloc(16, 0x4e),
  };
  if (f.name in byName) return byName[f.name];
  switch (f.type) {
    case 'u8':
      return (i * 17 + 1) & 0xff;
    case 'u16':
      return (0x1234 + i * 0x101) & 0xffff;
    case 'u32':
      return (0x10000 + i * 0x10001) >>> 0;
    case 'bytes16':
      return Buffer.alloc(16, i + 1);
    case 'bytes':
      return Buffer.from([0, 1, 2, 0xff]);
    case 'str8':
      return 'x';
    default:
      throw new Error(`no sample for ${f.name}:${f.type}`);
  }
}

function bodyFor(fields: readonly FieldSchema[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  fields.forEach((f, i) => {
    body[f.name] = sample(f, i);
  });
  if ('count' in body && Array.isArray(body.entries)) body.count = (body.entries as unknown[]).length;
  return body;
}

/** JSON form of field values: bytes as hex, addresses with all 16 bytes as hex. */
function jsonValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return hex(v);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if ('family' in o && 'address' in o && 'port' in o && Object.keys(o).length === 3) {
      const a = o as unknown as Addr;
      return { family: a.family, port: a.port, addressHex: hex(addressToBytes(a.family, a.address)) };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, jsonValue(x)]));
  }
  return v;
}

function messageVectors() {
  const out: unknown[] = [];
  let tag = 1;
  const push = (name: string, doc: string, msg: Message, opcode: number) => {
    const bytes = encodeMessage(msg);
    const m = msg as unknown as Record<string, unknown>;
    out.push({
      name,
      doc,
      hex: hex(bytes),
      message: {
        kind: msg.kind,
        name: msg.name,
        opcode,
        tag: 'tag' in msg ? msg.tag : 0,
        ...('status' in m ? { status: m.status } : {}),
        ...(msg.kind === 'event' ? { epoch: msg.epoch, seq: msg.seq } : {}),
        fields: jsonValue(msg.body),
      },
    });
  };
  for (const s of MESSAGE_SCHEMAS) {
    if (s.kind === 'command') {
      const t = tag++;
      push(
        `${s.name}_request`,
        `${s.name} command`,
        { kind: 'command', name: s.name, tag: t, body: bodyFor(s.request) } as Message,
        s.opcode,
      );
      push(
        `${s.name}_response_ok`,
        `${s.name} response, status OK`,
        { kind: 'response', name: s.name, tag: t, status: 0, body: bodyFor(s.response) } as Message,
        s.opcode | 0x80,
      );
      if (s.errorResponse.length > 0) {
        push(
          `${s.name}_response_queue_full`,
          `${s.name} response, E_QUEUE_FULL with the error fields`,
          {
            kind: 'response',
            name: s.name,
            tag: t,
            status: StatusCode.E_QUEUE_FULL,
            body: { accepted: 5 },
          } as Message,
          s.opcode | 0x80,
        );
      }
    } else if (s.kind === 'event') {
      push(
        `${s.name}_event`,
        `${s.name} event`,
        { kind: 'event', name: s.name, epoch: 3, seq: 42, body: bodyFor(s.fields) } as Message,
        s.opcode,
      );
    } else {
      push(
        'ERROR_RESPONSE_bad_opcode',
        'answer to a message with unknown opcode 0x3f, tag 0x0102',
        {
          kind: 'error',
          name: 'ERROR_RESPONSE',
          tag: 0x0102,
          status: StatusCode.E_BAD_OPCODE,
          body: { offendingOpcode: 0x3f },
        },
        s.opcode,
      );
    }
  }
  push(
    'UPDATE_response_unknown_socket',
    'FIG 32: UPDATE naming an id not in the table: low-level error, no body',
    { kind: 'response', name: 'UPDATE', tag: 77, status: StatusCode.E_UNKNOWN_SOCKET, body: {} } as Message,
    0x9c,
  );
  push(
    'CONNECT_request_ipv6',
    'CONNECT to [::1]:443',
    { kind: 'command', name: 'CONNECT', tag: 9, body: { id: 0x0101, timeoutMs: 0, addr: ADDR_V6 } },
    0x13,
  );
  return out;
}

function frameVector(name: string, doc: string, frame: Frame) {
  const body = encodeFrame(frame);
  return {
    name,
    doc,
    header: {
      version: 1,
      flags: frame.flags,
      channel: frame.channel,
      type: frame.type,
      seq: frame.seq,
      ack: frame.ack,
      length: frame.payload.length,
    },
    ...(frame.counter !== undefined
      ? { counterHex: hex(Buffer.from(new BigUint64Array([frame.counter]).buffer)) }
      : {}),
    payloadHex: hex(frame.payload),
    ...(frame.mac ? { macHex: hex(frame.mac) } : {}),
    frameHex: hex(body),
    wireHex: hex(encodeSerialFrame(frame)),
    tcpHex: hex(encodeTcpRecord(frame)),
  };
}

function frameVectors() {
  const msg = encodeMessage({ kind: 'command', name: 'PING', tag: 1, body: { payload: Buffer.from('hi') } });
  const base = { channel: 0, flags: 0, seq: 0, ack: 0 };
  const zeros = Buffer.alloc(300, 0);
  const runs = Buffer.alloc(254 * 2 + 3);
  for (let i = 0; i < runs.length; i++) runs[i] = (i % 255) + 1;
  const max = Buffer.alloc(4096);
  for (let i = 0; i < max.length; i++) max[i] = (i * 7) & 0xff;
  return [
    frameVector('msg_ping', 'MSG frame carrying PING(tag 1, "hi")', {
      ...base,
      type: FrameType.MSG,
      seq: 5,
      ack: 3,
      payload: msg,
    }),
    frameVector('ack', 'standalone ACK: next expected 0x1234', {
      ...base,
      type: FrameType.ACK,
      ack: 0x1234,
      payload: Buffer.alloc(0),
    }),
    frameVector('nak', 'NAK: retransmit from 7', {
      ...base,
      type: FrameType.NAK,
      ack: 7,
      payload: Buffer.alloc(0),
    }),
    frameVector('heartbeat', 'HEARTBEAT on channel 2', {
      ...base,
      channel: 2,
      type: FrameType.HEARTBEAT,
      payload: Buffer.alloc(0),
    }),
    frameVector('bye', 'BYE on channel 1 acknowledging up to seq 3 (the sender leaves, §4.5)', {
      ...base,
      channel: 1,
      type: FrameType.BYE,
      ack: 4,
      payload: Buffer.alloc(0),
    }),
    frameVector('sync', 'SYNC nonce 0xdeadbeef, window 16, ARQ on, max payload 4096', {
      ...base,
      type: FrameType.SYNC,
      payload: encodeSync({ nonce: 0xdeadbeef, window: 16, arq: 1, maxPayload: 4096 }),
    }),
    frameVector('sync_ack', 'SYNC_ACK answering nonce 0xdeadbeef', {
      ...base,
      type: FrameType.SYNC_ACK,
      payload: encodeSyncAck({
        nonce: 0x01020304,
        peerNonce: 0xdeadbeef,
        window: 8,
        arq: 1,
        maxPayload: 1024,
      }),
    }),
    frameVector('all_zero_payload', 'COBS edge: 300 zero bytes of payload', {
      ...base,
      type: FrameType.MSG,
      payload: zeros,
    }),
    frameVector('runs_of_254', 'COBS edge: runs of 254 non-zero bytes', {
      ...base,
      type: FrameType.MSG,
      seq: 0xffff,
      ack: 0xfffe,
      payload: runs,
    }),
    frameVector('max_payload_4096', 'maximum serial payload (4096 bytes)', {
      ...base,
      type: FrameType.MSG,
      seq: 1,
      payload: max,
    }),
    frameVector(
      'secure_msg',
      'SECURE frame: counter 1 and a 16-byte MAC (MAC bytes here are illustrative; see PROTOCOL.md for how they are computed)',
      {
        ...base,
        flags: FrameFlag.SECURE,
        channel: 1,
        type: FrameType.MSG,
        payload: msg,
        counter: 1n,
        mac: Buffer.alloc(16, 0xab),
      },
    ),
  ];
}

function cobsVectors() {
  const run = (n: number, start = 1) =>
    Buffer.from(Array.from({ length: n }, (_, i) => ((start + i - 1) % 255) + 1));
  const cases: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['one_zero', Buffer.from([0])],
    ['two_zeros', Buffer.from([0, 0])],
    ['zero_one_zero', Buffer.from([0, 0x11, 0])],
    ['no_zeros', Buffer.from([0x11, 0x22, 0x33, 0x44])],
    ['trailing_zero', Buffer.from([0x11, 0x22, 0x00])],
    ['run_253', run(253)],
    ['run_254', run(254)],
    ['run_255', run(255)],
    ['zero_then_254', Buffer.concat([Buffer.from([0]), run(254)])],
    ['254_then_zero', Buffer.concat([run(254), Buffer.from([0])])],
    ['all_zero_300', Buffer.alloc(300)],
  ];
  return cases.map(([name, d]) => ({ name, decodedHex: hex(d), encodedHex: hex(cobsEncode(d)) }));
}

function negativeVectors() {
  const good = encodeFrame({
    channel: 0,
    flags: 0,
    type: FrameType.ACK,
    seq: 0,
    ack: 1,
    payload: Buffer.alloc(0),
  });
  const withCrc = (b: Buffer) => {
    const out = Buffer.from(b);
    out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
    return out;
  };
  const badCrc = Buffer.from(good);
  badCrc[badCrc.length - 1]! ^= 0xff;
  const badVersion = Buffer.from(good);
  badVersion[0] = 2;
  const badType = Buffer.from(good);
  badType[3] = 0x7f;
  const badLength = Buffer.from(good);
  badLength.writeUInt16LE(5, 8);
  const big = encodeFrame({
    channel: 0,
    flags: 0,
    type: FrameType.MSG,
    seq: 0,
    ack: 0,
    payload: Buffer.alloc(300, 1),
  });
  const msgHex = (m: Message) => encodeMessage(m);
  const ping = msgHex({ kind: 'command', name: 'PING', tag: 2, body: { payload: Buffer.alloc(0) } });
  const hello = msgHex({
    kind: 'command',
    name: 'HELLO',
    tag: 3,
    body: { protoVersion: 0x100, hostCaps: 3 },
  });
  const addrBad = msgHex({ kind: 'command', name: 'BIND', tag: 4, body: { id: 0x101, addr: ADDR_V4 } });
  addrBad[6] = 5; // family 5
  return [
    {
      name: 'cobs_zero_inside',
      doc: 'a zero byte inside a COBS frame',
      layer: 'cobs',
      hex: '03110011',
      error: 'COBS_INVALID',
    },
    {
      name: 'cobs_code_past_end',
      doc: 'block code 05 with only 2 bytes after it',
      layer: 'cobs',
      hex: '051122',
      error: 'COBS_INVALID',
    },
    {
      name: 'frame_too_short',
      doc: '13 bytes: shorter than header + CRC',
      layer: 'frame',
      hex: hex(good.subarray(0, 13)),
      error: 'FRAME_TOO_SHORT',
    },
    {
      name: 'frame_bad_crc',
      doc: 'ACK frame with the last CRC byte flipped',
      layer: 'frame',
      hex: hex(badCrc),
      error: 'FRAME_BAD_CRC',
    },
    {
      name: 'frame_bad_version',
      doc: 'version 2 (CRC valid)',
      layer: 'frame',
      hex: hex(withCrc(badVersion)),
      error: 'FRAME_BAD_VERSION',
    },
    {
      name: 'frame_bad_type',
      doc: 'frame type 0x7f (CRC valid)',
      layer: 'frame',
      hex: hex(withCrc(badType)),
      error: 'FRAME_BAD_TYPE',
    },
    {
      name: 'frame_length_beyond',
      doc: 'length field 5 but no payload bytes (CRC valid)',
      layer: 'frame',
      hex: hex(withCrc(badLength)),
      error: 'FRAME_LENGTH_MISMATCH',
    },
    {
      name: 'frame_oversize',
      doc: '300-byte payload with a maximum of 256',
      layer: 'frame',
      hex: hex(big),
      maxPayload: 256,
      error: 'FRAME_OVERSIZE',
    },
    {
      name: 'wire_truncated',
      doc: 'a serial frame cut short before its delimiter, then a delimiter',
      layer: 'wire',
      hex: `${hex(cobsEncode(good)).slice(0, 16)}00`,
      error: 'FRAME_TOO_SHORT',
    },
    { name: 'msg_empty', doc: 'empty MSG payload', layer: 'message', hex: '', error: 'MSG_EMPTY' },
    {
      name: 'msg_unknown_opcode',
      doc: 'opcode 0x3f is not defined',
      layer: 'message',
      hex: '3f000100',
      error: 'MSG_UNKNOWN_OPCODE',
    },
    {
      name: 'msg_truncated_header',
      doc: 'three bytes: header cut short',
      layer: 'message',
      hex: '010001',
      error: 'MSG_TOO_SHORT',
    },
    {
      name: 'msg_truncated_fields',
      doc: 'HELLO missing its last byte',
      layer: 'message',
      hex: hex(hello.subarray(0, hello.length - 1)),
      error: 'MSG_TOO_SHORT',
    },
    {
      name: 'msg_trailing_bytes',
      doc: 'HELLO with one byte too many',
      layer: 'message',
      hex: `${hex(hello)}00`,
      error: 'MSG_BAD_LENGTH',
    },
    {
      name: 'msg_bad_family',
      doc: 'BIND with address family 5',
      layer: 'message',
      hex: hex(addrBad),
      error: 'MSG_BAD_FIELD',
    },
    {
      name: 'msg_response_to_event',
      doc: 'response bit on an event opcode (0xC1)',
      layer: 'message',
      hex: 'c1000000000000000000',
      error: 'MSG_UNKNOWN_OPCODE',
    },
    {
      name: 'msg_reserved_flags',
      doc: 'PING with the reserved flags byte set',
      layer: 'message',
      hex: `02${'01'}${hex(ping).slice(4)}`,
      error: 'MSG_BAD_FIELD',
    },
    {
      name: 'msg_event_with_tag',
      doc: 'SEND_CREDIT event carrying tag 5 (events carry tag 0)',
      layer: 'message',
      hex: '44000500010000000200000003010a000000',
      error: 'MSG_BAD_FIELD',
    },
    {
      name: 'msg_ping_ok',
      doc: 'control: an empty PING is valid (not an error) — listed to show the boundary',
      layer: 'message',
      hex: hex(ping),
      error: null,
    },
  ].filter((v) => v.error !== null);
}

function crcVectors() {
  return [
    {
      name: 'check_123456789',
      inputHex: hex(Buffer.from('123456789')),
      crc32: crc32(Buffer.from('123456789')),
    },
    { name: 'empty', inputHex: '', crc32: crc32(Buffer.alloc(0)) },
    { name: 'zeros_32', inputHex: hex(Buffer.alloc(32)), crc32: crc32(Buffer.alloc(32)) },
    {
      name: 'ack_header',
      inputHex: '01000002000001000000',
      crc32: crc32(Buffer.from('01000002000001000000', 'hex')),
    },
  ];
}

/**
 * Secure execution (PROTOCOL.md §12): the handshake (proofs, session keys), sealed frames with their MAC, frames a
 * receiver must refuse (altered MAC or payload with a valid CRC, wrong key, replayed or too old counter) and the
 * replay window's verdicts on a sequence of counters. Verdicts: ok | mac | replay | old.
 */
function secureVectors() {
  const seq = (n: number, start: number) =>
    Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));
  const K = seq(32, 0);
  const hostNonce = seq(16, 0xa0);
  const deviceNonce = seq(16, 0xb0);
  const handshake = (name: string, doc: string, key: Buffer, hn: Buffer, dn: Buffer, channel: number) => {
    const keys = deriveSessionKeys(key, hn, dn);
    return {
      name,
      doc,
      kind: 'handshake',
      keyHex: hex(key),
      keyId: 1,
      channel,
      hostNonceHex: hex(hn),
      deviceNonceHex: hex(dn),
      deviceProofHex: hex(deviceProof(key, hn, dn, channel)),
      hostProofHex: hex(hostProof(key, hn, dn, channel)),
      kH2dHex: hex(keys.h2d),
      kD2hHex: hex(keys.d2h),
    };
  };
  const keys = deriveSessionKeys(K, hostNonce, deviceNonce);
  const seal = (key: Buffer, f: Omit<Frame, 'flags'>, counter: bigint): Buffer => {
    const frame: Frame = { ...f, flags: FrameFlag.SECURE, counter };
    frame.mac = frameMac(key, frame, counter);
    return encodeFrame(frame);
  };
  const frame = (
    name: string,
    doc: string,
    direction: 'h2d' | 'd2h',
    f: Omit<Frame, 'flags'>,
    counter: bigint,
  ) => {
    const key = direction === 'h2d' ? keys.h2d : keys.d2h;
    const bytes = seal(key, f, counter);
    return {
      name,
      doc,
      kind: 'frame',
      direction,
      keyHex: hex(key),
      counter: counter.toString(),
      frameHex: hex(bytes),
      macHex: hex(bytes.subarray(bytes.length - 20, bytes.length - 4)),
      verdict: 'ok',
    };
  };
  const withCrc = (b: Buffer) => {
    b.writeUInt32LE(crc32(b.subarray(0, b.length - 4)), b.length - 4);
    return b;
  };
  const msg = (payload: Buffer, seq: number, ack: number) => ({
    channel: 1,
    type: FrameType.MSG,
    seq,
    ack,
    payload,
  });
  const ping = encodeMessage({
    kind: 'command',
    name: 'PING',
    tag: 3,
    body: { payload: Buffer.from([1, 2]) },
  });
  const pingOk = encodeMessage({
    kind: 'response',
    name: 'PING',
    tag: 3,
    status: 0,
    body: { payload: Buffer.from([1, 2]) },
  } as Message);
  const pingFrame = seal(keys.h2d, msg(ping, 2, 1), 1n);
  const reject = (
    name: string,
    doc: string,
    key: Buffer,
    bytes: Buffer,
    verdict: string,
    before?: Buffer,
  ) => ({
    name,
    doc,
    kind: 'reject',
    keyHex: hex(key),
    ...(before ? { acceptedBeforeHex: hex(before) } : {}),
    frameHex: hex(bytes),
    verdict,
  });
  const altered = (at: number, mask: number) => {
    const b = Buffer.from(pingFrame);
    b[at]! ^= mask;
    return withCrc(b); // the CRC is made valid again: only the MAC can tell
  };
  const badMac = altered(pingFrame.length - 5, 0x01); // last MAC byte
  const badPayload = altered(18 + 4, 0x80); // first PING data byte
  const badHeader = altered(6, 0x01); // ack
  const plain = encodeFrame({ ...msg(ping, 2, 1), flags: 0 });
  const counters = (name: string, doc: string, ordered: boolean, list: [number | bigint, string][]) => ({
    name,
    doc,
    kind: 'replay',
    ordered,
    counters: list.map(([c, verdict]) => ({ counter: c.toString(), verdict })),
  });
  return [
    handshake('handshake_spec', 'PROTOCOL.md §12.2 test vector (channel 1)', K, hostNonce, deviceNonce, 1),
    handshake(
      'handshake_channel_0',
      'another key and nonces, channel 0',
      seq(32, 0x40),
      seq(16, 0x10),
      seq(16, 0xf0),
      0,
    ),
    frame(
      'ping_h2d',
      'PROTOCOL.md §12.3 example: PING {01 02}, tag 3, seq 2, ack 1, counter 1',
      'h2d',
      msg(ping, 2, 1),
      1n,
    ),
    frame('ping_response_d2h', 'the PING response, device to host, counter 1', 'd2h', msg(pingOk, 1, 3), 1n),
    frame(
      'ack_h2d',
      'an ACK (no payload) is sealed too: counter 2',
      'h2d',
      { channel: 1, type: FrameType.ACK, seq: 0, ack: 2, payload: Buffer.alloc(0) },
      2n,
    ),
    frame(
      'large_counter_d2h',
      'counter 0x0123456789ABCDEF (u64 little-endian)',
      'd2h',
      msg(pingOk, 7, 9),
      0x0123456789abcdefn,
    ),
    reject(
      'reject_mac_altered',
      'ping_h2d with the last MAC byte flipped (CRC valid)',
      keys.h2d,
      badMac,
      'mac',
    ),
    reject(
      'reject_payload_altered',
      'ping_h2d with a payload bit flipped (CRC valid)',
      keys.h2d,
      badPayload,
      'mac',
    ),
    reject('reject_header_altered', 'ping_h2d with its ack changed (CRC valid)', keys.h2d, badHeader, 'mac'),
    reject(
      'reject_wrong_key',
      'ping_h2d checked with K_d2h: a frame is valid in one direction only',
      keys.d2h,
      pingFrame,
      'mac',
    ),
    reject('reject_replayed', 'ping_h2d received a second time', keys.h2d, pingFrame, 'replay', pingFrame),
    reject(
      'reject_counter_zero',
      'a correctly sealed frame with counter 0 (counters start at 1)',
      keys.h2d,
      seal(keys.h2d, msg(ping, 2, 1), 0n),
      'old',
    ),
    reject('reject_plain', 'the same PING without SECURE on a secure channel', keys.h2d, plain, 'plain'),
    counters('window_arq', '64-frame window (ARQ on): highest - 63 is the oldest accepted', false, [
      [1, 'ok'],
      [1, 'replay'],
      [100, 'ok'],
      [37, 'ok'],
      [37, 'replay'],
      [36, 'old'],
      [99, 'ok'],
      [50, 'ok'],
      [100, 'replay'],
      [0, 'old'],
      [1000, 'ok'],
      [936, 'old'],
      [937, 'ok'],
      [937, 'replay'],
      [1001, 'ok'],
      [937, 'old'],
      [938, 'ok'],
    ]),
    counters('window_ordered', 'ARQ off (ordered transport): only counters above the highest', true, [
      [1, 'ok'],
      [3, 'ok'],
      [2, 'old'],
      [3, 'replay'],
      [4, 'ok'],
    ]),
    counters('window_top', 'the last counter 2^64 - 1 is accepted once', false, [
      [0xfffffffffffffffen, 'ok'],
      [0xffffffffffffffffn, 'ok'],
      [0xffffffffffffffffn, 'replay'],
      [0xfffffffffffffffen, 'replay'],
    ]),
  ];
}

const write = (file: string, data: unknown) => {
  writeFileSync(join(OUT, file), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote firmware-protocol/vectors/${file}`);
};
write('crc32.json', crcVectors());
write('cobs.json', cobsVectors());
write('frames.json', frameVectors());
write('messages.json', messageVectors());
write('negative.json', negativeVectors());
write('secure.json', secureVectors());
