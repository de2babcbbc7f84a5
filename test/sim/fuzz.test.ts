/**
 * Robustness: random bytes and fuzzed frames (fast-check) thrown at the standalone simulator's listening port
 * over many connections. It never crashes or hangs, answers what it can, and still serves a fresh,
 * well-behaved connection afterwards. The simulator runs on its virtual network, so fuzzed CONNECT / SENDTO
 * commands never leave the process. (scripts/fuzz-sim.ts runs the same sessions for longer.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawDeviceClient } from '../helpers/raw-device-client.js';
import { type FuzzSession, fuzzSessionArb, runSession } from '../helpers/sim-fuzz.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';

let sim: SimProcess;
let host: string;
let port: number;

beforeAll(async () => {
  sim = await spawnSim(['--listen', 'tcp://127.0.0.1:0', '--network', 'virtual', '--log-level', 'error']);
  const u = new URL(sim.url);
  host = u.hostname;
  port = Number(u.port);
});

afterAll(async () => {
  await sim?.stop('SIGKILL');
});

function checkAlive(): void {
  expect(sim.child.exitCode, `simulator exited; stderr:\n${sim.stderr()}`).toBeNull();
}

async function wellBehaved(): Promise<void> {
  const c = await RawDeviceClient.connect(sim.url, { timeoutMs: 3000 });
  try {
    const hello = await c.hello();
    expect(hello.protoVersion).toBe(0x0100);
    const { id } = await c.ok('SOCKET_OPEN', {
      type: 2,
      family: 4,
      protocol: 17,
      blocking: 0,
      recvCredit: 4096,
    });
    expect(id).toBeGreaterThan(0);
    expect((await c.ok('PING', { payload: Buffer.from('fresh') })).payload).toEqual(Buffer.from('fresh'));
    expect(c.undecodable).toEqual([]);
  } finally {
    await c.close();
  }
}

describe('fuzzing the standalone simulator', () => {
  it('serves a well-behaved host before fuzzing', async () => {
    await wellBehaved();
  });

  it('fuzzed frame sessions: every session is synced and answered; every device message decodes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fuzzSessionArb.filter((s): s is Extract<FuzzSession, { kind: 'frames' }> => s.kind === 'frames'),
        async (session) => {
          const r = await runSession(host, port, session, 3000);
          expect(r.badFraming).toBe(false);
          expect(r.undecodable).toBe(0);
          expect(r.synced).toBe(true);
          if (session.fatalEnd) expect(r.closedByPeer).toBe(true);
          else expect(r.pinged).toBe(true);
        },
      ),
      { numRuns: 120, seed: 20240611, endOnFailure: true },
    );
    checkAlive();
  });

  it('random bytes over many connections never crash it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fuzzSessionArb.filter((s): s is Extract<FuzzSession, { kind: 'junk' }> => s.kind === 'junk'),
        async (session) => {
          const r = await runSession(host, port, session, 200);
          expect(r.badFraming).toBe(false);
          expect(r.undecodable).toBe(0);
        },
      ),
      { numRuns: 60, seed: 7, endOnFailure: true },
    );
    checkAlive();
  });

  it('many concurrent fuzz connections at once', async () => {
    const sessions = fc.sample(fuzzSessionArb, { numRuns: 30, seed: 99 });
    const results = await Promise.all(sessions.map((s) => runSession(host, port, s, 1000)));
    for (const r of results) {
      expect(r.badFraming).toBe(false);
      expect(r.undecodable).toBe(0);
    }
    checkAlive();
  });

  it('still serves a fresh, well-behaved connection afterwards, and logged no internal error', async () => {
    await wellBehaved();
    checkAlive();
    const severe = sim
      .stderr()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => {
        try {
          return (JSON.parse(l) as { level: number }).level >= 50;
        } catch {
          return true; // not pino output: an uncaught error
        }
      });
    expect(severe).toEqual([]);
  });
});
