/**
 * The C reference device as a process: it builds with make, prints its URL, answers the driver's handshake,
 * PING and registers over the TCP shim, speaks the protocol's message rules to a raw client, and exits cleanly on
 * SIGINT / SIGTERM.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, openDevice } from '../../src/index.js';
import { RawDeviceClient } from '../helpers/raw-device-client.js';
import { buildReferenceDevice, type RefProcess, spawnReferenceDevice } from './ref-device.js';

beforeAll(() => {
  buildReferenceDevice('all');
}, 120_000);

describe('reference device over the TCP shim', () => {
  let ref: RefProcess;
  let dev: OffloadDevice | undefined;

  beforeAll(async () => {
    ref = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0', '--slots', '16']);
  });

  afterAll(async () => {
    await dev?.close();
    const r = await ref?.stop();
    expect(r).toEqual({ code: 0, signal: null });
  });

  it('prints exactly "listening on tcp://127.0.0.1:<port>"', () => {
    expect(ref.stdout()).toMatch(/^listening on tcp:\/\/127\.0\.0\.1:\d+\n$/);
    expect(Number(new URL(ref.url).port)).toBeGreaterThan(0);
  });

  it('the driver opens it: HELLO, PING, registers', async () => {
    dev = await openDevice(ref.url);
    expect(dev.info.protocolVersion.word).toBe(0x0100);
    expect(dev.info.firmware).toMatch(/^refdev-c/);
    expect(dev.info.slots).toBe(16);
    expect(dev.info.link.arq).toBe(false);
    expect(dev.info.capabilityNames).toEqual(
      expect.arrayContaining(['TCP', 'UDP', 'IPV6', 'SNAPSHOT', 'REG_WINDOW']),
    );
    for (let i = 0; i < 5; i++) expect(await dev.ping(Buffer.from(`ping ${i}`))).toBeGreaterThanOrEqual(0);
    expect(await dev.readRegister('MAGIC')).toBe(0x4f464c44);
    expect(await dev.readRegister('VERSION')).toBe(0x0100);
    expect(await dev.readRegister('BOOT_EPOCH')).toBe(dev.info.epoch);
    expect((await dev.readRegister('SLOTS')) & 0xffff).toBe(16);
    await dev.writeRegister('SCRATCH', 0xdeadbeef);
    expect(await dev.readRegister('SCRATCH')).toBe(0xdeadbeef);
    await expect(dev.writeRegister('CAPS', 1)).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
    expect((await dev.snapshot()).entries).toEqual([]);
    await dev.close();
    dev = undefined;
  });

  it('IPv6: a TCP connection and a UDP echo over ::1 through the driver', async () => {
    const d = await openDevice(ref.url);
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '::1', r));
    const udp = dgram.createSocket('udp6');
    udp.on('message', (m, r) => udp.send(m, r.port, r.address));
    await new Promise<void>((r) => udp.bind(0, '::1', r));
    try {
      const s = d.createConnection({ host: '::1', port: (server.address() as net.AddressInfo).port });
      await new Promise((r) => s.once('connect', r));
      expect(s.remoteAddress).toBe('::1');
      expect(s.remoteFamily).toBe('IPv6');
      const back = new Promise<Buffer>((r) => s.once('data', r));
      s.write('over IPv6');
      expect((await back).toString()).toBe('over IPv6');
      s.destroy();
      const u = d.createSocket('udp6');
      u.bind(0, '::1');
      await new Promise<void>((r) => u.once('listening', () => r()));
      const echoed = new Promise<Buffer>((r) => u.once('message', r));
      u.send('datagram over IPv6', udp.address().port, '::1');
      expect((await echoed).toString()).toBe('datagram over IPv6');
      await new Promise<void>((r) => u.close(() => r()));
    } finally {
      udp.close();
      await new Promise<void>((r) => server.close(() => r()));
      await d.close();
    }
  });

  it('raw messages: unknown opcodes, bad lengths and state errors are answered, never ignored', async () => {
    // A freshly booted device (HELLO state survives link resets, §4.7, so the earlier host's HELLO would count).
    const fresh = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0', '--slots', '16']);
    const c = await RawDeviceClient.connect(fresh.url);
    try {
      const boot = await c.waitEvent((e) => e.name === 'BOOT');
      expect(boot).toMatchObject({ seq: 1, body: { reason: 0, slots: 16 } });
      // Before HELLO only HELLO, PING and REG_READ are accepted.
      const early = await c.request('SOCKET_OPEN', {
        type: 1,
        family: 4,
        protocol: 6,
        blocking: 0,
        recvCredit: 1,
      });
      expect(early.status).toBe(8); // E_BAD_STATE
      const hello = await c.hello();
      expect(hello.slots).toBe(16);
      // Unknown opcode 0x3E with tag 5: exactly `80 00 05 00 04 00 3E` (§5.5).
      const unknown = await c.requestRaw(Buffer.from([0x3e, 0, 5, 0]), 5);
      expect(unknown).toMatchObject({ kind: 'error', tag: 5, status: 4, body: { offendingOpcode: 0x3e } });
      // A response opcode sent to the device is the wrong kind: E_BAD_OPCODE.
      const wrongKind = await c.requestRaw(Buffer.from([0x82, 0, 6, 0, 0, 0]), 6);
      expect(wrongKind).toMatchObject({ kind: 'error', status: 4 });
      // A fixed-size command one byte short / long: E_BAD_LENGTH.
      const short = await c.requestRaw(Buffer.from([0x19, 0, 7, 0, 1, 1]), 7);
      expect(short).toMatchObject({ kind: 'error', status: 5, body: { offendingOpcode: 0x19 } });
      const long = await c.requestRaw(Buffer.from([0x19, 0, 8, 0, 1, 1, 0, 0]), 8);
      expect(long).toMatchObject({ kind: 'error', status: 5 });
      // An id that was never allocated: E_UNKNOWN_SOCKET (FIG 32), nothing created.
      const upd = await c.request('UPDATE', { id: 0x0105, status: 0xff, setFlags: 0x1000, clearFlags: 0 });
      expect(upd.status).toBe(1);
      expect(c.undecodable).toEqual([]);
    } finally {
      await c.close();
      await fresh.stop();
    }
  });
});

describe('channel timeout (§11)', () => {
  it('sockets of a channel whose link stays down are aborted; the final STATUS events arrive when a host returns', async () => {
    const ref = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0', '--channel-timeout', '400']);
    try {
      const a = await RawDeviceClient.connect(ref.url);
      await a.hello();
      const tcp = await a.ok('SOCKET_OPEN', {
        type: 1,
        family: 4,
        protocol: 6,
        blocking: 0,
        recvCredit: 1024,
      });
      await a.ok('LISTEN', { id: tcp.id, backlog: 4 });
      const udp = await a.ok('SOCKET_OPEN', {
        type: 2,
        family: 4,
        protocol: 17,
        blocking: 0,
        recvCredit: 4096,
      });
      const seq = (await a.ok('REG_READ', { offset: 0x2c, count: 1 })).values[0]!;
      await a.close(); // the host goes away: the link is down from now on
      await new Promise((r) => setTimeout(r, 800));
      const b = await RawDeviceClient.connect(ref.url);
      try {
        const terminated = await Promise.all(
          [tcp.id, udp.id].map((id) =>
            b.waitEvent((e) => e.name === 'STATUS' && e.body.id === id && e.body.status === 9),
          ),
        );
        for (const e of terminated) expect(e).toMatchObject({ body: { error: 26 } }); // ECONNABORTED
        expect(terminated.map((e) => e.seq).sort()).toEqual([seq + 1, seq + 2]);
        await b.hello();
        const snap = await b.ok('SNAPSHOT', { startSlot: 0, maxEntries: 16, allChannels: 0 });
        expect(snap.count).toBe(0);
        expect(snap.eventSeq).toBe(seq + 2);
        const q = await b.request('QUERY', { id: tcp.id });
        expect(q.status).toBe(1); // E_UNKNOWN_SOCKET: the id is gone
      } finally {
        await b.close();
      }
    } finally {
      expect(await ref.stop()).toEqual({ code: 0, signal: null });
    }
  });
});

describe('process life cycle', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`exits with status 0 on ${signal}, with a host connected`, async () => {
      const ref = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0']);
      const dev = await openDevice(ref.url);
      await dev.ping();
      const r = await ref.stop(signal);
      expect(r).toEqual({ code: 0, signal: null });
      await dev.close().catch(() => undefined);
    });
  }

  it('rejects bad arguments with status 2 and a usage line', async () => {
    await expect(spawnReferenceDevice(['--listen', 'ftp://x'])).rejects.toThrow(/exited \(2\)/);
    await expect(spawnReferenceDevice(['--slots', '999', '--listen', 'tcp://127.0.0.1:0'])).rejects.toThrow(
      /exited \(2\)/,
    );
  });
});
