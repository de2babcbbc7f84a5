/** The virtual network itself: clock, determinism, window backpressure, peers, two devices on one network. */
import { describe, expect, it } from 'vitest';
import { DeviceCore } from '../../../sim/core/index.js';
import type { NetworkEvent } from '../../../sim/network/backend.js';
import { VirtualClock, VirtualNetwork, toAddr } from '../../../sim/network/virtual-backend.js';
import { RawHost, addr, connectTcp, makeRig, openTcp } from './harness.js';

describe('VirtualClock', () => {
  it('runs tasks in time order, ties in scheduling order, tickers every tickMs', () => {
    const c = new VirtualClock(100, 10);
    const log: string[] = [];
    c.schedule(120, () => log.push('b@120'));
    c.schedule(105, () => log.push('a@105'));
    c.schedule(120, () => {
      log.push('c@120');
      c.later(() => log.push('d@120'));
    });
    c.onTick((t) => log.push(`tick@${t}`));
    c.schedule(50, () => log.push('past→now'));
    c.advance(0);
    expect(log).toEqual(['past→now']);
    c.advance(25);
    expect(log).toEqual(['past→now', 'a@105', 'tick@110', 'b@120', 'c@120', 'd@120', 'tick@120']);
    expect(c.now()).toBe(125);
    expect(c.runUntil(() => false, 30)).toBe(false);
    expect(c.now()).toBe(155);
  });

  it('parses addresses', () => {
    expect(toAddr('10.1.2.3:80')).toEqual({ family: 4, address: '10.1.2.3', port: 80 });
    expect(toAddr('[fd00::2]:7')).toEqual({ family: 6, address: 'fd00::2', port: 7 });
    expect(() => toAddr('nope')).toThrow(TypeError);
  });
});

describe('VirtualNetwork', () => {
  function trace(seed: number): string {
    const rig = makeRig({ net: { seed, latencyMs: 2, jitterMs: 5, udpLoss: 0.2 } });
    const events: string[] = [];
    rig.backend.onEvent((e: NetworkEvent) => {
      events.push(`${rig.net.now()}:${e.kind}:${'bytes' in e ? e.bytes : 'data' in e ? e.data.length : ''}`);
      rig.core.handleNetworkEvent(e);
    });
    rig.net.echoServer('10.0.0.99:7');
    const id = connectTcp(rig, '10.0.0.99:7');
    const u = rig.host.ok('SOCKET_OPEN', {
      type: 2,
      family: 4,
      protocol: 17,
      blocking: 0,
      recvCredit: 1e6,
    }).id;
    for (let i = 0; i < 30; i++) {
      rig.host.ok('SEND', { id, data: Buffer.alloc(3000 + i, i) });
      rig.host.ok('SENDTO', { id: u, addr: addr('10.0.0.99:7'), data: Buffer.alloc(100, i) });
      rig.net.advance(1);
    }
    rig.net.advance(200);
    return events.join('\n');
  }

  it('is deterministic for a seed (jitter and loss included)', () => {
    const a = trace(11);
    expect(trace(11)).toBe(a);
    expect(trace(12)).not.toBe(a);
    expect(a.split('\n').length).toBeGreaterThan(60);
  });

  it('a slow reader reads bytesPerTick; the window holds the rest back at the sender', () => {
    const rig = makeRig({ net: { windowBytes: 1000, tickMs: 1 } });
    const slow = rig.net.slowReader('10.0.0.50:1', 10);
    const id = connectTcp(rig, '10.0.0.50:1');
    rig.host.ok('SEND', { id, data: Buffer.alloc(5000, 1) });
    rig.net.advance(100);
    expect(slow.bytesReceived).toBeGreaterThanOrEqual(950);
    expect(slow.bytesReceived).toBeLessThanOrEqual(1010);
    expect(rig.host.query(id).sendQueued).toBeGreaterThan(2900);
    expect(rig.host.query(id).status).toBe(5);
  });

  it('connects two devices on one network', () => {
    const net = new VirtualNetwork();
    const make = () => {
      const backend = net.backend();
      const core = new DeviceCore({ now: () => net.now() });
      core.onNetworkAction((a) => backend.perform(a));
      backend.onEvent((e) => core.handleNetworkEvent(e));
      net.onTick((t) => core.tick(t));
      const host = new RawHost(core, net);
      host.hello();
      return { backend, core, host };
    };
    const a = make();
    const b = make();
    expect([a.backend.address, b.backend.address]).toEqual(['10.0.0.1', '10.0.0.2']);
    const l = openTcp(a.host);
    a.host.ok('BIND', { id: l, addr: addr('0.0.0.0:80') });
    a.host.ok('LISTEN', { id: l, backlog: 1 });
    const c = openTcp(b.host);
    b.host.ok('CONNECT', { id: c, timeoutMs: 0, addr: addr('10.0.0.1:80') });
    net.advance(10);
    const s = a.host.ok('ACCEPT', { id: l, recvCredit: 1000 }).newId;
    expect(a.host.query(s).remote.address).toBe('10.0.0.2');
    b.host.ok('SEND', { id: c, data: Buffer.from('from b') });
    a.host.ok('SEND', { id: s, data: Buffer.from('from a') });
    net.advance(10);
    expect(a.host.dataFor(s).toString()).toBe('from b');
    expect(b.host.dataFor(c).toString()).toBe('from a');
    // A device cannot listen on an address that is not its own.
    const x = openTcp(b.host);
    b.host.ok('BIND', { id: x, addr: addr('10.0.0.1:81') });
    expect(b.host.code('LISTEN', { id: x, backlog: 1 })).toBe('EADDRNOTAVAIL');
  });

  it('delivers nothing after backend.close()', async () => {
    const rig = makeRig();
    rig.net.echoServer('10.0.0.99:7');
    const id = connectTcp(rig, '10.0.0.99:7');
    rig.host.ok('SEND', { id, data: Buffer.from('late') });
    await rig.backend.close();
    rig.net.advance(50);
    expect(rig.host.eventsNamed('DATA')).toEqual([]);
  });
});
