/**
 * The link under corruption and loss (§2.4, §4.2, §4.3, §4.5), injected from the kit's side through its wire
 * tap: frames with a bad CRC, lost frames (a gap: the device must NAK, the kit's link retransmits), the last
 * frame lost (the kit's retransmission timer), duplicates (discarded and ACKed, never executed twice), garbage,
 * truncated, oversize and malformed frames (discarded, resynchronised at the next delimiter), and the same
 * faults on the device's frames (the device must retransmit on NAK and on its own timeout). Serial only: the
 * TCP shim runs the link with ARQ off. HEARTBEAT and a repeated SYNC apply to both framings.
 */
import { crc32, encodeFrame, type Frame, FrameType, type OkResponseMessage } from '../../protocol/index.js';
import type { Exchange } from '../client.js';
import type { TestContext } from '../context.js';
import { hexOf } from '../format.js';
import { FRAME_TYPE_NAME, type SeenFrame } from '../tamper.js';
import { type ConformanceCase, check, fail } from '../types.js';

const LINK_TIMEOUT = 6000;

/** The tag of a MSG frame's message (commands and responses), or -1. */
function tagOfFrame(f: Frame): number {
  if (f.type !== FrameType.MSG || f.payload.length < 4) return -1;
  return f.payload[2]! | (f.payload[3]! << 8);
}

function pingBody(label: string) {
  return { payload: Buffer.from(label) };
}

function checkPing(ctx: TestContext, ex: Exchange, label: string): void {
  ctx.expect(ex, 'OK', `PING '${label}'`, '§4.3');
  const p = Buffer.from((ex.answer as OkResponseMessage<'PING'>).body.payload).toString();
  check(p === label, `PING '${label}' answered with payload '${p}' (§4.3: delivered exactly once, in order)`);
}

function framesSince(list: SeenFrame[], t: number, type: number): SeenFrame[] {
  return list.filter((s) => s.at >= t && s.frame.type === type);
}

function describeFrames(list: SeenFrame[], t: number): string {
  const seen = list.filter((s) => s.at >= t).slice(0, 24);
  return (
    seen
      .map((s) => `${FRAME_TYPE_NAME[s.frame.type] ?? s.frame.type}(seq ${s.frame.seq}, ack ${s.frame.ack})`)
      .join(' ') || 'none'
  );
}

/** The next PING the kit sends: its frame is passed to `act` once (then the hook is removed). */
function onceHostFrame(
  ctx: TestContext,
  tag: () => number,
  act: (f: Frame, wire: Buffer) => 'drop' | Buffer,
): { hit: () => Frame | undefined } {
  let hit: Frame | undefined;
  ctx.client.wire.setWriteHook((f, wire) => {
    if (hit || f.type !== FrameType.MSG || tagOfFrame(f) !== tag()) return 'pass';
    hit = f;
    ctx.client.wire.setWriteHook(undefined);
    return act(f, wire);
  });
  return { hit: () => hit };
}

function onceDeviceFrame(
  ctx: TestContext,
  tag: () => number,
  act: (f: Frame, wire: Buffer) => 'drop' | Buffer,
): { hit: () => Frame | undefined } {
  let hit: Frame | undefined;
  ctx.client.wire.setReadHook((f, wire) => {
    if (hit || f.type !== FrameType.MSG || tagOfFrame(f) !== tag()) return 'pass';
    hit = f;
    ctx.client.wire.setReadHook(undefined);
    return act(f, wire);
  });
  return { hit: () => hit };
}

/** A raw frame with a valid CRC but a patched header byte (version or type). */
function patchedFrame(frame: Frame, offset: number, value: number): Buffer {
  const raw = Buffer.from(encodeFrame(frame));
  raw[offset] = value;
  raw.writeUInt32LE(crc32(raw.subarray(0, raw.length - 4)), raw.length - 4);
  return raw;
}

/** Host frame lost or corrupted, with a frame following it: the device must NAK, the kit's link retransmits. */
function hostGapCase(kind: 'corrupt' | 'drop'): ConformanceCase {
  return {
    id: kind === 'corrupt' ? 'link.host-crc-error' : 'link.host-frame-lost',
    title:
      kind === 'corrupt'
        ? 'a host frame with a bad CRC is discarded; the next frame shows the gap: NAK, retransmission, both delivered in order'
        : 'a lost host frame: the next frame shows the gap, the device NAKs once, retransmission delivers both in order',
    section: kind === 'corrupt' ? '§2.4, §4.3' : '§4.3',
    framing: 'serial',
    requires: ['ARQ'],
    async run(ctx) {
      const c = ctx.client;
      const t0 = Date.now();
      const naks0 = c.link.counters.naksReceived;
      let tagA = -1;
      const hook = onceHostFrame(
        ctx,
        () => tagA,
        (f) => (kind === 'corrupt' ? c.wire.corruptWire(f) : 'drop'),
      );
      const order: string[] = [];
      tagA = c.peekTag();
      const pa = ctx.req('PING', pingBody('frame-A'), LINK_TIMEOUT).then((ex) => {
        order.push('A');
        return ex;
      });
      const pb = ctx.req('PING', pingBody('frame-B'), LINK_TIMEOUT).then((ex) => {
        order.push('B');
        return ex;
      });
      const [a, b] = await Promise.all([pa, pb]);
      const lost = hook.hit();
      check(lost !== undefined, 'the kit could not find its own frame to tamper with (kit error)');
      checkPing(ctx, a, 'frame-A');
      checkPing(ctx, b, 'frame-B');
      check(
        order.join('') === 'AB',
        `the answers came in the order ${order.join('')}: messages are delivered in order (§4.3)`,
      );
      const naks = framesSince(c.wire.fromDevice, t0, FrameType.NAK).filter((s) => s.frame.ack === lost.seq);
      if (naks.length === 0) {
        fail(
          `no NAK(ack = ${lost.seq}) from the device after MSG seq ${lost.seq} was ${kind === 'corrupt' ? 'corrupted' : 'lost'} and seq ${(lost.seq + 1) & 0xffff} arrived (§4.3: a gap is NAKed)`,
          {
            expected: `NAK with ack ${lost.seq}`,
            received: `device frames: ${describeFrames(c.wire.fromDevice, t0)}`,
          },
        );
      }
      check(c.link.counters.naksReceived > naks0, 'the kit link saw no NAK (kit error)');
    },
  };
}

/** Device frame corrupted or lost with a frame following: the kit's link NAKs, the device must retransmit. */
function deviceGapCase(kind: 'corrupt' | 'drop'): ConformanceCase {
  return {
    id: kind === 'corrupt' ? 'link.device-crc-error' : 'link.device-frame-lost',
    title:
      kind === 'corrupt'
        ? 'a device frame arriving with a bad CRC: the kit NAKs at the next frame and the device retransmits from there'
        : 'a lost device frame: the kit NAKs at the next frame and the device retransmits from there',
    section: '§4.3',
    framing: 'serial',
    requires: ['ARQ'],
    async run(ctx) {
      const c = ctx.client;
      const t0 = Date.now();
      let tagA = -1;
      const hook = onceDeviceFrame(
        ctx,
        () => tagA,
        (f) => (kind === 'corrupt' ? c.wire.corruptWire(f) : 'drop'),
      );
      tagA = c.peekTag();
      const pa = ctx.req('PING', pingBody('answer-A'), LINK_TIMEOUT);
      const pb = ctx.req('PING', pingBody('answer-B'), LINK_TIMEOUT);
      const [a, b] = await Promise.all([pa, pb]);
      checkPing(ctx, a, 'answer-A');
      checkPing(ctx, b, 'answer-B');
      const lost = hook.hit();
      check(lost !== undefined, "the device's answer frame was never seen (kit error)");
      const again = c.wire.fromDevice.filter(
        (s) => s.at >= t0 && s.frame.type === FrameType.MSG && s.frame.seq === lost.seq,
      );
      check(
        again.length >= 2,
        `the device did not retransmit MSG seq ${lost.seq} (§4.3: on a NAK, retransmit every frame from ack on)`,
        {
          received: `device frames: ${describeFrames(c.wire.fromDevice, t0)}`,
        },
      );
    },
  };
}

export const linkCases: ConformanceCase[] = [
  hostGapCase('corrupt'),
  hostGapCase('drop'),
  {
    id: 'link.host-last-frame-lost',
    title:
      "the last host frame lost (nothing follows): the kit's timeout retransmits it, answered exactly once",
    section: '§4.3',
    framing: 'serial',
    requires: ['ARQ'],
    async run(ctx) {
      const c = ctx.client;
      let tag = -1;
      const hook = onceHostFrame(
        ctx,
        () => tag,
        () => 'drop',
      );
      tag = c.peekTag();
      const p = ctx.req('PING', pingBody('tail'), LINK_TIMEOUT);
      const ex = await p;
      checkPing(ctx, ex, 'tail');
      check(hook.hit() !== undefined, 'the kit could not drop its own frame (kit error)');
      await c.quiet(300, 1500);
      const dup = c.violations.filter((v) => v.kind === 'answer');
      check(dup.length === 0, dup[0]?.message ?? '');
    },
  },
  {
    id: 'link.host-duplicate',
    title: 'a host frame received twice is discarded (not executed again) and acknowledged',
    section: '§4.3',
    framing: 'serial',
    requires: ['ARQ'],
    async run(ctx) {
      const c = ctx.client;
      let wire: Buffer | undefined;
      let tag = -1;
      c.wire.setWriteHook((f, w) => {
        if (f.type === FrameType.MSG && tagOfFrame(f) === tag) {
          wire = Buffer.from(w);
          c.wire.setWriteHook(undefined);
        }
        return 'pass';
      });
      tag = c.peekTag();
      const p = ctx.req('PING', pingBody('only-once'), LINK_TIMEOUT);
      checkPing(ctx, await p, 'only-once');
      check(wire !== undefined, 'the kit could not capture its own frame (kit error)');
      await c.quiet(100, 1000);
      const t0 = Date.now();
      const marks = c.violations.length;
      const strays = c.strayAnswers.length;
      c.wire.inject(wire);
      await c.wake(400);
      await c.quiet(100, 1500);
      const dup = c.violations.slice(marks).filter((v) => v.kind === 'answer');
      const again = c.strayAnswers.length - strays;
      check(
        dup.length === 0 && again === 0,
        `the device executed a duplicated frame again: a second answer to tag ${tag} (§4.3: a duplicate is discarded)`,
        {
          sent: `the same MSG frame again: ${hexOf(wire, 40)}`,
          expected: 'an ACK, no second answer',
          received: dup[0]?.message ?? 'a second answer',
        },
      );
      const acks = framesSince(c.wire.fromDevice, t0, FrameType.ACK);
      check(
        acks.length > 0,
        'no ACK from the device after a duplicate frame (§4.3: a duplicate is answered with an ACK at once)',
        {
          received: `device frames: ${describeFrames(c.wire.fromDevice, t0)}`,
        },
      );
    },
  },
  {
    id: 'link.resync',
    title:
      'garbage, truncated, oversize, bad-CRC, wrong-version, unknown-type and length-mismatch frames are discarded; the link carries on',
    section: '§2.4, §2.5, §3',
    framing: 'link',
    timeoutMs: 30_000,
    async run(ctx) {
      const c = ctx.client;
      const resets = c.link.counters.resets;
      const garbage = Buffer.alloc(200);
      for (let i = 0; i < garbage.length; i++) garbage[i] = ((i * 37) % 255) + 1;
      const proto: Frame = {
        channel: 0,
        type: FrameType.MSG,
        seq: 0x7777,
        ack: 0,
        flags: 0,
        payload: Buffer.from([0x02, 0, 0x99, 0x99]),
      };
      const whole = c.wire.wireOf(proto);
      const lengthMismatch = Buffer.from(encodeFrame(proto));
      lengthMismatch.writeUInt16LE(5, 8);
      lengthMismatch.writeUInt32LE(
        crc32(lengthMismatch.subarray(0, lengthMismatch.length - 4)),
        lengthMismatch.length - 4,
      );
      // Frames every framing must discard (§2.4 step 3; over TCP a bad record is discarded alone, §3).
      const injections: Array<[string, Buffer]> = [
        ['a frame with a bad CRC', c.wire.corruptWire(proto)],
        ['a frame of version 2 (valid CRC)', c.wire.wireOfRaw(patchedFrame(proto, 0, 2))],
        ['a frame of unknown type 0x7F (valid CRC)', c.wire.wireOfRaw(patchedFrame(proto, 3, 0x7f))],
        ['a frame whose length field disagrees with its size (valid CRC)', c.wire.wireOfRaw(lengthMismatch)],
      ];
      if (ctx.framing === 'serial') {
        injections.push(
          ['random non-zero bytes, then a delimiter', Buffer.concat([garbage, Buffer.from([0])])],
          ['idle fill (three delimiters)', Buffer.from([0, 0, 0])],
          ['a truncated frame, then a delimiter', Buffer.concat([whole.subarray(0, 7), Buffer.from([0])])],
          [
            '70000 bytes without a delimiter (oversize)',
            Buffer.concat([Buffer.alloc(70_000, 0x55), Buffer.from([0])]),
          ],
          ['a lone COBS code pointing past the end', Buffer.from([0x05, 0x11, 0x00])],
        );
      }
      for (const [what, bytes] of injections) {
        c.wire.inject(bytes);
        const ex = await ctx.req('PING', pingBody(`after ${what}`), LINK_TIMEOUT).catch((err: Error) => {
          fail(
            `after injecting ${what} the device stopped answering: ${err.message} (§2.4: discard and resynchronise at the next delimiter)`,
            {
              sent: hexOf(bytes, 48),
            },
          );
        });
        checkPing(ctx, ex, `after ${what}`);
      }
      const stray = c.strayAnswers.filter((r) => r.length >= 4 && r.readUInt16LE(2) === 0x9999);
      check(
        stray.length === 0,
        'the device answered a frame that should have been discarded (tag 0x9999) (§2.4)',
      );
      check(
        c.link.counters.resets === resets,
        'the device restarted the link after bad frames; they are discarded, not a reason to resync (§2.4)',
      );
    },
  },
  deviceGapCase('corrupt'),
  deviceGapCase('drop'),
  {
    id: 'link.device-last-frame-lost',
    title: "the device's last frame lost (nothing follows): the device retransmits on its own timeout",
    section: '§4.3',
    framing: 'serial',
    requires: ['ARQ'],
    timeoutMs: 20_000,
    async run(ctx) {
      const c = ctx.client;
      const t0 = Date.now();
      let tag = -1;
      const hook = onceDeviceFrame(
        ctx,
        () => tag,
        () => 'drop',
      );
      tag = c.peekTag();
      const p = ctx.req('PING', pingBody('device-tail'), 10_000);
      const ex = await p.catch((err: Error) => {
        fail(
          `the device never retransmitted its lost answer: ${err.message} (§4.3: retransmission on timeout)`,
          {
            received: `device frames: ${describeFrames(c.wire.fromDevice, t0)}`,
          },
        );
      });
      checkPing(ctx, ex, 'device-tail');
      check(hook.hit() !== undefined, "the device's answer frame was never seen (kit error)");
      const took = Date.now() - t0;
      check(
        took < 9000,
        `the device took ${took} ms to retransmit (§4.3: RTO at most 2 s, or its initial RTO if larger)`,
      );
    },
  },
  {
    id: 'link.heartbeat',
    title: 'a HEARTBEAT is answered with an ACK',
    section: '§4.5, §4.4',
    framing: 'link',
    async run(ctx) {
      const c = ctx.client;
      await c.quiet(50, 1000);
      const lastAck = [...c.wire.fromHost]
        .reverse()
        .find((s) => s.frame.type !== FrameType.SYNC && s.frame.type !== FrameType.SYNC_ACK);
      const ack = c.params.arq ? (lastAck?.frame.ack ?? 0) : 0;
      const hb: Frame = {
        channel: 0,
        type: FrameType.HEARTBEAT,
        seq: 0,
        ack,
        flags: 0,
        payload: Buffer.alloc(0),
      };
      const t0 = Date.now();
      c.wire.inject(c.wire.wireOf(hb));
      await c
        .until(() => framesSince(c.wire.fromDevice, t0, FrameType.ACK).length > 0, 1500, 'ACK')
        .catch(() =>
          fail('no ACK within 1.5 s of a HEARTBEAT (§4.5: the receiver answers with an ACK)', {
            sent: hexOf(c.wire.wireOf(hb)),
            expected: 'an ACK frame',
            received: `device frames: ${describeFrames(c.wire.fromDevice, t0)}`,
          }),
        );
    },
  },
  {
    id: 'link.sync-repeat',
    title: 'a repeated SYNC (same nonce) is answered with the same SYNC_ACK and changes nothing',
    section: '§4.2',
    framing: 'link',
    async run(ctx) {
      const c = ctx.client;
      const sync = c.wire.lastHostSync;
      check(sync !== undefined, 'the kit saw no SYNC of its own (kit error)');
      const t0 = Date.now();
      const resets = c.link.counters.resets;
      c.wire.inject(c.wire.wireOf(sync));
      await c
        .until(() => framesSince(c.wire.fromDevice, t0, FrameType.SYNC_ACK).length > 0, 1500, 'SYNC_ACK')
        .catch(() =>
          fail('no SYNC_ACK within 1.5 s of a repeated SYNC (§4.2 step 2: send the same SYNC_ACK again)'),
        );
      const ack = framesSince(c.wire.fromDevice, t0, FrameType.SYNC_ACK)[0]!.frame.payload;
      check(
        Buffer.from(ack).readUInt32LE(0) === c.params.peerNonce &&
          Buffer.from(ack).readUInt32LE(4) === c.frameLink.nonce,
        `the SYNC_ACK to a repeated SYNC carries nonce 0x${Buffer.from(ack).readUInt32LE(0).toString(16)} / peerNonce 0x${Buffer.from(ack).readUInt32LE(4).toString(16)}; expected the device's own and ours (§4.2)`,
      );
      const ex = await ctx.req('PING', pingBody('after-sync'), LINK_TIMEOUT);
      checkPing(ctx, ex, 'after-sync');
      check(
        c.link.counters.resets === resets,
        'the device restarted the link after a repeated SYNC (§4.2: a repeat changes nothing)',
      );
    },
  },
];
