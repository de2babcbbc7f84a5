/**
 * The conformance kit against the standalone simulator (a separate process, `node --import tsx sim/main.ts`)
 * serving one end of a socat pty pair: serial framing with COBS, CRC-32 and ARQ, so the link tests run too
 * (frames corrupted, lost and duplicated from the kit's side). Every test applies and passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConformanceReport, formatJunit, runConformance } from '../../src/conformance/index.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';
import { expectConformant, expectJunitMatches } from './helpers.js';

let pty: PtyPair;
let sim: SimProcess;
let report: ConformanceReport;

beforeAll(async () => {
  pty = await createPtyPair();
  sim = await spawnSim(['--listen', `serial://${pty.a}?baud=921600`, '--log-level', 'warn']);
  report = await runConformance({ url: `serial://${pty.b}?baud=921600` });
}, 85_000);

afterAll(async () => {
  await sim?.stop('SIGTERM');
  await pty?.kill();
});

describe('conformance kit vs the standalone simulator over a pty (serial + ARQ)', () => {
  it('passes every test, the link tests included; nothing is not applicable', () => {
    expectConformant(report, null);
    expect(report.info?.link).toMatchObject({ framing: 'serial', arq: true });
    const link = report.results.filter((r) => r.area === 'link');
    expect(link.length).toBe(10);
    expect(link.every((r) => r.outcome === 'pass')).toBe(true);
  });

  it('JUnit XML parses and agrees with the report', () => {
    expectJunitMatches(formatJunit(report), report);
  });
});
