/** The simulator's event faults (drop / delay outgoing events), on real encoded messages. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { encodeMessage, event, okResponse } from '../../src/protocol/index.js';
import { commandNameOf, defaultFaults, eventNameOf, OutputFaults } from '../../sim/faults.js';

const log = pino({ level: 'silent' });
const status = (seq: number) =>
  encodeMessage(
    event('STATUS', 1, seq, {
      id: 1,
      status: 4,
      flags: 0,
      error: 0,
      local: { family: 0, port: 0, address: '' },
      remote: { family: 0, port: 0, address: '' },
    }),
  );
const credit = (seq: number) => encodeMessage(event('SEND_CREDIT', 1, seq, { id: 1, bytes: 10 }));
const pong = (tag: number) => encodeMessage(okResponse('PING', tag, { payload: Buffer.alloc(0) }));
const seqOf = (b: Buffer) => b.readUInt32LE(8);

describe('OutputFaults', () => {
  it('classifies messages', () => {
    expect(eventNameOf(status(1))).toBe('STATUS');
    expect(eventNameOf(pong(3))).toBeUndefined();
    expect(commandNameOf(Buffer.from([0x02, 0, 1, 0]))).toBe('PING');
    expect(commandNameOf(Buffer.from([0x7f, 0, 1, 0]))).toBeUndefined();
  });

  it('passes everything through when no fault is set', () => {
    const out: Buffer[] = [];
    const f = new OutputFaults(defaultFaults(), (_c, b) => out.push(b), log);
    f.push(0, status(1));
    f.push(0, pong(1));
    expect(out.length).toBe(2);
  });

  it('drops the next n events of the selected kinds only; responses are never dropped', () => {
    const faults = defaultFaults();
    faults.dropNextEvents = 2;
    faults.eventKinds = ['SEND_CREDIT'];
    const out: Buffer[] = [];
    const f = new OutputFaults(faults, (_c, b) => out.push(b), log);
    f.push(0, status(1));
    f.push(0, credit(2));
    f.push(0, pong(7));
    f.push(0, credit(3));
    f.push(0, credit(4));
    expect(out.map((b) => (eventNameOf(b) ? seqOf(b) : 'resp'))).toEqual([1, 'resp', 4]);
    expect(faults.dropNextEvents).toBe(0);
    expect(f.stats.droppedEvents).toBe(2);
  });

  it('drops events at random, repeatably for a seed', () => {
    const run = () => {
      const faults = defaultFaults();
      faults.seed = 42;
      faults.dropEventRate = 0.5;
      const out: number[] = [];
      const f = new OutputFaults(faults, (_c, b) => out.push(seqOf(b)), log);
      for (let i = 1; i <= 100; i++) f.push(0, status(i));
      return out;
    };
    const a = run();
    expect(a.length).toBeGreaterThan(20);
    expect(a.length).toBeLessThan(80);
    expect(run()).toEqual(a);
  });

  it('delays events, keeps their order, lets responses overtake them', async () => {
    const faults = defaultFaults();
    faults.delayEventsMs = 40;
    faults.eventKinds = ['STATUS'];
    const out: Array<string | number> = [];
    const f = new OutputFaults(faults, (c, b) => out.push(eventNameOf(b) ? `${c}:${seqOf(b)}` : 'resp'), log);
    f.push(0, status(1));
    f.push(0, credit(2)); // not a delayed kind, but must stay behind event 1
    f.push(0, pong(1));
    f.push(1, credit(1)); // another channel: not held back
    expect(out).toEqual(['resp', '1:1']);
    await new Promise((r) => setTimeout(r, 80));
    expect(out).toEqual(['resp', '1:1', '0:1', '0:2']);
    f.close();
  });
});
