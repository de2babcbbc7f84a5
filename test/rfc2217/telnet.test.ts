/** The Telnet codec and negotiation state machine (pure, no I/O). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DO,
  DONT,
  encodeNegotiation,
  encodeSubnegotiation,
  escapeIac,
  IAC,
  NOP,
  SB,
  SE,
  TelnetDecoder,
  type TelnetEvent,
  TelnetNegotiator,
  TelnetOption,
  WILL,
  WONT,
} from '../../src/transport/telnet.js';

/** Decodes `chunks` one after another and merges adjacent data events. */
function decodeAll(chunks: Uint8Array[]): TelnetEvent[] {
  const d = new TelnetDecoder();
  const out: TelnetEvent[] = [];
  for (const c of chunks) {
    for (const ev of d.decode(c)) {
      const last = out[out.length - 1];
      if (ev.type === 'data' && last?.type === 'data') last.data = Buffer.concat([last.data, ev.data]);
      else out.push(ev.type === 'data' ? { type: 'data', data: Buffer.from(ev.data) } : ev);
    }
  }
  return out;
}

/** Splits `buf` at the given cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(buf.subarray(at, p));
    at = p;
  }
  parts.push(buf.subarray(at));
  return parts;
}

describe('IAC escaping', () => {
  it('doubles every 0xFF and leaves other bytes alone', () => {
    expect([...escapeIac(Buffer.from([1, 0xff, 2, 0xff, 0xff, 0]))]).toEqual([
      1, 0xff, 0xff, 2, 0xff, 0xff, 0xff, 0xff, 0,
    ]);
    const plain = Buffer.from([0, 1, 2, 0xfe]);
    expect(escapeIac(plain)).toBe(plain); // nothing to escape: no copy
    expect([...escapeIac(new Uint8Array([0xff]))]).toEqual([0xff, 0xff]);
  });

  it('every byte value survives escape → decode, split anywhere (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        fc.array(fc.nat(), { maxLength: 12 }),
        (data, cuts) => {
          const wire = escapeIac(data);
          const events = decodeAll(split(wire, cuts));
          const got = Buffer.concat(events.map((e) => (e.type === 'data' ? e.data : Buffer.alloc(0))));
          expect(events.every((e) => e.type === 'data')).toBe(true);
          expect(got.equals(data)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an IAC IAC split between two chunks is one 0xFF', () => {
    const d = new TelnetDecoder();
    expect(d.decode(Buffer.from([0x41, IAC]))).toEqual([{ type: 'data', data: Buffer.from([0x41]) }]);
    expect(d.midSequence).toBe(true);
    expect(d.decode(Buffer.from([IAC, 0x42]))).toEqual([{ type: 'data', data: Buffer.from([0xff, 0x42]) }]);
    expect(d.midSequence).toBe(false);
  });
});

describe('decoder: commands and subnegotiations', () => {
  const wire = Buffer.concat([
    Buffer.from('ab'),
    encodeNegotiation(WILL, TelnetOption.BINARY),
    Buffer.from([0xff, 0xff, 0]),
    Buffer.from([IAC, NOP]),
    encodeSubnegotiation(TelnetOption.COM_PORT, Buffer.from([101, 0, 0, 0xff, 0xff])),
    Buffer.from('z'),
    encodeNegotiation(DONT, TelnetOption.COM_PORT),
  ]);
  const expected: TelnetEvent[] = [
    { type: 'data', data: Buffer.from('ab') },
    { type: 'negotiation', verb: WILL, option: 0 },
    { type: 'data', data: Buffer.from([0xff, 0]) },
    { type: 'command', command: NOP },
    { type: 'subnegotiation', option: 44, payload: Buffer.from([101, 0, 0, 0xff, 0xff]) },
    { type: 'data', data: Buffer.from('z') },
    { type: 'negotiation', verb: DONT, option: 44 },
  ];

  it('decodes a mixed stream in order', () => {
    expect(decodeAll([wire])).toEqual(expected);
  });

  it('gives the same events however the stream is split (every split point, byte by byte)', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      expect(decodeAll([wire.subarray(0, cut), wire.subarray(cut)])).toEqual(expected);
    }
    expect(decodeAll([...wire].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it('subnegotiation payloads with 0xFF survive any split (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
        fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
        fc.array(fc.nat(), { maxLength: 8 }),
        (payload, data, cuts) => {
          const w = Buffer.concat([escapeIac(data), encodeSubnegotiation(44, payload), escapeIac(data)]);
          const events = decodeAll(split(w, cuts));
          const sb = events.filter((e) => e.type === 'subnegotiation');
          expect(sb).toEqual([{ type: 'subnegotiation', option: 44, payload }]);
          const bytes = Buffer.concat(events.map((e) => (e.type === 'data' ? e.data : Buffer.alloc(0))));
          expect(bytes.equals(Buffer.concat([data, data]))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an IAC <command> inside a subnegotiation ends it and is handled as a command', () => {
    const w = Buffer.from([IAC, SB, 44, 1, 2, IAC, WILL, 3, 0x41]);
    expect(decodeAll([w])).toEqual([
      { type: 'subnegotiation', option: 44, payload: Buffer.from([1, 2]) },
      { type: 'negotiation', verb: WILL, option: 3 },
      { type: 'data', data: Buffer.from('A') },
    ]);
  });

  it('encodes a subnegotiation with its payload escaped', () => {
    expect([...encodeSubnegotiation(44, Buffer.from([10, 0xff]))]).toEqual([
      IAC,
      SB,
      44,
      10,
      0xff,
      0xff,
      IAC,
      SE,
    ]);
  });
});

describe('negotiation state machine (RFC 1143)', () => {
  const make = () =>
    new TelnetNegotiator(
      new Set([TelnetOption.BINARY, TelnetOption.COM_PORT]),
      new Set([TelnetOption.BINARY]),
    );

  it('our request, the peer agrees: enabled, no further reply', () => {
    const n = make();
    expect(n.requestLocal(TelnetOption.COM_PORT, true)).toEqual([encodeNegotiation(WILL, 44)]);
    expect(n.local(44)).toBe('want-yes');
    expect(n.requestLocal(44, true)).toEqual([]); // already asked: nothing sent again
    const r = n.receive(DO, 44);
    expect(r.reply).toEqual([]);
    expect(r.change).toEqual({ option: 44, side: 'local', enabled: true, refused: false });
    expect(n.local(44)).toBe('yes');
    expect(n.receive(DO, 44)).toEqual({ reply: [] }); // a repeated DO is not answered (no loop)
  });

  it('our request, the peer refuses: refused, no reply', () => {
    const n = make();
    n.requestLocal(44, true);
    const r = n.receive(DONT, 44);
    expect(r).toEqual({ reply: [], change: { option: 44, side: 'local', enabled: false, refused: true } });
    expect(n.local(44)).toBe('no');
    expect(n.receive(DONT, 44)).toEqual({ reply: [] });
    n.requestRemote(TelnetOption.BINARY, true);
    expect(n.receive(WONT, 0).change).toEqual({ option: 0, side: 'remote', enabled: false, refused: true });
  });

  it('the peer asks first: accepted options are agreed, others refused', () => {
    const n = make();
    expect(n.receive(WILL, TelnetOption.BINARY)).toEqual({
      reply: [encodeNegotiation(DO, 0)],
      change: { option: 0, side: 'remote', enabled: true, refused: false },
    });
    expect(n.receive(WILL, TelnetOption.ECHO)).toEqual({ reply: [encodeNegotiation(DONT, 1)] });
    expect(n.receive(DO, TelnetOption.SGA)).toEqual({ reply: [encodeNegotiation(WONT, 3)] });
    expect(n.receive(DO, TelnetOption.BINARY).reply).toEqual([encodeNegotiation(WILL, 0)]);
    // Refused options stay off when the peer insists, and the refusal is repeated only as an answer.
    expect(n.receive(WILL, TelnetOption.ECHO)).toEqual({ reply: [encodeNegotiation(DONT, 1)] });
  });

  it('an enabled option turned off by the peer is acknowledged once', () => {
    const n = make();
    n.receive(WILL, 0);
    expect(n.receive(WONT, 0)).toEqual({
      reply: [encodeNegotiation(DONT, 0)],
      change: { option: 0, side: 'remote', enabled: false, refused: false },
    });
    expect(n.receive(WONT, 0)).toEqual({ reply: [] });
  });

  it('we turn an option off: WONT, then the DONT answer changes nothing more', () => {
    const n = make();
    n.receive(DO, 44);
    expect(n.requestLocal(44, false)).toEqual([encodeNegotiation(WONT, 44)]);
    expect(n.receive(DONT, 44).change).toEqual({ option: 44, side: 'local', enabled: false, refused: false });
    expect(n.local(44)).toBe('no');
  });

  it('two state machines talking to each other settle without looping (property)', () => {
    const opts = [0, 1, 3, 44];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.constantFrom(...opts), fc.boolean(), fc.boolean()), {
          maxLength: 20,
        }),
        (requests) => {
          const a = new TelnetNegotiator(new Set([0, 3, 44]), new Set([0, 3]));
          const b = new TelnetNegotiator(new Set([0, 3]), new Set([0, 3, 44]));
          // One FIFO wire: every message is delivered in order, replies queued behind.
          const wire: Array<{ to: TelnetNegotiator; msg: Buffer }> = [];
          for (const [fromA, opt, local, enable] of requests) {
            const n = fromA ? a : b;
            const sent = local ? n.requestLocal(opt, enable) : n.requestRemote(opt, enable);
            for (const msg of sent) wire.push({ to: fromA ? b : a, msg });
          }
          let steps = 0;
          while (wire.length > 0) {
            if (++steps > 1000) throw new Error('negotiation loops');
            const { to, msg } = wire.shift() as { to: TelnetNegotiator; msg: Buffer };
            const r = to.receive(msg[1] as typeof WILL, msg[2] as number);
            for (const reply of r.reply) wire.push({ to: to === a ? b : a, msg: reply });
          }
          // Settled: each side's view of every option agrees with the other's.
          for (const o of opts) {
            expect(a.local(o)).toMatch(/^(yes|no)$/);
            expect(a.remote(o)).toMatch(/^(yes|no)$/);
            expect(a.local(o)).toBe(b.remote(o));
            expect(a.remote(o)).toBe(b.local(o));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
