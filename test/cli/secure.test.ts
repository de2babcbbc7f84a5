/**
 * Secure execution from the command line: `offload sim --keys FILE` provisions keys (both file formats);
 * `offload probe --device tcp://…?keyId=N` with the key in OFFLOAD_KEY or OFFLOAD_KEY_FILE runs the handshake.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, requireBuild, runCli, type SimChild, startSimProcess } from './helpers.js';

describe('offload CLI with secure execution', () => {
  const key = randomBytes(32).toString('hex');
  const other = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'offload-keys-'));
  const lineFile = join(dir, 'keys.txt');
  const jsonFile = join(dir, 'host-key.json');
  let sim: SimChild;

  beforeAll(async () => {
    requireBuild();
    writeFileSync(lineFile, `# provisioned keys\n7 ${key}\n8 ${other}\n`, { mode: 0o600 });
    writeFileSync(jsonFile, JSON.stringify({ 7: key }), { mode: 0o600 });
    sim = await startSimProcess('tcp://127.0.0.1:0', ['--keys', lineFile]);
  });
  afterAll(async () => {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('probe ?keyId=7 with OFFLOAD_KEY: a secure link, its refusal counters shown; the channel stays locked to plain hosts', async () => {
    const plain = await runCli(['probe', '--device', sim.url, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).link.secure).toBe(false);
    const t = await runCli(['probe', '--device', `${sim.url}?keyId=7`], { env: { OFFLOAD_KEY: key } });
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^capabilities\s+.*SECURE/m);
    expect(t.stdout).toMatch(/^link\s+tcp \(length-prefixed\).*secure \(HMAC-SHA256\)/m);
    expect(t.stdout).toMatch(/^secure refused\s+bad MAC 0, replayed 0, too old 0, plain 0/m);
    // The secure host's link is gone: the channel is locked (§12.3) until a new handshake, so a plain host
    // cannot reach the sockets a secure one left.
    expectOneLineError(await runCli(['probe', '--device', sim.url]), 'E_OFFLOAD_AUTH');
  });

  it('OFFLOAD_KEY_FILE picks the key of the keyId; JSON output says secure', async () => {
    const j = await runCli(['probe', '--device', `${sim.url}?keyId=7`, '--json'], {
      env: { OFFLOAD_KEY_FILE: jsonFile },
    });
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout).link).toMatchObject({ secure: true, secureRefused: { badMac: 0 } });
  });

  it('a wrong key, an unknown keyId or no key at all: one line E_OFFLOAD_AUTH', async () => {
    expectOneLineError(
      await runCli(['probe', '--device', `${sim.url}?keyId=7`], { env: { OFFLOAD_KEY: other } }),
      'E_OFFLOAD_AUTH',
    );
    expectOneLineError(
      await runCli(['probe', '--device', `${sim.url}?keyId=9`], { env: { OFFLOAD_KEY: key } }),
      'E_OFFLOAD_AUTH',
    );
    expectOneLineError(await runCli(['probe', '--device', `${sim.url}?keyId=7`]), 'E_OFFLOAD_AUTH');
  });
});
