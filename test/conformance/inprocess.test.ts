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
import { expectConformant, expectJunitMatches, NEEDS_KIT_OPTIONS } from './helpers.js';

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
  it('passes every applicable test; only the serial-link tests and those needing a credential, a key or a quota are not applicable', () => {
    expectConformant(report, new RegExp(`^link\\.(host|device)|${NEEDS_KIT_OPTIONS.source}`));
    const na = report.results.filter((r) => r.outcome === 'n/a');
    const serialOnly = na.filter((r) => r.area === 'link');
    expect(serialOnly.length).toBe(7);
    for (const r of serialOnly) expect(r.message).toMatch(/serial links only/);
    for (const r of na.filter((x) => x.area !== 'link'))
      expect(r.message).toMatch(
        /--admin-credential|does not advertise SECURE|slotQuota \d+ is not below|--channel-timeout MS/,
      );
    // The channel cases that need nothing more ran and passed: isolation for every socket-id command.
    const isolation = report.results.filter((r) => r.id.startsWith('channel.isolation.'));
    expect(isolation).toHaveLength(13);
    expect(isolation.every((r) => r.outcome === 'pass')).toBe(true);
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
    expect(text.at(-1)).toMatch(/^conformance PASS: \d+ tests, \d+ passed, 0 failed, \d+ not applicable/);
    expectJunitMatches(formatJunit(report), report);
  });
});

describe('conformance kit vs a simulator that advertises only TCP, UDP and ARQ', () => {
  it('reports the SNAPSHOT / REG_WINDOW / IPV6 / KEEPALIVE tests not applicable (never passed) and checks their refusal', async () => {
    const small = createInProcessDevice({ network: 'host', core: { capabilities: 0x0b } });
    try {
      await small.transport.open();
      const r = await runConformance({
        transport: small.transport,
        framing: 'tcp',
        grep: '^(handshake|register|snapshot|update|fields)\\.|\\.QUERY$',
      });
      expect(r.info?.capabilities).toEqual(['TCP', 'UDP', 'ARQ']);
      expect(r.results.filter((x) => x.outcome === 'fail').map((x) => `${x.id}: ${x.message}`)).toEqual([]);
      const na = r.results.filter((x) => x.outcome === 'n/a').map((x) => x.id);
      expect(na).toEqual(
        expect.arrayContaining([
          'register.window',
          'snapshot.consistent',
          'snapshot.fields',
          'update.unknown-id',
          'transition.STREAM.LISTENING.QUERY',
        ]),
      );
      for (const x of r.results.filter((y) => y.outcome === 'n/a'))
        expect(x.message).toMatch(/does not advertise|needs SNAPSHOT or REG_WINDOW/);
      // The refusals themselves are checked: SNAPSHOT, QUERY, IPv6 sockets, KEEPALIVE, CHANNELS, SECURE, EGRESS.
      expect(r.results.find((x) => x.id === 'handshake.unadvertised')?.outcome).toBe('pass');
    } finally {
      await small.close();
    }
  }, 40_000);
});
