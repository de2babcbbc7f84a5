/**
 * The kit's CHANNELS, SECURE and EGRESS_POLICY cases against the simulator's TCP shim (startSimulator) with an
 * admin credential, a provisioned key and a smaller slot quota on the kit's second channel: every case passes,
 * programmatically and through the CLI (--admin-credential, --key-id, --key-file). Without the credential and
 * key the dependent cases are not applicable and name the option to pass; against a simulator without
 * CHANNELS / EGRESS_POLICY (--no-channels) they are not applicable for the missing capability.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../sim/index.js';
import { type ConformanceReport, listConformanceTests, runConformance } from '../../src/conformance/index.js';
import { Capability } from '../../src/protocol/index.js';
import { runKitCli as cli } from './helpers.js';

const GREP = '^(channel|secure|egress)\\.';
const KEY_ID = 7;
const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const CREDENTIAL = 'kit-admin-credential';
/** The kit's NORMAL second channel (KIT_CHANNEL.normal) gets fewer slots than the board: E_QUOTA is reachable. */
const QUOTAS = { 1: { slotQuota: 4 } };

const CREDENTIAL_CASES =
  /^(channel\.(zero-not-admin|admin-snapshot|admin-close|channel-reset)|egress\.(invalid|connect-denied|sendto-denied|listen-denied))$/;
/** Waits the channel timeout out: asked for with --channel-timeout (the simulator's is set to it below). */
const TIMEOUT_CASE = /^channel\.(timeout|bye)$/;
const CHANNEL_TIMEOUT_MS = 500;
const KEY_CASES =
  /^(secure\.(handshake|wrong-proof|bad-mac|replay|locked)|egress\.(invalid|connect-denied|sendto-denied|listen-denied))$/;

let sim: Simulator;
let dir: string;

beforeAll(async () => {
  sim = await startSimulator({
    listen: 'tcp://127.0.0.1:0',
    network: 'host',
    secureKeys: new Map([[KEY_ID, KEY]]),
    core: { adminCredential: CREDENTIAL, channelQuotas: QUOTAS, channelTimeoutMs: CHANNEL_TIMEOUT_MS },
  });
  dir = mkdtempSync(join(tmpdir(), 'offload-kit-channels-'));
});

afterAll(async () => {
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function failures(r: ConformanceReport): string[] {
  return r.results
    .filter((x) => x.outcome === 'fail')
    .map((x) => `${x.id}: ${x.message} ${JSON.stringify(x.detail ?? {})}`);
}

describe('conformance kit: channels, secure execution and egress policy', () => {
  it('with the credential and the key every case passes (programmatic run)', async () => {
    const r = await runConformance({
      url: sim.url,
      grep: GREP,
      adminCredential: CREDENTIAL,
      secureKey: { keyId: KEY_ID, key: KEY },
      channelTimeoutMs: CHANNEL_TIMEOUT_MS,
    });
    expect(r.setupError).toBeUndefined();
    expect(failures(r)).toEqual([]);
    expect(r.results.map((x) => x.id)).toEqual(listConformanceTests(GREP).map((c) => c.id));
    expect(r.results.filter((x) => x.outcome !== 'pass').map((x) => `${x.id}: ${x.message}`)).toEqual([]);
    const areas = new Set(r.results.map((x) => x.area));
    expect([...areas].sort()).toEqual(['channel', 'egress', 'secure']);
    // One isolation case per socket-id command.
    expect(r.results.filter((x) => x.id.startsWith('channel.isolation.'))).toHaveLength(13);
    // The forged and the replayed frame reached the device and were refused there (§12.3).
    expect(sim.stats.link.secureBadMac).toBeGreaterThanOrEqual(1);
    expect(sim.stats.link.secureReplays).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('without the credential and the key the dependent cases are not applicable, naming the option; the rest passes', async () => {
    const r = await runConformance({ url: sim.url, grep: GREP });
    expect(failures(r)).toEqual([]);
    const na = r.results.filter((x) => x.outcome === 'n/a');
    expect(na.map((x) => x.id).sort()).toEqual(
      r.results
        .filter((x) => CREDENTIAL_CASES.test(x.id) || KEY_CASES.test(x.id) || TIMEOUT_CASE.test(x.id))
        .map((x) => x.id)
        .sort(),
    );
    for (const x of na)
      expect(x.message).toMatch(
        /pass --admin-credential TEXT|pass --key-id N with --key-file FILE or OFFLOAD_KEY|pass --channel-timeout MS/,
      );
    expect(r.results.find((x) => x.id === 'channel.zero-not-admin')?.message).toMatch(/--admin-credential/);
    expect(r.results.find((x) => x.id === 'secure.handshake')?.message).toMatch(/--key-id/);
    // What needs neither still ran: isolation, the open gate, the refusals.
    for (const id of [
      'channel.open-gate',
      'channel.isolation.CLOSE',
      'channel.quota',
      'secure.finish-without-init',
      'egress.not-permitted',
    ])
      expect(r.results.find((x) => x.id === id)?.outcome, id).toBe('pass');
  }, 60_000);

  it('the CLI takes --admin-credential, --key-id and --key-file: exit 0, every case passed', async () => {
    const keyFile = join(dir, 'keys.json');
    writeFileSync(keyFile, JSON.stringify({ [KEY_ID]: KEY.toString('hex') }), { mode: 0o600 });
    const run = await cli([
      'conformance',
      '--device',
      sim.url,
      '--grep',
      GREP,
      '--admin-credential',
      CREDENTIAL,
      '--key-id',
      String(KEY_ID),
      '--key-file',
      keyFile,
      '--channel-timeout',
      String(CHANNEL_TIMEOUT_MS),
      '--json',
    ]);
    expect(run.stderr).toBe('');
    const r = JSON.parse(run.stdout) as ConformanceReport;
    expect(failures(r)).toEqual([]);
    expect(r.summary.notApplicable).toBe(0);
    expect(r.summary.passed).toBe(listConformanceTests(GREP).length);
    expect(run.code).toBe(0);
    const missing = await cli([
      'conformance',
      '--device',
      sim.url,
      '--grep',
      GREP,
      '--key-id',
      String(KEY_ID),
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/--key-id 7 needs the key: --key-file FILE or OFFLOAD_KEY/);
  }, 90_000);

  it('channel.timeout fails against a device that keeps a silent channel past the timeout the kit was given', async () => {
    // The simulator's default channel timeout is 10 s; the kit is told 500 ms and looks after 4.5 s + 0.5 s.
    const slow = await startSimulator({ listen: 'tcp://127.0.0.1:0', network: 'host' });
    try {
      const r = await runConformance({ url: slow.url, grep: '^channel\\.timeout$', channelTimeoutMs: 500 });
      expect(r.results.map((x) => `${x.id}: ${x.outcome}`)).toEqual(['channel.timeout: fail']);
      expect(r.results[0]?.message).toMatch(
        /before CHANNEL_OPEN \(the timeout returns the channel to not-open\)/,
      );
      expect(r.ok).toBe(false);
    } finally {
      await slow.close();
    }
  }, 60_000);

  it('against a device without CHANNELS and EGRESS_POLICY the cases are not applicable for the capability', async () => {
    const plain = await startSimulator({
      listen: 'tcp://127.0.0.1:0',
      network: 'host',
      secureKeys: new Map([[KEY_ID, KEY]]),
      core: {
        adminCredential: CREDENTIAL,
        capabilities: 0xffff & ~(Capability.CHANNELS | Capability.EGRESS_POLICY),
      },
    });
    try {
      const r = await runConformance({
        url: plain.url,
        grep: GREP,
        adminCredential: CREDENTIAL,
        secureKey: { keyId: KEY_ID, key: KEY },
      });
      expect(r.info?.capabilities).not.toContain('CHANNELS');
      expect(r.info?.capabilities).toContain('SECURE');
      expect(failures(r)).toEqual([]);
      expect(r.results.length).toBeGreaterThan(25);
      for (const x of r.results) {
        expect(x.outcome, x.id).toBe('n/a');
        expect(x.message).toMatch(/does not advertise (CHANNELS|EGRESS_POLICY)/);
      }
    } finally {
      await plain.close();
    }
  }, 60_000);
});
