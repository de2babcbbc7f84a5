/**
 * Faults end to end, over the four paths: the board resets mid-transfer, the link is cut (and, on the spawned
 * simulators, the board hangs), and events are lost on the way to the host. Every wait is bounded: the tests
 * assert the errors and their timing, that nothing hangs, and that the mirror equals the device afterwards.
 */
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OffloadDevice, OffloadError, OffloadSocket } from '../../src/index.js';
import { FaultTransport } from '../../src/transport/index.js';
import type { Simulator } from '../../sim/index.js';
import { spawnSim, type SimProcess } from '../helpers/sim-process.js';
import {
  type DevicePath,
  nativeServer,
  PATHS,
  pattern,
  quietDiff,
  sleep,
  startPath,
  until,
  waitFor,
} from './paths.js';

/** A peer that streams data to every connection until it goes away. */
async function streamingPeer() {
  const chunk = pattern(16 * 1024, 9);
  return nativeServer((s: net.Socket) => {
    const pump = () => {
      while (!s.destroyed && s.write(chunk)) {
        /* fill */
      }
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
}

async function echoRoundTrip(dev: OffloadDevice, port: number, bytes = 10_000): Promise<boolean> {
  const s = dev.createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
  const data = pattern(bytes, 77);
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise<void>((resolve, reject) => {
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  s.end(data);
  await done;
  s.destroy();
  return Buffer.concat(parts).equals(data);
}

/** Registers a test only on the paths where it applies (not a skipped test on the others). */
function itWhen(applies: boolean): typeof it {
  return applies ? it : ((() => undefined) as unknown as typeof it);
}

describe.each(PATHS)('faults over %s', (pathName) => {
  let path: DevicePath;
  let dev: OffloadDevice;

  beforeAll(async () => {
    path = await startPath(pathName, { slots: 64 });
  }, 60_000);

  afterAll(async () => {
    await dev?.close();
    await path?.close();
  }, 30_000);

  it('device reset mid-transfer: every socket fails with E_OFFLOAD_DEVICE_RESET within 1 s; new sockets work', async () => {
    dev = await path.open();
    const peer = await streamingPeer();
    const echo = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
    try {
      const epoch = dev.info.epoch;
      const socks: OffloadSocket[] = [];
      const got = [0, 0, 0];
      for (let i = 0; i < 3; i++) {
        const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
        s.on('data', (d: Buffer) => {
          got[i]! += d.length;
        });
        socks.push(s);
      }
      // A socket mid-connect and an unconnected socket object as well.
      const pending = dev.createConnection({ host: '127.0.0.1', port: peer.port });
      const idle = dev.createSocketObject();
      await until(() => got.every((n) => n > 200_000), 20_000, 'transfers running');
      const errors = [...socks, pending].map((s) => waitFor<OffloadError>(s, 'error', 5000));
      const resets = waitFor(dev, 'reset', 5000);
      const ready = waitFor(dev, 'ready', 10_000);
      const t0 = Date.now();
      const sim = dev.simulator as Simulator | undefined;
      if (sim)
        sim.reset('WATCHDOG'); // the board resets on its own
      else void dev.reset(); // the host resets it (RESET command): the same BOOT / new-epoch path
      const errs = await Promise.all(errors);
      const elapsed = Date.now() - t0;
      for (const e of errs) expect(e.code).toBe('E_OFFLOAD_DEVICE_RESET');
      expect(elapsed).toBeLessThan(1000);
      await resets;
      await ready;
      expect(dev.info.epoch).not.toBe(epoch);
      expect(dev.sockets.size).toBe(0);
      for (const s of socks) expect(s.destroyed).toBe(true);
      // The unconnected object is untouched, and works once connected.
      expect(idle.destroyed).toBe(false);
      await new Promise<void>((r) => idle.connect(echo.port, '127.0.0.1', r));
      idle.destroy();
      expect(await echoRoundTrip(dev, echo.port)).toBe(true);
      expect(await quietDiff(dev)).toBe('');
    } finally {
      await peer.close();
      await echo.close();
      await dev.close();
    }
  }, 60_000);

  // PCIe has no wire to cut (no link layer): test/pcie has the card dropping off the bus instead.
  itWhen(pathName !== 'pcie')(
    'link cut: pending commands and every socket fail with E_OFFLOAD_LINK_DOWN, nothing hangs',
    async () => {
      let wire: FaultTransport | undefined;
      dev = await path.open({
        wrapTransport: (t) => {
          wire = new FaultTransport(t);
          return wire;
        },
      });
      const peer = await streamingPeer();
      try {
        const socks = [0, 1].map(() => dev.createConnection({ host: '127.0.0.1', port: peer.port }));
        let got = 0;
        for (const s of socks) s.on('data', (d: Buffer) => (got += d.length));
        const srv = dev.createServer();
        srv.listen(0, '127.0.0.1');
        await waitFor(srv, 'listening');
        await until(() => got > 200_000, 20_000, 'transfers running');
        const errors = socks.map((s) => waitFor<OffloadError>(s, 'error', 5000));
        const srvError = waitFor<OffloadError>(srv, 'error', 5000);
        const down = waitFor<OffloadError>(dev, 'down', 5000);
        const pingInFlight = dev.ping();
        const t0 = Date.now();
        await wire!.cut();
        await expect(pingInFlight).rejects.toMatchObject({ code: 'E_OFFLOAD_LINK_DOWN' });
        for (const e of await Promise.all(errors)) expect(e.code).toBe('E_OFFLOAD_LINK_DOWN');
        expect((await srvError).code).toBe('E_OFFLOAD_LINK_DOWN');
        expect((await down).code).toBe('E_OFFLOAD_LINK_DOWN');
        expect(Date.now() - t0).toBeLessThan(2000);
        // Afterwards every call fails at once with the same code.
        await expect(dev.ping()).rejects.toMatchObject({ code: 'E_OFFLOAD_LINK_DOWN' });
        const late = dev.createConnection({ host: '127.0.0.1', port: peer.port });
        expect((await waitFor<OffloadError>(late, 'error', 2000)).code).toBe('E_OFFLOAD_LINK_DOWN');
        await dev.close();
      } finally {
        await peer.close();
      }
    },
    60_000,
  );

  itWhen(pathName !== 'sim')(
    'a hung board (process stopped): the heartbeat declares the link down, sockets fail',
    async () => {
      dev = await path.open({ link: { deadTimeoutMs: 1000, heartbeatMs: 250 } });
      const peer = await streamingPeer();
      const proc = path.process!;
      try {
        const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
        let got = 0;
        s.on('data', (d: Buffer) => (got += d.length));
        await until(() => got > 100_000, 20_000, 'transfer running');
        const err = waitFor<OffloadError>(s, 'error', 5000);
        const t0 = Date.now();
        proc.child.kill('SIGSTOP');
        expect((await err).code).toBe('E_OFFLOAD_LINK_DOWN');
        expect(Date.now() - t0).toBeLessThan(3000);
      } finally {
        proc.child.kill('SIGCONT');
        await peer.close();
        await dev.close();
      }
    },
    60_000,
  );

  itWhen(pathName === 'pty')(
    'a board power cycle on the serial line: link reset, re-HELLO, sockets fail with E_OFFLOAD_DEVICE_RESET, new ones work',
    async () => {
      // The dead-peer timeout must outlast the restart of the simulator process.
      dev = await path.open({ link: { deadTimeoutMs: 15_000 } });
      const echo = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
      try {
        const s = dev.createConnection({ host: '127.0.0.1', port: echo.port });
        await waitFor(s, 'connect');
        const err = waitFor<OffloadError>(s, 'error', 20_000);
        const reset = waitFor(dev, 'reset', 20_000);
        const ready = waitFor(dev, 'ready', 20_000);
        await path.restartDevice!();
        const t0 = Date.now();
        expect((await err).code).toBe('E_OFFLOAD_DEVICE_RESET');
        expect(Date.now() - t0).toBeLessThan(1000);
        // Seen as a new epoch in the BOOT event, or on the re-HELLO after the link reset (whichever comes first).
        expect(['link-reset', 'boot-event']).toContain(((await reset) as { cause: string }).cause);
        await ready;
        expect(dev.sockets.size).toBe(0);
        expect(await echoRoundTrip(dev, echo.port)).toBe(true);
        expect(await quietDiff(dev)).toBe('');
      } finally {
        await echo.close();
        await dev.close();
      }
    },
    60_000,
  );

  it('lost events: sequence gaps and the tail probe trigger reconciliation; the mirror equals the snapshot', async () => {
    // Events are dropped at random (any kind) while sockets open, connect, listen and close; no data flows, so
    // every loss is of state, which reconciliation must recover.
    let lossy: SimProcess | undefined;
    let lossyDev: OffloadDevice;
    const sim0 = pathName === 'sim';
    if (sim0) {
      dev = await path.open();
      lossyDev = dev;
    } else {
      // A second standalone simulator with event loss switched on from its command line.
      const { createPtyPair } = await import('../helpers/pty.js');
      if (pathName === 'pcie') {
        const { pcieWindowPath } = await import('./paths.js');
        lossy = await spawnSim([
          '--listen',
          `pcie://${pcieWindowPath('lossy')}`,
          '--log-level',
          'warn',
          '--drop-event-rate',
          '0.3',
          '--seed',
          '5',
        ]);
        const { openDevice } = await import('../../src/index.js');
        lossyDev = await openDevice(lossy.url);
      } else if (pathName === 'tcp') {
        lossy = await spawnSim([
          '--listen',
          'tcp://127.0.0.1:0',
          '--log-level',
          'warn',
          '--drop-event-rate',
          '0.3',
          '--seed',
          '5',
        ]);
        const { openDevice } = await import('../../src/index.js');
        lossyDev = await openDevice(lossy.url);
      } else {
        const pty = await createPtyPair();
        lossy = await spawnSim([
          '--listen',
          `serial://${pty.b}?baud=4000000`,
          '--log-level',
          'warn',
          '--drop-event-rate',
          '0.3',
          '--seed',
          '5',
        ]);
        const stop = lossy.stop;
        lossy.stop = async (...a) => {
          const r = await stop(...a);
          await pty.kill();
          return r;
        };
        const { openDevice } = await import('../../src/index.js');
        lossyDev = await openDevice(`serial://${pty.a}?baud=4000000`);
      }
    }
    const quiet = await nativeServer(() => undefined);
    try {
      const sim = lossyDev.simulator as Simulator | undefined;
      if (sim) {
        sim.faults.seed = 5;
        sim.faults.dropEventRate = 0.3;
      }
      const socks: OffloadSocket[] = [];
      for (let i = 0; i < 20; i++)
        socks.push(lossyDev.createConnection({ host: '127.0.0.1', port: quiet.port }));
      const srv = lossyDev.createServer();
      srv.listen(0, '127.0.0.1');
      await Promise.all([
        ...socks.map((s) => waitFor(s, 'connect', 15_000)),
        waitFor(srv, 'listening', 15_000),
      ]);
      // Close half of them; their TERMINATED events may be lost too.
      for (const s of socks.slice(0, 10)) s.destroy();
      await until(
        () => socks.slice(0, 10).every((s) => s.socketId !== undefined && !lossyDev.sockets.has(s.socketId)),
        15_000,
        'closed sockets leave the mirror',
      );
      if (sim) sim.faults.dropEventRate = 0;
      const stats = lossyDev.device.stats();
      expect(stats.gaps + lossyDev.hub.counters.reconciliations).toBeGreaterThan(1);
      expect(stats.missedEvents).toBeGreaterThan(0);
      expect(lossyDev.hub.counters.reconciliations).toBeGreaterThan(1);
      // The mirror converges by itself: sequence gaps, the tail probe (after 1 s without events) and the
      // sequence check of every snapshot page reconcile it; no explicit sync().
      let diff = 'not compared yet';
      await until(
        async () => {
          diff = await quietDiff(lossyDev, 100);
          return diff === '';
        },
        10_000,
        'mirror = snapshot',
      );
      expect(diff).toBe('');
      for (const s of socks) s.destroy();
      srv.close();
    } finally {
      await quiet.close();
      if (lossy) {
        await lossyDev!.close();
        await lossy.stop();
      } else {
        await dev.close();
      }
    }
  }, 60_000);

  itWhen(pathName === 'sim')(
    'the last event lost (nothing follows it): the tail probe finds it; connect completes',
    async () => {
      dev = await path.open();
      const sim = dev.simulator as Simulator;
      const quiet = await nativeServer(() => undefined);
      try {
        const before = dev.device.stats().missedEvents;
        sim.faults.eventKinds = ['STATUS'];
        sim.faults.dropNextEvents = 10; // every STATUS of the connect (CONNECTED and its coalesced follow-ups)
        const t0 = Date.now();
        const s = dev.createConnection({ host: '127.0.0.1', port: quiet.port });
        await waitFor(s, 'connect', 5000);
        const dropped = 10 - sim.faults.dropNextEvents;
        sim.faults.dropNextEvents = 0;
        expect(dropped).toBeGreaterThanOrEqual(1);
        expect(dev.device.stats().missedEvents).toBe(before + dropped);
        // Recovered by the probe after a quiet second, not by a later event.
        expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
        s.destroy();
        expect(await quietDiff(dev)).toBe('');
      } finally {
        sim.faults.eventKinds = null;
        await quiet.close();
        await dev.close();
      }
    },
    30_000,
  );

  itWhen(pathName === 'sim')(
    'lost DATA events are never silent: the socket fails with E_OFFLOAD_DATA_LOST',
    async () => {
      dev = await path.open();
      const sim = dev.simulator as Simulator;
      const peer = await streamingPeer();
      try {
        const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
        let got = 0;
        s.on('data', (d: Buffer) => (got += d.length));
        await until(() => got > 100_000, 10_000, 'data flowing');
        const err = waitFor<OffloadError>(s, 'error', 5000);
        sim.faults.eventKinds = ['DATA'];
        sim.faults.dropNextEvents = 1;
        expect((await err).code).toBe('E_OFFLOAD_DATA_LOST');
        expect(dev.device.stats().missedEvents).toBeGreaterThan(0);
      } finally {
        sim.faults.eventKinds = null;
        sim.faults.dropNextEvents = 0;
        await peer.close();
        await dev.close();
      }
    },
    30_000,
  );

  itWhen(pathName === 'sim')(
    'lost STATUS and SEND_CREDIT events during data transfer: no stall, data intact, mirror reconciled',
    async () => {
      dev = await path.open();
      const sim = dev.simulator as Simulator;
      const echo = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
      try {
        sim.faults.seed = 9;
        sim.faults.eventKinds = ['STATUS', 'SEND_CREDIT'];
        sim.faults.dropEventRate = 0.2;
        const results = await Promise.all([0, 1, 2, 3].map(() => echoRoundTrip(dev, echo.port, 300_000)));
        expect(results).toEqual([true, true, true, true]);
        sim.faults.dropEventRate = 0;
        expect(dev.device.stats().missedEvents).toBeGreaterThan(0);
        await sleep(50);
        expect(await quietDiff(dev)).toBe('');
      } finally {
        sim.faults.dropEventRate = 0;
        sim.faults.eventKinds = null;
        await echo.close();
        await dev.close();
      }
    },
    60_000,
  );
});
