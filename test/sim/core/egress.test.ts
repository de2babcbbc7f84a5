/**
 * The egress policy in DeviceCore (PROTOCOL.md §12.5): who may change it, rule matching, the checked
 * operations, refusals that leave the table unchanged, E_INVALID / E_QUOTA, and rules surviving RESET.
 */
import { describe, expect, it } from 'vitest';
import {
  type Addr,
  type CommandBodies,
  EgressKind,
  Limits,
  SocketStatus,
} from '../../../src/protocol/index.js';
import { ruleMatches } from '../../../sim/core/index.js';
import { RawHost, type Rig, addr, makeRig, openTcp, openUdp } from './harness.js';

const CRED = 'admin-secret';

function rule(
  channel: number,
  kind: number,
  a: string,
  prefixLen: number,
  portLow: number,
  portHigh: number,
): CommandBodies['EGRESS_SET'] {
  return { channel, kind, prefixLen, reserved: 0, portLow, portHigh, addr: addr(`${a}:0`) };
}

/** An ADMIN channel 255 with a secure session (the flag the secure handshake sets). */
function secureAdmin(rig: Rig): RawHost {
  const adm = new RawHost(rig.core, rig.net, 255);
  adm.hello();
  adm.ok('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) });
  rig.core.channelState(255).secure = true;
  return adm;
}

function v6(address: string, port: number): Addr {
  return { family: 6, address, port };
}

describe('rule matching', () => {
  const r = (family: 4 | 6, bytes: number[], prefixLen: number, lo = 0, hi = 65535) => ({
    kind: 1,
    family,
    prefixLen,
    portLow: lo,
    portHigh: hi,
    prefix: Buffer.from(bytes),
  });
  it('families, prefix bits and inclusive port ranges', () => {
    expect(ruleMatches(r(4, [127, 0, 0, 0], 8), addr('127.9.9.9:1'))).toBe(true);
    expect(ruleMatches(r(4, [127, 0, 0, 0], 8), addr('128.0.0.1:1'))).toBe(false);
    expect(ruleMatches(r(4, [10, 0, 0, 128], 25), addr('10.0.0.200:1'))).toBe(true);
    expect(ruleMatches(r(4, [10, 0, 0, 128], 25), addr('10.0.0.127:1'))).toBe(false);
    expect(ruleMatches(r(4, [0, 0, 0, 0], 0), addr('1.2.3.4:5'))).toBe(true);
    expect(ruleMatches(r(4, [0, 0, 0, 0], 0), v6('::1', 5))).toBe(false);
    expect(ruleMatches(r(4, [1, 2, 3, 4], 32, 80, 81), addr('1.2.3.4:81'))).toBe(true);
    expect(ruleMatches(r(4, [1, 2, 3, 4], 32, 80, 81), addr('1.2.3.4:82'))).toBe(false);
    expect(ruleMatches(r(4, [1, 2, 3, 4], 32, 80, 81), addr('1.2.3.4:79'))).toBe(false);
    const fd = [0xfd, 0, ...new Array(14).fill(0)];
    expect(ruleMatches(r(6, fd, 8), v6('fd12::1', 7))).toBe(true);
    expect(ruleMatches(r(6, fd, 8), v6('fe80::1', 7))).toBe(false);
  });
});

describe('EGRESS_SET / EGRESS_CLEAR', () => {
  it('need ADMIN and a secure session', () => {
    const rig = makeRig({ adminCredential: CRED });
    const set = rule(1, EgressKind.CONNECT, '127.0.0.1', 32, 1, 65535);
    expect(rig.host.code('EGRESS_SET', set)).toBe('E_NOT_PERMITTED');
    expect(rig.host.code('EGRESS_CLEAR', { channel: 1 })).toBe('E_NOT_PERMITTED');
    const adm = new RawHost(rig.core, rig.net, 255);
    adm.hello();
    adm.ok('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) });
    expect(adm.code('EGRESS_SET', set)).toBe('E_NOT_PERMITTED');
    // Secure but NORMAL is not enough either.
    const one = new RawHost(rig.core, rig.net, 1);
    one.hello();
    one.ok('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) });
    rig.core.channelState(1).secure = true;
    expect(one.code('EGRESS_SET', set)).toBe('E_NOT_PERMITTED');
    rig.core.channelState(255).secure = true;
    expect(adm.ok('EGRESS_SET', set)).toEqual({ rules: 1 });
    expect(adm.code('EGRESS_CLEAR', { channel: 1 })).toBe('OK');
  });

  it('E_INVALID for bad fields, identical rules not added twice, E_QUOTA when the table is full', () => {
    const rig = makeRig({ adminCredential: CRED, egressRuleMax: 3 });
    const adm = secureAdmin(rig);
    expect(adm.code('EGRESS_SET', rule(1, 0, '1.2.3.4', 32, 1, 2))).toBe('E_INVALID');
    expect(adm.code('EGRESS_SET', rule(1, 4, '1.2.3.4', 32, 1, 2))).toBe('E_INVALID');
    expect(adm.code('EGRESS_SET', rule(1, 1, '1.2.3.4', 33, 1, 2))).toBe('E_INVALID');
    expect(adm.code('EGRESS_SET', rule(1, 1, '1.2.3.4', 32, 3, 2))).toBe('E_INVALID');
    expect(
      adm.code('EGRESS_SET', { ...rule(1, 1, '1.2.3.4', 32, 1, 2), addr: v6('::1', 0), prefixLen: 129 }),
    ).toBe('E_INVALID');
    expect(
      adm.ok('EGRESS_SET', { ...rule(1, 1, '1.2.3.4', 32, 1, 2), addr: v6('::1', 0), prefixLen: 128 }),
    ).toEqual({ rules: 1 });
    expect(adm.ok('EGRESS_SET', rule(1, 1, '1.2.3.4', 32, 1, 2))).toEqual({ rules: 2 });
    expect(adm.ok('EGRESS_SET', rule(1, 1, '1.2.3.4', 32, 1, 2))).toEqual({ rules: 2 });
    expect(adm.ok('EGRESS_SET', rule(2, 2, '1.2.3.4', 32, 1, 2))).toEqual({ rules: 1 });
    expect(adm.code('EGRESS_SET', rule(1, 3, '1.2.3.4', 32, 1, 2))).toBe('E_QUOTA');
    adm.ok('EGRESS_CLEAR', { channel: 2 });
    expect(adm.ok('EGRESS_SET', rule(1, 3, '1.2.3.4', 32, 1, 2))).toEqual({ rules: 3 });
  });
});

describe('checked operations', () => {
  function setup() {
    const rig = makeRig({ adminCredential: CRED });
    const adm = secureAdmin(rig);
    rig.net.echoServer('10.0.0.99:7');
    rig.net.echoServer('10.0.0.98:7');
    return { rig, adm, host: rig.host };
  }

  it('CONNECT (stream): only matching remotes; refused with the table unchanged', () => {
    const { rig, adm, host } = setup();
    adm.ok('EGRESS_SET', rule(0, EgressKind.CONNECT, '10.0.0.99', 32, 7, 7));
    const id = openTcp(host);
    const before = host.snapshotBytes();
    expect(host.code('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.98:7') })).toBe('E_NOT_PERMITTED');
    expect(host.code('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.99:8') })).toBe('E_NOT_PERMITTED');
    expect(host.snapshotBytes().equals(before)).toBe(true);
    expect(rig.backend.actionCounts['tcp-connect'] ?? 0).toBe(0);
    expect(host.code('CONNECT', { id, timeoutMs: 0, addr: addr('10.0.0.99:7') })).toBe('OK');
    rig.net.runUntil(() => host.mirror.get(id)?.status === SocketStatus.CONNECTED, 2000);
    expect(host.mirror.get(id)?.status).toBe(SocketStatus.CONNECTED);
    expect(rig.backend.actionCounts['tcp-connect']).toBe(1);
    // SENDTO rules do not restrict stream connects of another channel; rules are per channel.
    const one = new RawHost(rig.core, rig.net, 1);
    one.hello();
    one.ok('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) });
    const o = openTcp(one);
    expect(one.code('CONNECT', { id: o, timeoutMs: 0, addr: addr('10.0.0.98:7') })).toBe('OK');
  });

  it('SENDTO and DGRAM CONNECT use SENDTO rules', () => {
    const { adm, host } = setup();
    adm.ok('EGRESS_SET', rule(0, EgressKind.SENDTO, '10.0.0.0', 24, 7, 9));
    const u = openUdp(host);
    expect(host.code('SENDTO', { id: u, addr: addr('10.0.1.1:7'), data: Buffer.from('x') })).toBe(
      'E_NOT_PERMITTED',
    );
    expect(host.query(u).status).toBe(SocketStatus.UNCONNECTED);
    expect(host.code('SENDTO', { id: u, addr: addr('10.0.0.98:7'), data: Buffer.from('x') })).toBe('OK');
    const c = openUdp(host);
    expect(host.code('CONNECT', { id: c, timeoutMs: 0, addr: addr('10.0.0.98:10') })).toBe('E_NOT_PERMITTED');
    expect(host.code('CONNECT', { id: c, timeoutMs: 0, addr: addr('10.0.0.98:9') })).toBe('OK');
    // Stream CONNECT is another kind: unrestricted here.
    const t = openTcp(host);
    expect(host.code('CONNECT', { id: t, timeoutMs: 0, addr: addr('10.0.1.1:80') })).toBe('OK');
  });

  it('BIND and LISTEN use LISTEN rules on the local address; rules survive RESET', () => {
    const { rig, adm, host } = setup();
    adm.ok('EGRESS_SET', rule(0, EgressKind.LISTEN, '0.0.0.0', 0, 8000, 8099));
    const t = openTcp(host);
    expect(host.code('BIND', { id: t, addr: addr('10.0.0.1:9000') })).toBe('E_NOT_PERMITTED');
    expect(host.query(t).status).toBe(SocketStatus.UNCONNECTED);
    // LISTEN's implicit bind (port 0) is outside 8000..8099.
    expect(host.code('LISTEN', { id: t, backlog: 2 })).toBe('E_NOT_PERMITTED');
    expect(host.query(t).status).toBe(SocketStatus.UNCONNECTED);
    expect(host.code('BIND', { id: t, addr: addr('10.0.0.1:8080') })).toBe('OK');
    expect(host.code('LISTEN', { id: t, backlog: 2 })).toBe('OK');
    const u = openUdp(host);
    expect(host.code('BIND', { id: u, addr: addr('0.0.0.0:53') })).toBe('E_NOT_PERMITTED');
    // RESET (by the admin) drops sockets, not rules.
    expect(adm.code('RESET', { magic: Limits.resetMagic })).toBe('OK');
    host.hello();
    const t2 = openTcp(host);
    expect(host.code('BIND', { id: t2, addr: addr('10.0.0.1:9000') })).toBe('E_NOT_PERMITTED');
    expect(rig.core.table()).toHaveLength(1);
    // RESET ended the admin's (stand-in) secure session and locked the channel: CHANNEL_OPEN is refused until
    // a new handshake (§12.4), which the stand-in repeats by setting the state again.
    adm.hello();
    expect(rig.core.channelState(255).locked).toBe(true);
    expect(adm.code('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) })).toBe('E_AUTH');
    rig.core.channelState(255).locked = false;
    rig.core.channelState(255).secure = true;
    adm.ok('CHANNEL_OPEN', { role: 1, credential: Buffer.from(CRED) });
    adm.ok('EGRESS_CLEAR', { channel: 0 });
    expect(host.code('BIND', { id: t2, addr: addr('10.0.0.1:9000') })).toBe('OK');
  });
});
