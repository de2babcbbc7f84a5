/**
 * The reliable link (serial framing, ARQ) over rfc2217:// through a real ser2net and a socat pty pair:
 * with the standalone simulator on the far end, and with an in-process device-side Link on the far end to
 * check what arrived against what the host saw acknowledged when the network drops.
 */
import { realpathSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Link } from '../../src/link/index.js';
import type { LinkError } from '../../src/link/errors.js';
import { openTransport, TransportErrorCode } from '../../src/transport/index.js';
import { createPtyPair, type PtyPair, requireSocat } from '../helpers/pty.js';
import { requireSer2net, type Ser2net, startSer2net } from '../helpers/ser2net.js';
import { spawnSim } from '../helpers/sim-process.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  requireSocat();
  requireSer2net();
});

const BAUD = 921600;

async function bench(): Promise<{ pty: PtyPair; ser2net: Ser2net }> {
  const pty = await createPtyPair();
  cleanups.push(() => pty.kill());
  const ser2net = await startSer2net({ device: realpathSync(pty.a), baud: BAUD });
  cleanups.push(() => ser2net.kill());
  return { pty, ser2net };
}

/** A message carrying its sequence number, padded to `size`. */
function numbered(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

function downWithin(link: Link, ms: number): Promise<{ err: LinkError; afterMs: number }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no 'down' within ${ms} ms`)), ms);
    link.once('down', (err) => {
      clearTimeout(t);
      resolve({ err, afterMs: Date.now() - start });
    });
  });
}

describe('Link over rfc2217://', () => {
  it('comes up with the standalone simulator on the other end of the serial line (serial framing, ARQ)', async () => {
    const { pty, ser2net } = await bench();
    const sim = await spawnSim(['--listen', `serial://${pty.b}?baud=${BAUD}`, '--log-level', 'warn']);
    cleanups.push(() => sim.stop());
    const t = await openTransport(`${ser2net.url}?baud=${BAUD}`);
    const link = new Link(t, { framing: 'serial', role: 'host', heartbeatMs: 200, deadTimeoutMs: 2000 });
    cleanups.push(() => link.close());
    const params = await link.start();
    expect(params.arq).toBe(true);
    expect(link.isUp).toBe(true);
    // Heartbeats keep it up across a quiet second.
    await new Promise((r) => setTimeout(r, 1000));
    expect(link.isUp).toBe(true);
    expect(link.counters.heartbeatsReceived + link.counters.acksReceived).toBeGreaterThan(0);
  });

  it('ser2net killed mid-stream: host link down at once, typed; nothing acknowledged that did not arrive', async () => {
    const { pty, ser2net } = await bench();
    // The far end: a device-side Link on the other pty, recording what it is given.
    const far = await openTransport(`serial://${pty.b}?baud=${BAUD}`);
    const device = new Link(far, {
      framing: 'serial',
      role: 'device',
      heartbeatMs: 200,
      deadTimeoutMs: 10_000,
    });
    cleanups.push(() => device.close());
    const arrived: number[] = [];
    device.on('message', (m) => arrived.push(m.readUInt32BE(0)));
    void device.start();

    const near = await openTransport(`${ser2net.url}?baud=${BAUD}`);
    const host = new Link(near, { framing: 'serial', role: 'host', heartbeatMs: 200, deadTimeoutMs: 1500 });
    cleanups.push(() => host.close());
    await host.start();

    const size = 1000;
    let sent = 0;
    let stop = false;
    const down = downWithin(host, 15_000);
    const pump = (async () => {
      while (!stop && host.isUp) {
        if (!host.send(numbered(sent++, size))) {
          await new Promise<void>((resolve) => {
            const done = () => {
              host.off('drain', done);
              host.off('down', done);
              resolve();
            };
            host.on('drain', done);
            host.on('down', done);
          });
        } else if (sent % 64 === 0) {
          await new Promise((r) => setImmediate(r));
        }
      }
    })();
    // Let a good amount through, then pull the plug on the network side.
    while (arrived.length < 500) await new Promise((r) => setTimeout(r, 5));
    await ser2net.kill('SIGKILL');
    const { err, afterMs } = await down;
    stop = true;
    await pump;
    // The TCP connection closing is seen at once (the heartbeat would catch a silent drop: next test).
    expect(err.code).toBe(TransportErrorCode.LINK_DOWN);
    expect(afterMs).toBeLessThan(1500);
    const acknowledged = sent - host.counters.messagesDropped;
    // Let anything still on the pty reach the device side.
    await new Promise((r) => setTimeout(r, 300));
    // Exactly once and in order, and every message the host saw acknowledged did arrive.
    expect(arrived).toEqual(Array.from({ length: arrived.length }, (_, i) => i));
    expect(acknowledged).toBeGreaterThan(100); // acks for most of the 500 seen arriving came back before the kill
    expect(arrived.length).toBeGreaterThanOrEqual(acknowledged);
    expect(arrived.length).toBeLessThanOrEqual(sent);
    // The plug was pulled mid-transfer: messages were still queued or unacknowledged, and were dropped, not lost.
    expect(host.counters.messagesDropped).toBeGreaterThan(0);
    expect(() => host.send(Buffer.from('x'))).toThrow(expect.objectContaining({ code: err.code }));
  });

  it('a silent network drop (ser2net frozen, no FIN): the heartbeat declares the link down within deadTimeoutMs', async () => {
    const { pty, ser2net } = await bench();
    const sim = await spawnSim(['--listen', `serial://${pty.b}?baud=${BAUD}`, '--log-level', 'warn']);
    cleanups.push(() => sim.stop());
    const t = await openTransport(`${ser2net.url}?baud=${BAUD}`);
    const link = new Link(t, { framing: 'serial', role: 'host', heartbeatMs: 200, deadTimeoutMs: 1000 });
    cleanups.push(() => link.close());
    await link.start();
    process.kill(ser2net.pid, 'SIGSTOP');
    cleanups.push(() => process.kill(ser2net.pid, 'SIGCONT'));
    const { err, afterMs } = await downWithin(link, 5000);
    expect(err.code).toBe('E_OFFLOAD_LINK_DOWN');
    expect(err.message).toMatch(/no valid frame|1000 ms/i);
    expect(afterMs).toBeGreaterThanOrEqual(700);
    expect(afterMs).toBeLessThan(2000);
  });
});
