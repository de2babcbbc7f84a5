/**
 * The conformance kit against the simulator in this process (createInProcessDevice: an in-process transport
 * pair, TCP framing, host network): every applicable test passes; only the serial-link tests are not applicable.
 * The kit runs once; the assertions look at its report, its text output and its JUnit XML.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInProcessDevice, type InProcessDevice } from '../../sim/index.js';
import {
  type ConformanceReport,
  formatJunit,
  formatText,
  listConformanceTests,
  runConformance,
  type TestResult,
} from '../../src/conformance/index.js';
import { expectConformant, expectJunitMatches } from './helpers.js';

let dev: InProcessDevice;
let report: ConformanceReport;
const streamed: TestResult[] = [];

beforeAll(async () => {
  dev = createInProcessDevice({ network: 'host' });
  await dev.transport.open();
  report = await runConformance({
    transport: dev.transport,
    framing: 'tcp',
    onResult: (r) => streamed.push(r),
  });
}, 80_000);

afterAll(async () => {
  await dev?.close();
});

describe('conformance kit vs the in-process simulator', () => {
  it('passes every applicable test; only the serial-link tests are not applicable', () => {
    expectConformant(report, /^link\.(host|device|resync)/);
    const na = report.results.filter((r) => r.outcome === 'n/a');
    expect(na.length).toBe(8);
    for (const r of na) expect(r.message).toMatch(/serial links only/);
    // HEARTBEAT and the repeated SYNC apply to the TCP framing too.
    expect(report.results.find((r) => r.id === 'link.heartbeat')?.outcome).toBe('pass');
    expect(report.results.find((r) => r.id === 'link.sync-repeat')?.outcome).toBe('pass');
  });

  it('runs the whole catalogue in order, streaming each result', () => {
    expect(report.results.map((r) => r.id)).toEqual(listConformanceTests().map((c) => c.id));
    expect(streamed).toEqual(report.results);
    expect(report.info?.capabilities).toContain('SNAPSHOT');
    expect(report.info?.link.framing).toBe('tcp');
  });

  it('generates the transition tests from TRANSITIONS: 13 commands × 10 STREAM and 4 DGRAM statuses', () => {
    const t = report.results.filter((r) => r.area === 'transition');
    expect(t).toHaveLength(13 * 10 + 13 * 4);
    expect(t.every((r) => r.outcome === 'pass')).toBe(true);
    expect(report.results.filter((r) => r.area === 'register').length).toBeGreaterThanOrEqual(25);
  });

  it('prints one line per test and a summary; JUnit XML parses and its counts match', () => {
    const text = formatText(report).split('\n');
    expect(text.filter((l) => /^(PASS|FAIL|N\/A) +\S/.test(l))).toHaveLength(report.results.length);
    expect(text.at(-1)).toMatch(/^conformance PASS: \d+ tests, \d+ passed, 0 failed, 8 not applicable/);
    expectJunitMatches(formatJunit(report), report);
  });
});
