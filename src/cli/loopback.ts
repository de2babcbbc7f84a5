/**
 * The built-in peers `offload traffic`, `bench`, `selftest` and the demo talk to through the device: ordinary
 * Node sockets on this machine (127.0.0.1 by default), so that what went through the board can be checked.
 *
 *   TCP echo   everything received is sent back; the connection ends when the client ends.
 *   TCP sink   everything received is hashed; when the client ends, the sink answers the sha256 (64 hex chars)
 *              and closes: a one-way upload check.
 *   UDP echo   every datagram is sent back to its sender.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

export interface LoopbackPeer {
  host: string;
  port: number;
  /** Connections / datagrams served. */
  served: number;
  close(): Promise<void>;
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

function tcpPeer(host: string, port: number, onConnection: (s: net.Socket) => void): Promise<LoopbackPeer> {
  const sockets = new Set<net.Socket>();
  const peer = { host, port: 0, served: 0 } as LoopbackPeer;
  const server = net.createServer((s) => {
    peer.served++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    onConnection(s);
  });
  return listen(server, host, port).then((p) => {
    peer.port = p;
    peer.close = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    return peer;
  });
}

export function startTcpEcho(host = '127.0.0.1', port = 0): Promise<LoopbackPeer> {
  return tcpPeer(host, port, (s) => s.pipe(s));
}

export function startTcpSink(host = '127.0.0.1', port = 0): Promise<LoopbackPeer> {
  return tcpPeer(host, port, (s) => {
    const h = createHash('sha256');
    s.on('data', (d: Buffer) => h.update(d));
    s.on('end', () => s.end(h.digest('hex')));
  });
}

export async function startUdpEcho(host = '127.0.0.1', port = 0): Promise<LoopbackPeer> {
  const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const peer = { host, port: 0, served: 0 } as LoopbackPeer;
  sock.on('message', (msg, rinfo) => {
    peer.served++;
    sock.send(msg, rinfo.port, rinfo.address);
  });
  sock.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  peer.port = sock.address().port;
  peer.close = () => new Promise<void>((resolve) => sock.close(() => resolve()));
  return peer;
}
