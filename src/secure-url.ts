/**
 * Secure execution chosen from a device URL and the environment (for the CLI and scripts): `?keyId=N` on any
 * stream URL asks for the secure handshake with key N, the key itself coming from `OFFLOAD_KEY` (64 hex
 * characters) or `OFFLOAD_KEY_FILE` (a key file, src/protocol/secure-keys.ts; the entry for N). The key never
 * goes in the URL, which ends up in logs and shell history.
 */
import type { SecureOptions } from './device/index.js';
import { DeviceError, DeviceErrorCode } from './device/index.js';
import { loadKeyFile, parseSecureKey } from './protocol/index.js';

/** `url` without its keyId parameter, and the secure options it asked for (if any). */
export function secureFromUrl(
  url: string,
  env: Record<string, string | undefined> = process.env,
): { url: string; secure?: SecureOptions } {
  const q = url.indexOf('?');
  if (q < 0) return { url };
  const params = new URLSearchParams(url.slice(q + 1));
  const name = [...params.keys()].find((k) => k.toLowerCase() === 'keyid');
  if (name === undefined) return { url };
  const text = params.get(name) as string;
  params.delete(name);
  const rest = params.toString();
  const base = url.slice(0, q) + (rest ? `?${rest}` : '');
  const keyId = Number(text);
  if (!/^\d+$/.test(text) || keyId > 0xffffffff) {
    throw new DeviceError(DeviceErrorCode.AUTH, `keyId '${text}' in the URL is not a u32`);
  }
  if (env.OFFLOAD_KEY) {
    try {
      return { url: base, secure: { keyId, key: parseSecureKey(env.OFFLOAD_KEY) } };
    } catch (err) {
      throw new DeviceError(DeviceErrorCode.AUTH, `OFFLOAD_KEY: ${(err as Error).message}`);
    }
  }
  if (env.OFFLOAD_KEY_FILE) {
    const key = loadKeyFile(env.OFFLOAD_KEY_FILE).get(keyId);
    if (!key) throw new DeviceError(DeviceErrorCode.AUTH, `${env.OFFLOAD_KEY_FILE} has no key ${keyId}`);
    return { url: base, secure: { keyId, key } };
  }
  throw new DeviceError(
    DeviceErrorCode.AUTH,
    `the URL asks for key ${keyId}: give the key in OFFLOAD_KEY (64 hex characters) or OFFLOAD_KEY_FILE`,
  );
}
