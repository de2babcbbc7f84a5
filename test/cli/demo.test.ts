/** `npm run demo` (tsx demo/demo.ts) runs to completion, unattended, and leaves no process behind. */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliEnv, REPO_ROOT } from './helpers.js';

describe('the demo', () => {
  it('runs to completion: probe, HTTP status, echo, UDP reply, table compared, no process left', async () => {
    // Its own process group, so that anything it might leave behind can be found afterwards.
    const child = spawn('npx', ['tsx', 'demo/demo.ts'], {
      cwd: REPO_ROOT,
      env: cliEnv(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 45_000);
    const t0 = Date.now();
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    clearTimeout(killer);
    expect(code, `${out}\n${err}`).toBe(0);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(out).toMatch(/serves the firmware protocol on tcp:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/^\s+protocol\s+1\.0/m);
    expect(out).toMatch(/^\s+round trip\s+min/m);
    expect(out).toMatch(/→ HTTP 200 OK, \d+ bytes: hello from a local http\.Server/);
    expect(out).toMatch(/→ echo reply: "hello through the offload board\\n"/);
    expect(out).toMatch(/→ UDP reply from 127\.0\.0\.1:\d+: "ping over UDP"/);
    expect(out).toMatch(/CONNECTING\s+→ CONNECTED/);
    expect(out).toMatch(/mirror and device agree/);
    expect(out).toMatch(/sockets left on the device: 0/);
    expect(out).toMatch(/device closed, simulator stopped/);
    // The group empties once the last helper (tsx's esbuild service) has exited: give it a moment.
    const inGroup = () =>
      spawnSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((l) => l.trim())
        .filter((l) => Number(l.split(/\s+/)[1]) === child.pid);
    let left = inGroup();
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = inGroup();
    }
    expect(left, 'processes left in the demo process group').toEqual([]);
  }, 60_000);
});
