/** Text lines, summary and JUnit XML (the format lab CI systems read) for a ConformanceReport. */
import { hostname } from 'node:os';
import type { ConformanceReport, TestResult } from './types.js';

const LABEL: Record<TestResult['outcome'], string> = { pass: 'PASS', fail: 'FAIL', 'n/a': 'N/A ' };

/** `PASS  id  title`; a failure adds its message and what was sent / expected / received, indented. */
export function formatResultLine(r: TestResult): string {
  const head = `${LABEL[r.outcome]}  ${r.id}  ${r.title}`;
  if (r.outcome === 'pass') return head;
  if (r.outcome === 'n/a') return `${head}\n      not applicable: ${r.message ?? ''}`;
  const lines = [head, `      ${r.message ?? 'failed'}`];
  const d = r.detail ?? {};
  if (d.sent) lines.push(`      sent:     ${d.sent}`);
  if (d.expected) lines.push(`      expected: ${d.expected}`);
  if (d.received) lines.push(`      received: ${indentRest(d.received, 16)}`);
  return lines.join('\n');
}

function indentRest(s: string, n: number): string {
  return s.split('\n').join(`\n${' '.repeat(n)}`);
}

export function formatSummary(report: ConformanceReport): string {
  const s = report.summary;
  const verdict = report.ok ? 'PASS' : 'FAIL';
  if (report.setupError) return `conformance ${verdict}: ${report.setupError}`;
  return `conformance ${verdict}: ${s.total} tests, ${s.passed} passed, ${s.failed} failed, ${s.notApplicable} not applicable (${(report.durationMs / 1000).toFixed(1)} s) — ${report.device}`;
}

export function formatText(report: ConformanceReport): string {
  const out: string[] = [];
  if (report.info) {
    const i = report.info;
    out.push(
      `device ${report.device}: protocol ${i.protocolVersion}, ${i.capabilities.join(' ')}, ${i.slots} slots, max payload ${i.maxPayload}, firmware '${i.firmware}', link ${i.link.framing}${i.link.arq ? ' + ARQ' : ''}; peers on ${report.peerHost}`,
    );
  }
  for (const r of report.results) out.push(formatResultLine(r));
  out.push(formatSummary(report));
  return out.join('\n');
}

/** Characters XML 1.0 cannot hold are dropped; markup characters escaped. */
export function xmlEscape(s: string): string {
  let clean = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    const ok =
      c === 0x9 ||
      c === 0xa ||
      c === 0xd ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      c >= 0x10000;
    if (ok) clean += ch;
  }
  return clean
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const secs = (ms: number) => (ms / 1000).toFixed(3);

/**
 * JUnit XML: one <testsuite> per area (handshake, register, transition ...), one <testcase> per test; a
 * failure is <failure message=…> with sent / expected / received in its text, a test that does not apply is
 * <skipped message="not applicable: …"/>. A session that could not start is one failing testcase.
 */
export function formatJunit(report: ConformanceReport): string {
  const results: TestResult[] = report.setupError
    ? [
        {
          id: 'session.setup',
          title: 'link, HELLO and clean-up before the tests',
          section: '§4.2, §5.8.1',
          area: 'session',
          outcome: 'fail',
          ms: report.durationMs,
          message: report.setupError,
        },
      ]
    : report.results;
  const areas = new Map<string, TestResult[]>();
  for (const r of results) {
    const list = areas.get(r.area) ?? [];
    list.push(r);
    areas.set(r.area, list);
  }
  const count = (list: TestResult[], o: TestResult['outcome']) => list.filter((r) => r.outcome === o).length;
  const total = (list: TestResult[]) => list.reduce((a, r) => a + r.ms, 0);
  const host = xmlEscape(hostname());
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="offload conformance" tests="${results.length}" failures="${count(results, 'fail')}" errors="0" skipped="${count(results, 'n/a')}" time="${secs(report.durationMs)}" timestamp="${xmlEscape(report.startedAt)}">`,
  ];
  for (const [area, list] of areas) {
    lines.push(
      `  <testsuite name="conformance.${xmlEscape(area)}" tests="${list.length}" failures="${count(list, 'fail')}" errors="0" skipped="${count(list, 'n/a')}" time="${secs(total(list))}" timestamp="${xmlEscape(report.startedAt)}" hostname="${host}">`,
    );
    lines.push('    <properties>');
    lines.push(`      <property name="device" value="${xmlEscape(report.device)}"/>`);
    lines.push(`      <property name="peerHost" value="${xmlEscape(report.peerHost)}"/>`);
    if (report.info) {
      lines.push(`      <property name="firmware" value="${xmlEscape(report.info.firmware)}"/>`);
      lines.push(
        `      <property name="capabilities" value="${xmlEscape(report.info.capabilities.join(' '))}"/>`,
      );
      lines.push(
        `      <property name="protocolVersion" value="${xmlEscape(report.info.protocolVersion)}"/>`,
      );
    }
    lines.push('    </properties>');
    for (const r of list) {
      const open = `    <testcase classname="conformance.${xmlEscape(area)}" name="${xmlEscape(`${r.id}: ${r.title}`)}" time="${secs(r.ms)}"`;
      if (r.outcome === 'pass') {
        lines.push(`${open}/>`);
      } else if (r.outcome === 'n/a') {
        lines.push(`${open}>`);
        lines.push(`      <skipped message="${xmlEscape(`not applicable: ${r.message ?? ''}`)}"/>`);
        lines.push('    </testcase>');
      } else {
        const d = r.detail ?? {};
        const body = [
          `${r.message ?? 'failed'}`,
          `section: ${r.section}`,
          ...(d.sent ? [`sent:     ${d.sent}`] : []),
          ...(d.expected ? [`expected: ${d.expected}`] : []),
          ...(d.received ? [`received: ${d.received}`] : []),
        ].join('\n');
        lines.push(`${open}>`);
        lines.push(
          `      <failure message="${xmlEscape(r.message ?? 'failed')}" type="ConformanceFailure">${xmlEscape(body)}</failure>`,
        );
        lines.push('    </testcase>');
      }
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
