/** Shared checks of the conformance tests: a clean report, and JUnit XML that agrees with it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ConformanceReport } from '../../src/conformance/index.js';
import { REPO_ROOT } from '../helpers/sim-process.js';
import { parseXml, type XmlElement } from './xml.js';

/**
 * Runs the `offload` CLI from source (tsx) as a user would, without the device and key variables of this
 * environment; SIGKILL after `timeoutMs`.
 */
export function runKitCli(
  args: string[],
  timeoutMs = 80_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.OFFLOAD_DEVICE;
    delete env.OFFLOAD_KEY;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args],
      { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Not applicable against a simulator started without an admin credential, keys and a per-channel slot quota
 * (the defaults): the admin, secure and egress cases that need --admin-credential / --key-id, the quota case, and
 * the channel timeout cases (timeout, bye) without --channel-timeout.
 */
export const NEEDS_KIT_OPTIONS =
  /^(channel\.(zero-not-admin|admin-snapshot|admin-close|channel-reset|quota|timeout|bye)|secure\.\S+|egress\.(invalid|connect-denied|sendto-denied|listen-denied))$/;

/** Every applicable test passed; `allowedNa` lists the ids allowed to be not applicable (with why). */
export function expectConformant(report: ConformanceReport, allowedNa: RegExp | null): void {
  const failed = report.results.filter((r) => r.outcome === 'fail');
  expect(report.setupError).toBeUndefined();
  expect(failed.map((r) => `${r.id}: ${r.message} ${JSON.stringify(r.detail ?? {})}`)).toEqual([]);
  const na = report.results.filter((r) => r.outcome === 'n/a');
  for (const r of na) {
    expect(allowedNa?.test(r.id) ? r.id : `${r.id} unexpectedly n/a: ${r.message}`).toBe(r.id);
    expect(r.message).toBeTruthy();
  }
  expect(report.ok).toBe(true);
  expect(report.summary.total).toBe(report.results.length);
  expect(report.summary.passed + report.summary.failed + report.summary.notApplicable).toBe(
    report.summary.total,
  );
  // The whole catalogue ran (no silent skipping) and covers every area.
  const areas = new Set(report.results.map((r) => r.area));
  for (const a of [
    'handshake',
    'register',
    'fields',
    'transition',
    'update',
    'slots',
    'flow',
    'events',
    'snapshot',
    'net',
    'malformed',
    'link',
    'reset',
  ]) {
    expect(areas.has(a), `area ${a} ran`).toBe(true);
  }
}

function all(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.name === name) out.push(e);
    for (const c of e.children) walk(c);
  };
  walk(el);
  return out;
}

/** Parses the JUnit XML (throws if not well-formed) and checks every count against the report. */
export function expectJunitMatches(xml: string, report: ConformanceReport): XmlElement {
  const root = parseXml(xml);
  expect(root.name).toBe('testsuites');
  const cases = all(root, 'testcase');
  const failures = cases.filter((c) => c.children.some((x) => x.name === 'failure'));
  const skipped = cases.filter((c) => c.children.some((x) => x.name === 'skipped'));
  const n = report.setupError ? 1 : report.results.length;
  const nFail = report.setupError ? 1 : report.summary.failed;
  const nSkip = report.setupError ? 0 : report.summary.notApplicable;
  expect(cases).toHaveLength(n);
  expect(failures).toHaveLength(nFail);
  expect(skipped).toHaveLength(nSkip);
  expect(Number(root.attrs.tests)).toBe(n);
  expect(Number(root.attrs.failures)).toBe(nFail);
  expect(Number(root.attrs.skipped)).toBe(nSkip);
  expect(Number(root.attrs.errors)).toBe(0);
  let sum = 0;
  for (const s of all(root, 'testsuite')) {
    const own = all(s, 'testcase');
    expect(Number(s.attrs.tests)).toBe(own.length);
    expect(Number(s.attrs.failures)).toBe(
      own.filter((c) => c.children.some((x) => x.name === 'failure')).length,
    );
    expect(Number(s.attrs.skipped)).toBe(
      own.filter((c) => c.children.some((x) => x.name === 'skipped')).length,
    );
    expect(Number.isFinite(Number(s.attrs.time))).toBe(true);
    sum += own.length;
  }
  expect(sum).toBe(n);
  if (!report.setupError) {
    const names = cases.map((c) => c.attrs.name!.split(':')[0]!).sort();
    expect(names).toEqual(report.results.map((r) => r.id).sort());
  }
  return root;
}
