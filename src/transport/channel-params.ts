/**
 * The channel parameters a device URL may carry on any scheme but pcie: (PROTOCOL.md §11):
 *   tcp://127.0.0.1:7070?channel=3            a channel other than 0
 *   tcp://127.0.0.1:7070?channel=255&credential=SECRET   the admin channel
 * They are taken out of the URL before the scheme's own parser sees it (which rejects what it does not know).
 */
import { TransportError, TransportErrorCode } from './errors.js';

export interface ChannelUrlParams {
  /** The URL without channel and credential. */
  url: string;
  channel?: number;
  credential?: string;
}

const KEYS = new Set(['channel', 'credential']);

function bad(input: string, what: string): TransportError {
  return new TransportError(TransportErrorCode.BAD_URL, `bad device URL '${input}': ${what}`, {
    url: input,
    problem: what,
  });
}

export function extractChannelParams(input: string): ChannelUrlParams {
  const q = input.indexOf('?');
  if (q < 0) return { url: input };
  const hash = input.indexOf('#', q);
  const query = input.slice(q + 1, hash < 0 ? undefined : hash);
  const keep: string[] = [];
  const out: ChannelUrlParams = { url: input };
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    if (!KEYS.has(key)) {
      keep.push(part);
      continue;
    }
    if (key in out) throw bad(input, `query parameter '${key}' given twice`);
    let value: string;
    try {
      value = decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1));
    } catch {
      throw bad(input, `malformed percent-encoding in '${key}'`);
    }
    if (key === 'channel') {
      if (!/^\d{1,3}$/.test(value) || Number(value) > 255)
        throw bad(input, `channel must be a whole number from 0 to 255, got '${value}'`);
      out.channel = Number(value);
    } else {
      if (value === '') throw bad(input, 'credential is empty');
      out.credential = value;
    }
  }
  const rest = keep.length ? `?${keep.join('&')}` : '';
  out.url = input.slice(0, q) + rest + (hash < 0 ? '' : input.slice(hash));
  return out;
}
