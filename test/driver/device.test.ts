/**
 * The mailbox client and openDevice on their own: typed handshake failures against real peers that are not
 * devices, version mismatch, request timeouts, the in-flight bound, FIG 32 on the host side, several devices in
 * one process with their own tables and logs.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { OffloadError, openDevice, SocketStatus, StatusCode } from '../../src/index.js';
import { failedResponse, okResponse } from '../../src/protocol/index.js';
import { FakeDevice } from './fake-device.js';
import { nativeServer, waitFor } from './paths.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('openDevice: the handshake and its typed failures', () => {
  it('E_OFFLOAD_NO_ANSWER when the peer accepts and stays silent', async () => {
    const silent = await nativeServer(() => undefined);
    cleanups.push(() => silent.close());
    const t0 = Date.now();
    const err = await openDevice({ url: `tcp://127.0.0.1:${silent.port}`, handshakeTimeoutMs: 500 }).catch(
      (e: OffloadError) => e,
    );
    expect(err).toBeInstanceOf(OffloadError);
    expect((err as OffloadError).code).toBe('E_OFFLOAD_NO_ANSWER');
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('E_OFFLOAD_NOT_A_DEVICE when the peer answers something else (an HTTP server, an echo)', async () => {
    const httpish = await nativeServer((s) => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'));
    const echo = await nativeServer((s) => s.pipe(s));
    cleanups.push(
      () => httpish.close(),
      () => echo.close(),
    );
    for (const port of [httpish.port, echo.port]) {
      const err = await openDevice({ url: `tcp://127.0.0.1:${port}`, handshakeTimeoutMs: 1000 }).catch(
        (e: OffloadError) => e,
      );
      expect(err).toBeInstanceOf(OffloadError);
      expect((err as OffloadError).code).toMatch(/^E_OFFLOAD_(NOT_A_DEVICE|LINK_DOWN)$/);
      if (port === echo.port) expect((err as OffloadError).code).toBe('E_OFFLOAD_NOT_A_DEVICE');
    }
  });

  it('transport errors keep their codes: refused, bad URL', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    await expect(openDevice(`tcp://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'E_OFFLOAD_CONNECT_REFUSED',
    });
    await expect(openDevice('ftp://nowhere')).rejects.toMatchObject({ code: 'E_OFFLOAD_BAD_URL' });
    await expect(openDevice('serial:///dev/does-not-exist-offload')).rejects.toMatchObject({
      code: 'E_OFFLOAD_PORT_NOT_FOUND',
    });
  });

  it('E_OFFLOAD_BAD_VERSION: HELLO refused, or answered with another major version', async () => {
    const a = new FakeDevice();
    a.handlers.HELLO = (cmd, d) => {
      d.send(failedResponse('HELLO', cmd.tag, StatusCode.E_BAD_VERSION, {} as never));
      return 'handled';
    };
    await expect(openDevice({ transport: a.transport })).rejects.toMatchObject({
      code: 'E_OFFLOAD_BAD_VERSION',
    });
    const b = new FakeDevice();
    b.handlers.HELLO = (cmd, d) => {
      d.send(
        okResponse('HELLO', cmd.tag, {
          protoVersion: 0x0200,
          caps: 1,
          slots: 1,
          maxPayload: 4096,
          epoch: 1,
          eventSeq: 0,
          sendQueueSize: 1024,
          recvQueueSize: 1024,
          firmware: 'v2',
        }),
      );
      return 'handled';
    };
    await expect(openDevice({ transport: b.transport })).rejects.toMatchObject({
      code: 'E_OFFLOAD_BAD_VERSION',
    });
    await a.close();
    await b.close();
  });
});

describe('the mailbox client', () => {
  it('a command without an answer fails with E_OFFLOAD_REQUEST_TIMEOUT naming opcode and tag', async () => {
    const fake = new FakeDevice();
    fake.handlers.PING = () => 'silent';
    const dev = await openDevice({ transport: fake.transport, requestTimeoutMs: 200 });
    cleanups.push(
      () => dev.close(),
      () => fake.close(),
    );
    const err = (await dev.ping().catch((e: OffloadError) => e)) as OffloadError;
    expect(err.code).toBe('E_OFFLOAD_REQUEST_TIMEOUT');
    expect(err.details).toMatchObject({ opcode: 'PING', channel: 0 });
    expect(typeof err.details.tag).toBe('number');
    expect(err.message).toContain('PING');
    // The stack points at the caller, not at a timer.
    expect(err.stack).toContain('device.test.ts');
    expect(dev.device.stats().requests.timedOut).toBe(1);
  });

  it('at most maxInFlight commands are outstanding; the rest queue and all complete', async () => {
    const fake = new FakeDevice();
    fake.answerDelayMs = 5;
    const dev = await openDevice({ transport: fake.transport, maxInFlight: 4 });
    cleanups.push(
      () => dev.close(),
      () => fake.close(),
    );
    fake.maxOutstanding = 0;
    const rtts = await Promise.all(Array.from({ length: 40 }, () => dev.ping()));
    expect(rtts).toHaveLength(40);
    expect(fake.maxOutstanding).toBe(4);
    expect(dev.device.stats().requests.queuedMax).toBeGreaterThanOrEqual(30);
  });

  it('FIG 32 on the host: an event naming an id the mirror does not hold is counted, changes nothing, and reconciles', async () => {
    const fake = new FakeDevice();
    const dev = await openDevice({ transport: fake.transport });
    cleanups.push(
      () => dev.close(),
      () => fake.close(),
    );
    const snapshotsBefore = fake.received.filter((c) => c.name === 'SNAPSHOT').length;
    let changes = 0;
    dev.sockets.on('add', () => changes++);
    dev.sockets.on('update', () => changes++);
    dev.sockets.on('remove', () => changes++);
    fake.emitEvent('STATUS', {
      id: 0x0305,
      status: SocketStatus.CONNECTED,
      flags: 2,
      error: 0,
      local: { family: 0, port: 0, address: '' },
      remote: { family: 0, port: 0, address: '' },
    });
    fake.emitEvent('SEND_CREDIT', { id: 0x0305, bytes: 100 });
    const pinged = await dev.ping(); // in order after the events
    expect(pinged).toBeGreaterThanOrEqual(0);
    await dev.device.idle();
    expect(dev.sockets.counters.unknownIdEvents).toBe(2);
    expect(dev.sockets.size).toBe(0);
    expect(changes).toBe(0);
    expect(fake.received.filter((c) => c.name === 'SNAPSHOT').length).toBeGreaterThan(snapshotsBefore);
  });

  it('device statuses become stable codes: no free slot → E_OFFLOAD_NO_SLOT (errno EMFILE), a slot freed → works again', async () => {
    const dev = await openDevice('sim:tiny?slots=2');
    cleanups.push(() => dev.close());
    const peer = await nativeServer(() => undefined);
    cleanups.push(() => peer.close());
    const a = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    const b = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    await Promise.all([waitFor(a, 'connect'), waitFor(b, 'connect')]);
    const c = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    const err = await waitFor<OffloadError & { errno: string; syscall: string }>(c, 'error');
    expect(err.code).toBe('E_OFFLOAD_NO_SLOT');
    expect(err.errno).toBe('EMFILE');
    expect(err.syscall).toBe('connect');
    a.destroy();
    await waitFor(dev.sockets, 'remove');
    const d = dev.createConnection({ host: '127.0.0.1', port: peer.port });
    await waitFor(d, 'connect');
    expect(dev.sockets.size).toBe(2);
  });

  it('several devices in one process, each with its own table, sockets and logs', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n'))
          if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const logger = pino({ level: 'trace' }, sink);
    const a = await openDevice({ url: 'sim:alpha', name: 'alpha', logger });
    const b = await openDevice({ url: 'sim:beta', name: 'beta', logger });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const peer = await nativeServer(() => undefined);
    cleanups.push(() => peer.close());
    const sa = a.createConnection({ host: '127.0.0.1', port: peer.port });
    const sb1 = b.createConnection({ host: '127.0.0.1', port: peer.port });
    const sb2 = b.createConnection({ host: '127.0.0.1', port: peer.port });
    await Promise.all([waitFor(sa, 'connect'), waitFor(sb1, 'connect'), waitFor(sb2, 'connect')]);
    expect(a.sockets.size).toBe(1);
    expect(b.sockets.size).toBe(2);
    expect(a.sockets.has(sa.socketId!)).toBe(true);
    expect([...b.sockets].map((e) => e.id).sort()).toEqual([sb1.socketId, sb2.socketId].sort());
    expect(await a.diff()).toEqual([]);
    expect(await b.diff()).toEqual([]);
    // Logs: per-device child loggers; commands carry socketId, channel, tag and opcode.
    const sent = lines.filter((l) => l.msg === 'command sent' && l.opcode === 'CONNECT');
    expect(sent.map((l) => l.device).sort()).toEqual(['alpha', 'beta', 'beta']);
    for (const l of sent) {
      expect(typeof l.tag).toBe('number');
      expect(typeof l.socketId).toBe('number');
      expect(l.channel).toBe(0);
    }
    // Quiet by default: a device opened without a logger writes nothing.
    const c = await openDevice('sim:gamma');
    cleanups.push(() => c.close());
    expect(c.log.level).toBe('silent');
  });
});
