/** DeviceCore's side of secure execution (PROTOCOL.md §12.2, §12.3): handshake, errors, locking, RESET. */
import { describe, expect, it } from 'vitest';
import {
  Capability,
  deriveSessionKeys,
  deviceProof,
  hostProof,
  type SessionKeys,
} from '../../../src/protocol/index.js';
import { makeRig, openTcp, STREAM } from './harness.js';

const K = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const HOST_NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xa0 + i));
const DEVICE_NONCE = Buffer.from(Array.from({ length: 16 }, (_, i) => 0xb0 + i));

function secureRig() {
  const rig = makeRig({
    secureKeys: new Map([[1, K]]),
    random: (n) => Buffer.alloc(n, 0).fill(DEVICE_NONCE),
  });
  const switches: Array<{ channel: number; keys: SessionKeys }> = [];
  rig.core.onSecureSession((channel, keys) => switches.push({ channel, keys }));
  const handshake = () => {
    const init = rig.host.ok('SECURE_INIT', { keyId: 1, hostNonce: HOST_NONCE });
    rig.host.ok('SECURE_FINISH', { hostProof: hostProof(K, HOST_NONCE, init.deviceNonce, 0) });
  };
  return { ...rig, switches, handshake };
}

describe('secure execution in DeviceCore', () => {
  it('advertises SECURE only with provisioned keys', () => {
    expect(makeRig().host.hello().caps & Capability.SECURE).toBe(0);
    expect(makeRig({ secureKeys: new Map() }).host.hello().caps & Capability.SECURE).toBe(Capability.SECURE);
    expect(makeRig().host.code('SECURE_INIT', { keyId: 1, hostNonce: HOST_NONCE })).toBe('E_NOT_SUPPORTED');
  });

  it('handshake: the device proves the key, checks ours, and hands the session keys to the link', () => {
    const { host, core, switches } = secureRig();
    const init = host.ok('SECURE_INIT', { keyId: 1, hostNonce: HOST_NONCE });
    expect(Buffer.from(init.deviceNonce)).toEqual(DEVICE_NONCE);
    expect(Buffer.from(init.deviceProof)).toEqual(deviceProof(K, HOST_NONCE, DEVICE_NONCE, 0));
    expect(core.secureState(0)).toEqual({ secure: false, locked: false });
    host.ok('SECURE_FINISH', { hostProof: hostProof(K, HOST_NONCE, DEVICE_NONCE, 0) });
    expect(core.secureState(0)).toEqual({ secure: true, locked: false });
    expect(switches).toEqual([{ channel: 0, keys: deriveSessionKeys(K, HOST_NONCE, DEVICE_NONCE) }]);
  });

  it('errors: unknown keyId E_AUTH, FINISH without INIT or twice E_BAD_STATE, wrong proof E_AUTH', () => {
    const { host, core, switches } = secureRig();
    expect(host.code('SECURE_INIT', { keyId: 2, hostNonce: HOST_NONCE })).toBe('E_AUTH');
    expect(host.code('SECURE_FINISH', { hostProof: Buffer.alloc(16) })).toBe('E_BAD_STATE');
    host.ok('SECURE_INIT', { keyId: 1, hostNonce: HOST_NONCE });
    expect(host.code('SECURE_FINISH', { hostProof: Buffer.alloc(16, 1) })).toBe('E_AUTH');
    // The failed FINISH used up the INIT: a new handshake starts with SECURE_INIT.
    expect(host.code('SECURE_FINISH', { hostProof: hostProof(K, HOST_NONCE, DEVICE_NONCE, 0) })).toBe(
      'E_BAD_STATE',
    );
    expect(core.secureState(0)).toEqual({ secure: false, locked: false });
    expect(switches).toEqual([]);
    // A normal channel is unaffected by all this.
    expect(openTcp(host)).toBeGreaterThan(0);
  });

  it('a link reset locks a secure channel: only the handshake commands work until a new handshake', () => {
    const { host, core, handshake, switches } = secureRig();
    handshake();
    const id = openTcp(host);
    core.channelUp(0); // the link restarted
    expect(core.secureState(0)).toEqual({ secure: false, locked: true });
    expect(host.code('SOCKET_OPEN', { ...STREAM, recvCredit: 0 })).toBe('E_AUTH');
    expect(host.code('CLOSE', { id, abort: 1 })).toBe('E_AUTH');
    expect(host.code('SNAPSHOT', { startSlot: 0, maxEntries: 1, allChannels: 0 })).toBe('E_AUTH');
    expect(host.code('RESET', { magic: 0x52535421 })).toBe('E_AUTH');
    expect(host.ok('PING', { payload: Buffer.from('x') }).payload).toEqual(Buffer.from('x'));
    expect(host.ok('REG_READ', { offset: 0, count: 1 }).values).toEqual([0x4f464c44]);
    host.hello();
    // A failed handshake leaves it locked; the socket survived (§12.3).
    host.ok('SECURE_INIT', { keyId: 1, hostNonce: HOST_NONCE });
    expect(host.code('SECURE_FINISH', { hostProof: Buffer.alloc(16) })).toBe('E_AUTH');
    expect(core.secureState(0).locked).toBe(true);
    handshake();
    expect(core.secureState(0)).toEqual({ secure: true, locked: false });
    expect(core.table().map((e) => e.id)).toEqual([id]);
    expect(switches).toHaveLength(2);
    // A channel that never had a session is not locked by a link reset.
    const plain = makeRig({ secureKeys: new Map([[1, K]]) });
    plain.core.channelUp(0);
    expect(plain.core.secureState(0)).toEqual({ secure: false, locked: false });
  });

  it('RESET ends every session: the channel is locked after the reset', () => {
    const { host, core, handshake } = secureRig();
    handshake();
    host.ok('RESET', { magic: 0x52535421 });
    expect(core.secureState(0)).toEqual({ secure: false, locked: true });
    host.hello();
    expect(host.code('SOCKET_OPEN', { ...STREAM, recvCredit: 0 })).toBe('E_AUTH');
    handshake();
    expect(openTcp(host)).toBeGreaterThan(0);
  });
});
