/**
 * Channels on PCIe (PROTOCOL.md §10.5): one ring pair per channel in one window. Against the standalone simulator
 * (`--pcie-channels`) with drivers in this process and one in its own process: concurrent sha256-checked transfers,
 * isolation, the admin view, a host process killed (HOST_HEARTBEAT stops) without disturbing the others. Against
 * the in-process simulator: a host closing (HOST_SESSION 0), ring wrap-around on an extra pair, a device reset
 * resetting every pair, and the typed error for a channel the device does not offer.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type OffloadDevice, openDevice } from '../../src/index.js';
import { type PcieRingChannel, pairEventsPath } from '../../src/link/pcie-rings.js';
import { CHANNEL_RING_STRIDE, Capability, ChannelRingField, Register } from '../../src/protocol/index.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../sim/index.js';
import {
  connectTo,
  echoTransfer,
  nativeServer,
  pattern,
  pcieWindowPath,
  sha256,
  until,
  waitFor,
} from '../driver/paths.js';
import { spawnScript, spawnSim } from '../helpers/sim-process.js';

const CRED = 'pcie-channel-credential';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

/** The URL of channel `ch` on a window: its own interrupt FIFO (`<events>.<ch>`, §10.5). */
function channelUrl(window: string, ch: number, extra = ''): string {
  const events = ch === 0 ? `${window}.events` : `${window}.events.${ch}`;
  return `pcie://${window}?events=${events}${ch === 0 ? '' : `&channel=${ch}`}${extra}`;
}

async function pcieSim(opts: Partial<SimulatorOptions> = {}): Promise<{ sim: Simulator; window: string }> {
  const window = pcieWindowPath('pcie-ch');
  const sim = await startSimulator({ logLevel: 'warn', ...opts, listen: `pcie://${window}` });
  cleanup.push(async () => {
    await sim.close();
    rmSync(window, { force: true });
  });
  return { sim, window };
}

async function open(url: string, o: Parameters<typeof openDevice>[1] = {}): Promise<OffloadDevice> {
  const dev = await openDevice(url, o);
  cleanup.push(() => dev.close());
  return dev;
}

async function echoServer() {
  const echo = await nativeServer((s) => s.pipe(s));
  cleanup.push(() => echo.close());
  return echo;
}

const rings = (dev: OffloadDevice) => dev.device.link as unknown as PcieRingChannel;

describe('PCIe channels: a ring pair per channel', () => {
  it('four hosts on one window (one in its own process): concurrent transfers intact, isolation, admin view, a killed host', async () => {
    const window = pcieWindowPath('pcie-ch-proc');
    const sim = await spawnSim([
      '--listen',
      `pcie://${window}`,
      '--pcie-channels',
      '3',
      '--admin-credential',
      CRED,
      '--channel-timeout',
      '500',
      '--log-level',
      'warn',
    ]);
    cleanup.push(async () => {
      await sim.stop();
      rmSync(window, { force: true });
    });
    const echo = await echoServer();
    // Channel 2: a driver in its own process, writing until it is killed.
    const other = spawnScript('test/helpers/channel-client.ts', [
      channelUrl(window, 2),
      '2',
      String(echo.port),
    ]);
    cleanup.push(async () => {
      other.child.kill('SIGKILL');
    });
    await until(() => /^connected /m.test(other.stdout()), 20_000, `the other driver (${other.stderr()})`);
    const a = await open(channelUrl(window, 0));
    const b = await open(channelUrl(window, 1));
    const adm = await open(channelUrl(window, 3, `&credential=${CRED}`));
    expect(rings(b).channel).toBe(1);
    expect(a.info.capabilityNames).toContain('CHANNELS');

    // Isolation: b's socket is unknown to a (and to the admin for anything but SNAPSHOT/CLOSE).
    const held = await connectTo(b, echo.port);
    const bIds = b.sockets.list().map((e) => e.id);
    expect(bIds.length).toBe(1);
    const foreign = await a.device.requestRaw('QUERY', { id: bIds[0] } as never);
    expect(foreign.status).toBe(1); // E_UNKNOWN_SOCKET
    expect((await a.snapshot()).entries).toEqual([]);
    expect((await b.snapshot()).entries.map((e) => e.id)).toEqual(bIds);
    const all = (await adm.snapshot({ allChannels: true })).entries;
    expect(new Set(all.map((e) => e.channel))).toEqual(new Set([1, 2]));
    const ofTwo = async () =>
      (await adm.snapshot({ allChannels: true })).entries.filter((e) => e.channel === 2).length;
    expect(await ofTwo()).toBe(1);

    // Concurrent transfers on channels 0 and 1; channel 2's process is killed during them.
    const data0 = pattern(3 * 1024 * 1024, 5);
    const data1 = pattern(3 * 1024 * 1024, 6);
    const data3 = pattern(2 * 1024 * 1024, 7);
    const [h0, h1, h3] = await Promise.all([
      echoTransfer(a, echo.port, data0, async () => {
        other.child.kill('SIGKILL');
        await new Promise((r) => other.child.once('exit', r));
      }),
      echoTransfer(b, echo.port, data1),
      echoTransfer(adm, echo.port, data3),
    ]);
    expect(h0).toBe(sha256(data0));
    expect(h1).toBe(sha256(data1));
    expect(h3).toBe(sha256(data3));
    // The dead host's heartbeat stops (3 s), then the channel timeout (0.5 s) aborts its sockets.
    await until(async () => (await ofTwo()) === 0, 15_000, 'channel 2 sockets aborted');
    expect(a.device.state).toBe('ready');
    expect(b.device.state).toBe('ready');
    expect((await b.diff()).length).toBe(0);
    held.destroy();
  }, 60_000);

  it('a host closing its pair (HOST_SESSION 0) ends its sockets after the timeout; the other transfer stays intact', async () => {
    const { sim, window } = await pcieSim({
      pcie: { channels: 3 },
      core: { adminCredential: CRED, channelTimeoutMs: 300 },
    });
    const echo = await echoServer();
    const a = await open(channelUrl(window, 1));
    const b = await openDevice(channelUrl(window, 2));
    const adm = await open(channelUrl(window, 3, `&credential=${CRED}`));
    await connectTo(b, echo.port);
    const ofTwo = async () =>
      (await adm.snapshot({ allChannels: true })).entries.filter((e) => e.channel === 2).length;
    expect(await ofTwo()).toBe(1);
    const data = pattern(2 * 1024 * 1024, 9);
    const hash = await echoTransfer(a, echo.port, data, () => b.close());
    expect(hash).toBe(sha256(data));
    expect(sim.pcie?.channelStats.get(2)?.sessions).toBe(1);
    await until(() => (sim.pcie?.channelStats.get(2)?.hostsGone ?? 0) === 1, 5000, 'host 2 gone');
    await until(async () => (await ofTwo()) === 0, 5000, 'channel 2 sockets aborted after the timeout');
    expect(a.device.state).toBe('ready');
    expect((await a.diff()).length).toBe(0);
  });

  it('ring wrap-around on an extra pair: 8-entry rings, thousands of messages in order', async () => {
    const { window } = await pcieSim({ pcie: { channels: 1, cmdRingEntries: 8, cplRingEntries: 8 } });
    const dev = await open(channelUrl(window, 1), { maxInFlight: 64 });
    const pings: Promise<number>[] = [];
    for (let i = 0; i < 3000; i++) pings.push(dev.ping(Buffer.alloc(4 + (i % 64), i & 0xff)));
    const rtts = await Promise.all(pings);
    expect(rtts.length).toBe(3000);
    expect(rings(dev).indices.cmdTail).toBeGreaterThan(3000);
    const echo = await echoServer();
    const data = pattern(1024 * 1024, 2);
    expect(await echoTransfer(dev, echo.port, data)).toBe(sha256(data));
  });

  it('a device reset resets every pair: each host sees the new epoch and goes on', async () => {
    const { sim, window } = await pcieSim({ pcie: { channels: 2 } });
    const devs = [
      await open(channelUrl(window, 0)),
      await open(channelUrl(window, 1)),
      await open(channelUrl(window, 2)),
    ];
    const before = devs.map((d) => d.info.epoch);
    const ready = devs.map((d) => waitFor(d, 'ready', 5000));
    sim.reset('WATCHDOG');
    await Promise.all(ready);
    for (const [i, d] of devs.entries()) {
      expect(d.info.epoch).not.toBe(before[i]);
      expect(rings(d).counters.resets).toBe(1);
      expect(await d.ping()).toBeGreaterThanOrEqual(0);
    }
    const echo = await echoServer();
    const data = pattern(512 * 1024, 4);
    expect(await echoTransfer(devs[2] as OffloadDevice, echo.port, data)).toBe(sha256(data));
  });

  it("one URL shape for every channel: naming channel 0's event device, another channel waits on its own pair's", async () => {
    const { window } = await pcieSim({ pcie: { channels: 2 } });
    // Channel 0's FIFO in the URL; the driver finds channel 2's pair and its FIFO `<events>.2` (§10.5).
    const url = `pcie://${window}?events=${window}.events&channel=2`;
    const dev = await open(url);
    expect(rings(dev).mode).toBe('interrupt');
    expect(rings(dev).eventsPath).toBe(`${window}.events.2`);
    const echo = await echoServer();
    const data = pattern(256 * 1024, 6);
    expect(await echoTransfer(dev, echo.port, data)).toBe(sha256(data));
    // Woken by its own interrupts: answers arrive without waiting for the heartbeat's pass.
    expect(rings(dev).pcie.interruptPasses).toBeGreaterThan(10);
    // Channel 0 keeps the device it names.
    const zero = await open(`pcie://${window}?events=${window}.events`);
    expect(rings(zero).eventsPath).toBe(`${window}.events`);
  });

  it("XDMA's event devices: …_events_N becomes the pair's IRQ_VECTOR; a path already the pair's stays", () => {
    // A channel ring table as §10.5 lays it out: CAPS with CHANNELS, two blocks (channels 3 and 7, vectors 4 and 9).
    const table = 0x2000;
    const regs = new Map<number, number>([
      [Register.CAPS, Capability.CHANNELS | Capability.PCIE_RINGS],
      [Register.CHANNEL_RINGS_OFFSET, table],
      [Register.CHANNEL_RINGS_COUNT, 2],
      [table + ChannelRingField.CHANNEL, 3],
      [table + ChannelRingField.IRQ_VECTOR, 4],
      [table + CHANNEL_RING_STRIDE + ChannelRingField.CHANNEL, 7],
      [table + CHANNEL_RING_STRIDE + ChannelRingField.IRQ_VECTOR, 9],
    ]);
    const read32 = (o: number) => regs.get(o) ?? 0;
    const none = () => false;
    expect(pairEventsPath('/dev/xdma0_events_0', 3, read32, none)).toBe('/dev/xdma0_events_4');
    expect(pairEventsPath('/dev/xdma0_events_0', 7, read32, none)).toBe('/dev/xdma0_events_9');
    expect(pairEventsPath('/dev/xdma0_events_9', 7, read32, none)).toBe('/dev/xdma0_events_9');
    expect(pairEventsPath('/dev/xdma0_events_0', 0, read32, none)).toBe('/dev/xdma0_events_0');
    // No pair for the channel: as given (the ring start then reports E_OFFLOAD_NO_CHANNEL).
    expect(pairEventsPath('/dev/xdma0_events_0', 5, read32, none)).toBe('/dev/xdma0_events_0');
    // The simulator's convention, only where the FIFO exists.
    expect(pairEventsPath('/dev/shm/w.events', 3, read32, (p) => p === '/dev/shm/w.events.3')).toBe(
      '/dev/shm/w.events.3',
    );
    expect(pairEventsPath('/dev/shm/w.events.3', 3, read32, none)).toBe('/dev/shm/w.events.3');
  });

  it('a channel the device does not offer: E_OFFLOAD_NO_CHANNEL; channel 0 without extra pairs is as before', async () => {
    const plain = await pcieSim();
    const dev = await open(channelUrl(plain.window, 0));
    expect(dev.info.capabilityNames).not.toContain('CHANNELS');
    // The window and an event device open; the rings have no pair for the channel.
    const noPair = (w: string, ch: number) => `pcie://${w}?events=${w}.events&channel=${ch}`;
    await expect(openDevice(noPair(plain.window, 1))).rejects.toMatchObject({ code: 'E_OFFLOAD_NO_CHANNEL' });
    const two = await pcieSim({ pcie: { channels: 2 } });
    await expect(openDevice(noPair(two.window, 3))).rejects.toMatchObject({ code: 'E_OFFLOAD_NO_CHANNEL' });
    // The pairs that exist still work.
    expect(await (await open(channelUrl(two.window, 2))).ping()).toBeGreaterThanOrEqual(0);
  });
});
