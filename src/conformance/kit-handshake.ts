/**
 * The kit's side of the secure handshake (PROTOCOL.md §12.2) on one of its channels: SECURE_INIT, the
 * device's proof checked, SECURE_FINISH (with the right proof, or a deliberately wrong one), and the link
 * switched to the session keys on the OK response (§12.3). Unlike the driver it reports every step as a
 * conformance failure with the bytes exchanged.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { SecureSession } from '../link/secure-session.js';
import {
  deriveSessionKeys,
  deviceProof,
  hostProof,
  type OkResponseMessage,
  isSecureFinishOk,
  SECURE_NONCE_SIZE,
} from '../protocol/index.js';
import type { Exchange } from './client.js';
import type { TestContext } from './context.js';
import { hexOf } from './format.js';
import { check, fail } from './types.js';

export interface HandshakeStart {
  keyId: number;
  key: Buffer;
  hostNonce: Buffer;
  deviceNonce: Buffer;
}

/** SECURE_INIT with a fresh nonce; fails unless OK with the proof K says. */
export async function secureInit(
  ctx: TestContext,
  k: { keyId: number; key: Buffer },
): Promise<HandshakeStart> {
  const hostNonce = randomBytes(SECURE_NONCE_SIZE);
  const ex = await ctx.req('SECURE_INIT', { keyId: k.keyId, hostNonce });
  ctx.expect(ex, 'OK', `SECURE_INIT with the provisioned key ${k.keyId}`, '§12.2');
  const b = (ex.answer as OkResponseMessage<'SECURE_INIT'>).body;
  const deviceNonce = Buffer.from(b.deviceNonce);
  const want = deviceProof(k.key, hostNonce, deviceNonce, ctx.client.channel);
  if (!timingSafeEqual(want, Buffer.from(b.deviceProof))) {
    fail(
      `SECURE_INIT's deviceProof is not HMAC-SHA256(K, 'dev' ‖ hostNonce ‖ deviceNonce ‖ channel)[0..16] for key ${k.keyId} on channel ${ctx.client.channel} (§12.2)`,
      {
        sent: hexOf(ex.sent),
        expected: `deviceProof ${hexOf(want)}`,
        received: `deviceProof ${hexOf(b.deviceProof)}`,
      },
    );
  }
  return { ...k, hostNonce, deviceNonce };
}

/** SECURE_FINISH with the right proof (or `proof`); the link switches over on the OK response. */
export async function secureFinish(
  ctx: TestContext,
  hs: HandshakeStart,
  proof?: Buffer,
): Promise<Exchange<'SECURE_FINISH'>> {
  const link = ctx.client.frameLink;
  const session = SecureSession.forHost(deriveSessionKeys(hs.key, hs.hostNonce, hs.deviceNonce));
  link.expectSecure(session, isSecureFinishOk);
  const hostProofBytes = proof ?? hostProof(hs.key, hs.hostNonce, hs.deviceNonce, ctx.client.channel);
  try {
    const ex = await ctx.req('SECURE_FINISH', { hostProof: hostProofBytes });
    if (ex.answer.kind !== 'response' || ex.answer.status !== 0) link.cancelSecure();
    return ex;
  } catch (err) {
    link.cancelSecure();
    throw err;
  }
}

/** The whole handshake; afterwards every frame on the channel is SECURE (§12.3). */
export async function kitHandshake(ctx: TestContext, k: { keyId: number; key: Buffer }): Promise<void> {
  const hs = await secureInit(ctx, k);
  const ex = await secureFinish(ctx, hs);
  ctx.expect(ex, 'OK', 'SECURE_FINISH with the right hostProof', '§12.2');
  check(
    ctx.client.frameLink.isSecure,
    `SECURE_FINISH answered OK but the answer did not switch the link to the session keys (§12.3)`,
  );
}
