// GENERATED from firmware-protocol/protocol.json by `npm run gen`. Do not edit.
/* eslint-disable */

export const PROTOCOL_VERSION = { major: 1, minor: 0 } as const;
/** major << 8 | minor, as carried by HELLO and the VERSION register. */
export const PROTOCOL_VERSION_WORD = 0x0100;
export const FRAME_VERSION = 1;

/** Sizes and limits. */
export const Limits = {
  frameHeaderSize: 10,
  crcSize: 4,
  secureCounterSize: 8,
  secureMacSize: 16,
  maxPayloadAbsolute: 65535,
  defaultMaxPayloadSerial: 4096,
  defaultMaxPayloadTcp: 16384,
  minMaxPayload: 256,
  defaultWindow: 16,
  maxWindow: 64,
  tcpLengthPrefixSize: 4,
  messageHeaderSize: 4,
  eventHeaderSize: 12,
  addrSize: 20,
  entrySize: 80,
  maxSlots: 255,
  deviceSocketId: 65535,
  resetMagic: 1381192737,
  registerMagic: 1330007108,
  maxRegisterRead: 32,
} as const;
export type LimitsName = keyof typeof Limits;

/** Link frame types. */
export const FrameType = {
  MSG: 1,
  ACK: 2,
  NAK: 3,
  SYNC: 4,
  SYNC_ACK: 5,
  HEARTBEAT: 6,
  BYE: 7,
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** Frame header flag masks. */
export const FrameFlag = {
  SECURE: 0x1,
} as const;
export type FrameFlagName = keyof typeof FrameFlag;

/** Capability bit masks (HELLO, CAPS register). */
export const Capability = {
  TCP: 0x1,
  UDP: 0x2,
  IPV6: 0x4,
  ARQ: 0x8,
  SNAPSHOT: 0x10,
  REG_WINDOW: 0x20,
  PCIE_RINGS: 0x40,
  CHANNELS: 0x80,
  SECURE: 0x100,
  EGRESS_POLICY: 0x200,
  KEEPALIVE: 0x400,
} as const;
export type CapabilityName = keyof typeof Capability;

/** Response and error status codes. */
export const StatusCode = {
  OK: 0,
  E_UNKNOWN_SOCKET: 1,
  E_NO_SLOT: 2,
  E_QUEUE_FULL: 3,
  E_BAD_OPCODE: 4,
  E_BAD_LENGTH: 5,
  E_NOT_PERMITTED: 6,
  E_INVALID: 7,
  E_BAD_STATE: 8,
  E_WOULD_BLOCK: 9,
  E_NOT_SUPPORTED: 10,
  E_BUSY: 11,
  E_BAD_VERSION: 12,
  E_INTERNAL: 13,
  E_QUOTA: 14,
  E_AUTH: 15,
  ECONNREFUSED: 16,
  ECONNRESET: 17,
  ETIMEDOUT: 18,
  EADDRINUSE: 19,
  ENOTCONN: 20,
  EISCONN: 21,
  EADDRNOTAVAIL: 22,
  ENETUNREACH: 23,
  EHOSTUNREACH: 24,
  EPIPE: 25,
  ECONNABORTED: 26,
  EAFNOSUPPORT: 27,
  EMSGSIZE: 28,
  EALREADY: 29,
  EACCES: 30,
} as const;
export type StatusCodeName = keyof typeof StatusCode;

/** POSIX / Node error code each status maps to (null for OK). */
export const STATUS_POSIX: Readonly<Record<number, string | null>> = {
  0: null,
  1: "EBADF",
  2: "EMFILE",
  3: "ENOBUFS",
  4: "ENOSYS",
  5: "EMSGSIZE",
  6: "EPERM",
  7: "EINVAL",
  8: "EINVAL",
  9: "EAGAIN",
  10: "EOPNOTSUPP",
  11: "EBUSY",
  12: "EPROTONOSUPPORT",
  13: "EIO",
  14: "EDQUOT",
  15: "EACCES",
  16: "ECONNREFUSED",
  17: "ECONNRESET",
  18: "ETIMEDOUT",
  19: "EADDRINUSE",
  20: "ENOTCONN",
  21: "EISCONN",
  22: "EADDRNOTAVAIL",
  23: "ENETUNREACH",
  24: "EHOSTUNREACH",
  25: "EPIPE",
  26: "ECONNABORTED",
  27: "EAFNOSUPPORT",
  28: "EMSGSIZE",
  29: "EALREADY",
  30: "EACCES",
};

/** Name of each status code. */
export const STATUS_NAME: Readonly<Record<number, StatusCodeName>> = {
  0: 'OK',
  1: 'E_UNKNOWN_SOCKET',
  2: 'E_NO_SLOT',
  3: 'E_QUEUE_FULL',
  4: 'E_BAD_OPCODE',
  5: 'E_BAD_LENGTH',
  6: 'E_NOT_PERMITTED',
  7: 'E_INVALID',
  8: 'E_BAD_STATE',
  9: 'E_WOULD_BLOCK',
  10: 'E_NOT_SUPPORTED',
  11: 'E_BUSY',
  12: 'E_BAD_VERSION',
  13: 'E_INTERNAL',
  14: 'E_QUOTA',
  15: 'E_AUTH',
  16: 'ECONNREFUSED',
  17: 'ECONNRESET',
  18: 'ETIMEDOUT',
  19: 'EADDRINUSE',
  20: 'ENOTCONN',
  21: 'EISCONN',
  22: 'EADDRNOTAVAIL',
  23: 'ENETUNREACH',
  24: 'EHOSTUNREACH',
  25: 'EPIPE',
  26: 'ECONNABORTED',
  27: 'EAFNOSUPPORT',
  28: 'EMSGSIZE',
  29: 'EALREADY',
  30: 'EACCES',
};

/** Socket types. */
export const SocketType = {
  STREAM: 1,
  DGRAM: 2,
} as const;
export type SocketTypeName = keyof typeof SocketType;

/** The ten socket statuses. */
export const SocketStatus = {
  UNCONNECTED: 0,
  BOUND: 1,
  LISTENING: 2,
  CONNECTING: 3,
  CONNECTED: 4,
  SENDING: 5,
  RECEIVING: 6,
  DISCONNECTED: 7,
  SHUTDOWN: 8,
  TERMINATED: 9,
} as const;
export type SocketStatusName = keyof typeof SocketStatus;

export const SOCKET_STATUS_NAME: readonly SocketStatusName[] = ['UNCONNECTED', 'BOUND', 'LISTENING', 'CONNECTING', 'CONNECTED', 'SENDING', 'RECEIVING', 'DISCONNECTED', 'SHUTDOWN', 'TERMINATED'];

/** Condition flag masks beside the status. */
export const ConditionFlag = {
  READABLE: 0x1,
  WRITABLE: 0x2,
  PEER_CLOSED: 0x4,
  ERROR_PENDING: 0x8,
  ACCEPT_PENDING: 0x10,
  SEND_BLOCKED: 0x20,
  RECV_BLOCKED: 0x40,
  READ_SHUT: 0x80,
  WRITE_SHUT: 0x100,
  HOST_MARK0: 0x1000,
  HOST_MARK1: 0x2000,
  HOST_MARK2: 0x4000,
  HOST_MARK3: 0x8000,
} as const;
export type ConditionFlagName = keyof typeof ConditionFlag;

/** Flags the host may set with UPDATE. */
export const HOST_SETTABLE_FLAGS = 0xf000;
/** Flags the host may clear with UPDATE. */
export const HOST_CLEARABLE_FLAGS = 0xf008;

/** Socket options (SETOPT/GETOPT). */
export const SocketOption = {
  REUSEADDR: 1,
  NODELAY: 2,
  KEEPALIVE: 3,
  BROADCAST: 4,
  RCVBUF: 5,
  SNDBUF: 6,
  LINGER: 7,
  TTL: 8,
} as const;
export type SocketOptionName = keyof typeof SocketOption;

/** Options whose state is a bit in the entry's options field (bit = value - 1). */
export const BOOLEAN_OPTIONS: readonly number[] = [1, 2, 3, 4];

/** SHUTDOWN directions. */
export const ShutdownHow = {
  READ: 1,
  WRITE: 2,
  BOTH: 3,
} as const;
export type ShutdownHowName = keyof typeof ShutdownHow;

/** BOOT event reasons. */
export const BootReason = {
  POWER_ON: 0,
  HOST_RESET: 1,
  WATCHDOG: 2,
  FAULT: 3,
} as const;
export type BootReasonName = keyof typeof BootReason;

/** CHANNEL_OPEN roles. */
export const ChannelRole = {
  NORMAL: 0,
  ADMIN: 1,
} as const;
export type ChannelRoleName = keyof typeof ChannelRole;

/** Egress rule kinds. */
export const EgressKind = {
  CONNECT: 1,
  SENDTO: 2,
  LISTEN: 3,
} as const;
export type EgressKindName = keyof typeof EgressKind;

/** STATUS register bits. */
export const DeviceStatusBit = {
  READY: 0x1,
  RESETTING: 0x2,
  FAULT: 0x4,
  LINK_UP: 0x8,
} as const;
export type DeviceStatusBitName = keyof typeof DeviceStatusBit;

/** IRQ_STATUS / IRQ_MASK bits. */
export const IrqBit = {
  CPL: 0x1,
  CMD_SPACE: 0x2,
  RESET: 0x4,
} as const;
export type IrqBitName = keyof typeof IrqBit;

/** Register byte offsets. */
export const Register = {
  MAGIC: 0x0,
  VERSION: 0x4,
  CAPS: 0x8,
  STATUS: 0xc,
  BOOT_EPOCH: 0x10,
  SLOTS: 0x14,
  MAX_PAYLOAD: 0x18,
  FIRMWARE_BUILD: 0x1c,
  IRQ_STATUS: 0x20,
  IRQ_MASK: 0x24,
  DOORBELL: 0x28,
  EVENT_SEQ: 0x2c,
  SCRATCH: 0x30,
  UPTIME_MS: 0x34,
  CMD_RING_OFFSET: 0x40,
  CMD_RING_ENTRIES: 0x44,
  CMD_HEAD: 0x48,
  CMD_TAIL: 0x4c,
  CPL_RING_OFFSET: 0x50,
  CPL_RING_ENTRIES: 0x54,
  CPL_HEAD: 0x58,
  CPL_TAIL: 0x5c,
  RING_DESC_SIZE: 0x60,
  CHANNEL_RINGS_OFFSET: 0x64,
  CHANNEL_RINGS_COUNT: 0x68,
  SOCKET_WINDOW_OFFSET: 0x70,
  SOCKET_WINDOW_STRIDE: 0x74,
} as const;
export type RegisterName = keyof typeof Register;

export type RegisterAccess = 'RO' | 'RW' | 'WO' | 'RW1C';
/** Every register with its access and meaning. */
export const REGISTERS: readonly { name: RegisterName; offset: number; access: RegisterAccess; doc: string }[] = [
  { name: 'MAGIC', offset: 0x0, access: 'RO', doc: "0x4F464C44 ('OFLD' read as bytes 44 4C 46 4F)." },
  { name: 'VERSION', offset: 0x4, access: 'RO', doc: "Protocol version: major << 8 | minor." },
  { name: 'CAPS', offset: 0x8, access: 'RO', doc: "Capability bits." },
  { name: 'STATUS', offset: 0xc, access: 'RO', doc: "deviceStatusBits." },
  { name: 'BOOT_EPOCH', offset: 0x10, access: 'RO', doc: "Incremented at every boot and reset; never 0." },
  { name: 'SLOTS', offset: 0x14, access: 'RO', doc: "Bits 0..15 total socket slots, bits 16..31 slots in use." },
  { name: 'MAX_PAYLOAD', offset: 0x18, access: 'RO', doc: "Largest frame payload the device accepts." },
  { name: 'FIRMWARE_BUILD', offset: 0x1c, access: 'RO', doc: "Firmware build number (vendor-defined)." },
  { name: 'IRQ_STATUS', offset: 0x20, access: 'RW1C', doc: "irqBits; write 1 to clear." },
  { name: 'IRQ_MASK', offset: 0x24, access: 'RW', doc: "irqBits; 1 = interrupt enabled." },
  { name: 'DOORBELL', offset: 0x28, access: 'WO', doc: "Write any value after advancing CMD_TAIL (PCIe); reads as 0." },
  { name: 'EVENT_SEQ', offset: 0x2c, access: 'RO', doc: "Sequence number of the last event sent on the reading channel." },
  { name: 'SCRATCH', offset: 0x30, access: 'RW', doc: "Bring-up register: reads back what was written; reset to 0." },
  { name: 'UPTIME_MS', offset: 0x34, access: 'RO', doc: "Milliseconds since the last boot (wraps)." },
  { name: 'CMD_RING_OFFSET', offset: 0x40, access: 'RO', doc: "PCIe: byte offset of the command ring in the window." },
  { name: 'CMD_RING_ENTRIES', offset: 0x44, access: 'RO', doc: "PCIe: descriptors in the command ring (power of two)." },
  { name: 'CMD_HEAD', offset: 0x48, access: 'RO', doc: "PCIe: next descriptor the device will consume (free-running 32-bit)." },
  { name: 'CMD_TAIL', offset: 0x4c, access: 'RW', doc: "PCIe: next descriptor the host will fill (free-running 32-bit)." },
  { name: 'CPL_RING_OFFSET', offset: 0x50, access: 'RO', doc: "PCIe: byte offset of the completion/event ring." },
  { name: 'CPL_RING_ENTRIES', offset: 0x54, access: 'RO', doc: "PCIe: descriptors in the completion ring (power of two)." },
  { name: 'CPL_HEAD', offset: 0x58, access: 'RW', doc: "PCIe: next descriptor the host will consume." },
  { name: 'CPL_TAIL', offset: 0x5c, access: 'RO', doc: "PCIe: next descriptor the device will fill." },
  { name: 'RING_DESC_SIZE', offset: 0x60, access: 'RO', doc: "PCIe: bytes per descriptor (header 8 + maximum message)." },
  { name: 'CHANNEL_RINGS_OFFSET', offset: 0x64, access: 'RO', doc: "PCIe: byte offset of the channel ring table (one block of ring registers per extra channel, PROTOCOL.md 10.5); 0 without one." },
  { name: 'CHANNEL_RINGS_COUNT', offset: 0x68, access: 'RO', doc: "PCIe: blocks in the channel ring table (extra ring pairs); 0 = channel 0 only." },
  { name: 'SOCKET_WINDOW_OFFSET', offset: 0x70, access: 'RO', doc: "Byte offset of the socket-table window." },
  { name: 'SOCKET_WINDOW_STRIDE', offset: 0x74, access: 'RO', doc: "Bytes per slot in the window (128); each slot holds one entry struct, then zeros." },
];

/** Register window layout. */
export const RegisterWindow = {
  socketWindowOffset: 0x1000,
  socketWindowStride: 0x80,
  ringsOffset: 0x10000,
} as const;
export type RegisterWindowName = keyof typeof RegisterWindow;

/** Decode error codes (ProtocolError.decodeError). */
export const DecodeError = {
  COBS_INVALID: 1,
  FRAME_TOO_SHORT: 2,
  FRAME_BAD_CRC: 3,
  FRAME_BAD_VERSION: 4,
  FRAME_BAD_TYPE: 5,
  FRAME_LENGTH_MISMATCH: 6,
  FRAME_OVERSIZE: 7,
  MSG_TOO_SHORT: 8,
  MSG_BAD_LENGTH: 9,
  MSG_UNKNOWN_OPCODE: 10,
  MSG_BAD_FIELD: 11,
  MSG_EMPTY: 12,
} as const;
export type DecodeErrorName = keyof typeof DecodeError;

/** Message opcodes (responses are command | 0x80). */
export const Opcode = {
  ERROR_RESPONSE: 0x80,
  HELLO: 0x1,
  PING: 0x2,
  REG_READ: 0x3,
  REG_WRITE: 0x4,
  RESET: 0x5,
  SNAPSHOT: 0x6,
  CHANNEL_OPEN: 0x7,
  CHANNEL_RESET: 0x8,
  SECURE_INIT: 0x9,
  SECURE_FINISH: 0xa,
  EGRESS_SET: 0xb,
  EGRESS_CLEAR: 0xc,
  SOCKET_OPEN: 0x10,
  BIND: 0x11,
  LISTEN: 0x12,
  CONNECT: 0x13,
  ACCEPT: 0x14,
  SEND: 0x15,
  SENDTO: 0x16,
  RECV_CREDIT: 0x17,
  SHUTDOWN: 0x18,
  CLOSE: 0x19,
  SETOPT: 0x1a,
  GETOPT: 0x1b,
  UPDATE: 0x1c,
  QUERY: 0x1d,
  BOOT: 0x40,
  STATUS: 0x41,
  DATA: 0x42,
  DATAGRAM: 0x43,
  SEND_CREDIT: 0x44,
  ERROR: 0x45,
} as const;
export type OpcodeName = keyof typeof Opcode;

/** Field layouts, interpreted by src/protocol/messages.ts. */
export interface FieldSchema { readonly name: string; readonly type: FieldTypeName; readonly count?: string }
export type FieldTypeName = 'u8' | 'u16' | 'u32' | 'bytes' | 'bytes16' | 'str8' | 'addr' | 'entry' | 'u32[]' | 'entry[]';
export const STRUCT_SCHEMAS = {
  addr: { size: 20, fields: [{"name":"family","type":"u8"},{"name":"reserved","type":"u8"},{"name":"port","type":"u16"},{"name":"address","type":"bytes16"}] as readonly FieldSchema[] },
  entry: { size: 80, fields: [{"name":"id","type":"u16"},{"name":"type","type":"u8"},{"name":"family","type":"u8"},{"name":"protocol","type":"u8"},{"name":"status","type":"u8"},{"name":"flags","type":"u16"},{"name":"lastError","type":"u16"},{"name":"options","type":"u16"},{"name":"blocking","type":"u8"},{"name":"channel","type":"u8"},{"name":"backlog","type":"u16"},{"name":"connQueued","type":"u16"},{"name":"reserved","type":"u16"},{"name":"sendQueued","type":"u32"},{"name":"recvQueued","type":"u32"},{"name":"sendSpace","type":"u32"},{"name":"recvCredit","type":"u32"},{"name":"local","type":"addr"},{"name":"remote","type":"addr"},{"name":"pendingEvents","type":"u32"}] as readonly FieldSchema[] },
} as const;

export interface MessageSchema {
  readonly name: string; readonly opcode: number; readonly kind: 'command' | 'event' | 'error'; readonly capability?: CapabilityName;
  readonly request: readonly FieldSchema[]; readonly response: readonly FieldSchema[]; readonly errorResponse: readonly FieldSchema[]; readonly fields: readonly FieldSchema[];
}
export const MESSAGE_SCHEMAS: readonly MessageSchema[] = [
  { name: 'ERROR_RESPONSE', opcode: 0x80, kind: 'error', request: [], response: [], errorResponse: [], fields: [{"name":"offendingOpcode","type":"u8"}] },
  { name: 'HELLO', opcode: 0x1, kind: 'command', request: [{"name":"protoVersion","type":"u16"},{"name":"hostCaps","type":"u32"}], response: [{"name":"protoVersion","type":"u16"},{"name":"caps","type":"u32"},{"name":"slots","type":"u16"},{"name":"maxPayload","type":"u16"},{"name":"epoch","type":"u32"},{"name":"eventSeq","type":"u32"},{"name":"sendQueueSize","type":"u32"},{"name":"recvQueueSize","type":"u32"},{"name":"firmware","type":"str8"}], errorResponse: [], fields: [] },
  { name: 'PING', opcode: 0x2, kind: 'command', request: [{"name":"payload","type":"bytes"}], response: [{"name":"payload","type":"bytes"}], errorResponse: [], fields: [] },
  { name: 'REG_READ', opcode: 0x3, kind: 'command', request: [{"name":"offset","type":"u32"},{"name":"count","type":"u8"}], response: [{"name":"values","type":"u32[]"}], errorResponse: [], fields: [] },
  { name: 'REG_WRITE', opcode: 0x4, kind: 'command', request: [{"name":"offset","type":"u32"},{"name":"value","type":"u32"}], response: [], errorResponse: [], fields: [] },
  { name: 'RESET', opcode: 0x5, kind: 'command', request: [{"name":"magic","type":"u32"}], response: [], errorResponse: [], fields: [] },
  { name: 'SNAPSHOT', opcode: 0x6, kind: 'command', capability: 'SNAPSHOT', request: [{"name":"startSlot","type":"u16"},{"name":"maxEntries","type":"u8"},{"name":"allChannels","type":"u8"}], response: [{"name":"epoch","type":"u32"},{"name":"eventSeq","type":"u32"},{"name":"nextSlot","type":"u16"},{"name":"count","type":"u8"},{"name":"entries","type":"entry[]","count":"count"}], errorResponse: [], fields: [] },
  { name: 'CHANNEL_OPEN', opcode: 0x7, kind: 'command', capability: 'CHANNELS', request: [{"name":"role","type":"u8"},{"name":"credential","type":"bytes"}], response: [{"name":"slotQuota","type":"u16"},{"name":"queueQuota","type":"u32"}], errorResponse: [], fields: [] },
  { name: 'CHANNEL_RESET', opcode: 0x8, kind: 'command', capability: 'CHANNELS', request: [{"name":"channel","type":"u8"}], response: [{"name":"closed","type":"u16"}], errorResponse: [], fields: [] },
  { name: 'SECURE_INIT', opcode: 0x9, kind: 'command', capability: 'SECURE', request: [{"name":"keyId","type":"u32"},{"name":"hostNonce","type":"bytes16"}], response: [{"name":"deviceNonce","type":"bytes16"},{"name":"deviceProof","type":"bytes16"}], errorResponse: [], fields: [] },
  { name: 'SECURE_FINISH', opcode: 0xa, kind: 'command', capability: 'SECURE', request: [{"name":"hostProof","type":"bytes16"}], response: [], errorResponse: [], fields: [] },
  { name: 'EGRESS_SET', opcode: 0xb, kind: 'command', capability: 'EGRESS_POLICY', request: [{"name":"channel","type":"u8"},{"name":"kind","type":"u8"},{"name":"prefixLen","type":"u8"},{"name":"reserved","type":"u8"},{"name":"portLow","type":"u16"},{"name":"portHigh","type":"u16"},{"name":"addr","type":"addr"}], response: [{"name":"rules","type":"u16"}], errorResponse: [], fields: [] },
  { name: 'EGRESS_CLEAR', opcode: 0xc, kind: 'command', capability: 'EGRESS_POLICY', request: [{"name":"channel","type":"u8"}], response: [], errorResponse: [], fields: [] },
  { name: 'SOCKET_OPEN', opcode: 0x10, kind: 'command', request: [{"name":"type","type":"u8"},{"name":"family","type":"u8"},{"name":"protocol","type":"u8"},{"name":"blocking","type":"u8"},{"name":"recvCredit","type":"u32"}], response: [{"name":"id","type":"u16"},{"name":"sendCredit","type":"u32"}], errorResponse: [], fields: [] },
  { name: 'BIND', opcode: 0x11, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"addr","type":"addr"}], response: [{"name":"local","type":"addr"}], errorResponse: [], fields: [] },
  { name: 'LISTEN', opcode: 0x12, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"backlog","type":"u16"}], response: [{"name":"local","type":"addr"}], errorResponse: [], fields: [] },
  { name: 'CONNECT', opcode: 0x13, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"timeoutMs","type":"u32"},{"name":"addr","type":"addr"}], response: [], errorResponse: [], fields: [] },
  { name: 'ACCEPT', opcode: 0x14, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"recvCredit","type":"u32"}], response: [{"name":"newId","type":"u16"},{"name":"sendCredit","type":"u32"},{"name":"local","type":"addr"},{"name":"remote","type":"addr"}], errorResponse: [], fields: [] },
  { name: 'SEND', opcode: 0x15, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"data","type":"bytes"}], response: [{"name":"accepted","type":"u32"}], errorResponse: [{"name":"accepted","type":"u32"}], fields: [] },
  { name: 'SENDTO', opcode: 0x16, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"addr","type":"addr"},{"name":"data","type":"bytes"}], response: [{"name":"accepted","type":"u32"}], errorResponse: [{"name":"accepted","type":"u32"}], fields: [] },
  { name: 'RECV_CREDIT', opcode: 0x17, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"bytes","type":"u32"}], response: [], errorResponse: [], fields: [] },
  { name: 'SHUTDOWN', opcode: 0x18, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"how","type":"u8"}], response: [], errorResponse: [], fields: [] },
  { name: 'CLOSE', opcode: 0x19, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"abort","type":"u8"}], response: [], errorResponse: [], fields: [] },
  { name: 'SETOPT', opcode: 0x1a, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"option","type":"u16"},{"name":"value","type":"u32"}], response: [], errorResponse: [], fields: [] },
  { name: 'GETOPT', opcode: 0x1b, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"option","type":"u16"}], response: [{"name":"value","type":"u32"}], errorResponse: [], fields: [] },
  { name: 'UPDATE', opcode: 0x1c, kind: 'command', request: [{"name":"id","type":"u16"},{"name":"status","type":"u8"},{"name":"setFlags","type":"u16"},{"name":"clearFlags","type":"u16"}], response: [{"name":"status","type":"u8"},{"name":"flags","type":"u16"}], errorResponse: [], fields: [] },
  { name: 'QUERY', opcode: 0x1d, kind: 'command', capability: 'SNAPSHOT', request: [{"name":"id","type":"u16"}], response: [{"name":"entry","type":"entry"}], errorResponse: [], fields: [] },
  { name: 'BOOT', opcode: 0x40, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"reason","type":"u8"},{"name":"slots","type":"u16"}] },
  { name: 'STATUS', opcode: 0x41, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"id","type":"u16"},{"name":"status","type":"u8"},{"name":"flags","type":"u16"},{"name":"error","type":"u16"},{"name":"local","type":"addr"},{"name":"remote","type":"addr"}] },
  { name: 'DATA', opcode: 0x42, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"id","type":"u16"},{"name":"data","type":"bytes"}] },
  { name: 'DATAGRAM', opcode: 0x43, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"id","type":"u16"},{"name":"from","type":"addr"},{"name":"data","type":"bytes"}] },
  { name: 'SEND_CREDIT', opcode: 0x44, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"id","type":"u16"},{"name":"bytes","type":"u32"}] },
  { name: 'ERROR', opcode: 0x45, kind: 'event', request: [], response: [], errorResponse: [], fields: [{"name":"id","type":"u16"},{"name":"code","type":"u16"}] },
];

export const SYNC_SCHEMA: readonly FieldSchema[] = [{"name":"nonce","type":"u32"},{"name":"window","type":"u8"},{"name":"arq","type":"u8"},{"name":"maxPayload","type":"u16"}];
export const SYNC_ACK_SCHEMA: readonly FieldSchema[] = [{"name":"nonce","type":"u32"},{"name":"peerNonce","type":"u32"},{"name":"window","type":"u8"},{"name":"arq","type":"u8"},{"name":"maxPayload","type":"u16"}];

/** Command rules per socket type and status (PROTOCOL.md, state transitions). */
export interface TransitionRule { readonly command: CommandName; readonly type: SocketTypeName | '*'; readonly from: Readonly<Partial<Record<SocketStatusName, SocketStatusName | '='>>>; readonly else: Readonly<Partial<Record<SocketStatusName | '*', StatusCodeName>>> }
export const TRANSITIONS: readonly TransitionRule[] = [{"command":"BIND","type":"STREAM","from":{"UNCONNECTED":"BOUND"},"else":{"*":"E_BAD_STATE"}},{"command":"BIND","type":"DGRAM","from":{"UNCONNECTED":"BOUND"},"else":{"*":"E_BAD_STATE"}},{"command":"LISTEN","type":"STREAM","from":{"UNCONNECTED":"LISTENING","BOUND":"LISTENING"},"else":{"*":"E_BAD_STATE"}},{"command":"LISTEN","type":"DGRAM","from":{},"else":{"*":"E_NOT_SUPPORTED"}},{"command":"CONNECT","type":"STREAM","from":{"UNCONNECTED":"CONNECTING","BOUND":"CONNECTING"},"else":{"CONNECTING":"EALREADY","CONNECTED":"EISCONN","SENDING":"EISCONN","RECEIVING":"EISCONN","*":"E_BAD_STATE"}},{"command":"CONNECT","type":"DGRAM","from":{"UNCONNECTED":"CONNECTED","BOUND":"CONNECTED","CONNECTED":"CONNECTED"},"else":{"*":"E_BAD_STATE"}},{"command":"ACCEPT","type":"STREAM","from":{"LISTENING":"="},"else":{"*":"E_BAD_STATE"}},{"command":"ACCEPT","type":"DGRAM","from":{},"else":{"*":"E_NOT_SUPPORTED"}},{"command":"SEND","type":"STREAM","from":{"CONNECTED":"SENDING","SENDING":"SENDING","RECEIVING":"SENDING","DISCONNECTED":"="},"else":{"SHUTDOWN":"EPIPE","*":"ENOTCONN"}},{"command":"SEND","type":"DGRAM","from":{"CONNECTED":"="},"else":{"*":"ENOTCONN"}},{"command":"SENDTO","type":"STREAM","from":{},"else":{"*":"E_NOT_SUPPORTED"}},{"command":"SENDTO","type":"DGRAM","from":{"UNCONNECTED":"BOUND","BOUND":"=","CONNECTED":"="},"else":{"*":"E_BAD_STATE"}},{"command":"RECV_CREDIT","type":"*","from":{"UNCONNECTED":"=","BOUND":"=","LISTENING":"=","CONNECTING":"=","CONNECTED":"=","SENDING":"=","RECEIVING":"=","DISCONNECTED":"=","SHUTDOWN":"="},"else":{}},{"command":"SHUTDOWN","type":"STREAM","from":{"CONNECTED":"SHUTDOWN","SENDING":"SHUTDOWN","RECEIVING":"SHUTDOWN","DISCONNECTED":"SHUTDOWN","SHUTDOWN":"="},"else":{"*":"ENOTCONN"}},{"command":"SHUTDOWN","type":"DGRAM","from":{},"else":{"*":"ENOTCONN"}},{"command":"CLOSE","type":"*","from":{"UNCONNECTED":"TERMINATED","BOUND":"TERMINATED","LISTENING":"TERMINATED","CONNECTING":"TERMINATED","CONNECTED":"TERMINATED","SENDING":"TERMINATED","RECEIVING":"TERMINATED","DISCONNECTED":"TERMINATED","SHUTDOWN":"TERMINATED"},"else":{}},{"command":"SETOPT","type":"*","from":{"UNCONNECTED":"=","BOUND":"=","LISTENING":"=","CONNECTING":"=","CONNECTED":"=","SENDING":"=","RECEIVING":"=","DISCONNECTED":"=","SHUTDOWN":"="},"else":{}},{"command":"GETOPT","type":"*","from":{"UNCONNECTED":"=","BOUND":"=","LISTENING":"=","CONNECTING":"=","CONNECTED":"=","SENDING":"=","RECEIVING":"=","DISCONNECTED":"=","SHUTDOWN":"="},"else":{}},{"command":"UPDATE","type":"*","from":{"UNCONNECTED":"=","BOUND":"=","LISTENING":"=","CONNECTING":"=","CONNECTED":"=","SENDING":"=","RECEIVING":"=","DISCONNECTED":"=","SHUTDOWN":"="},"else":{}},{"command":"QUERY","type":"*","from":{"UNCONNECTED":"=","BOUND":"=","LISTENING":"=","CONNECTING":"=","CONNECTED":"=","SENDING":"=","RECEIVING":"=","DISCONNECTED":"=","SHUTDOWN":"="},"else":{}}] as readonly TransitionRule[];

/** A network endpoint. address: dotted IPv4 or IPv6 text; empty for family 0. */
export interface Addr { family: 0 | 4 | 6; port: number; address: string }
/** One socket table entry (FIG 48). */
export interface SocketEntry { id: number; type: number; family: number; protocol: number; status: number; flags: number; lastError: number; options: number; blocking: number; channel: number; backlog: number; connQueued: number; reserved: number; sendQueued: number; recvQueued: number; sendSpace: number; recvCredit: number; local: Addr; remote: Addr; pendingEvents: number; }

export interface CommandBodies {
  HELLO: { protoVersion: number; hostCaps: number; };
  PING: { payload: Uint8Array; };
  REG_READ: { offset: number; count: number; };
  REG_WRITE: { offset: number; value: number; };
  RESET: { magic: number; };
  SNAPSHOT: { startSlot: number; maxEntries: number; allChannels: number; };
  CHANNEL_OPEN: { role: number; credential: Uint8Array; };
  CHANNEL_RESET: { channel: number; };
  SECURE_INIT: { keyId: number; hostNonce: Uint8Array; };
  SECURE_FINISH: { hostProof: Uint8Array; };
  EGRESS_SET: { channel: number; kind: number; prefixLen: number; reserved: number; portLow: number; portHigh: number; addr: Addr; };
  EGRESS_CLEAR: { channel: number; };
  SOCKET_OPEN: { type: number; family: number; protocol: number; blocking: number; recvCredit: number; };
  BIND: { id: number; addr: Addr; };
  LISTEN: { id: number; backlog: number; };
  CONNECT: { id: number; timeoutMs: number; addr: Addr; };
  ACCEPT: { id: number; recvCredit: number; };
  SEND: { id: number; data: Uint8Array; };
  SENDTO: { id: number; addr: Addr; data: Uint8Array; };
  RECV_CREDIT: { id: number; bytes: number; };
  SHUTDOWN: { id: number; how: number; };
  CLOSE: { id: number; abort: number; };
  SETOPT: { id: number; option: number; value: number; };
  GETOPT: { id: number; option: number; };
  UPDATE: { id: number; status: number; setFlags: number; clearFlags: number; };
  QUERY: { id: number; };
}

export interface ResponseBodies {
  HELLO: { protoVersion: number; caps: number; slots: number; maxPayload: number; epoch: number; eventSeq: number; sendQueueSize: number; recvQueueSize: number; firmware: string; };
  PING: { payload: Uint8Array; };
  REG_READ: { values: number[]; };
  REG_WRITE: Record<string, never>;
  RESET: Record<string, never>;
  SNAPSHOT: { epoch: number; eventSeq: number; nextSlot: number; count: number; entries: SocketEntry[]; };
  CHANNEL_OPEN: { slotQuota: number; queueQuota: number; };
  CHANNEL_RESET: { closed: number; };
  SECURE_INIT: { deviceNonce: Uint8Array; deviceProof: Uint8Array; };
  SECURE_FINISH: Record<string, never>;
  EGRESS_SET: { rules: number; };
  EGRESS_CLEAR: Record<string, never>;
  SOCKET_OPEN: { id: number; sendCredit: number; };
  BIND: { local: Addr; };
  LISTEN: { local: Addr; };
  CONNECT: Record<string, never>;
  ACCEPT: { newId: number; sendCredit: number; local: Addr; remote: Addr; };
  SEND: { accepted: number; };
  SENDTO: { accepted: number; };
  RECV_CREDIT: Record<string, never>;
  SHUTDOWN: Record<string, never>;
  CLOSE: Record<string, never>;
  SETOPT: Record<string, never>;
  GETOPT: { value: number; };
  UPDATE: { status: number; flags: number; };
  QUERY: { entry: SocketEntry; };
}

export interface ErrorBodies {
  HELLO: Record<string, never>;
  PING: Record<string, never>;
  REG_READ: Record<string, never>;
  REG_WRITE: Record<string, never>;
  RESET: Record<string, never>;
  SNAPSHOT: Record<string, never>;
  CHANNEL_OPEN: Record<string, never>;
  CHANNEL_RESET: Record<string, never>;
  SECURE_INIT: Record<string, never>;
  SECURE_FINISH: Record<string, never>;
  EGRESS_SET: Record<string, never>;
  EGRESS_CLEAR: Record<string, never>;
  SOCKET_OPEN: Record<string, never>;
  BIND: Record<string, never>;
  LISTEN: Record<string, never>;
  CONNECT: Record<string, never>;
  ACCEPT: Record<string, never>;
  SEND: { accepted: number; };
  SENDTO: { accepted: number; };
  RECV_CREDIT: Record<string, never>;
  SHUTDOWN: Record<string, never>;
  CLOSE: Record<string, never>;
  SETOPT: Record<string, never>;
  GETOPT: Record<string, never>;
  UPDATE: Record<string, never>;
  QUERY: Record<string, never>;
}

export interface EventBodies {
  BOOT: { reason: number; slots: number; };
  STATUS: { id: number; status: number; flags: number; error: number; local: Addr; remote: Addr; };
  DATA: { id: number; data: Uint8Array; };
  DATAGRAM: { id: number; from: Addr; data: Uint8Array; };
  SEND_CREDIT: { id: number; bytes: number; };
  ERROR: { id: number; code: number; };
}

export type CommandName = keyof CommandBodies;
export type EventName = keyof EventBodies;
