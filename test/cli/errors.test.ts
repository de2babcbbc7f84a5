/**
 * How the CLI fails, and its help: bad URLs, a closed port, a port that accepts but never speaks (typed codes,
 * one line, no stack trace unless --log-level debug), and --help for every command.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, requireBuild, runCli } from './helpers.js';

describe('offload CLI failures and help', () => {
  let silent: net.Server;
  let silentPort: number;
  let closedPort: number;
  const held = new Set<net.Socket>();

  beforeAll(async () => {
    requireBuild();
    // Accepts connections and never says a word.
    silent = net.createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
      s.on('close', () => held.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as net.AddressInfo).port;
    const tmp = net.createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    closedPort = (tmp.address() as net.AddressInfo).port;
    await new Promise<void>((r) => tmp.close(() => r()));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent?.close(() => r()));
  });

  it('a bad device URL: E_OFFLOAD_BAD_URL, exit 1, one line', async () => {
    for (const url of ['bogus://x', 'tcp://127.0.0.1', 'tcp://127.0.0.1:99999', 'serial://']) {
      const r = await runCli(['probe', '--device', url]);
      expectOneLineError(r, 'E_OFFLOAD_BAD_URL');
    }
  });

  it('OFFLOAD_DEVICE is used when --device is not given', async () => {
    const r = await runCli(['regs', 'read', 'MAGIC'], { env: { OFFLOAD_DEVICE: 'nonsense:' } });
    expectOneLineError(r, 'E_OFFLOAD_BAD_URL');
    expect(r.stderr).toContain("'nonsense:'");
    const ok = await runCli(['regs', 'read', 'MAGIC'], { env: { OFFLOAD_DEVICE: 'sim:?slots=4' } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^MAGIC \(0x00, RO\) = 0x4F464C44/);
  });

  it('nothing listening: E_OFFLOAD_CONNECT_REFUSED, naming the URL', async () => {
    const r = await runCli(['probe', '--device', `tcp://127.0.0.1:${closedPort}`]);
    expectOneLineError(r, 'E_OFFLOAD_CONNECT_REFUSED');
    expect(r.stderr).toContain(`127.0.0.1:${closedPort}`);
  });

  it('a port that accepts but never speaks: E_OFFLOAD_NO_ANSWER within the timeout, no stack trace', async () => {
    const t0 = Date.now();
    const r = await runCli(['probe', '--device', `tcp://127.0.0.1:${silentPort}`, '--timeout', '1000']);
    expectOneLineError(r, 'E_OFFLOAD_NO_ANSWER');
    expect(r.stderr).toMatch(/within 1000 ms/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (const cmd of [['regs'], ['sockets'], ['selftest'], ['traffic']]) {
      const x = await runCli([...cmd, '--device', `tcp://127.0.0.1:${silentPort}`, '--timeout', '500']);
      expectOneLineError(x, 'E_OFFLOAD_NO_ANSWER');
    }
  });

  it('--log-level debug adds the stack trace', async () => {
    const r = await runCli(['probe', '--device', `tcp://127.0.0.1:${closedPort}`, '--log-level', 'debug']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^offload: E_OFFLOAD_CONNECT_REFUSED: /m);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('usage errors: unknown register, bad value, unknown command, bad option value', async () => {
    expectOneLineError(await runCli(['regs', 'read', 'NO_SUCH']), 'E_OFFLOAD_BAD_REGISTER');
    const v = await runCli(['regs', 'write', 'SCRATCH', '0x1FFFFFFFF']);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/VALUE must be a 32-bit number/);
    const u = await runCli(['frobnicate']);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/unknown command 'frobnicate'/);
    const s = await runCli(['traffic', '--size', 'huge']);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/--size must be a byte count/);
  });

  it('--help for the program and every command exits 0 and shows examples', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    const commands = [
      'list',
      'probe',
      'regs',
      'sockets',
      'monitor',
      'connect',
      'listen',
      'traffic',
      'bench',
      'selftest',
      'sim',
    ];
    for (const c of commands) expect(top.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(top.stdout).toContain('Examples:');
    expect(top.stdout).toContain('OFFLOAD_DEVICE');
    const all = await Promise.all(
      [...commands.map((c) => [c]), ['regs', 'read'], ['regs', 'write']].map((c) => runCli([...c, '--help'])),
    );
    for (const [i, r] of all.entries()) {
      expect(r.code, `${i}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^Usage: offload /);
      expect(r.stdout).toContain('Examples:');
    }
    const probe = all[1]!;
    expect(probe.stdout).toContain('--device <url>');
    expect(probe.stdout).toContain('--json');
    expect(probe.stdout).toContain('--log-level <level>');
    const version = await runCli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('list: the serial ports (JSON), exit 0 even when there are none', async () => {
    const r = await runCli(['list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    const t = await runCli(['list', '--probe', '--timeout', '300']);
    expect(t.code, t.stderr).toBe(0);
  });
});
