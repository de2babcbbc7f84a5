/**
 * The PCIe shim (PROTOCOL.md §10) against the simulator's window in this process (startSimulator with a pcie://
 * listen URL: a window file in /dev/shm and an interrupt FIFO, unique per test, removed afterwards), so that the
 * tests can switch the window's faults: ring wrap-around with indices crossing 2³², a full command ring, torn
 * completion descriptors, spurious interrupts, polling without an event device, a reset, the card vanishing, the
 * window byte for byte (and `offload regs --raw` on it), 50 MB each way with descriptor bodies in one access.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs, { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type OffloadDevice, type OffloadError, openDevice } from '../../src/index.js';
import type { PcieRingChannel } from '../../src/link/pcie-rings.js';
import {
  crc32,
  decodeMessage,
  encodeMessage,
  FieldReader,
  readEntry,
  Register,
  RegisterWindow,
  ringFirstWord,
  StatusCode,
} from '../../src/protocol/index.js';
import type { PcieWindowTransport } from '../../src/transport/pcie-window.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../sim/index.js';
import { encodeEntry } from '../../sim/core/registers.js';
import { nativeServer, pattern, pcieWindowPath, sha256, sleep, until, waitFor } from '../driver/paths.js';
import { REPO_ROOT } from '../helpers/sim-process.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
});

async function pcieSim(opts: Partial<SimulatorOptions> = {}): Promise<{ sim: Simulator; window: string }> {
  const window = pcieWindowPath('pcie');
  const sim = await startSimulator({ logLevel: 'warn', ...opts, listen: `pcie://${window}` });
  cleanup.push(async () => {
    await sim.close();
    rmSync(window, { force: true });
    rmSync(`${window}.events`, { force: true });
  });
  return { sim, window };
}

async function open(url: string, o: Parameters<typeof openDevice>[0] & object = {}): Promise<OffloadDevice> {
  const dev = await openDevice({ ...o, url });
  cleanup.push(() => dev.close());
  return dev;
}

const rings = (dev: OffloadDevice) => dev.device.link as unknown as PcieRingChannel;

/** An echo through one offloaded socket; resolves with what came back. */
async function echo(dev: OffloadDevice, port: number, data: Buffer): Promise<Buffer> {
  const s = dev.createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise<void>((resolve, reject) => {
    s.on('end', resolve);
    s.on('error', reject);
  });
  s.end(data);
  await done;
  s.destroy();
  return Buffer.concat(parts);
}

describe('PCIe rings', () => {
  it('wrap-around: 8-entry rings, indices starting 256 below 2³², thousands of messages in order', async () => {
    const start = 0xffffff00;
    const { sim } = await pcieSim({ pcie: { cmdRingEntries: 8, cplRingEntries: 8, startIndex: start } });
    const dev = await open(sim.url, { maxInFlight: 64 });
    const r = rings(dev);
    // Pipelined: 64 commands in flight on an 8-descriptor ring.
    const pings: Promise<number>[] = [];
    for (let i = 0; i < 3000; i++) {
      const payload = Buffer.alloc(4 + (i % 64));
      payload.writeUInt32LE(i, 0);
      pings.push(dev.ping(payload)); // ping() rejects if the echo differs
    }
    await Promise.all(pings);
    // Data events through the 8-descriptor completion ring as well.
    const peer = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
    cleanup.push(() => peer.close());
    const data = pattern(512 * 1024, 3);
    expect((await echo(dev, peer.port, data)).equals(data)).toBe(true);
    const { cmdTail, cplHead } = r.indices;
    // Both free-running indices went past 2³² (they are below the start now) and far around the rings.
    expect(cmdTail).toBeLessThan(start);
    expect(cplHead).toBeLessThan(start);
    expect((cmdTail - start) >>> 0).toBeGreaterThan(3000);
    expect((cplHead - start) >>> 0).toBeGreaterThan(3000);
    // The registers agree with the host's view.
    expect(await dev.readRegister('CMD_TAIL')).toBe(cmdTail);
    expect(await dev.readRegister('CPL_HEAD')).toBe(cplHead);
    // 64 in flight on 8 descriptors: the sender waited for room, often.
    expect(r.pcie.ringFull).toBeGreaterThan(0);
    expect(r.pcie.tornDescriptors).toBe(0);
    expect(dev.device.stats().undecodable).toBe(0);
  });

  it('a full command ring: the sender waits, nothing is lost or reordered, and it goes on when the device consumes', async () => {
    const { sim } = await pcieSim({ pcie: { cmdRingEntries: 16 } });
    const dev = await open(sim.url);
    const r = rings(dev);
    const peer = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
    cleanup.push(() => peer.close());
    const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    await waitFor(s, 'connect');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    sim.pcie!.faults.pauseCommands = true;
    const answered: number[] = [];
    const pings = Array.from({ length: 40 }, (_, i) => {
      const p = Buffer.alloc(4);
      p.writeUInt32LE(i, 0);
      return dev.ping(p).then(() => answered.push(i));
    });
    const data = pattern(64 * 1024, 9);
    s.write(data);
    await until(() => r.pcie.ringFull > 0 && r.queuedMessages > 0, 5000, 'the command ring full');
    await sleep(200);
    // Full, as the registers show, and nothing answered while the device does not consume.
    const tail = await dev.readRegister('CMD_TAIL');
    const head = await dev.readRegister('CMD_HEAD');
    expect((tail - head) >>> 0).toBe(16);
    expect(answered).toEqual([]);
    expect(sim.pcie!.stats.cmdRingFullSeen).toBeGreaterThan(0);
    sim.pcie!.faults.pauseCommands = false;
    sim.pcie!.service();
    await Promise.all(pings);
    // In order, every one answered.
    expect(answered).toEqual(Array.from({ length: 40 }, (_, i) => i));
    await until(() => Buffer.concat(got).length >= data.length, 5000, 'the echo');
    expect(Buffer.concat(got).equals(data)).toBe(true);
    // CMD_SPACE interrupts woke the sender (no polling on an event device).
    expect(r.mode).toBe('interrupt');
    s.destroy();
  });

  it('torn completion descriptors (written in two steps, the interrupt raised between) are never acted on', async () => {
    const { sim } = await pcieSim();
    const dev = await open(sim.url);
    const r = rings(dev);
    const f = sim.pcie!.faults;
    // One PING answer: the first step carries the right CRC over inverted bytes; acting on it would be an echo
    // of other bytes (ping() rejects) or an undecodable message.
    f.tornDelayMs = 80;
    f.tornCompletions = 1;
    const t0 = performance.now();
    await dev.ping(Buffer.from('torn descriptor'));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
    expect(r.pcie.tornDescriptors).toBe(1);
    expect(sim.pcie!.stats.tornCompletionsWritten).toBe(1);
    // Data events too, several torn in a row: the bytes arrive exactly once, unaltered.
    const data = pattern(200 * 1024, 4);
    const peer = await nativeServer((s) => s.end(data));
    cleanup.push(() => peer.close());
    f.tornDelayMs = 20;
    f.tornCompletions = 6;
    const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    await waitFor(s, 'end', 10_000);
    expect(sha256(Buffer.concat(parts))).toBe(sha256(data));
    expect(sim.pcie!.stats.tornCompletionsWritten).toBe(7);
    expect(r.pcie.tornDescriptors).toBe(7);
    expect(r.pcie.tornFaults).toBe(0);
    expect(dev.device.stats().undecodable).toBe(0);
    expect(r.counters.crcErrors).toBeGreaterThanOrEqual(7);
    s.destroy();
  });

  it('a descriptor still torn after 1 s is a device fault: consumed, the Device says HELLO again', async () => {
    const { sim } = await pcieSim();
    const dev = await open(sim.url);
    const r = rings(dev);
    sim.pcie!.faults.tornDelayMs = 1500;
    sim.pcie!.faults.tornCompletions = 1;
    const ready = waitFor(dev, 'ready', 5000);
    await expect(dev.ping(Buffer.from('never'))).rejects.toMatchObject({ code: 'E_OFFLOAD_LINK_RESET' });
    await ready;
    expect(r.pcie.tornFaults).toBe(1);
    expect(await dev.ping(Buffer.from('after'))).toBeGreaterThanOrEqual(0);
    expect(dev.device.stats().undecodable).toBe(0);
  });

  it('spurious interrupts change nothing', async () => {
    const { sim } = await pcieSim();
    const dev = await open(sim.url);
    const r = rings(dev);
    const before = dev.device.stats().messagesIn;
    sim.pcie!.spuriousInterrupts(200);
    await until(() => r.pcie.spuriousInterrupts > 0, 3000, 'spurious interrupts seen');
    await sleep(50);
    expect(dev.device.stats().messagesIn).toBe(before);
    expect(r.counters.framesReceived).toBe(before);
    for (let i = 0; i < 20; i++) expect(await dev.ping(Buffer.from([i]))).toBeGreaterThanOrEqual(0);
    expect(dev.device.state).toBe('ready');
  });

  it('polling mode without an event device: commands, data and a reset', async () => {
    const { sim, window } = await pcieSim();
    const dev = await open(`pcie://${window}?poll=2`);
    const r = rings(dev);
    expect(r.mode).toBe('poll');
    expect((dev.transport as PcieWindowTransport).hasEvents).toBe(false);
    expect(await dev.ping(Buffer.from('poll'))).toBeGreaterThanOrEqual(0);
    const peer = await nativeServer((s) => s.pipe(s), { allowHalfOpen: true });
    cleanup.push(() => peer.close());
    const data = pattern(256 * 1024, 5);
    expect((await echo(dev, peer.port, data)).equals(data)).toBe(true);
    const epoch = dev.info.epoch;
    const reset = waitFor(dev, 'reset', 3000);
    const ready = waitFor(dev, 'ready', 3000);
    sim.reset('WATCHDOG');
    await reset;
    await ready;
    expect(dev.info.epoch).not.toBe(epoch);
    expect(r.pcie.pollPasses).toBeGreaterThan(10);
    expect(r.pcie.interruptPasses).toBe(0);
    expect((await echo(dev, peer.port, data)).equals(data)).toBe(true);
  });

  it('a device reset zeroes the rings and restarts the indices at 0; the driver follows and re-handshakes', async () => {
    const { sim } = await pcieSim({ pcie: { startIndex: 1000 } });
    const dev = await open(sim.url);
    const r = rings(dev);
    for (let i = 0; i < 10; i++) await dev.ping();
    expect(r.indices.cmdTail).toBeGreaterThan(1000);
    const ready = waitFor(dev, 'ready', 3000);
    await dev.reset(); // the RESET command: its answer is lost in the reset it causes (§10.4)
    await ready;
    // Indices restarted at 0 with the new epoch: a few commands (HELLO, the probe ...) since.
    expect(r.indices.cmdTail).toBeLessThan(20);
    expect(await dev.readRegister('BOOT_EPOCH')).toBe(dev.info.epoch);
    expect(await dev.readRegister('IRQ_MASK')).toBe(7); // set again after the reset cleared it
    expect(r.counters.resets).toBe(1);
    expect(await dev.ping()).toBeGreaterThanOrEqual(0);
  });

  it('MAGIC lost: nothing goes into the rings until it is back; back in the same epoch it was no reset', async () => {
    const { sim, window } = await pcieSim();
    const dev = await open(sim.url);
    const r = rings(dev);
    const fd = fs.openSync(window, 'r+');
    cleanup.push(async () => fs.closeSync(fd));
    let resets = 0;
    dev.on('reset', () => resets++);
    dev.device.link.on('reset', () => resets++);
    const tail = r.indices.cmdTail;
    fs.writeSync(fd, Buffer.alloc(4, 0xff), 0, 4, Register.MAGIC); // a card in trouble: all ones
    // An interrupt (as a resetting card raises one) makes the driver look.
    const passes = r.pcie.interruptPasses;
    sim.pcie!.spuriousInterrupts(1);
    await until(() => r.pcie.interruptPasses > passes, 2000, 'an interrupt pass');
    let answered = false;
    const ping = dev.ping(Buffer.from('wait')).then(() => {
      answered = true;
    });
    await sleep(150);
    expect(answered).toBe(false);
    expect(r.indices.cmdTail).toBe(tail); // not written to the ring
    const magic = Buffer.alloc(4);
    magic.writeUInt32LE(0x4f464c44, 0);
    fs.writeSync(fd, magic, 0, 4, Register.MAGIC);
    await ping;
    expect(resets).toBe(0);
    expect(dev.device.state).toBe('ready');
  });

  it('the card drops off the bus (registers read all ones): commands and sockets fail with E_OFFLOAD_LINK_DOWN', async () => {
    const { sim } = await pcieSim();
    const dev = await open(sim.url, { link: { deadTimeoutMs: 500, heartbeatMs: 100 } });
    const peer = await nativeServer(() => undefined);
    cleanup.push(() => peer.close());
    const s = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    await waitFor(s, 'connect');
    const err = waitFor<OffloadError>(s, 'error', 5000);
    const down = waitFor<OffloadError>(dev, 'down', 5000);
    const t0 = Date.now();
    sim.pcie!.vanish();
    expect((await down).code).toBe('E_OFFLOAD_LINK_DOWN');
    expect((await err).code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(Date.now() - t0).toBeLessThan(2000);
    await expect(dev.ping()).rejects.toMatchObject({ code: 'E_OFFLOAD_LINK_DOWN' });
  });

  it('the window byte for byte: registers, the socket-table window, and `offload regs --raw` reading the file', async () => {
    const { sim, window } = await pcieSim();
    const dev = await open(sim.url);
    const file = () => readFileSync(window);
    const f = file();
    expect([...f.subarray(0, 4)]).toEqual([0x44, 0x4c, 0x46, 0x4f]); // MAGIC 'OFLD'
    expect(f.readUInt32LE(Register.VERSION)).toBe(0x100);
    expect(f.readUInt32LE(Register.CAPS) & 0x40).toBe(0x40); // PCIE_RINGS
    const g = sim.pcie!.geometry;
    expect(f.readUInt32LE(Register.CMD_RING_OFFSET)).toBe(g.cmdOffset);
    expect(g.cmdOffset).toBe(RegisterWindow.ringsOffset);
    expect(f.readUInt32LE(Register.CPL_RING_OFFSET)).toBe(g.cplOffset);
    expect(f.readUInt32LE(Register.RING_DESC_SIZE)).toBe(g.descSize);
    expect(f.readUInt32LE(Register.SOCKET_WINDOW_OFFSET)).toBe(0x1000);
    expect(f.length).toBe(g.size);
    // Direct register reads are the file's words.
    const words = await dev.readRegisters(0, 0x64 / 4);
    const again = file();
    for (const off of [0x0, 0x4, 0x8, 0x10, 0x14, 0x18, 0x40, 0x44, 0x50, 0x54, 0x60]) {
      expect(words[off / 4]).toBe(again.readUInt32LE(off));
    }
    // A socket: its slot in the window holds its entry, as the device's snapshot has it.
    const srv = dev.createServer();
    srv.listen(0, '127.0.0.1');
    await waitFor(srv, 'listening');
    await sleep(50); // the window is refreshed within 10 ms of a change
    const snap = await dev.snapshot();
    const entry = snap.entries[0]!;
    const slot = entry.id & 0xff;
    const at = RegisterWindow.socketWindowOffset + slot * RegisterWindow.socketWindowStride;
    const bytes = file().subarray(at, at + RegisterWindow.socketWindowStride);
    expect(bytes.subarray(0, 80).equals(encodeEntry(entry))).toBe(true);
    expect(bytes.subarray(80).every((b) => b === 0)).toBe(true);
    expect(readEntry(new FieldReader(bytes.subarray(0, 80))).id).toBe(entry.id);
    const viaDriver = Buffer.alloc(128);
    for (const [i, w] of (await dev.readRegisters(at, 32)).entries()) viaDriver.writeUInt32LE(w, i * 4);
    expect(viaDriver.equals(bytes)).toBe(true);
    srv.close();
    await dev.close();

    // The CLI, as a second host after this one left: `regs --raw` dumps the window itself.
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'src', 'cli', 'main.ts'),
        'regs',
        '--raw',
        '0x0:0x80',
        '--json',
        '--device',
        sim.url,
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let errText = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (errText += d.toString()));
    const code = await new Promise<number | null>((r) => cli.once('exit', r));
    expect(code, errText).toBe(0);
    const dump = Buffer.from((JSON.parse(out) as { hex: string }).hex, 'hex');
    const now = file().subarray(0, 0x80);
    // Identical but for what moves on its own (IRQ_STATUS, EVENT_SEQ, UPTIME_MS, the ring pointers) and IRQ_MASK,
    // which the CLI's driver set while it ran and cleared when it left.
    expect(dump.readUInt32LE(0x24)).toBe(7);
    expect(now.readUInt32LE(0x24)).toBe(0);
    for (let off = 0; off < 0x80; off += 4) {
      if ([0x20, 0x24, 0x2c, 0x34, 0x48, 0x4c, 0x58, 0x5c].includes(off)) continue;
      expect(dump.readUInt32LE(off), `offset 0x${off.toString(16)}`).toBe(now.readUInt32LE(off));
    }
    expect(dump.readUInt32LE(0)).toBe(0x4f464c44);
  });

  it('50 MB each way through one socket with descriptor bodies in one access (access=block), sha256 equal', async () => {
    const { sim } = await pcieSim();
    const dev = await open(`${sim.url}&access=block`);
    const N = 50 * 1024 * 1024;
    const up = pattern(N, 51);
    const down = pattern(N, 52);
    let serverHash = '';
    const serverDone = new Promise<void>((resolve) => {
      void nativeServer(
        (s) => {
          const h = createHash('sha256');
          s.on('data', (d: Buffer) => h.update(d));
          s.on('end', () => {
            serverHash = h.digest('hex');
            resolve();
          });
          const write = async () => {
            for (let off = 0; off < N; off += 256 * 1024) {
              if (!s.write(down.subarray(off, off + 256 * 1024)))
                await new Promise((r) => s.once('drain', r));
            }
            s.end();
          };
          void write();
        },
        { allowHalfOpen: true },
      ).then((peer) => {
        cleanup.push(() => peer.close());
        start(peer.port);
      });
    });
    let clientHash = '';
    let clientDone!: () => void;
    const clientEnded = new Promise<void>((r) => {
      clientDone = r;
    });
    const t0 = performance.now();
    const start = (port: number) => {
      const s = dev.createConnection({ host: '127.0.0.1', port, allowHalfOpen: true });
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => {
        clientHash = h.digest('hex');
        clientDone();
      });
      s.once('connect', async () => {
        for (let off = 0; off < N; off += 256 * 1024) {
          if (!s.write(up.subarray(off, off + 256 * 1024))) await new Promise((r) => s.once('drain', r));
        }
        s.end();
      });
    };
    await Promise.all([serverDone, clientEnded]);
    const secs = (performance.now() - t0) / 1000;
    expect(serverHash).toBe(sha256(up));
    expect(clientHash).toBe(sha256(down));
    const w = dev.transport as PcieWindowTransport;
    expect(w.counters.blockReads).toBeGreaterThan(0);
    console.log(`[pcie, access=block] 50 MiB each way in ${secs.toFixed(2)} s`);
  }, 90_000);

  it('bad URLs and windows: unknown options, a missing window, a file that is not a window', async () => {
    await expect(openDevice('pcie:///dev/shm/x?frobnicate=1')).rejects.toMatchObject({
      code: 'E_OFFLOAD_BAD_URL',
    });
    await expect(openDevice('pcie:///dev/shm/x?access=dword')).rejects.toMatchObject({
      code: 'E_OFFLOAD_BAD_URL',
    });
    const missing = pcieWindowPath('missing');
    await expect(openDevice(`pcie://${missing}`)).rejects.toMatchObject({ code: 'E_OFFLOAD_PORT_NOT_FOUND' });
    const zeros = pcieWindowPath('zeros');
    writeFileSync(zeros, Buffer.alloc(0x20000));
    cleanup.push(async () => rmSync(zeros, { force: true }));
    await expect(openDevice({ url: `pcie://${zeros}`, handshakeTimeoutMs: 500 })).rejects.toMatchObject({
      code: 'E_OFFLOAD_NOT_A_DEVICE',
    });
    const ones = pcieWindowPath('ones');
    writeFileSync(ones, Buffer.alloc(0x20000, 0xff));
    cleanup.push(async () => rmSync(ones, { force: true }));
    await expect(openDevice({ url: `pcie://${ones}`, handshakeTimeoutMs: 500 })).rejects.toMatchObject({
      code: 'E_OFFLOAD_NO_ANSWER',
    });
    expect(existsSync(missing)).toBe(false);
  });

  it('the device side: a command written in two steps is acted on once, when whole; one that stays torn for 1 s gets ERROR_RESPONSE (tag 0, E_INTERNAL)', async () => {
    // No driver: this test is the host, writing the window file by hand.
    const { sim, window } = await pcieSim();
    const g = sim.pcie!.geometry;
    const fd = fs.openSync(window, 'r+');
    cleanup.push(async () => fs.closeSync(fd));
    const w32 = (off: number, v: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(v >>> 0, 0);
      fs.writeSync(fd, b, 0, 4, off);
    };
    const r32 = (off: number) => {
      const b = Buffer.alloc(4);
      fs.readSync(fd, b, 0, 4, off);
      return b.readUInt32LE(0);
    };
    const cmdAt = (i: number) => g.cmdOffset + (i % g.cmdEntries) * g.descSize;
    const completion = (i: number) => {
      const at = g.cplOffset + (i % g.cplEntries) * g.descSize;
      const len = r32(at) & 0xffff;
      const b = Buffer.alloc(len);
      fs.readSync(fd, b, 0, len, at + 8);
      return decodeMessage(b);
    };
    const cplTail0 = r32(Register.CPL_TAIL); // the BOOT event the board left
    const ping = encodeMessage({
      kind: 'command',
      name: 'PING',
      tag: 7,
      body: { payload: Buffer.from('abcd') },
    });
    const body = (m: Buffer, invert: boolean) => {
      const b = Buffer.alloc(4 + m.length);
      b.writeUInt32LE(crc32(m), 0);
      for (let i = 0; i < m.length; i++) b[4 + i] = invert ? (m[i] as number) ^ 0xff : (m[i] as number);
      return b;
    };
    // Step one: the first word and a wrong body under the right CRC, the tail advanced, the doorbell rung.
    fs.writeSync(fd, body(ping, true), 0, 4 + ping.length, cmdAt(0) + 4);
    w32(cmdAt(0), ringFirstWord(ping.length, 0));
    w32(Register.CMD_TAIL, 1);
    w32(Register.DOORBELL, 1);
    await sleep(100);
    expect(r32(Register.CMD_HEAD)).toBe(0); // not consumed, not acted on
    expect(r32(Register.CPL_TAIL)).toBe(cplTail0);
    expect(sim.pcie!.stats.tornCommands).toBe(1);
    // Step two: the right body. Consumed once, answered once.
    fs.writeSync(fd, body(ping, false), 0, 4 + ping.length, cmdAt(0) + 4);
    w32(Register.DOORBELL, 1);
    await until(() => r32(Register.CPL_TAIL) === cplTail0 + 1, 2000, 'the PING answer');
    expect(r32(Register.CMD_HEAD)).toBe(1);
    expect(r32(cmdAt(0))).toBe(0); // the consumer cleared the first word
    const answer = completion(cplTail0);
    expect(answer).toMatchObject({ kind: 'response', name: 'PING', tag: 7, status: 0 });
    expect(Buffer.from((answer as { body: { payload: Uint8Array } }).body.payload).toString()).toBe('abcd');
    // A descriptor that never becomes whole: a fault after 1 s.
    const t0 = Date.now();
    fs.writeSync(fd, body(ping, true), 0, 4 + ping.length, cmdAt(1) + 4);
    w32(cmdAt(1), ringFirstWord(ping.length, 1));
    w32(Register.CMD_TAIL, 2);
    w32(Register.DOORBELL, 1);
    await until(() => r32(Register.CPL_TAIL) === cplTail0 + 2, 3000, 'the fault answer');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(completion(cplTail0 + 1)).toMatchObject({ kind: 'error', tag: 0, status: StatusCode.E_INTERNAL });
    expect(r32(Register.CMD_HEAD)).toBe(2);
    expect(sim.pcie!.stats.tornFaults).toBe(1);
  });

  it('the BOOT event the board left before any host came is discarded at start, not acted on', async () => {
    const { sim } = await pcieSim();
    await sleep(20);
    const dev = await open(sim.url);
    expect(rings(dev).pcie.staleDiscarded).toBe(1);
    expect(dev.info.eventSeq).toBe(1);
    expect(dev.device.stats().gaps).toBe(0);
  });
});
