/**
 * Mirror vs device comparison: `diffTables(dev.sockets, (await dev.snapshot()).entries)`. Used by the tests
 * ("at a quiet moment the mirror equals the snapshot") and by the CLI's `--diff`.
 *
 * By default the fields the host tracks are compared (MIRRORED_FIELDS). The queue levels (LEVEL_FIELDS:
 * sendQueued, recvQueued, connQueued, pendingEvents) change on the device without any event, so the mirror holds
 * them only as of the last snapshot/QUERY; pass { fields: ALL_ENTRY_FIELDS } to compare them as well.
 */
import type { Addr, SocketEntry } from '../protocol/index.js';
import { SOCKET_STATUS_NAME } from '../protocol/index.js';

export type EntryField = keyof SocketEntry;

export const MIRRORED_FIELDS: readonly EntryField[] = [
  'id',
  'type',
  'family',
  'protocol',
  'status',
  'flags',
  'lastError',
  'options',
  'blocking',
  'channel',
  'backlog',
  'sendSpace',
  'recvCredit',
  'local',
  'remote',
];

export const LEVEL_FIELDS: readonly EntryField[] = [
  'sendQueued',
  'recvQueued',
  'connQueued',
  'pendingEvents',
  'reserved',
];

export const ALL_ENTRY_FIELDS: readonly EntryField[] = [...MIRRORED_FIELDS, ...LEVEL_FIELDS];

export type TableDifference =
  | { kind: 'host-only'; id: number; host: SocketEntry }
  | { kind: 'device-only'; id: number; device: SocketEntry }
  | { kind: 'field'; id: number; field: EntryField; host: unknown; device: unknown };

function addrText(a: Addr): string {
  if (a.family === 0) return '-';
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function valueEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const x = a as Addr;
    const y = b as Addr;
    return x.family === y.family && x.port === y.port && x.address === y.address;
  }
  return a === b;
}

export interface DiffOptions {
  fields?: readonly EntryField[];
  /** Compare only entries of this channel (device snapshots with allChannels hold others). */
  channel?: number;
}

/** Every difference between the host mirror and the device's entries; empty when they agree. */
export function diffTables(
  host: Iterable<SocketEntry>,
  device: Iterable<SocketEntry>,
  options: DiffOptions = {},
): TableDifference[] {
  const fields = options.fields ?? MIRRORED_FIELDS;
  const keep = (e: SocketEntry) => options.channel === undefined || e.channel === options.channel;
  const h = new Map<number, SocketEntry>();
  for (const e of host) if (keep(e)) h.set(e.id, e);
  const d = new Map<number, SocketEntry>();
  for (const e of device) if (keep(e)) d.set(e.id, e);
  const out: TableDifference[] = [];
  for (const [id, he] of h) {
    const de = d.get(id);
    if (!de) {
      out.push({ kind: 'host-only', id, host: he });
      continue;
    }
    for (const f of fields) {
      if (!valueEqual(he[f], de[f])) out.push({ kind: 'field', id, field: f, host: he[f], device: de[f] });
    }
  }
  for (const [id, de] of d) if (!h.has(id)) out.push({ kind: 'device-only', id, device: de });
  return out.sort((a, b) => (a.id & 0xff) - (b.id & 0xff) || a.id - b.id);
}

function fmt(field: EntryField, v: unknown): string {
  if (field === 'status' && typeof v === 'number') return SOCKET_STATUS_NAME[v] ?? String(v);
  if ((field === 'local' || field === 'remote') && typeof v === 'object' && v) return addrText(v as Addr);
  if (field === 'flags' && typeof v === 'number') return `0x${v.toString(16)}`;
  return String(v);
}

/** One line per difference, for logs, test failures and the CLI. */
export function formatDifferences(diffs: readonly TableDifference[]): string {
  return diffs
    .map((d) => {
      const id = `0x${d.id.toString(16).padStart(4, '0')}`;
      switch (d.kind) {
        case 'host-only':
          return `${id}: only on the host (${fmt('status', d.host.status)})`;
        case 'device-only':
          return `${id}: only on the device (${fmt('status', d.device.status)})`;
        default:
          return `${id}: ${d.field} host=${fmt(d.field, d.host)} device=${fmt(d.field, d.device)}`;
      }
    })
    .join('\n');
}
