/** What socket objects need from the device they run on (implemented by OffloadDevice). */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Device } from '../device/index.js';
import type { Addr } from '../protocol/index.js';
import type { SocketHub } from './hub.js';

export interface SocketDefaults {
  /** Receive credit kept open per stream socket (bytes). */
  recvWindow: number;
  /** Receive credit kept open per datagram socket (bytes). */
  datagramWindow: number;
  /** Listen backlog when none is given. */
  backlog: number;
}

export interface SocketHost {
  readonly device: Device;
  readonly hub: SocketHub;
  readonly log: Logger;
  readonly defaults: SocketDefaults;
}

export const DEFAULT_SOCKET_DEFAULTS: SocketDefaults = {
  recvWindow: 256 * 1024,
  datagramWindow: 256 * 1024,
  backlog: 511,
};

export function toAddr(address: string, port: number): Addr {
  const fam = isIP(address);
  if (fam === 0) throw new TypeError(`not an IP address: ${address}`);
  return { family: fam as 4 | 6, port, address };
}

export function anyAddr(family: 4 | 6, port = 0): Addr {
  return { family, port, address: family === 6 ? '::' : '0.0.0.0' };
}

export function familyName(family: number): 'IPv4' | 'IPv6' | undefined {
  return family === 4 ? 'IPv4' : family === 6 ? 'IPv6' : undefined;
}

export function addrInfo(
  a: Addr | undefined,
): { address: string; family: string; port: number } | Record<string, never> {
  if (!a || a.family === 0) return {};
  return { address: a.address, family: familyName(a.family)!, port: a.port };
}
