/**
 * The host side of the secure handshake (PROTOCOL.md §12.2): SECURE_INIT with a fresh hostNonce, the device's
 * proof checked in constant time, SECURE_FINISH with ours, and the link switched over (§12.3). Every refusal
 * is a DeviceError E_OFFLOAD_AUTH that says why.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { MessageChannel } from '../link/channel.js';
import { SecureSession } from '../link/secure-session.js';
import {
  Capability,
  deriveSessionKeys,
  deviceProof,
  hostProof,
  type OkResponseMessage,
  isSecureFinishOk,
  parseSecureKey,
  SECURE_NONCE_SIZE,
  STATUS_NAME,
  StatusCode,
} from '../protocol/index.js';
import { DeviceError, DeviceErrorCode } from './errors.js';
import type { RequestTracker } from './requests.js';

export interface SecureOptions {
  /** Which provisioned key (§12.1). */
  keyId: number;
  /** The pre-shared key: 32 bytes, or 64 hex characters. */
  key: Uint8Array | string;
}

function authError(message: string, details: Record<string, unknown> = {}): DeviceError {
  return new DeviceError(DeviceErrorCode.AUTH, message, details);
}

export async function secureHandshake(
  link: MessageChannel,
  tracker: RequestTracker,
  secure: SecureOptions,
  capabilities: number,
  log: Logger,
  timeoutMs: number,
): Promise<void> {
  const channel = link.channel;
  const key = parseSecureKey(secure.key);
  const keyId = secure.keyId;
  if ((capabilities & Capability.SECURE) === 0) {
    throw authError('the device does not offer secure execution (capability SECURE)', { keyId, channel });
  }
  if (!link.expectSecure || !link.cancelSecure) {
    throw authError('secure execution needs a framed link (serial or TCP), not this channel', { channel });
  }
  const hostNonce = randomBytes(SECURE_NONCE_SIZE);
  const init = await tracker.submit('SECURE_INIT', { keyId, hostNonce }, { timeoutMs, priority: true });
  if (init.status !== StatusCode.OK) {
    throw authError(
      init.status === StatusCode.E_AUTH
        ? `the device has no key ${keyId} (SECURE_INIT refused: E_AUTH)`
        : `SECURE_INIT refused: ${STATUS_NAME[init.status] ?? init.status}`,
      { keyId, channel, status: init.status },
    );
  }
  const { deviceNonce, deviceProof: proof } = (init as OkResponseMessage<'SECURE_INIT'>).body;
  if (!timingSafeEqual(deviceProof(key, hostNonce, deviceNonce, channel), proof)) {
    // Stop here (§12.2): the device does not hold our key, or is not the device.
    throw authError(`the device's proof does not match key ${keyId}: wrong key, or not the expected device`, {
      keyId,
      channel,
    });
  }
  const session = SecureSession.forHost(deriveSessionKeys(key, hostNonce, deviceNonce));
  // From here frames sealed with the new keys are accepted; the OK response is the switch (§12.3).
  link.expectSecure(session, isSecureFinishOk);
  let finish: Awaited<ReturnType<RequestTracker['submit']>>;
  try {
    finish = await tracker.submit(
      'SECURE_FINISH',
      { hostProof: hostProof(key, hostNonce, deviceNonce, channel) },
      { timeoutMs, priority: true },
    );
  } catch (err) {
    link.cancelSecure();
    throw err;
  }
  if (finish.status !== StatusCode.OK) {
    link.cancelSecure();
    throw authError(`SECURE_FINISH refused: ${STATUS_NAME[finish.status] ?? finish.status}`, {
      keyId,
      channel,
      status: finish.status,
    });
  }
  log.info({ keyId, channel }, 'secure session established');
}
