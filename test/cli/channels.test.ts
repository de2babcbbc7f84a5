/**
 * `offload sockets --all`: the admin view of every channel's sockets with a CHANNEL column, from the built CLI
 * against the standalone simulator (started with --admin-credential), while two drivers hold sockets on
 * channels 1 and 2; the credential from --credential, from the URL, from $OFFLOAD_CREDENTIAL; a wrong one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, type OffloadSocket, openDevice } from '../../src/index.js';
import { nativeServer } from '../driver/paths.js';
import { expectOneLineError, requireBuild, runCli, type SimChild, startSimProcess } from './helpers.js';

const CRED = 'cli-admin';

describe('offload sockets --all', () => {
  let sim: SimChild;
  let echo: Awaited<ReturnType<typeof nativeServer>>;
  const devs: OffloadDevice[] = [];
  const socks: OffloadSocket[] = [];
  const ids: Record<number, number[]> = {};

  beforeAll(async () => {
    requireBuild();
    sim = await startSimProcess('tcp://127.0.0.1:0', ['--admin-credential', CRED]);
    echo = await nativeServer((s) => s.pipe(s));
    for (const channel of [1, 2]) {
      const d = await openDevice(sim.url, { channel });
      devs.push(d);
      for (let i = 0; i < channel; i++) {
        const s = d.createConnection({ host: '127.0.0.1', port: echo.port });
        await new Promise((r) => s.once('connect', r));
        socks.push(s);
      }
      ids[channel] = d.sockets.list().map((e) => e.id);
    }
  }, 30_000);
  afterAll(async () => {
    for (const s of socks) s.destroy();
    for (const d of devs) await d.close().catch(() => undefined);
    await echo?.close();
    await sim?.stop();
  });

  it('lists every channel’s sockets with their channel (text and --json)', async () => {
    const t = await runCli(['sockets', '--all', '--device', sim.url, '--credential', CRED]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/admin view from channel 255/);
    expect(t.stdout).toMatch(/^CHANNEL\s+ID\s+TYPE\s+STATUS/m);
    const rows = t.stdout.split('\n').filter((l) => /^\s*\d+\s+0x[0-9a-f]{4}\s/i.test(l));
    expect(rows.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([1, 2, 2]);
    for (const l of rows) expect(l).toMatch(/CONNECTED/);
    const j = await runCli(['sockets', '--all', '--json', '--device', `${sim.url}?credential=${CRED}`]);
    expect(j.code, j.stderr).toBe(0);
    const entries = JSON.parse(j.stdout) as Array<{ id: string; channel: number }>;
    expect(entries.map((e) => [e.channel, Number.parseInt(e.id, 16)])).toEqual([
      [1, ids[1]![0]],
      [2, ids[2]![0]],
      [2, ids[2]![1]],
    ]);
    // The credential from the environment; the drivers' mirrors are untouched.
    const env = await runCli(['sockets', '--all', '--device', sim.url], {
      env: { OFFLOAD_CREDENTIAL: CRED },
    });
    expect(env.code, env.stderr).toBe(0);
    expect(devs[0]!.sockets.size + devs[1]!.sockets.size).toBe(3);
  });

  it('without the right credential: one-line E_OFFLOAD_AUTH; a NORMAL channel sees only its own sockets', async () => {
    const bad = await runCli(['sockets', '--all', '--device', sim.url, '--credential', 'nope']);
    expectOneLineError(bad, 'E_OFFLOAD_AUTH');
    const own = await runCli(['sockets', '--device-view', '--json', '--device', sim.url, '--channel', '3']);
    expect(own.code, own.stderr).toBe(0);
    expect(JSON.parse(own.stdout)).toEqual([]);
    const probe = await runCli(['probe', '--device', `${sim.url}?channel=3`, '--pings', '1']);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/^channel\s+3 NORMAL, quota 32 slots, 4194304 B of queues$/m);
    const admin = await runCli([
      'probe',
      '--json',
      '--device',
      sim.url,
      '--channel',
      '255',
      '--credential',
      CRED,
    ]);
    expect(admin.code, admin.stderr).toBe(0);
    expect(JSON.parse(admin.stdout).channel).toEqual({
      number: 255,
      role: 'ADMIN',
      slotQuota: 32,
      queueQuota: 4194304,
    });
  });
});
