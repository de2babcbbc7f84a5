/**
 * The conformance kit against the standalone simulator (a separate process, `node --import tsx sim/main.ts`)
 * serving one end of a socat pty pair: serial framing with COBS, CRC-32 and ARQ, so the link tests run too
 * (frames corrupted, lost and duplicated from the kit's side). The simulator has a key and an admin credential
 * (--keys, --admin-credential) and the kit is given them: the channel, secure and egress cases run on further
 * channels over the same serial line. Every test applies and passes but the quota case (every channel may hold
 * every slot here) and the refusal of unadvertised capabilities (with a key the simulator advertises them all).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConformanceReport, formatJunit, runConformance } from '../../src/conformance/index.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';
import { expectConformant, expectJunitMatches } from './helpers.js';

let pty: PtyPair;
let sim: SimProcess;
let report: ConformanceReport;
let dir: string;
const KEY = Buffer.alloc(32, 0x42);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'offload-serial-kit-'));
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify({ 3: KEY.toString('hex') }), { mode: 0o600 });
  pty = await createPtyPair();
  sim = await spawnSim([
    '--listen',
    `serial://${pty.a}?baud=921600`,
    '--log-level',
    'warn',
    '--keys',
    keys,
    '--admin-credential',
    'serial-admin',
    '--channel-timeout',
    '500',
  ]);
  report = await runConformance({
    url: `serial://${pty.b}?baud=921600`,
    adminCredential: 'serial-admin',
    secureKey: { keyId: 3, key: KEY },
    channelTimeoutMs: 500,
  });
}, 110_000);

afterAll(async () => {
  await sim?.stop('SIGTERM');
  await pty?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('conformance kit vs the standalone simulator over a pty (serial + ARQ)', () => {
  it('passes every test, the link, channel, secure and egress tests included; only the quota and unadvertised-capability cases are not applicable', () => {
    expectConformant(report, /^(channel\.quota|handshake\.unadvertised)$/);
    expect(report.results.filter((r) => r.outcome === 'n/a').map((r) => r.id)).toEqual([
      'handshake.unadvertised',
      'channel.quota',
    ]);
    for (const area of ['channel', 'secure', 'egress']) {
      const mine = report.results.filter((r) => r.area === area);
      expect(mine.length, area).toBeGreaterThan(3);
    }
    expect(report.info?.link).toMatchObject({ framing: 'serial', arq: true });
    const link = report.results.filter((r) => r.area === 'link');
    expect(link.length).toBe(10);
    expect(link.every((r) => r.outcome === 'pass')).toBe(true);
  });

  it('JUnit XML parses and agrees with the report', () => {
    expectJunitMatches(formatJunit(report), report);
  });
});
