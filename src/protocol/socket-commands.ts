/**
 * The commands that name a socket id (§5.8.2), exactly those the transition table (TRANSITIONS, generated from
 * protocol.json) governs: one typed list for the device side (handlers per command) and the host side (the
 * conformance kit's per-command cases). Checked against the table when loaded.
 */
import { TRANSITIONS } from './generated.js';

export const SOCKET_COMMAND_NAMES = [
  'BIND',
  'LISTEN',
  'CONNECT',
  'ACCEPT',
  'SEND',
  'SENDTO',
  'RECV_CREDIT',
  'SHUTDOWN',
  'CLOSE',
  'SETOPT',
  'GETOPT',
  'UPDATE',
  'QUERY',
] as const;
export type SocketCommandName = (typeof SOCKET_COMMAND_NAMES)[number];

{
  const listed = new Set<string>(SOCKET_COMMAND_NAMES);
  const governed = new Set<string>(TRANSITIONS.map((r) => r.command));
  for (const c of governed) if (!listed.has(c)) throw new Error(`TRANSITIONS names ${c}, missing here`);
  for (const c of listed) if (!governed.has(c)) throw new Error(`${c} has no rule in TRANSITIONS`);
}
