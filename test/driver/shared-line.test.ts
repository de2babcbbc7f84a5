/**
 * Several channels multiplexed over one serial line (PROTOCOL.md §11: every frame names its channel, each channel
 * runs its own link): one SharedTransport on a real pty (socat) to the standalone simulator, three drivers on it
 * (channels 1 and 2, and the admin on 255). Transfers on two channels at once arrive byte-exact; the admin sees
 * both channels' sockets; closing one driver leaves the line and the others working; the line vanishing takes
 * every driver down with a typed error.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTransport,
  type OffloadError,
  type OffloadSocket,
  openDevice,
  SharedTransport,
} from '../../src/index.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { type SimProcess, spawnSim } from '../helpers/sim-process.js';
import { connectTo, nativeServer, pattern, sha256, waitFor } from './paths.js';

const CRED = 'shared-line-credential';

let pty: PtyPair;
let sim: SimProcess;
let echo: Awaited<ReturnType<typeof nativeServer>>;

beforeAll(async () => {
  pty = await createPtyPair();
  sim = await spawnSim([
    '--listen',
    `serial://${pty.a}?baud=921600`,
    '--admin-credential',
    CRED,
    '--log-level',
    'warn',
  ]);
  echo = await nativeServer((s) => s.pipe(s));
}, 30_000);

afterAll(async () => {
  await echo?.close();
  await sim?.stop('SIGTERM');
  await pty?.kill();
});

/** Writes `data` through an echo connection and hashes what comes back. */
async function echoThrough(s: OffloadSocket, data: Buffer): Promise<string> {
  const h = createHash('sha256');
  let got = 0;
  let onData: (d: Buffer) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    onData = (d: Buffer) => {
      h.update(d);
      got += d.length;
      if (got >= data.length) resolve();
    };
    s.on('data', onData);
    s.once('error', reject);
  });
  for (let off = 0; off < data.length; off += 16 * 1024) {
    if (!s.write(data.subarray(off, off + 16 * 1024))) await new Promise((r) => s.once('drain', r));
  }
  await done;
  s.off('data', onData); // the next transfer on this socket hashes on its own
  return h.digest('hex');
}

describe('several channels over one serial line (SharedTransport)', () => {
  it('two guests transfer at once, byte-exact; the admin sees both; one closing leaves the others; the line vanishing downs all', async () => {
    const line = new SharedTransport(createTransport(`serial://${pty.b}?baud=921600`));
    const open = (channel: number, extra: { credential?: string } = {}) =>
      openDevice({ transport: line.handle(), framing: 'serial', channel, ...extra });
    const a = await open(1);
    const b = await open(2);
    const admin = await open(255, { credential: CRED });
    expect([a.info.channel.number, b.info.channel.number, admin.info.channel.number]).toEqual([1, 2, 255]);
    expect(admin.info.channel.role).toBe('ADMIN');
    expect(line.handleCount).toBe(3);

    const dataA = pattern(512 * 1024, 11);
    const dataB = pattern(512 * 1024, 22);
    const sa = await connectTo(a, echo.port);
    const sb = await connectTo(b, echo.port);
    // Both channels' sockets, each under its own channel, in the admin's view of the device.
    const all = (await admin.snapshot({ allChannels: true })).entries;
    expect(all.find((e) => e.id === sa.socketId)?.channel).toBe(1);
    expect(all.find((e) => e.id === sb.socketId)?.channel).toBe(2);
    // Neither guest sees the other's socket.
    expect((await a.snapshot()).entries.map((e) => e.id)).toEqual([sa.socketId]);
    expect((await b.snapshot()).entries.map((e) => e.id)).toEqual([sb.socketId]);

    const [ha, hb] = await Promise.all([echoThrough(sa, dataA), echoThrough(sb, dataB)]);
    expect(ha).toBe(sha256(dataA));
    expect(hb).toBe(sha256(dataB));
    // Each link ignored the other channels' frames instead of acting on them.
    expect(a.device.link.counters.foreignFrames).toBeGreaterThan(0);
    expect(b.device.link.counters.foreignFrames).toBeGreaterThan(0);

    // Guest A leaves: the line stays open for B and the admin.
    sa.destroy();
    await a.close();
    expect(line.handleCount).toBe(2);
    expect(line.line.isOpen).toBe(true);
    const more = pattern(64 * 1024, 33);
    expect(await echoThrough(sb, more)).toBe(sha256(more));
    await expect(b.ping()).resolves.toBeDefined();

    // The line vanishes (the pty goes away): both remaining drivers go down with a typed error, nothing hangs.
    const downs = [b, admin].map((d) => waitFor<OffloadError>(d, 'down', 10_000));
    await pty.kill();
    for (const e of await Promise.all(downs)) expect(e.code).toMatch(/^E_OFFLOAD_(LINK_DOWN|PORT_VANISHED)$/);
    await b.close();
    await admin.close();
    expect(line.handleCount).toBe(0);
    expect(() => line.handle()).toThrow(/closed/);
  }, 60_000);
});
