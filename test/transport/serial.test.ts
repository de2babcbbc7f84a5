import { spawn } from 'node:child_process';
import { chmodSync, existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TransportError, TransportErrorCode } from '../../src/transport/errors.js';
import { createTransport, openTransport } from '../../src/transport/factory.js';
import { SerialTransport, classifySerialOpenError, listSerialPorts } from '../../src/transport/serial.js';
import type { Transport } from '../../src/transport/transport.js';
import { parseDeviceUrl } from '../../src/transport/url.js';
import { type PtyPair, createPtyPair, requireSocat } from '../helpers/pty.js';
import { allByteValues, collect, nextClose, sha256, writeAll } from './util.js';

// These tests drive the REAL serialport binding (bindings-cpp) over a socat pty pair.
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ptys(): Promise<PtyPair> {
  const p = await createPtyPair();
  cleanups.push(() => p.kill());
  return p;
}

function track<T extends Transport>(t: T): T {
  cleanups.push(() => t.close());
  return t;
}

beforeAll(() => requireSocat());

describe('serial transport over a pty pair (real serialport binding)', () => {
  it('sends 1 MiB of all byte values both ways at once, intact', async () => {
    const p = await ptys();
    const a = track(await openTransport(`serial://${p.a}?baud=921600`));
    const b = track(await openTransport(`serial://${p.b}?baud=921600`));
    expect(a.kind).toBe('serial');
    expect(a.isOpen && b.isOpen).toBe(true);
    const ab = allByteValues(1 << 20, 31);
    const ba = allByteValues(1 << 20, 32);
    const [gotB, gotA] = await Promise.all([
      collect(b, ab.length),
      collect(a, ba.length),
      writeAll(a, ab, 16 * 1024),
      writeAll(b, ba, 16 * 1024),
    ]);
    expect(gotB.length).toBe(ab.length);
    expect(sha256(gotB)).toBe(sha256(ab));
    expect(sha256(gotA)).toBe(sha256(ba));
  });

  it('a missing path => E_OFFLOAD_PORT_NOT_FOUND naming the path', async () => {
    const t = new SerialTransport({ path: '/dev/does-not-exist-offload' });
    const err = await t.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(TransportErrorCode.PORT_NOT_FOUND);
    expect((err as TransportError).message).toContain('/dev/does-not-exist-offload');
    expect((err as TransportError).details.path).toBe('/dev/does-not-exist-offload');
    expect(t.isOpen).toBe(false);
  });

  it('opening a locked port twice => E_OFFLOAD_PORT_BUSY; with lock=false the second open succeeds', async () => {
    const p = await ptys();
    track(await openTransport(`serial://${p.a}`));
    const second = createTransport(`serial://${p.a}`);
    await expect(second.open()).rejects.toMatchObject({
      code: TransportErrorCode.PORT_BUSY,
      message: expect.stringContaining(p.a),
    });
    // After a failed open the transport is still usable: close it, nothing emitted beyond one close.
    await second.close();
    const p2 = await ptys();
    track(await openTransport(`serial://${p2.a}?lock=false`));
    const unlocked = track(createTransport(`serial://${p2.a}?lock=false`));
    await unlocked.open();
    expect(unlocked.isOpen).toBe(true);
  });

  it('no permission => E_OFFLOAD_PORT_ACCESS (opened as an unprivileged user)', async () => {
    const p = await ptys();
    const device = realpathSync(p.a);
    const isRoot = process.getuid?.() === 0;
    if (!isRoot) chmodSync(device, 0o000); // our own pty: take our permissions away
    // As root, permissions do not apply to us: open from a child running as 'nobody' instead
    // (pty slaves are created mode 0600 owned by root).
    const fixture = fileURLToPath(new URL('./fixtures/open-serial.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, device], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot ? { uid: 65534, gid: 65534 } : {}),
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    let out = '';
    let errOut = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      errOut += d;
    });
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    expect(errOut).toBe('');
    const result = JSON.parse(out) as { code?: string; message?: string };
    expect(result.code).toBe(TransportErrorCode.PORT_ACCESS);
    expect(result.message).toContain(device);
  });

  it("killing socat while open => 'close' with E_OFFLOAD_PORT_VANISHED promptly on both ends", async () => {
    const p = await ptys();
    const a = track(await openTransport(`serial://${p.a}`));
    const b = track(await openTransport(`serial://${p.b}`));
    // Traffic flows first, so we know both ends are live.
    const got = collect(b, 4);
    a.write(Buffer.from('ping'));
    expect((await got).toString()).toBe('ping');
    const closedA = nextClose(a, 4000);
    const closedB = nextClose(b, 4000);
    const started = performance.now();
    await p.kill();
    const [errA, errB] = await Promise.all([closedA, closedB]);
    expect(performance.now() - started).toBeLessThan(3000);
    for (const [t, err] of [
      [a, errA],
      [b, errB],
    ] as const) {
      expect(err).toBeInstanceOf(TransportError);
      expect(err?.code).toBe(TransportErrorCode.PORT_VANISHED);
      expect(err?.message).toContain(t === a ? p.a : p.b);
      expect(t.isOpen).toBe(false);
      expect(() => t.write(Buffer.alloc(1))).toThrow(
        expect.objectContaining({ code: TransportErrorCode.TRANSPORT_CLOSED }),
      );
    }
    // close() afterwards is a harmless no-op, and no second 'close' fires.
    let again = 0;
    a.on('close', () => again++);
    await a.close();
    expect(again).toBe(0);
  });

  // Regression for serialport 13's EOF spin (see src/transport/serial-binding.ts): with the stock binding about
  // half of the kills leave the reading end spinning on 0-byte reads, never reporting the hangup.
  it('detects the vanished port on every one of 6 kills', async () => {
    for (let round = 0; round < 6; round++) {
      const p = await ptys();
      const a = track(await openTransport(`serial://${p.a}`));
      const b = track(await openTransport(`serial://${p.b}`));
      const got = collect(b, 1);
      a.write(Uint8Array.of(round));
      await got;
      const closes = Promise.all([nextClose(a, 2000), nextClose(b, 2000)]);
      await p.kill();
      const errs = await closes;
      expect(errs.map((e) => e?.code)).toEqual([
        TransportErrorCode.PORT_VANISHED,
        TransportErrorCode.PORT_VANISHED,
      ]);
    }
  });

  // Regression for serialport 13's poller losing wake-ups (see src/transport/serial-binding.ts): a bulk writer
  // blocked on 'writable' must not be starved because the same port keeps re-arming 'readable'.
  it('a bulk writer is not starved by small reads on the same port (3 rounds)', async () => {
    // The pings stop early while the bulk writer still has most of its 4 MiB to go (it is blocked on
    // 'writable' nearly all the time): the last ping's read re-arms 'readable' and must not silence
    // 'writable'. With the stock binding a round stalls roughly 4 times in 10.
    for (let round = 0; round < 3; round++) {
      const p = await ptys();
      const a = track(await openTransport(`serial://${p.a}`));
      const b = track(await openTransport(`serial://${p.b}`));
      const bulk = allByteValues(4 << 20, 41 + round);
      const received = collect(a, bulk.length, 8000);
      const pings = collect(b, 10, 8000);
      const writing = writeAll(b, bulk, 16 * 1024, 8000);
      for (let i = 0; i < 10; i++) {
        a.write(Uint8Array.of(i));
        await new Promise((r) => setTimeout(r, 1));
      }
      expect([...(await pings)]).toEqual(Array.from({ length: 10 }, (_, i) => i));
      await writing;
      expect(sha256(await received)).toBe(sha256(bulk));
    }
  });

  it("local close() => 'close' with undefined; the port is released for the next opener", async () => {
    const p = await ptys();
    const a = await openTransport(`serial://${p.a}`);
    const closed = nextClose(a);
    await a.close();
    expect(await closed).toBeUndefined();
    const again = track(await openTransport(`serial://${p.a}`)); // lock released
    expect(again.isOpen).toBe(true);
  });

  it('applies line settings from the URL', () => {
    const t = createTransport(
      'serial:///dev/ttyX?baud=9600&databits=7&parity=even&stopbits=2&rtscts=1',
    ) as SerialTransport;
    expect(t.options).toMatchObject({
      path: '/dev/ttyX',
      baudRate: 9600,
      dataBits: 7,
      parity: 'even',
      stopBits: 2,
      rtscts: true,
      lock: true,
    });
  });

  it('classifies serialport open errors by their messages', () => {
    const cases: Array<[string, string]> = [
      ['Error: No such file or directory, cannot open /dev/ttyQ', TransportErrorCode.PORT_NOT_FOUND],
      ['Error Resource temporarily unavailable Cannot lock port', TransportErrorCode.PORT_BUSY],
      ['Opening COM3: Access denied', TransportErrorCode.PORT_BUSY],
      ['Error: Permission denied, cannot open /dev/ttyQ', TransportErrorCode.PORT_ACCESS],
      [
        'Error: Inappropriate ioctl for device setting custom baud rate of 115200',
        TransportErrorCode.PORT_OPEN_FAILED,
      ],
    ];
    for (const [message, code] of cases)
      expect(classifySerialOpenError(new Error(message), '/dev/ttyQ').code).toBe(code);
  });

  it('a path that is not a tty => E_OFFLOAD_PORT_OPEN_FAILED', async () => {
    await expect(openTransport('serial:///dev/null')).rejects.toMatchObject({
      code: TransportErrorCode.PORT_OPEN_FAILED,
    });
  });

  it('listSerialPorts() returns typed entries whose url parses back to the same path', async () => {
    const ports = await listSerialPorts();
    expect(Array.isArray(ports)).toBe(true);
    for (const port of ports) {
      expect(typeof port.path).toBe('string');
      expect(existsSync(port.path)).toBe(true);
      const url = parseDeviceUrl(port.url);
      expect(url.kind === 'serial' && url.path).toBe(port.path);
    }
  });
});
