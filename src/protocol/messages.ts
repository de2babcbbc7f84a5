/**
 * Mailbox messages, encoded and decoded from the schemas generated out of protocol.json.
 *   command:  [opcode][flags=0][tag u16] request fields
 *   response: [opcode|0x80][0][tag][status u16] response fields (status OK) or errorResponse fields
 *   event:    [opcode][0][tag=0][epoch u32][seq u32] fields
 *   error:    [0x80][0][tag][status u16][offendingOpcode u8]
 */
import { ProtocolError } from './errors.js';
import { FieldReader, FieldWriter, readFields, writeFields } from './fields.js';
import {
  type CommandBodies,
  type CommandName,
  type ErrorBodies,
  type EventBodies,
  type EventName,
  MESSAGE_SCHEMAS,
  type MessageSchema,
  Opcode,
  type ResponseBodies,
  StatusCode,
} from './generated.js';

export const RESPONSE_BIT = 0x80;

export interface CommandMessage<N extends CommandName = CommandName> {
  kind: 'command';
  name: N;
  tag: number;
  body: CommandBodies[N];
}
export interface OkResponseMessage<N extends CommandName = CommandName> {
  kind: 'response';
  name: N;
  tag: number;
  status: typeof StatusCode.OK;
  body: ResponseBodies[N];
}
export interface FailedResponseMessage<N extends CommandName = CommandName> {
  kind: 'response';
  name: N;
  tag: number;
  /** Any status other than OK. */
  status: number;
  body: ErrorBodies[N];
}
export type ResponseMessage<N extends CommandName = CommandName> =
  | OkResponseMessage<N>
  | FailedResponseMessage<N>;
export interface EventMessage<N extends EventName = EventName> {
  kind: 'event';
  name: N;
  epoch: number;
  seq: number;
  body: EventBodies[N];
}
export interface ErrorResponseMessage {
  kind: 'error';
  name: 'ERROR_RESPONSE';
  tag: number;
  status: number;
  body: { offendingOpcode: number };
}

export type AnyCommand = { [N in CommandName]: CommandMessage<N> }[CommandName];
export type AnyResponse = { [N in CommandName]: ResponseMessage<N> }[CommandName];
export type AnyEvent = { [N in EventName]: EventMessage<N> }[EventName];
export type Message = AnyCommand | AnyResponse | AnyEvent | ErrorResponseMessage;

const BY_OPCODE = new Map<number, MessageSchema>(MESSAGE_SCHEMAS.map((s) => [s.opcode, s]));
const BY_NAME = new Map<string, MessageSchema>(MESSAGE_SCHEMAS.map((s) => [s.name, s]));

export function schemaOf(name: string): MessageSchema {
  const s = BY_NAME.get(name);
  if (!s) throw new TypeError(`unknown message ${name}`);
  return s;
}

/** True when a response's status is OK (narrows the body type). */
export function isOk<N extends CommandName>(r: ResponseMessage<N>): r is OkResponseMessage<N> {
  return r.status === StatusCode.OK;
}

export function encodeMessage(msg: Message): Buffer {
  const w = new FieldWriter(msg.kind === 'command' && msg.name === 'SEND' ? msg.body.data.length + 8 : 64);
  const body = msg.body as unknown as Record<string, unknown>;
  switch (msg.kind) {
    case 'command': {
      const s = schemaOf(msg.name);
      w.u8(s.opcode);
      w.u8(0);
      w.u16(msg.tag);
      writeFields(w, s.request, body);
      break;
    }
    case 'response': {
      const s = schemaOf(msg.name);
      w.u8(s.opcode | RESPONSE_BIT);
      w.u8(0);
      w.u16(msg.tag);
      w.u16(msg.status);
      writeFields(w, msg.status === StatusCode.OK ? s.response : s.errorResponse, body);
      break;
    }
    case 'event': {
      const s = schemaOf(msg.name);
      w.u8(s.opcode);
      w.u8(0);
      w.u16(0);
      w.u32(msg.epoch);
      w.u32(msg.seq);
      writeFields(w, s.fields, body);
      break;
    }
    case 'error':
      w.u8(Opcode.ERROR_RESPONSE);
      w.u8(0);
      w.u16(msg.tag);
      w.u16(msg.status);
      w.u8(msg.body.offendingOpcode);
      break;
  }
  return w.finish();
}

function hasTrailingArray(fields: readonly { type: string }[]): boolean {
  const last = fields[fields.length - 1];
  return last !== undefined && (last.type === 'bytes' || last.type === 'u32[]' || last.type === 'entry[]');
}

function readBody(
  r: FieldReader,
  fields: MessageSchema['request'],
  context: string,
  bytesView = false,
): Record<string, unknown> {
  const body = readFields(r, fields, context, bytesView);
  if (!hasTrailingArray(fields) && r.remaining > 0) {
    throw new ProtocolError('MSG_BAD_LENGTH', `${r.remaining} bytes after the last field of ${context}`);
  }
  return body;
}

export interface DecodeOptions {
  /**
   * The trailing `bytes` field (SEND / SENDTO / DATA / DATAGRAM data, PING payload ...) as a view into `bytes`
   * instead of a copy. Only for a caller that owns `bytes` and never modifies or reuses it (a link's received
   * message is its receiver's to keep): the data then shares that memory, at no copying cost. Default false.
   */
  bytesView?: boolean;
}

/**
 * Decodes one message. Throws only ProtocolError; byte fields are copies, safe to keep (unless
 * `options.bytesView`: see DecodeOptions).
 */
export function decodeMessage(bytes: Uint8Array, options?: DecodeOptions): Message {
  const view = options?.bytesView === true;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) throw new ProtocolError('MSG_EMPTY', 'empty message');
  const r = new FieldReader(buf);
  const opcode = r.u8('opcode');
  const flags = r.u8('flags');
  const tag = r.u16('tag');
  if (flags !== 0)
    throw new ProtocolError('MSG_BAD_FIELD', `reserved message flags 0x${flags.toString(16)} are not 0`);
  if (opcode === Opcode.ERROR_RESPONSE) {
    const status = r.u16('status');
    const body = readBody(r, schemaOf('ERROR_RESPONSE').fields, 'ERROR_RESPONSE');
    return { kind: 'error', name: 'ERROR_RESPONSE', tag, status, body: body as { offendingOpcode: number } };
  }
  const isResponse = (opcode & RESPONSE_BIT) !== 0;
  const s = BY_OPCODE.get(opcode & ~RESPONSE_BIT);
  if (!s || s.kind === 'error' || (isResponse && s.kind !== 'command')) {
    throw new ProtocolError('MSG_UNKNOWN_OPCODE', `unknown opcode 0x${opcode.toString(16)}`, { opcode, tag });
  }
  if (s.kind === 'event') {
    if (tag !== 0) throw new ProtocolError('MSG_BAD_FIELD', `event with tag ${tag} (events carry tag 0)`);
    const epoch = r.u32('epoch');
    const seq = r.u32('seq');
    const body = readBody(r, s.fields, s.name, view);
    return { kind: 'event', name: s.name, epoch, seq, body } as unknown as AnyEvent;
  }
  if (isResponse) {
    const status = r.u16('status');
    const body = readBody(r, status === StatusCode.OK ? s.response : s.errorResponse, s.name, view);
    return { kind: 'response', name: s.name, tag, status, body } as unknown as AnyResponse;
  }
  const body = readBody(r, s.request, s.name, view);
  return { kind: 'command', name: s.name, tag, body } as unknown as AnyCommand;
}

/** The opcode and tag of a message that failed to decode, for an ERROR_RESPONSE (tag 0 if under 4 bytes). */
export function peekHeader(bytes: Uint8Array): { opcode: number; tag: number } {
  return {
    opcode: bytes.length > 0 ? bytes[0]! : 0,
    tag: bytes.length >= 4 ? bytes[2]! | (bytes[3]! << 8) : 0,
  };
}

/** Convenience constructors with checked names. */
export function command<N extends CommandName>(
  name: N,
  tag: number,
  body: CommandBodies[N],
): CommandMessage<N> {
  return { kind: 'command', name, tag, body };
}
export function okResponse<N extends CommandName>(
  name: N,
  tag: number,
  body: ResponseBodies[N],
): OkResponseMessage<N> {
  return { kind: 'response', name, tag, status: StatusCode.OK, body };
}
export function failedResponse<N extends CommandName>(
  name: N,
  tag: number,
  status: number,
  body: ErrorBodies[N],
): FailedResponseMessage<N> {
  return { kind: 'response', name, tag, status, body };
}
export function event<N extends EventName>(
  name: N,
  epoch: number,
  seq: number,
  body: EventBodies[N],
): EventMessage<N> {
  return { kind: 'event', name, epoch, seq, body };
}
