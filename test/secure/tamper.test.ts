/**
 * Secure execution end to end (PROTOCOL.md §12): the driver and the simulator's TCP shim with a tampering
 * proxy between them (test/helpers/tamper-proxy.ts). The proxy flips bits (CRC made valid again, so only the
 * MAC can tell), replays earlier frames, reorders, drops, and injects forged (wrong-key) and plain frames that
 * carry real commands and events. ARQ is on (forced over TCP) so that the link recovers what is dropped.
 */
import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, openDevice } from '../../src/index.js';
import { type LinkCounters, SecureSession } from '../../src/link/index.js';
import { command, encodeMessage, event, type Frame, FrameFlag, FrameType } from '../../src/protocol/index.js';
import { type Simulator, startSimulator } from '../../sim/index.js';
import { type Direction, flipBit, frameOf, recordOf, TamperProxy } from '../helpers/tamper-proxy.js';
import { nativeServer, pattern, sha256, waitFor } from '../driver/paths.js';

const K = randomBytes(32);
const KEY_ID = 1;

type Attack = 'flips' | 'drops' | 'replays' | 'reorders' | 'forged' | 'plain';
const ATTACKS: Attack[] = ['flips', 'drops', 'replays', 'reorders', 'forged', 'plain'];
/** Each kind of attack at most this often per direction (the transfer must finish in bounded time). */
const CAP = 20;

function emptyTally(): Record<Attack, number> {
  return { flips: 0, drops: 0, replays: 0, reorders: 0, forged: 0, plain: 0 };
}

interface SecureCounts {
  secureBadMac: number;
  secureReplays: number;
  secureTooOld: number;
  securePlainDropped: number;
}
function secureCounts(c: SecureCounts): SecureCounts {
  const { secureBadMac, secureReplays, secureTooOld, securePlainDropped } = c;
  return { secureBadMac, secureReplays, secureTooOld, securePlainDropped };
}
function minus(a: SecureCounts, b: SecureCounts): SecureCounts {
  return {
    secureBadMac: a.secureBadMac - b.secureBadMac,
    secureReplays: a.secureReplays - b.secureReplays,
    secureTooOld: a.secureTooOld - b.secureTooOld,
    securePlainDropped: a.securePlainDropped - b.securePlainDropped,
  };
}

describe('secure channel through a tampering proxy (TCP shim)', () => {
  let sim: Simulator;
  let proxy: TamperProxy;
  let url: string;

  beforeAll(async () => {
    sim = await startSimulator({
      listen: 'tcp://127.0.0.1:0',
      network: 'host',
      secureKeys: new Map([[KEY_ID, K]]),
    });
    proxy = await TamperProxy.start(Number(new URL(sim.url).port));
    url = `tcp://127.0.0.1:${proxy.port}`;
  }, 30_000);

  afterAll(async () => {
    await proxy?.close();
    await sim?.close();
  });

  /**
   * ARQ on: every attack; what is dropped, altered or refused the ARQ retransmits. ARQ off (the TCP shim's default):
   * the window is 0 wide and nothing is retransmitted, so only attacks that leave the honest frames alone (replays,
   * forgeries, plain frames) can keep the data whole; those must all be refused.
   */
  const MODES: { arq: boolean; attacks: Attack[] }[] = [
    { arq: true, attacks: ATTACKS },
    { arq: false, attacks: ['replays', 'forged', 'plain'] },
  ];
  it.each(MODES)(
    'ARQ $arq: $attacks — nothing forged acted on, data byte-exact, each attack counted where it arrived',
    async ({ arq, attacks }) => {
      const dev = await openDevice({
        url,
        secure: { keyId: KEY_ID, key: K },
        link: { arq, rtoMinMs: 50 },
      });
      const echo = await nativeServer((s: net.Socket) => s.pipe(s));
      try {
        expect(dev.info.secure).toBe(true);
        expect(dev.info.link.arq).toBe(arq);
        const sock = dev.createConnection({ host: '127.0.0.1', port: echo.port });
        await waitFor(sock, 'connect');
        const id = sock.socketId!;
        expect(sim.core.table().map((e) => e.id)).toEqual([id]);

        const hostLink = dev.device.link as unknown as { counters: LinkCounters };
        const before = { toHost: secureCounts(hostLink.counters), toDevice: secureCounts(sim.stats.link) };
        const tally: Record<Direction, Record<Attack, number>> = {
          toDevice: emptyTally(),
          toHost: emptyTally(),
        };
        const intact: Record<Direction, Buffer[]> = { toDevice: [], toHost: [] };
        const held: Partial<Record<Direction, Buffer>> = {};
        const n: Record<Direction, number> = { toDevice: 0, toHost: 0 };
        const wrongKey = new SecureSession({ txKey: randomBytes(32), rxKey: randomBytes(32) });
        /** A message that would do harm if acted on: close our socket / inject junk data into it. */
        const harmful = (dir: Direction): Buffer =>
          dir === 'toDevice'
            ? encodeMessage(command('CLOSE', 0x7777, { id, abort: 1 }))
            : encodeMessage(
                event('DATA', dev.device.epoch, dev.device.eventSeq + 1, {
                  id,
                  data: Buffer.from('forged!'),
                }),
              );
        const can = (dir: Direction, a: Attack) =>
          attacks.includes(a) && tally[dir][a] < CAP && ++tally[dir][a] > 0;

        proxy.tamper = (dir, record) => {
          const f = frameOf(record);
          if ((f.flags & FrameFlag.SECURE) === 0) return [record]; // SYNC / SYNC_ACK
          const i = ++n[dir];
          const out: Buffer[] = [];
          if (i % 23 === 0 && can(dir, 'forged')) {
            const forged: Frame = {
              channel: 0,
              type: FrameType.MSG,
              seq: f.seq,
              ack: f.ack,
              flags: 0,
              payload: harmful(dir),
            };
            wrongKey.seal(forged);
            out.push(recordOf(forged));
          }
          if (i % 29 === 0 && can(dir, 'plain')) {
            out.push(
              recordOf({
                channel: 0,
                type: FrameType.MSG,
                seq: f.seq,
                ack: f.ack,
                flags: 0,
                payload: harmful(dir),
              }),
            );
          }
          const release = held[dir];
          held[dir] = undefined;
          if (i % 7 === 0 && can(dir, 'flips')) out.push(flipBit(record, i * 5));
          else if (i % 11 === 0 && can(dir, 'drops')) {
            // dropped: the ARQ retransmits it (with a new counter and MAC)
          } else if (i % 17 === 0 && !release && can(dir, 'reorders')) held[dir] = record;
          else {
            out.push(record);
            intact[dir].push(record);
          }
          if (release) {
            out.push(release);
            intact[dir].push(release);
          }
          if (i % 13 === 0 && intact[dir].length > 3 && can(dir, 'replays')) out.push(intact[dir].at(-3)!);
          return out;
        };

        const N = 1 << 20;
        const data = pattern(N, 8);
        const h = createHash('sha256');
        let got = 0;
        const allBack = new Promise<void>((resolve, reject) => {
          sock.on('data', (d: Buffer) => {
            h.update(d);
            got += d.length;
            if (got >= N) resolve();
          });
          sock.on('error', reject);
        });
        for (let off = 0; off < N; off += 16384) {
          if (!sock.write(data.subarray(off, off + 16384))) await waitFor(sock, 'drain', 30_000);
        }
        await allBack;
        proxy.tamper = undefined;
        for (const dir of ['toDevice', 'toHost'] as const) {
          const r = held[dir];
          if (r) proxy.inject(dir, r);
        }
        expect(got).toBe(N);
        expect(h.digest('hex')).toBe(sha256(data));

        // Nothing forged was acted on: the device's table holds exactly our socket, still connected.
        expect(sim.core.table().map((e) => e.id)).toEqual([id]);
        expect(await dev.ping(Buffer.from('still here'))).toBeGreaterThanOrEqual(0);

        // Every attack happened in both directions and was counted by the side that received it.
        for (const dir of ['toDevice', 'toHost'] as const) {
          for (const a of ATTACKS) {
            if (attacks.includes(a)) expect(tally[dir][a], `${dir} ${a}`).toBeGreaterThan(0);
            else expect(tally[dir][a], `${dir} ${a}`).toBe(0);
          }
        }
        const seenBy = {
          toHost: minus(secureCounts(hostLink.counters), before.toHost),
          toDevice: minus(secureCounts(sim.stats.link), before.toDevice),
        };
        for (const dir of ['toDevice', 'toHost'] as const) {
          const t = tally[dir];
          const c = seenBy[dir];
          expect(c.secureBadMac, `${dir}: bad MAC = flips + forged`).toBe(t.flips + t.forged);
          expect(c.securePlainDropped, `${dir}: plain dropped`).toBe(t.plain);
          expect(c.secureReplays + c.secureTooOld, `${dir}: replays`).toBe(t.replays);
        }
        if (arq) expect(dev.device.link.counters.retransmits).toBeGreaterThan(0);
        sock.destroy();
      } finally {
        proxy.tamper = undefined;
        await dev.close();
        await echo.close();
      }
    },
    120_000,
  );

  it('a wrong key or an unknown keyId: E_OFFLOAD_AUTH naming the cause, nothing else done', async () => {
    const before = sim.core.counters.errorsByCode.E_AUTH ?? 0;
    const finishes = sim.core.counters.commandsByName.SECURE_FINISH ?? 0;
    await expect(openDevice({ url, secure: { keyId: KEY_ID, key: randomBytes(32) } })).rejects.toMatchObject({
      code: 'E_OFFLOAD_AUTH',
      message: expect.stringContaining('wrong key'),
    });
    await expect(openDevice({ url, secure: { keyId: 99, key: K } })).rejects.toMatchObject({
      code: 'E_OFFLOAD_AUTH',
      message: expect.stringContaining('no key 99'),
    });
    // The wrong key is caught by the host from the device's proof: the device only refused the unknown keyId.
    expect((sim.core.counters.errorsByCode.E_AUTH ?? 0) - before).toBe(1);
    // The host stopped at the device's proof (§12.2): no SECURE_FINISH was sent.
    expect(sim.core.counters.commandsByName.SECURE_FINISH ?? 0).toBe(finishes);
  }, 30_000);

  it('a device reset ends the session; the driver re-handshakes before any other command', async () => {
    const dev: OffloadDevice = await openDevice({ url, secure: { keyId: KEY_ID, key: K } });
    try {
      const finishes = sim.core.counters.commandsByName.SECURE_FINISH ?? 0;
      const authErrors = sim.core.counters.errorsByCode.E_AUTH ?? 0;
      await dev.device.reset();
      expect(sim.core.counters.commandsByName.SECURE_FINISH).toBe(finishes + 1);
      expect(dev.info.secure).toBe(true);
      // Had any command gone out before the new handshake, the locked channel would have answered E_AUTH.
      const udp = dev.createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      udp.close();
      expect(sim.core.counters.errorsByCode.E_AUTH ?? 0).toBe(authErrors);
      expect(dev.device.link.counters.secureBadMac).toBe(0);
    } finally {
      await dev.close();
    }
  }, 30_000);
});
