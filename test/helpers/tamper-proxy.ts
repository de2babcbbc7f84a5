/**
 * A real TCP proxy on 127.0.0.1 between a driver and a simulator's TCP shim that understands the shim's records
 * (PROTOCOL.md §3: u32 LE length, frame) and lets a test decide, record by record, what goes on: forward,
 * drop, alter, duplicate, delay behind the next one, or inject records of its own.
 */
import net from 'node:net';
import { decodeFrame, encodeFrame, type Frame } from '../../src/protocol/index.js';

export type Direction = 'toDevice' | 'toHost';

/** Decides what to forward for one record (the raw record, length prefix included). Default: [record]. */
export type Tamper = (dir: Direction, record: Buffer) => Buffer[];

export class TamperProxy {
  /** Every record that arrived from each side, in order, before tampering. */
  readonly seen: Record<Direction, Buffer[]> = { toDevice: [], toHost: [] };
  tamper: Tamper | undefined;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private out: Partial<Record<Direction, net.Socket>> = {};

  private constructor(
    server: net.Server,
    readonly port: number,
  ) {
    this.server = server;
  }

  static async start(upstreamPort: number): Promise<TamperProxy> {
    let proxy!: TamperProxy;
    const server = net.createServer((client) => {
      const device = net.connect(upstreamPort, '127.0.0.1');
      for (const s of [client, device]) {
        proxy.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          client.destroy();
          device.destroy();
        });
      }
      client.setNoDelay(true);
      device.setNoDelay(true);
      proxy.out = { toDevice: device, toHost: client };
      proxy.pipe('toDevice', client, device);
      proxy.pipe('toHost', device, client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TamperProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** Writes a record of our own towards one side. */
  inject(dir: Direction, record: Buffer): void {
    this.out[dir]?.write(record);
  }

  private pipe(dir: Direction, from: net.Socket, to: net.Socket): void {
    let pending: Buffer = Buffer.alloc(0);
    from.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const out: Buffer[] = [];
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
        const n = 4 + pending.readUInt32LE(0);
        const record = Buffer.from(pending.subarray(0, n));
        pending = pending.subarray(n);
        this.seen[dir].push(record);
        out.push(...(this.tamper ? this.tamper(dir, record) : [record]));
      }
      if (out.length) to.write(Buffer.concat(out));
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function frameOf(record: Buffer): Frame {
  return decodeFrame(record.subarray(4));
}

export function recordOf(frame: Frame): Buffer {
  const body = encodeFrame(frame);
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32LE(body.length, 0);
  return Buffer.concat([prefix, body]);
}

/** The record with one payload bit (or, without payload, one header bit: the ack) flipped and the CRC made valid again. */
export function flipBit(record: Buffer, bit: number): Buffer {
  const f = frameOf(record);
  if (f.payload.length > 0) {
    const p = Buffer.from(f.payload);
    p[(bit >> 3) % p.length]! ^= 1 << (bit & 7);
    f.payload = p;
  } else {
    f.ack ^= 1 << (bit & 15);
  }
  return recordOf(f);
}
