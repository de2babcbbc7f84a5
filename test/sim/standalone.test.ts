/**
 * The standalone simulator process (sim/main.ts, run with `node --import tsx`): over the TCP shim and over a
 * socat pty pair (serial://, framing 'serial' + ARQ), signals, and the command-line options.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSimCommand, simOptionsFromCli } from '../../sim/main.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { RawDeviceClient } from '../helpers/raw-device-client.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';
import { pino } from 'pino';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch {
      // best effort
    }
  }
});

async function run(args: string[]): Promise<SimProcess> {
  const p = await spawnSim(args);
  cleanups.push(() => p.stop('SIGKILL'));
  return p;
}

describe('standalone simulator over TCP', () => {
  it('prints one `listening on` line with the real port, serves a host, exits 0 on SIGTERM', async () => {
    const p = await run(['--listen', 'tcp://127.0.0.1:0', '--log-level', 'info', '--slots', '8']);
    expect(p.url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(p.url).not.toMatch(/:0$/);
    const c = await RawDeviceClient.connect(p.url);
    const hello = await c.hello();
    expect(hello.slots).toBe(8);
    expect((await c.ok('PING', { payload: Buffer.from('standalone') })).payload).toEqual(
      Buffer.from('standalone'),
    );
    await c.close();
    const r = await p.stop('SIGTERM');
    expect(r).toEqual({ code: 0, signal: null });
    expect(p.stdout()).toBe(`listening on ${p.url}\n`);
    // pino JSON logs on stderr
    const lines = p.stderr().trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.parse(lines[0]!)).toHaveProperty('level');
    expect(p.stderr()).toMatch(/"msg":"stopped"/);
  });

  it('exits 0 on SIGINT while a host is connected', async () => {
    const p = await run(['--listen', 'tcp://127.0.0.1:0', '--log-level', 'silent']);
    const c = await RawDeviceClient.connect(p.url);
    cleanups.push(() => c.close());
    await c.hello();
    const r = await p.stop('SIGINT');
    expect(r).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toBe('');
  });

  it('rejects bad options with a message and exit code 1', async () => {
    await expect(spawnSim(['--slots', '0'], 15_000)).rejects.toThrow(/--slots must be a whole number/);
    await expect(spawnSim(['--listen', 'ftp://x'], 15_000)).rejects.toThrow(/unknown scheme|bad device URL/i);
  });
});

describe('standalone simulator over a serial line (socat pty pair)', () => {
  let pty: PtyPair;

  async function serialSim(extra: string[] = []): Promise<{ p: SimProcess; hostUrl: string }> {
    pty = await createPtyPair();
    cleanups.push(() => pty.kill());
    const p = await run(['--listen', `serial://${pty.a}?baud=921600`, '--log-level', 'warn', ...extra]);
    expect(p.url).toBe(`serial://${pty.a}?baud=921600`);
    return { p, hostUrl: `serial://${pty.b}?baud=921600` };
  }

  it('serves a host with framing serial + ARQ, keeps listening after the host goes away, a new host SYNCs', async () => {
    const { p, hostUrl } = await serialSim();
    const a = await RawDeviceClient.connect(hostUrl);
    expect(a.params.arq).toBe(true);
    await a.hello();
    expect((await a.ok('PING', { payload: Buffer.from('one') })).payload).toEqual(Buffer.from('one'));
    await a.close();
    // A new host (new link nonce): the device link, still listening on the line, resynchronises.
    const b = await RawDeviceClient.connect(hostUrl);
    cleanups.push(() => b.close());
    await b.hello();
    expect((await b.ok('PING', { payload: Buffer.from('two') })).payload).toEqual(Buffer.from('two'));
    await b.close();
    expect(await p.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('wire faults (--corrupt-rate, --drop-rate): the ARQ recovers, every command is answered', async () => {
    const { hostUrl } = await serialSim(['--corrupt-rate', '0.0005', '--drop-rate', '0.0002', '--seed', '7']);
    const c = await RawDeviceClient.connect(hostUrl, { timeoutMs: 10_000 });
    cleanups.push(() => c.close());
    await c.hello();
    for (let i = 0; i < 40; i++) {
      const payload = Buffer.alloc(100, i);
      expect((await c.ok('PING', { payload })).payload).toEqual(payload);
    }
    expect(
      c.link.counters.retransmits + c.link.counters.crcErrors + c.link.counters.framingErrors,
    ).toBeGreaterThan(0);
  });
});

describe('sim command options', () => {
  it('maps command-line options to simulator options', () => {
    const logger = pino({ level: 'silent' });
    const before = Date.now();
    const o = simOptionsFromCli(
      {
        listen: 'tcp://127.0.0.1:0',
        network: 'host',
        logLevel: 'info',
        slots: 4,
        corruptRate: 0.1,
        dropRate: 0.2,
        seed: 9,
        resetAfterMs: 1000,
        dropEventRate: 0.5,
      },
      logger,
    );
    expect(o.slots).toBe(4);
    expect(o.faults?.wire).toEqual({ corruptRate: 0.1, dropByteRate: 0.2, direction: 'both' });
    expect(o.faults?.seed).toBe(9);
    expect(o.faults?.dropEventRate).toBe(0.5);
    expect(o.faults?.resetAt).toBeGreaterThanOrEqual(before + 1000);
  });

  it('buildSimCommand() is a mountable commander command that runs in-process', async () => {
    let out = '';
    const stdout = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const logs = new Writable({ write: (_c, _e, cb) => cb() });
    let sim: { close(): Promise<void> } | undefined;
    const cmd = buildSimCommand({
      stdout,
      logDestination: logs,
      handleSignals: false,
      onStarted: (s) => (sim = s),
    });
    expect(cmd.name()).toBe('sim');
    await cmd.parseAsync(['--listen', 'tcp://127.0.0.1:0', '--log-level', 'silent'], { from: 'user' });
    expect(out).toMatch(/^listening on tcp:\/\/127\.0\.0\.1:\d+\n$/);
    const url = out.trim().slice('listening on '.length);
    const c = await RawDeviceClient.connect(url);
    await c.hello();
    await c.close();
    // handleSignals false: the caller owns the simulator's lifetime.
    expect(sim).toBeDefined();
    await sim!.close();
  });
});
