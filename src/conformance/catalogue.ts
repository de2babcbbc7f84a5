/**
 * Every test of the kit, in run order: handshake and registers first, the transition table, UPDATE and slots,
 * flow control, events and snapshots, the network, malformed messages, the link, channels, secure
 * execution and the egress policy, and RESET last (it wipes the
 * device), then the whole-run audit.
 */
import { channelCases } from './cases/channels.js';
import { secureCases } from './cases/secure.js';
import { egressCases } from './cases/egress.js';
import { eventCases, finalEventCases } from './cases/events.js';
import { fieldCases } from './cases/fields.js';
import { flowCases } from './cases/flow.js';
import { handshakeCases } from './cases/handshake.js';
import { linkCases } from './cases/link.js';
import { malformedCases } from './cases/malformed.js';
import { networkCases } from './cases/network.js';
import { registerCases } from './cases/registers.js';
import { resetCases } from './cases/reset.js';
import { transitionCases } from './cases/transitions.js';
import { updateCases } from './cases/update.js';
import type { ConformanceCase } from './types.js';

let cached: ConformanceCase[] | undefined;

export function allCases(): ConformanceCase[] {
  if (cached) return cached;
  const all = [
    ...handshakeCases,
    ...registerCases,
    ...fieldCases,
    ...transitionCases(),
    ...updateCases,
    ...flowCases,
    ...eventCases,
    ...networkCases,
    ...malformedCases,
    ...linkCases,
    ...channelCases,
    ...secureCases,
    ...egressCases,
    ...resetCases,
    ...finalEventCases,
  ];
  const ids = new Set<string>();
  for (const c of all) {
    if (ids.has(c.id)) throw new Error(`duplicate conformance test id ${c.id}`);
    ids.add(c.id);
  }
  cached = all;
  return all;
}
