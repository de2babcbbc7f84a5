/**
 * The conformance kit's channel cases over PCIe (§10.5): the standalone simulator serves a PCIe window with ring
 * pairs for the kit's host B (channel 1) and admin (channel 255) — `--pcie-channels 1,255` — and an admin
 * credential; the kit reaches each channel through its own pair in the same window, with the pair's FIFO
 * `<events>.<channel>`. Every channel case passes (the quota case with a smaller slot quota on channel 1, which
 * the standalone simulator cannot give one channel alone: an in-process one on a PCIe window); SECURE and the
 * egress cases that need a secure admin stay not applicable (§12 does not apply on PCIe). With pairs for channels
 * 1..3 only (no 255) the admin cases are not applicable and name the missing pair.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../sim/index.js';
import {
  type ConformanceReport,
  formatJunit,
  listConformanceTests,
  runConformance,
} from '../../src/conformance/index.js';
import { pcieWindowPath } from '../driver/paths.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';
import { expectConformant, expectJunitMatches } from './helpers.js';

const CREDENTIAL = 'kit-pcie-admin-credential';
const KIT = /^(channel|secure|egress)\./;
/** Cases that speak on channel 255 (the admin): not applicable without its pair. */
const ADMIN_CASES = /^channel\.(open-gate|admin-only-255|admin-snapshot|admin-close|channel-reset)$/;

interface Sim {
  sim: SimProcess;
  window: string;
}

async function start(pairs: string, extra: string[] = []): Promise<Sim> {
  const window = pcieWindowPath('kit-channels');
  const sim = await spawnSim([
    '--listen',
    `pcie://${window}`,
    '--pcie-channels',
    pairs,
    '--admin-credential',
    CREDENTIAL,
    '--log-level',
    'warn',
    ...extra,
  ]);
  return { sim, window };
}

async function stop(s: Sim | undefined): Promise<void> {
  if (!s) return;
  await s.sim.stop('SIGTERM');
  for (const suffix of ['', '.events', '.events.1', '.events.2', '.events.3', '.events.255'])
    rmSync(`${s.window}${suffix}`, { force: true });
}

function failures(r: ConformanceReport): string[] {
  return r.results
    .filter((x) => x.outcome === 'fail')
    .map((x) => `${x.id}: ${x.message} ${JSON.stringify(x.detail ?? {})}`);
}

let full: Sim;
let report: ConformanceReport;

beforeAll(async () => {
  full = await start('1,255');
  report = await runConformance({ url: full.sim.url, adminCredential: CREDENTIAL });
}, 180_000);

afterAll(async () => {
  await stop(full);
});

describe('conformance kit over PCIe with ring pairs for channels 1 and 255 (§10.5)', () => {
  it('every channel case passes over the rings; SECURE and the secure-admin egress cases stay not applicable; the rest as before', () => {
    expectConformant(
      report,
      /^link\.|^register\.(CMD_TAIL|CPL_HEAD)$|^secure\.|^egress\.(invalid|connect-denied|sendto-denied|listen-denied)$|^channel\.(quota|timeout|bye)$/,
    );
    expect(report.info?.capabilities).toEqual(expect.arrayContaining(['PCIE_RINGS', 'CHANNELS']));
    const channel = report.results.filter((r) => r.area === 'channel');
    expect(channel.map((r) => r.id)).toEqual(listConformanceTests('^channel\\.').map((c) => c.id));
    // All of them but the quota case (the simulator's default quota is every slot: nothing to exceed), the
    // channel timeout (not asked for here: it waits the timeout out; test/conformance/channels.test.ts runs it) and
    // BYE (a link-layer frame: PCIe has HOST_SESSION 0 instead).
    expect(channel.filter((r) => r.outcome === 'pass')).toHaveLength(channel.length - 3);
    expect(channel.length).toBe(26);
    expect(report.results.find((r) => r.id === 'channel.quota')?.message).toMatch(/slotQuota/);
    for (const r of report.results.filter((x) => x.area === 'secure')) {
      expect(r.outcome).toBe('n/a');
      expect(r.message).toMatch(/§12 does not apply on PCIe/);
    }
    const egress = report.results.filter((r) => r.area === 'egress');
    expect(egress.filter((r) => r.outcome === 'pass').map((r) => r.id)).toEqual(['egress.not-permitted']);
    // Everything else as in the run without pairs.
    const others = report.results.filter(
      (r) => !KIT.test(r.id) && r.area !== 'link' && !/^register\.(CMD_TAIL|CPL_HEAD)$/.test(r.id),
    );
    expect(others.length).toBeGreaterThan(200);
    expect(others.filter((r) => r.outcome !== 'pass').map((r) => `${r.id}: ${r.message}`)).toEqual([]);
  });

  it('JUnit XML parses and agrees with the report', () => {
    expectJunitMatches(formatJunit(report), report);
  });
});

describe('conformance kit over PCIe: channel quotas and missing pairs', () => {
  it('with a smaller slot quota on channel 1 the quota case passes over its pair (in-process simulator)', async () => {
    const window = pcieWindowPath('kit-quota');
    const sim = await startSimulator({
      listen: `pcie://${window}`,
      pcie: { channels: [1, 255] },
      core: { adminCredential: CREDENTIAL, channelQuotas: { 1: { slotQuota: 4 } } },
    });
    try {
      const r = await runConformance({
        url: sim.url,
        grep: '^channel\\.quota$',
        adminCredential: CREDENTIAL,
      });
      expect(failures(r)).toEqual([]);
      expect(r.results.map((x) => `${x.id}: ${x.outcome}`)).toEqual(['channel.quota: pass']);
    } finally {
      await sim.close();
      for (const suffix of ['', '.events', '.events.1', '.events.255'])
        rmSync(`${window}${suffix}`, { force: true });
    }
  }, 60_000);

  it('without a pair for channel 255 the admin cases are not applicable and name the missing pair; the rest passes', async () => {
    const s = await start('3');
    try {
      const r = await runConformance({
        url: s.sim.url,
        grep: '^(channel|egress)\\.',
        adminCredential: CREDENTIAL,
      });
      expect(failures(r)).toEqual([]);
      const na = r.results.filter((x) => x.outcome === 'n/a');
      expect(na.map((x) => x.id).sort()).toEqual(
        r.results
          .filter(
            (x) =>
              ADMIN_CASES.test(x.id) ||
              x.id === 'channel.quota' ||
              x.id === 'channel.timeout' ||
              x.id === 'channel.bye' ||
              /^egress\.(?!not-permitted)/.test(x.id),
          )
          .map((x) => x.id)
          .sort(),
      );
      for (const x of na.filter((y) => ADMIN_CASES.test(y.id))) {
        expect(x.message).toMatch(/ring pair for channel 255/);
        expect(x.message).toMatch(/the board offers channels 1, 2, 3/);
        expect(x.message).toMatch(/--pcie-channels 1,2,3,255/);
      }
      expect(r.results.filter((x) => x.outcome === 'pass')).toHaveLength(19);
    } finally {
      await stop(s);
    }
  }, 90_000);
});
