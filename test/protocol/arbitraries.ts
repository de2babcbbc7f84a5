/** fast-check arbitraries for every protocol message, derived from the generated schemas. */
import fc from 'fast-check';
import {
  type Addr,
  type FieldSchema,
  MESSAGE_SCHEMAS,
  type Message,
  STRUCT_SCHEMAS,
  type SocketEntry,
} from '../../src/protocol/index.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const addrArb: fc.Arbitrary<Addr> = fc.oneof(
  fc.constant<Addr>({ family: 0, port: 0, address: '' }),
  fc.record({ family: fc.constant<4>(4), port: u16, address: fc.ipV4() }),
  fc
    .record({
      family: fc.constant<6>(6),
      port: u16,
      address: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    })
    .map((a): Addr => {
      // Full (uncompressed) text: the codec accepts it; the round-trip test compares re-encoded bytes.
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((a.address[i]! << 8) | a.address[i + 1]!).toString(16));
      return { family: 6, port: a.port, address: groups.join(':') };
    }),
);

function fieldArb(f: FieldSchema): fc.Arbitrary<unknown> {
  switch (f.type) {
    case 'u8':
      return u8;
    case 'u16':
      return u16;
    case 'u32':
      return u32;
    case 'bytes16':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b));
    case 'bytes':
      return fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
    case 'str8':
      return fc.string({ maxLength: 60 });
    case 'addr':
      return addrArb;
    case 'entry':
      return entryArb;
    case 'u32[]':
      return fc.array(u32, { maxLength: 16 });
    case 'entry[]':
      return fc.array(entryArb, { maxLength: 4 });
  }
}

function recordOf(fields: readonly FieldSchema[]): fc.Arbitrary<Record<string, unknown>> {
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) shape[f.name] = f.name === 'reserved' ? fc.constant(0) : fieldArb(f);
  return fc.record(shape).map((body) => {
    const countField = fields.find((f) => f.type === 'entry[]')?.count;
    if (countField)
      body[countField] = (body[fields.find((f) => f.type === 'entry[]')!.name] as unknown[]).length;
    return body;
  });
}

export const entryArb: fc.Arbitrary<SocketEntry> = fc
  .constant(null)
  .chain(() => recordOf(STRUCT_SCHEMAS.entry.fields)) as unknown as fc.Arbitrary<SocketEntry>;

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  ...MESSAGE_SCHEMAS.flatMap((s): fc.Arbitrary<Message>[] => {
    if (s.kind === 'command') {
      return [
        fc
          .record({ tag: u16, body: recordOf(s.request) })
          .map((m) => ({ kind: 'command', name: s.name, ...m }) as Message),
        fc
          .record({ tag: u16, body: recordOf(s.response) })
          .map((m) => ({ kind: 'response', name: s.name, status: 0, ...m }) as Message),
        fc
          .record({ tag: u16, status: fc.integer({ min: 1, max: 0xffff }), body: recordOf(s.errorResponse) })
          .map((m) => ({ kind: 'response', name: s.name, ...m }) as Message),
      ];
    }
    if (s.kind === 'event') {
      return [
        fc
          .record({ epoch: u32, seq: u32, body: recordOf(s.fields) })
          .map((m) => ({ kind: 'event', name: s.name, ...m }) as Message),
      ];
    }
    return [
      fc.record({ tag: u16, status: u16, offendingOpcode: u8 }).map(
        (m) =>
          ({
            kind: 'error',
            name: 'ERROR_RESPONSE',
            tag: m.tag,
            status: m.status,
            body: { offendingOpcode: m.offendingOpcode },
          }) as Message,
      ),
    ];
  }),
);
