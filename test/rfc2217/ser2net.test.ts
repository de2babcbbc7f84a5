/**
 * rfc2217:// against a REAL ser2net (Debian's, telnet(rfc2217) accepter) exporting one end of a socat pty pair;
 * the other end is read and written through the real serialport binding (serial://). Loopback only.
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTransport, TransportErrorCode } from '../../src/transport/index.js';
import type { Rfc2217Transport } from '../../src/transport/rfc2217.js';
import type { Transport } from '../../src/transport/transport.js';
import { createPtyPair, type PtyPair, requireSocat } from '../helpers/pty.js';
import { requireSer2net, type Ser2net, startSer2net } from '../helpers/ser2net.js';
import { allByteValues, collect, sha256, writeAll } from '../transport/util.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  requireSocat();
  requireSer2net();
});

interface Bench {
  pty: PtyPair;
  ser2net: Ser2net;
  /** The pty end ser2net exports (its /dev/pts/N). */
  exported: string;
}

async function bench(baud = 115200, kickOldUser = true): Promise<Bench> {
  const pty = await createPtyPair();
  cleanups.push(() => pty.kill());
  const exported = realpathSync(pty.a);
  const ser2net = await startSer2net({ device: exported, baud, kickOldUser });
  cleanups.push(() => ser2net.kill());
  return { pty, ser2net, exported };
}

function track<T extends Transport>(t: T): T {
  cleanups.push(() => t.close());
  return t;
}

/** The speed `stty` reports for a tty (what ser2net set through termios). */
function sttySpeed(device: string): number {
  const r = spawnSync('stty', ['-F', device, 'speed'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`stty -F ${device} failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

describe('rfc2217:// through a real ser2net', () => {
  it('every byte value (0x00 and 0xFF runs, then 1 MiB random) arrives exact in both directions', async () => {
    const b = await bench();
    const remote = track((await openTransport(`${b.ser2net.url}?baud=921600`)) as Rfc2217Transport);
    const local = track(await openTransport(`serial://${b.pty.b}?baud=921600`));
    expect(remote.kind).toBe('rfc2217');

    // Runs of the two bytes telnet treats specially, then every value.
    const special = Buffer.concat([
      Buffer.alloc(1000, 0xff),
      Buffer.alloc(1000, 0x00),
      Buffer.from([0xff, 0xf0, 0xff, 0xfa, 0x2c, 0xff, 0xff, 0x0d, 0x00, 0x0d, 0x0a, 0xff]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    ]);
    const [toLocal] = await Promise.all([collect(local, special.length), writeAll(remote, special, 700)]);
    expect(toLocal.equals(special)).toBe(true);
    const [toRemote] = await Promise.all([collect(remote, special.length), writeAll(local, special, 700)]);
    expect(toRemote.equals(special)).toBe(true);

    // 1 MiB each way, at once.
    const up = allByteValues(1 << 20, 2217);
    const down = allByteValues(1 << 20, 7122);
    const [gotLocal, gotRemote] = await Promise.all([
      collect(local, up.length, 40_000),
      collect(remote, down.length, 40_000),
      writeAll(remote, up, 16 * 1024, 40_000),
      writeAll(local, down, 16 * 1024, 40_000),
    ]);
    expect(gotLocal.length).toBe(up.length);
    expect(sha256(gotLocal)).toBe(sha256(up));
    expect(gotRemote.length).toBe(down.length);
    expect(sha256(gotRemote)).toBe(sha256(down));
  }, 60_000);

  it('line settings go through RFC 2217 to the pty (stty sees them) and are read back in lineSettings', async () => {
    const b = await bench(9600);
    const t = track(
      (await openTransport(
        `${b.ser2net.url}?baud=921600&databits=8&parity=none&stopbits=1`,
      )) as Rfc2217Transport,
    );
    expect(t.lineSettings).toEqual({
      baudRate: 921600,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      flowControl: 'none',
    });
    expect(sttySpeed(b.exported)).toBe(921600);

    expect(await t.setLineSettings({ baudRate: 57600 })).toMatchObject({ baudRate: 57600 });
    expect(sttySpeed(b.exported)).toBe(57600);
    expect(await t.setLineSettings({ baudRate: 115200, parity: 'even', stopBits: 2, dataBits: 7 })).toEqual({
      baudRate: 115200,
      dataBits: 7,
      parity: 'even',
      stopBits: 2,
      flowControl: 'none',
    });
    const stty = spawnSync('stty', ['-F', b.exported, '-a'], { encoding: 'utf8' }).stdout;
    expect(stty).toMatch(/speed 115200 baud/);
    expect(stty).toMatch(/(^|\s)cstopb(\s|$)/);
    // Linux ptys force CS8 and clear PARENB whatever termios asks (drivers/tty/pty.c), so data bits and parity
    // cannot be observed on this side; ser2net still reports what it set, which is what lineSettings shows.
    expect(stty).toMatch(/(^|\s)cs8(\s|$)/);
    // The server's own view, asked afresh.
    expect(await t.refreshLineSettings()).toMatchObject({
      baudRate: 115200,
      dataBits: 7,
      parity: 'even',
      stopBits: 2,
    });
    await t.purge('both');
  });

  it('a second client: refused with a typed error, or (kickolduser) takes over and the first gets LINK_DOWN', async () => {
    const plain = await bench(115200, false);
    track(await openTransport(plain.ser2net.url));
    await expect(openTransport(plain.ser2net.url)).rejects.toMatchObject({
      code: TransportErrorCode.CONNECT_FAILED,
      message: expect.stringMatching(/already in use/),
    });

    const kick = await bench(115200, true);
    const first = track(await openTransport(kick.ser2net.url));
    const closed = new Promise((resolve) => first.once('close', resolve));
    const second = track((await openTransport(kick.ser2net.url)) as Rfc2217Transport);
    expect(second.isOpen).toBe(true);
    await expect(closed).resolves.toMatchObject({ code: TransportErrorCode.LINK_DOWN });
  });

  it('ser2net killed: the transport closes with E_OFFLOAD_LINK_DOWN; connecting again is refused', async () => {
    const b = await bench();
    const t = track(await openTransport(b.ser2net.url));
    const closed = new Promise((resolve) => t.once('close', resolve));
    await b.ser2net.kill('SIGKILL');
    await expect(closed).resolves.toMatchObject({ code: TransportErrorCode.LINK_DOWN });
    await expect(openTransport(b.ser2net.url)).rejects.toMatchObject({
      code: TransportErrorCode.CONNECT_REFUSED,
    });
  });
});
