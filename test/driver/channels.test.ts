/**
 * Several drivers on one simulator, each on its own channel (PROTOCOL.md §11, §12.5), over the TCP shim:
 * channel and role from options, URL and environment; isolation of every socket-id opcode (identical answers
 * to a never-allocated id, nothing changed); quotas as typed errors; the admin view, admin CLOSE and
 * CHANNEL_RESET; a transfer that stays intact while another channel is reset, dropped or its host process
 * killed; the channel timeout; egress rules, set by a secure administrator (the §12 handshake before
 * CHANNEL_OPEN), allowing and denying loopback targets.
 */
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OffloadDevice, type OffloadSocket, type SocketEntry, openDevice } from '../../src/index.js';
import { type Message, encodeMessage } from '../../src/protocol/index.js';
import { SOCKET_COMMAND_NAMES, type SocketCommandName } from '../../sim/core/index.js';
import { type Simulator, startSimulator } from '../../sim/index.js';
import { spawnScript, spawnSim, type SimProcess } from '../helpers/sim-process.js';
import { connectTo, echoTransfer, nativeServer, pattern, sha256, until } from './paths.js';

const CRED = 'channel-test-credential';
const ADMIN_KEY_ID = 7;
const ADMIN_KEY = Buffer.alloc(32, 0x5a);

function errorOf(s: OffloadSocket): Promise<{ code?: string }> {
  return new Promise((resolve) => s.once('error', resolve));
}

/** A response re-encoded with tag 0: what two answers to different tags have to agree on, byte for byte. */
function answerBytes(r: unknown): Buffer {
  return encodeMessage({ ...(r as Message), tag: 0 } as Message);
}

function bodyFor(name: SocketCommandName, id: number): Record<string, unknown> {
  const to = { family: 4, address: '127.0.0.1', port: 9 };
  const bodies: Record<SocketCommandName, Record<string, unknown>> = {
    BIND: { id, addr: { family: 4, address: '0.0.0.0', port: 0 } },
    LISTEN: { id, backlog: 4 },
    CONNECT: { id, timeoutMs: 0, addr: to },
    ACCEPT: { id, recvCredit: 100 },
    SEND: { id, data: Buffer.from('x') },
    SENDTO: { id, addr: to, data: Buffer.from('x') },
    RECV_CREDIT: { id, bytes: 10 },
    SHUTDOWN: { id, how: 2 },
    CLOSE: { id, abort: 1 },
    SETOPT: { id, option: 1, value: 1 },
    GETOPT: { id, option: 1 },
    UPDATE: { id, status: 0xff, setFlags: 0x1000, clearFlags: 0 },
    QUERY: { id },
  };
  return bodies[name];
}

/** The admin's view of one channel's sockets, without the queue levels (they move with traffic). */
function stable(entries: SocketEntry[], channel: number): string {
  return JSON.stringify(
    entries
      .filter((e) => e.channel === channel)
      .map((e) => ({ id: e.id, status: e.status, flags: e.flags, local: e.local, remote: e.remote })),
  );
}

describe('channels on one in-process simulator over the TCP shim', () => {
  let sim: Simulator;
  let echo: Awaited<ReturnType<typeof nativeServer>>;
  /** One admin for every test: a second host on channel 255 would take the channel over. */
  let adm: OffloadDevice;
  const opened: OffloadDevice[] = [];
  const open = async (...args: Parameters<typeof openDevice>) => {
    const d = await openDevice(...args);
    opened.push(d);
    return d;
  };

  beforeAll(async () => {
    sim = await startSimulator({
      listen: 'tcp://127.0.0.1:0',
      secureKeys: new Map([[ADMIN_KEY_ID, ADMIN_KEY]]),
      core: { adminCredential: CRED, channelTimeoutMs: 1500, channelQuotas: { 3: { slotQuota: 2 } } },
    });
    echo = await nativeServer((s) => s.pipe(s));
    adm = await openDevice(sim.url, { channel: 255, credential: CRED });
  });
  afterEach(async () => {
    for (const d of opened.splice(0)) await d.close().catch(() => undefined);
  });
  afterAll(async () => {
    await adm?.close();
    await echo?.close();
    await sim?.close();
  });

  it('channel, role and quotas from options, the URL and the environment; refusals are typed', async () => {
    const a = await open(sim.url, { channel: 1 });
    expect(a.channel).toEqual({ number: 1, role: 'NORMAL', slotQuota: 32, queueQuota: 32 * 2 * 65536 });
    const c = await open(`${sim.url}?channel=3`);
    expect(c.channel).toMatchObject({ number: 3, role: 'NORMAL', slotQuota: 2 });
    expect(c.info.slots).toBe(2);
    expect(adm.channel).toMatchObject({ number: 255, role: 'ADMIN' });
    // (Not on 255: a new host on a channel takes it over from the admin opened in beforeAll.)
    await expect(openDevice(sim.url, { channel: 250, credential: 'wrong' })).rejects.toMatchObject({
      code: 'E_OFFLOAD_AUTH',
      errno: 'EACCES',
    });
    await expect(openDevice(`${sim.url}?channel=250&credential=wrong`)).rejects.toMatchObject({
      code: 'E_OFFLOAD_AUTH',
    });
    process.env.OFFLOAD_CREDENTIAL = CRED;
    try {
      const viaEnv = await open(`${sim.url}?channel=254`, { role: 'ADMIN' });
      expect(viaEnv.channel).toMatchObject({ number: 254, role: 'ADMIN' });
      // The environment never makes a NORMAL channel ADMIN.
      const plain = await open(sim.url, { channel: 6 });
      expect(plain.channel.role).toBe('NORMAL');
    } finally {
      delete process.env.OFFLOAD_CREDENTIAL;
    }
    await expect(openDevice(`${sim.url}?channel=256`)).rejects.toMatchObject({ code: 'E_OFFLOAD_BAD_URL' });
  });

  it('every opcode with another channel’s socket id answers as a never-allocated id; nothing changes', async () => {
    const a = await open(sim.url, { channel: 1 });
    const b = await open(sim.url, { channel: 2 });
    const conn = await connectTo(b, echo.port);
    const udp = b.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const srv = b.createServer(() => undefined);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const foreign = b.sockets.list().map((e) => e.id);
    expect(foreign.length).toBe(3);
    const before = stable((await adm.snapshot({ allChannels: true })).entries, 2);
    const never = 0x01c8; // slot 200, never used
    let compared = 0;
    for (const name of SOCKET_COMMAND_NAMES) {
      for (const id of foreign) {
        const theirs = await a.device.requestRaw(name, bodyFor(name, id) as never);
        const none = await a.device.requestRaw(name, bodyFor(name, never) as never);
        expect(theirs.status, `${name} ${id}`).toBe(1); // E_UNKNOWN_SOCKET
        expect(answerBytes(theirs).equals(answerBytes(none)), `${name} ${id}`).toBe(true);
        compared++;
      }
    }
    expect(compared).toBe(13 * 3);
    expect(stable((await adm.snapshot({ allChannels: true })).entries, 2)).toBe(before);
    expect((await b.diff()).length).toBe(0);
    expect((await a.snapshot()).entries.filter((e) => foreign.includes(e.id))).toEqual([]);
    // The socket still works.
    conn.write('still here');
    const back = await new Promise<Buffer>((r) => conn.once('data', r));
    expect(back.toString()).toBe('still here');
    conn.destroy();
    udp.close();
    srv.close();
  });

  it('quotas: the channel’s slot quota is E_OFFLOAD_QUOTA, other channels unaffected', async () => {
    const c = await open(sim.url, { channel: 3 });
    const s1 = await connectTo(c, echo.port);
    const s2 = await connectTo(c, echo.port);
    const err = await connectTo(c, echo.port).then(
      () => undefined,
      (e: { code?: string; errno?: string }) => e,
    );
    expect(err).toMatchObject({ code: 'E_OFFLOAD_QUOTA', errno: 'EDQUOT' });
    await expect(
      c.device.request('SOCKET_OPEN', { type: 2, family: 4, protocol: 17, blocking: 0, recvCredit: 0 }),
    ).rejects.toMatchObject({ code: 'E_OFFLOAD_QUOTA' });
    const other = await open(sim.url, { channel: 7 });
    const s3 = await connectTo(other, echo.port);
    s1.destroy();
    s2.destroy();
    s3.destroy();
  });

  it('admin: every channel’s sockets with their channel, CLOSE of any socket, CHANNEL_RESET of one channel', async () => {
    const a = await open(sim.url, { channel: 8 });
    const b = await open(sim.url, { channel: 9 });
    const sa = await connectTo(a, echo.port);
    const sa2 = await connectTo(a, echo.port);
    const sb = await connectTo(b, echo.port);
    const sb2 = await connectTo(b, echo.port);
    const [ida, ida2] = a.sockets.list().map((e) => e.id);
    const all = (await adm.snapshot({ allChannels: true })).entries;
    const chOf = (id: number, ch: number) => all.find((e) => e.id === id && e.channel === ch);
    for (const e of a.sockets.list()) expect(chOf(e.id, 8)).toBeDefined();
    for (const e of b.sockets.list()) expect(chOf(e.id, 9)).toBeDefined();
    await expect(a.snapshot({ allChannels: true })).rejects.toMatchObject({
      code: 'E_OFFLOAD_NOT_PERMITTED',
    });
    await expect(a.adminClose(b.sockets.list()[0]!.id)).rejects.toMatchObject({
      code: 'E_OFFLOAD_UNKNOWN_SOCKET',
    });
    await expect(a.resetChannel(9)).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
    await expect(a.device.reset()).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
    // Admin CLOSE: the owner's socket fails with ECONNABORTED, its other socket lives on.
    const aborted = errorOf(sa);
    await adm.adminClose(ida!);
    expect(await aborted).toMatchObject({ code: 'ECONNABORTED' });
    expect(a.sockets.list().map((e) => e.id)).toEqual([ida2]);
    // CHANNEL_RESET: every socket of channel 9, nothing of channel 8.
    const bErrors = [errorOf(sb), errorOf(sb2)];
    expect(await adm.resetChannel(9)).toBe(2);
    for (const e of await Promise.all(bErrors)) expect(e).toMatchObject({ code: 'ECONNABORTED' });
    expect(b.sockets.size).toBe(0);
    sa2.write('ping');
    expect((await new Promise<Buffer>((r) => sa2.once('data', r))).toString()).toBe('ping');
    // The reset channel stays open: its host opens sockets again.
    const again = await connectTo(b, echo.port);
    again.destroy();
    sa2.destroy();
  });

  it('a transfer stays intact while another channel is reset by the admin and another host drops its link', async () => {
    const a = await open(sim.url, { channel: 10 });
    const b = await open(sim.url, { channel: 11 });
    const c = await open(sim.url, { channel: 12 });
    const sb = await connectTo(b, echo.port);
    sb.on('error', () => undefined);
    const sc = await connectTo(c, echo.port);
    sc.on('error', () => undefined);
    sb.write(pattern(200_000, 5));
    sc.write(pattern(200_000, 6));
    const data = pattern(4 * 1024 * 1024, 11);
    const hash = await echoTransfer(a, echo.port, data, async () => {
      expect(await adm.resetChannel(11)).toBe(1);
      await c.transport.close();
    });
    expect(hash).toBe(sha256(data));
    expect(b.sockets.size).toBe(0);
    expect(a.device.state).toBe('ready');
  }, 60_000);

  it('channel timeout: a channel whose link stays down loses its sockets; reopening it works', async () => {
    const d = await open(sim.url, { channel: 13 });
    const s = await connectTo(d, echo.port);
    s.on('error', () => undefined);
    const id = d.sockets.list()[0]!.id;
    const ofChannel = async () =>
      (await adm.snapshot({ allChannels: true })).entries.filter((e) => e.channel === 13).map((e) => e.id);
    await d.transport.close();
    // Just after the link drop the sockets are still there (timeout 1.5 s) ...
    expect(await ofChannel()).toEqual([id]);
    // ... and gone once the timeout passed.
    await until(async () => (await ofChannel()).length === 0, 10_000, 'channel 13 sockets aborted');
    const back = await open(sim.url, { channel: 13 });
    expect(back.channel.role).toBe('NORMAL');
    expect((await back.snapshot()).entries).toEqual([]);
  }, 20_000);

  it('egress: only an ADMIN with a secure session sets rules; allowed and denied loopback targets', async () => {
    // A second administrator on channel 254, secure (the §12 handshake, then CHANNEL_OPEN with the credential).
    const sadm = await open(sim.url, {
      channel: 254,
      credential: CRED,
      secure: { keyId: ADMIN_KEY_ID, key: ADMIN_KEY },
    });
    expect(sadm.info.secure).toBe(true);
    expect(sadm.info.channel.role).toBe('ADMIN');
    const e = await open(sim.url, { channel: 20 });
    let deniedHits = 0;
    const denied = await nativeServer((s) => {
      deniedHits++;
      s.destroy();
    });
    const allowRule = { channel: 20, kind: 'CONNECT' as const, address: '127.0.0.1', port: echo.port };
    // ADMIN without a secure session, and a secure-less NORMAL channel: refused.
    await expect(adm.setEgressRule(allowRule)).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
    await expect(e.setEgressRule(allowRule)).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
    try {
      expect(await sadm.setEgressRule(allowRule)).toBe(1);
      const ok = await connectTo(e, echo.port);
      ok.write('allowed');
      expect((await new Promise<Buffer>((r) => ok.once('data', r))).toString()).toBe('allowed');
      ok.destroy();
      const refused = await connectTo(e, denied.port).then(
        () => undefined,
        (err: { code?: string }) => err,
      );
      expect(refused).toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
      expect(deniedHits).toBe(0);
      // UDP: SENDTO rules.
      const got: string[] = [];
      const peers = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<dgram.Socket>((r) => {
              const u = dgram.createSocket('udp4');
              u.on('message', (m) => got.push(m.toString()));
              u.bind(0, '127.0.0.1', () => r(u));
            }),
        ),
      );
      const [udpOk, udpNo] = peers.map((p) => p.address().port);
      expect(
        await sadm.setEgressRule({
          channel: 20,
          kind: 'SENDTO',
          address: '127.0.0.0',
          prefixLen: 8,
          port: udpOk!,
        }),
      ).toBe(2);
      const u = e.createSocket('udp4');
      const sendErr = await new Promise<unknown>((r) =>
        u.send('no', udpNo!, '127.0.0.1', (err) => r(err ?? null)),
      );
      expect(sendErr).toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
      await new Promise<void>((r, j) => u.send('yes', udpOk!, '127.0.0.1', (err) => (err ? j(err) : r())));
      await until(() => got.includes('yes'), 5000, 'the allowed datagram');
      expect(got).toEqual(['yes']);
      u.close();
      for (const p of peers) p.close();
      // EGRESS_CLEAR lifts the restriction.
      await expect(adm.clearEgress(20)).rejects.toMatchObject({ code: 'E_OFFLOAD_NOT_PERMITTED' });
      await sadm.clearEgress(20);
      const now = await connectTo(e, denied.port).then(
        (s) => s,
        () => undefined,
      );
      expect(now).toBeDefined();
      now?.destroy();
      await until(() => deniedHits === 1, 5000, 'the connection after EGRESS_CLEAR');
    } finally {
      await denied.close();
    }
  });
});

describe('channels across processes: simulator, a driver killed mid-transfer, and this driver', () => {
  let sim: SimProcess;
  let echo: Awaited<ReturnType<typeof nativeServer>>;

  beforeAll(async () => {
    sim = await spawnSim([
      '--listen',
      'tcp://127.0.0.1:0',
      '--admin-credential',
      CRED,
      '--channel-timeout',
      '1000',
    ]);
    echo = await nativeServer((s) => s.pipe(s));
  }, 30_000);
  afterAll(async () => {
    await echo?.close();
    await sim?.stop();
  });

  it('killing another channel’s driver process leaves this channel’s transfer intact; its sockets time out', async () => {
    const other = spawnScript('test/helpers/channel-client.ts', [sim.url, '2', String(echo.port)]);
    try {
      await until(() => /^connected /m.test(other.stdout()), 20_000, `the other driver (${other.stderr()})`);
      const a = await openDevice(sim.url, { channel: 1 });
      await expect(openDevice(sim.url, { channel: 255, role: 'NORMAL' })).rejects.toMatchObject({
        code: 'E_OFFLOAD_NOT_PERMITTED',
      });
      const adm = await openDevice(`${sim.url}?channel=255&credential=${CRED}`);
      try {
        const ofTwo = async () =>
          (await adm.snapshot({ allChannels: true })).entries.filter((e) => e.channel === 2).length;
        expect(await ofTwo()).toBe(1);
        const data = pattern(4 * 1024 * 1024, 3);
        const hash = await echoTransfer(a, echo.port, data, async () => {
          other.child.kill('SIGKILL');
          await new Promise((r) => other.child.once('exit', r));
        });
        expect(hash).toBe(sha256(data));
        await until(async () => (await ofTwo()) === 0, 15_000, 'channel 2 sockets aborted after the timeout');
        expect(a.device.state).toBe('ready');
        expect((await a.diff()).length).toBe(0);
      } finally {
        await a.close();
        await adm.close();
      }
    } finally {
      if (other.child.exitCode === null && other.child.signalCode === null) other.child.kill('SIGKILL');
    }
  }, 90_000);
});
