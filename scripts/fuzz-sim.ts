/**
 * Longer fuzzing of the simulator, for humans:
 *
 *   npx tsx scripts/fuzz-sim.ts [--seconds 60] [--seed n] [--url tcp://127.0.0.1:7070] [--concurrency 4]
 *
 * Without --url it starts the standalone simulator (sim/main.ts) itself, on its virtual network, so that
 * fuzzed CONNECT / SENDTO commands never reach a real network (a simulator given with --url should run with
 * --network virtual for the same reason). It throws the sessions of
 * test/helpers/sim-fuzz.ts (random bytes; a SYNC then well-formed, random, bit-flipped and odd frames, then a
 * PING that must be answered) at the simulator until the time is up, then checks that the simulator is still
 * alive and serves a fresh, well-behaved connection. Exit code 0 when all is well, 1 otherwise (with the failing
 * session printed, and the seed to replay it).
 */
import { Command, InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import { RawDeviceClient } from '../test/helpers/raw-device-client.js';
import {
  type FuzzSession,
  fuzzSessionArb,
  runSession,
  type SessionResult,
} from '../test/helpers/sim-fuzz.js';
import { type SimProcess, spawnSim } from '../test/helpers/sim-process.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
};

interface Opts {
  seconds: number;
  seed?: number;
  url?: string;
  concurrency: number;
}

function problem(session: FuzzSession, r: SessionResult): string | undefined {
  if (r.badFraming) return 'the simulator sent bytes that are not valid TCP records';
  if (r.undecodable > 0) return `the simulator sent ${r.undecodable} MSG frames that do not decode`;
  if (session.kind === 'frames') {
    if (!r.synced) return 'no SYNC_ACK for a valid SYNC';
    if (session.fatalEnd && !r.closedByPeer)
      return 'the simulator kept a connection with broken framing open';
  }
  return undefined;
}

async function main(): Promise<number> {
  const o = new Command('fuzz-sim')
    .option('--seconds <n>', 'how long to fuzz', int('--seconds'), 60)
    .option('--seed <n>', 'fast-check seed (default random)', int('--seed'))
    .option('--url <url>', 'fuzz a simulator that is already running (tcp:// only)')
    .option(
      '--concurrency <n>',
      'sessions in flight at once (> 1: channel take-overs, answers not checked)',
      int('--concurrency'),
      1,
    )
    .parse(process.argv)
    .opts<Opts>();

  let sim: SimProcess | undefined;
  let url = o.url;
  if (!url) {
    sim = await spawnSim(['--listen', 'tcp://127.0.0.1:0', '--network', 'virtual', '--log-level', 'error']);
    url = sim.url;
  }
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port);
  const seed = o.seed ?? Math.floor(Math.random() * 0x7fffffff);
  const deadline = Date.now() + o.seconds * 1000;
  const stats = { sessions: 0, junk: 0, frames: 0, answered: 0, closedByPeer: 0, framesReceived: 0 };
  console.log(`fuzzing ${url} for ${o.seconds} s, seed ${seed}, concurrency ${o.concurrency}`);

  let failure: string | undefined;
  const worker = async (w: number) => {
    let round = 0;
    while (!failure && Date.now() < deadline) {
      const [session] = fc.sample(fuzzSessionArb, { numRuns: 1, seed: seed + w * 1_000_003 + round++ });
      const s = session as FuzzSession;
      const r = await runSession(host, port, s, s.kind === 'junk' ? 200 : 3000);
      stats.sessions++;
      stats[s.kind]++;
      if (r.pinged) stats.answered++;
      if (r.closedByPeer) stats.closedByPeer++;
      stats.framesReceived += r.framesReceived;
      const p =
        problem(s, r) ??
        (o.concurrency === 1 && s.kind === 'frames' && !s.fatalEnd && !r.pinged
          ? 'the final PING was not answered'
          : undefined);
      if (p) failure = `${p}\nseed ${seed}, worker ${w}, round ${round - 1}\nsession: ${fc.stringify(s)}`;
      if (sim && sim.child.exitCode !== null)
        failure = `the simulator exited (${sim.child.exitCode})\n${sim.stderr()}`;
      if (stats.sessions % 500 === 0) console.log(JSON.stringify(stats));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, (_, w) => worker(w)));
  console.log(JSON.stringify(stats));

  if (!failure) {
    try {
      const c = await RawDeviceClient.connect(url, { timeoutMs: 3000 });
      await c.hello();
      await c.ok('PING', { payload: Buffer.from('after fuzzing') });
      await c.close();
      console.log('a fresh, well-behaved connection is still served');
    } catch (err) {
      failure = `a fresh connection failed after fuzzing: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  if (sim) {
    const severe = sim.stderr().trim();
    const r = await sim.stop('SIGTERM');
    if (!failure && r.code !== 0) failure = `the simulator did not stop cleanly: ${JSON.stringify(r)}`;
    if (severe) console.log(`simulator errors:\n${severe}`);
  }
  if (failure) {
    console.error(`FAIL: ${failure}`);
    return 1;
  }
  console.log('OK');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
