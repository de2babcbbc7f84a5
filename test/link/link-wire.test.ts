/** The link over real wires: serialport on a socat pty pair, and the TCP shim on loopback. */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../../src/link/index.js';
import { listenTcp, SerialTransport, TcpTransport, type Transport } from '../../src/transport/index.js';
import { createPtyPair, type PtyPair, requireSocat } from '../helpers/pty.js';
import { makeMessages, nextDown, receive, sendAll, sha256 } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function track<T extends { close(): Promise<void> }>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

async function ptys(): Promise<PtyPair> {
  const p = await createPtyPair();
  cleanups.push(() => p.kill());
  return p;
}

async function openSerial(path: string): Promise<SerialTransport> {
  const t = track(new SerialTransport({ path, baudRate: 921600 }));
  await t.open();
  return t;
}

beforeAll(() => requireSocat());

describe('link over a socat pty pair (real serialport binding)', () => {
  it('moves 1 MiB each way at once with ARQ, sha256-exact and in order', async () => {
    const p = await ptys();
    const [a, b] = await Promise.all([openSerial(p.a), openSerial(p.b)]);
    const host = track(new Link(a, { role: 'host', framing: 'serial' }));
    const device = track(new Link(b, { role: 'device', framing: 'serial' }));
    const [params] = await Promise.all([host.start(), device.start()]);
    expect(params.arq).toBe(true);
    const toDevice = makeMessages(1 << 20, params.maxPayload, 41);
    const toHost = makeMessages(1 << 20, params.maxPayload, 42);
    const atDevice = receive(device, toDevice.length, 30_000);
    const atHost = receive(host, toHost.length, 30_000);
    await Promise.all([sendAll(host, toDevice), sendAll(device, toHost), atDevice.done, atHost.done]);
    expect(sha256(...atDevice.messages)).toBe(sha256(...toDevice));
    expect(sha256(...atHost.messages)).toBe(sha256(...toHost));
    expect(host.counters.crcErrors).toBe(0);
  });

  it('the port vanishing (socat killed) → down with E_OFFLOAD_PORT_VANISHED on both ends', async () => {
    const p = await ptys();
    const [a, b] = await Promise.all([openSerial(p.a), openSerial(p.b)]);
    const host = track(new Link(a, { role: 'host', framing: 'serial' }));
    const device = track(new Link(b, { role: 'device', framing: 'serial' }));
    await Promise.all([host.start(), device.start()]);
    // Traffic in flight when the wire goes.
    void sendAll(host, makeMessages(256 * 1024, 4096, 43)).catch(() => undefined);
    const downs = Promise.all([nextDown(host, 5000), nextDown(device, 5000)]);
    await p.kill();
    const [eh, ed] = await downs;
    expect(eh.code).toBe('E_OFFLOAD_PORT_VANISHED');
    expect(ed.code).toBe('E_OFFLOAD_PORT_VANISHED');
    expect(eh.message).toContain(p.a);
    expect(eh.cause).toBeDefined();
    expect(host.isUp).toBe(false);
  });
});

describe('link over the TCP shim (loopback)', () => {
  async function tcpPair(): Promise<[Transport, Transport]> {
    const listener = track(await listenTcp());
    const accepted = new Promise<Transport>((r) => listener.once('connection', r));
    const client = track(new TcpTransport({ host: '127.0.0.1', port: listener.port }));
    await client.open();
    return [client, track(await accepted)];
  }

  it('ARQ off by default: 4 MiB each way, exact and in order, no ACK / NAK / retransmission', async () => {
    const [c, s] = await tcpPair();
    const host = track(new Link(c, { role: 'host', framing: 'tcp' }));
    const device = track(new Link(s, { role: 'device', framing: 'tcp' }));
    const [params] = await Promise.all([host.start(), device.start()]);
    expect(params).toMatchObject({ arq: false, maxPayload: 16384 });
    const toDevice = makeMessages(4 << 20, params.maxPayload, 51);
    const toHost = makeMessages(4 << 20, params.maxPayload, 52);
    const atDevice = receive(device, toDevice.length, 30_000);
    const atHost = receive(host, toHost.length, 30_000);
    await Promise.all([sendAll(host, toDevice), sendAll(device, toHost), atDevice.done, atHost.done]);
    expect(sha256(...atDevice.messages)).toBe(sha256(...toDevice));
    expect(sha256(...atHost.messages)).toBe(sha256(...toHost));
    for (const l of [host, device]) {
      expect(l.counters.retransmits + l.counters.naksSent + l.counters.acksSent).toBe(0);
    }
  });

  it('the peer closing → down (E_OFFLOAD_LINK_DOWN): by its BYE, or by the connection closing when it left silently', async () => {
    for (const bye of [true, false]) {
      const [c, s] = await tcpPair();
      const host = track(new Link(c, { role: 'host', framing: 'tcp' }));
      const device = track(new Link(s, { role: 'device', framing: 'tcp' }));
      await Promise.all([host.start(), device.start()]);
      const down = nextDown(host, 5000);
      await device.close({ bye });
      const err = await down;
      expect(err.code).toBe('E_OFFLOAD_LINK_DOWN');
      expect(err.message).toMatch(bye ? /the peer left the link \(BYE\)/ : /closed|lost/);
      expect(host.counters.byesReceived).toBe(bye ? 1 : 0);
      expect(c.isOpen).toBe(false);
    }
  });
});
