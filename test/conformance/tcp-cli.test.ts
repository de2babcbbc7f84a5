/**
 * `offload conformance` (the CLI, run as a user would: a child process) against the simulator's TCP shim
 * (startSimulator): exit status 0, --json report, --junit file that parses and matches; then the CLI's other
 * paths: --list, the human-readable lines, and exit status 1 when the device cannot be reached.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../sim/index.js';
import type { ConformanceReport } from '../../src/conformance/index.js';
import { runKitCli as cli, expectConformant, expectJunitMatches, NEEDS_KIT_OPTIONS } from './helpers.js';

let sim: Simulator;
let dir: string;
let run: Awaited<ReturnType<typeof cli>>;
let report: ConformanceReport;

beforeAll(async () => {
  sim = await startSimulator({ listen: 'tcp://127.0.0.1:0', network: 'host' });
  dir = mkdtempSync(join(tmpdir(), 'offload-conformance-'));
  run = await cli(['conformance', '--device', sim.url, '--json', '--junit', join(dir, 'junit.xml')]);
  report = JSON.parse(run.stdout) as ConformanceReport;
}, 85_000);

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('offload conformance vs the TCP shim', () => {
  it('exits 0 with every applicable test passed (the serial-link tests and those needing --admin-credential / --key-id not applicable)', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(report.device).toBe(sim.url);
    expectConformant(report, new RegExp(`^link\\.(host|device)|${NEEDS_KIT_OPTIONS.source}`));
    expect(report.results.filter((r) => r.outcome === 'n/a' && r.area === 'link')).toHaveLength(7);
  });

  it('writes JUnit XML that parses and matches the report', () => {
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expectJunitMatches(xml, report);
  });

  it('--list lists the catalogue; --grep narrows it', async () => {
    const all = await cli(['conformance', '--list']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(
      /^transition\.STREAM\.LISTENING\.BIND +§6\.5 +\[TCP\] +BIND on a STREAM socket in LISTENING: E_BAD_STATE$/m,
    );
    expect(all.stdout.trim().split('\n').at(-1)).toBe(`${report.results.length} tests`);
    const some = await cli(['conformance', '--list', '--grep', '^register\\.', '--json']);
    const listed = JSON.parse(some.stdout) as Array<{ id: string }>;
    expect(listed.length).toBeGreaterThanOrEqual(25);
    expect(listed.every((t) => t.id.startsWith('register.'))).toBe(true);
  });

  it('prints PASS lines and a summary for a subset; exit 1 (with a failing JUnit case) when the device cannot be reached', async () => {
    const ok = await cli(['conformance', '--device', sim.url, '--grep', '^handshake\\.']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^PASS {2}handshake\.hello {2}HELLO answers/m);
    expect(ok.stdout.trim().split('\n').at(-1)).toMatch(
      /^conformance PASS: 7 tests, 7 passed, 0 failed, 0 not applicable/,
    );
    const junit = join(dir, 'down.xml');
    const down = await cli(['conformance', '--device', 'tcp://127.0.0.1:1', '--junit', junit], 30_000);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/conformance FAIL: could not start a session/);
    const unreachable = {
      setupError: 'unreachable',
      results: [],
      summary: { total: 0, passed: 0, failed: 0, notApplicable: 0 },
    } as unknown as ConformanceReport;
    const root = expectJunitMatches(readFileSync(junit, 'utf8'), unreachable);
    expect(root.attrs.failures).toBe('1');
  });
});
