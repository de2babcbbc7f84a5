/**
 * SECURE_INIT and SECURE_FINISH (PROTOCOL.md §5.8.1, §12.2): the device side of the secure handshake. The
 * keys stay in the device; a completed handshake tells whoever serves the board (secureListeners) to switch
 * the channel's link to the session keys right after the SECURE_FINISH response.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  type CommandBodies,
  deriveSessionKeys,
  deviceProof,
  hostProof,
  SECURE_NONCE_SIZE,
} from '../../src/protocol/index.js';
import type { CoreState, Reply } from './core-state.js';

/** Commands a locked channel still accepts (§12.3). */
export const LOCKED_ALLOWED: ReadonlySet<string> = new Set([
  'HELLO',
  'PING',
  'REG_READ',
  'SECURE_INIT',
  'SECURE_FINISH',
]);

export function secureInit(
  core: CoreState,
  body: CommandBodies['SECURE_INIT'],
  r: Reply<'SECURE_INIT'>,
): void {
  const ch = core.channel(r.channel);
  ch.handshake = undefined; // a new SECURE_INIT starts over
  const key = core.opts.secureKeys.get(body.keyId);
  if (!key) {
    core.log.warn({ channel: r.channel, keyId: body.keyId }, 'SECURE_INIT with an unknown keyId');
    r.fail('E_AUTH');
    return;
  }
  const hostNonce = Buffer.from(body.hostNonce);
  const deviceNonce = core.opts.random(SECURE_NONCE_SIZE);
  ch.handshake = { key, hostNonce, deviceNonce };
  r.ok({ deviceNonce, deviceProof: deviceProof(key, hostNonce, deviceNonce, r.channel) });
}

export function secureFinish(
  core: CoreState,
  body: CommandBodies['SECURE_FINISH'],
  r: Reply<'SECURE_FINISH'>,
): void {
  const ch = core.channel(r.channel);
  const hs = ch.handshake;
  if (!hs) {
    r.fail('E_BAD_STATE');
    return;
  }
  ch.handshake = undefined; // one SECURE_FINISH per SECURE_INIT
  const expected = hostProof(hs.key, hs.hostNonce, hs.deviceNonce, r.channel);
  if (body.hostProof.length !== expected.length || !timingSafeEqual(expected, body.hostProof)) {
    core.log.warn({ channel: r.channel }, 'SECURE_FINISH with a wrong hostProof');
    r.fail('E_AUTH');
    return;
  }
  r.ok({});
  ch.secure = true;
  ch.locked = false;
  core.log.info({ channel: r.channel }, 'secure session established');
  const keys = deriveSessionKeys(hs.key, hs.hostNonce, hs.deviceNonce);
  for (const fn of core.secureListeners) fn(r.channel, keys);
}
