/** The link with a secure session (PROTOCOL.md §12.3): switch-over, sealed frames, and what is refused. */
import { afterEach, describe, expect, it } from 'vitest';
import { Link, SecureSession } from '../../src/link/index.js';
import {
  decodeFrame,
  deriveSessionKeys,
  encodeFrame,
  type Frame,
  FrameFlag,
  FrameType,
} from '../../src/protocol/index.js';
import { createTransportPair, FaultTransport, type Transport } from '../../src/transport/index.js';
import { makeMessages, receive, sendAll, sha256, startPair, until } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
function track<T extends Link | Transport>(x: T): T {
  cleanups.push(() => x.close());
  return x;
}

const FINISH = Buffer.from('finish');
const FINISH_OK = Buffer.from('finish ok');

/** Runs the switch-over of §12.3 over two up links: the host expects, the device switches after FINISH_OK. */
async function secure(host: Link, device: Link): Promise<void> {
  const keys = deriveSessionKeys(Buffer.alloc(32, 3), Buffer.alloc(16, 1), Buffer.alloc(16, 2));
  device.once('message', (m) => {
    expect(m).toEqual(FINISH);
    device.send(FINISH_OK);
    device.secureAfterQueued(SecureSession.forDevice(keys));
  });
  const answered = new Promise<Buffer>((resolve) => host.once('message', resolve));
  host.send(FINISH);
  host.expectSecure(SecureSession.forHost(keys), (m) => m.equals(FINISH_OK));
  expect(await answered).toEqual(FINISH_OK);
  expect(host.isSecure).toBe(true);
  expect(device.isSecure).toBe(true);
}

/** TCP records as they arrive at one side (4-byte length prefix, frame). */
function recordTap(t: Transport): Buffer[] {
  const records: Buffer[] = [];
  let pending = Buffer.alloc(0);
  t.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
      const n = pending.readUInt32LE(0);
      records.push(Buffer.from(pending.subarray(0, 4 + n)));
      pending = pending.subarray(4 + n);
    }
  });
  return records;
}

function record(frame: Frame): Buffer {
  const body = encodeFrame(frame);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32LE(body.length);
  return Buffer.concat([prefix, body]);
}

describe('secure link', () => {
  it('serial with ARQ, loss and corruption: 2 MiB each way arrive byte-exact, every frame sealed', async () => {
    const [a, b] = createTransportPair();
    const faults = { corruptRate: 1e-4, dropWriteRate: 0.01, direction: 'write' as const };
    const fa = track(new FaultTransport(a, { seed: 5, ...faults }));
    const fb = track(new FaultTransport(b, { seed: 6, ...faults }));
    const opts = { framing: 'serial' as const, maxPayload: 512, window: 8, rtoMinMs: 5, maxBatchBytes: 0 };
    const [host, device] = await startPair(fa, fb, opts);
    track(host);
    track(device);
    await secure(host, device);
    const toDevice = makeMessages(2 << 20, 512, 21);
    const toHost = makeMessages(2 << 20, 512, 22);
    const atDevice = receive(device, toDevice.length, 60_000);
    const atHost = receive(host, toHost.length, 60_000);
    await Promise.all([sendAll(host, toDevice), sendAll(device, toHost), atDevice.done, atHost.done]);
    expect(sha256(...atDevice.messages)).toBe(sha256(...toDevice));
    expect(sha256(...atHost.messages)).toBe(sha256(...toHost));
    for (const l of [host, device]) {
      expect(l.counters.retransmits).toBeGreaterThan(0);
      expect(l.counters.secureFramesSent).toBeGreaterThan(toDevice.length);
      expect(l.counters.secureFramesReceived).toBeGreaterThan(toDevice.length / 2);
      // The CRC catches line damage before the MAC is computed: no honest frame fails its MAC.
      expect(l.counters.secureBadMac).toBe(0);
      expect(l.counters.secureReplays + l.counters.secureTooOld).toBe(0);
    }
  });

  it('drops and counts forged, altered, replayed, too old and plain frames; delivers nothing of them', async () => {
    const [a, b] = createTransportPair();
    track(a);
    track(b);
    const atDevice = recordTap(b);
    const [host, device] = await startPair(a, b, { framing: 'tcp' });
    track(host);
    track(device);
    await secure(host, device);
    const got: Buffer[] = [];
    device.on('message', (m) => got.push(Buffer.from(m)));
    const msgs = Array.from({ length: 80 }, (_, i) => Buffer.from(`honest ${i}`));
    for (const m of msgs) host.send(m);
    await until(() => got.length === msgs.length, 5000);
    const sealed = atDevice.filter((r) => decodeFrame(r.subarray(4)).type === FrameType.MSG).slice(-80);
    const c = device.counters;
    // Bit flip in the payload, CRC recomputed: only the MAC can tell.
    const altered = decodeFrame(Buffer.from(sealed[79]!.subarray(4)));
    altered.payload = Buffer.from(altered.payload);
    (altered.payload as Buffer)[0]! ^= 0x01;
    a.write(record(altered));
    // Replays: the newest frame again (in the window) and the first one (64+ below the highest).
    a.write(sealed[79]!);
    a.write(sealed[0]!);
    // A forged frame with a fresh counter and a made-up MAC, and a plain one.
    a.write(
      record({ ...decodeFrame(sealed[5]!.subarray(4)), counter: 1_000_000n, mac: Buffer.alloc(16, 0x5a) }),
    );
    a.write(
      record({ channel: 0, type: FrameType.MSG, seq: 0, ack: 0, flags: 0, payload: Buffer.from('plain') }),
    );
    await until(
      () =>
        c.secureBadMac === 2 && c.secureReplays === 1 && c.secureTooOld === 1 && c.securePlainDropped === 1,
      5000,
    );
    // Honest traffic still flows, and nothing forged was delivered.
    host.send(Buffer.from('after'));
    await until(() => got.length === msgs.length + 1, 5000);
    expect(got.map((m) => m.toString())).toEqual([...msgs.map((m) => m.toString()), 'after']);
    expect(sealed.every((r) => (decodeFrame(r.subarray(4)).flags & FrameFlag.SECURE) !== 0)).toBe(true);
  });

  it('a link reset (the peer restarts) ends the session: both sides go back to plain frames', async () => {
    const [a, b] = createTransportPair();
    track(a);
    track(b);
    const [host, device] = await startPair(a, b, { framing: 'tcp' }, { closeTransport: false });
    track(host);
    await secure(host, device);
    // The device restarts: a new Link (new nonce) on the same wire.
    await device.close({ bye: false }); // a crash: no BYE, the host sees the new incarnation's SYNC
    const device2 = track(new Link(b, { role: 'device', framing: 'tcp', closeTransport: false }));
    const reset = new Promise((r) => host.once('reset', r));
    await device2.start();
    await reset;
    expect(host.isSecure).toBe(false);
    const got = new Promise<Buffer>((r) => device2.once('message', r));
    host.send(Buffer.from('plain again'));
    expect((await got).toString()).toBe('plain again');
  });
});
