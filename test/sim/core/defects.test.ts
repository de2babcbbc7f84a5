/**
 * Each deliberate defect mode (for the conformance kit's self-test) changes the observable behaviour its
 * name says, and only when switched on.
 */
import { describe, expect, it } from 'vitest';
import { type DefectModes, DEFECT_MODE_NAMES, NO_DEFECTS } from '../../../sim/core/index.js';
import { StatusCode } from '../../../src/protocol/index.js';
import { addr, connectTcp, makeRig, openTcp, RawHost } from './harness.js';

function rigWith(defect: keyof DefectModes | null, opts: Parameters<typeof makeRig>[0] = {}) {
  return makeRig({ ...opts, defects: defect ? { [defect]: true } : {} });
}

describe('defect modes', () => {
  it('are all off by default', () => {
    expect(Object.values(NO_DEFECTS).every((v) => v === false)).toBe(true);
    expect(DEFECT_MODE_NAMES).toHaveLength(8);
    expect(makeRig().core.defects).toEqual(NO_DEFECTS);
  });

  it('acceptIllegalTransition: a command the table refuses is answered OK', () => {
    for (const defect of [null, 'acceptIllegalTransition'] as const) {
      const { host } = rigWith(defect);
      const id = openTcp(host);
      host.ok('LISTEN', { id, backlog: 1 });
      const code = host.code('BIND', { id, addr: addr('0.0.0.0:0') });
      const send = host.code('SEND', { id, data: Buffer.from('x') });
      if (defect) {
        expect([code, send]).toEqual(['OK', 'OK']);
        expect(host.query(id).status).not.toBe(2);
      } else {
        expect([code, send]).toEqual(['E_BAD_STATE', 'ENOTCONN']);
        expect(host.query(id).status).toBe(2);
      }
    }
  });

  it('updateUnknownChangesTable: UPDATE on an unknown id changes the table', () => {
    for (const defect of [null, 'updateUnknownChangesTable'] as const) {
      const { host } = rigWith(defect);
      const id = openTcp(host);
      const before = host.snapshotBytes();
      expect(host.code('UPDATE', { id: id + 0x0100, status: 0xff, setFlags: 0x2000, clearFlags: 0 })).toBe(
        'E_UNKNOWN_SOCKET',
      );
      expect(host.snapshotBytes().equals(before)).toBe(!defect);
    }
  });

  it('skipEventSeq: a gap appears in the event sequence', () => {
    for (const defect of [null, 'skipEventSeq'] as const) {
      const rig = rigWith(defect);
      rig.net.echoServer('10.0.0.99:7');
      const id = connectTcp(rig, '10.0.0.99:7');
      for (let i = 0; i < 3; i++) {
        rig.host.ok('SEND', { id, data: Buffer.from('abc') });
        rig.net.advance(10);
      }
      expect(rig.host.events.length).toBeGreaterThanOrEqual(6);
      const gaps = rig.host.violations.filter((v) => v.startsWith('seq gap'));
      expect(gaps.length > 0).toBe(defect !== null);
    }
  });

  it('overGrantCredit: SEND_CREDIT grants more than the queue freed, so a host within its credit gets E_QUEUE_FULL', () => {
    for (const defect of [null, 'overGrantCredit'] as const) {
      const rig = rigWith(defect, { sendQueueSize: 4096, net: { windowBytes: 2048 } });
      const { host, net } = rig;
      net.slowReader('10.0.0.90:1', 0);
      const id = connectTcp(rig, '10.0.0.90:1');
      host.ok('SEND', { id, data: Buffer.alloc(4096, 1) });
      net.advance(20);
      const credit = 4096 + host.creditFor(id) - 4096;
      expect(credit).toBe(defect ? 4096 : 2048);
      const r = host.call('SEND', { id, data: Buffer.alloc(credit, 2) });
      expect(r.status).toBe(defect ? StatusCode.E_QUEUE_FULL : StatusCode.OK);
      expect(r.body).toEqual({ accepted: 2048 });
    }
  });

  it('dropDataByte: received data loses a byte', () => {
    for (const defect of [null, 'dropDataByte'] as const) {
      const rig = rigWith(defect);
      rig.net.echoServer('10.0.0.99:7');
      const id = connectTcp(rig, '10.0.0.99:7');
      rig.host.ok('SEND', { id, data: Buffer.from('0123456789') });
      rig.net.advance(20);
      expect(rig.host.dataFor(id).toString()).toBe(defect ? '123456789' : '0123456789');
    }
  });

  it('ignoreUnknownOpcode: an unknown opcode gets no answer', () => {
    for (const defect of [null, 'ignoreUnknownOpcode'] as const) {
      const { host } = rigWith(defect);
      const out = host.sendRaw(Buffer.from([0x3e, 0, 9, 0]));
      expect(out).toHaveLength(defect ? 0 : 1);
    }
  });

  it("foreignIdAccepted: another channel names channel 0's socket and acts on it", () => {
    for (const defect of [null, 'foreignIdAccepted'] as const) {
      const rig = rigWith(defect);
      const id = openTcp(rig.host);
      const b = new RawHost(rig.core, rig.net, 1);
      b.hello();
      b.ok('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) });
      expect(b.code('SETOPT', { id, option: 2, value: 1 })).toBe(defect ? 'OK' : 'E_UNKNOWN_SOCKET');
      expect(b.code('CLOSE', { id, abort: 1 })).toBe(defect ? 'OK' : 'E_UNKNOWN_SOCKET');
      expect(rig.host.snapshot().entries.map((e) => e.id)).toEqual(defect ? [] : [id]);
    }
  });

  it("ignoreQueueQuota: a socket's queues grow beyond its channel's queue quota", () => {
    for (const defect of [null, 'ignoreQueueQuota'] as const) {
      const { host } = rigWith(defect);
      const id = openTcp(host);
      // The default quota is every slot's queues (32 × 128 KiB): one receive queue of 16 MiB is beyond it.
      expect(host.code('SETOPT', { id, option: 5, value: 16 * 1024 * 1024 })).toBe(defect ? 'OK' : 'E_QUOTA');
    }
  });
});
