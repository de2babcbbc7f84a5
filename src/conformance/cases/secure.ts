/**
 * Secure execution (PROTOCOL.md §12, §5.8.1 SECURE_INIT / SECURE_FINISH): the handshake with the provisioned
 * key, refusals that change nothing, SECURE frames after the switch-over, forged and replayed frames never acted
 * on (injected through the kit's tap), and the lock after a link restart. The kit runs them on its own channel
 * (KIT_CHANNEL.secure) so that channel 0 stays plain; they need a key (--key-id, --key-file / OFFLOAD_KEY).
 */
import { randomBytes } from 'node:crypto';
import {
  type Frame,
  FrameFlag,
  FrameType,
  Opcode,
  Register,
  SECURE_NONCE_SIZE,
  SECURE_PROOF_SIZE,
  SocketOption,
} from '../../protocol/index.js';
import { KIT_CHANNEL, openChannel, startChannelLink, withChannel } from '../channel-session.js';
import { TimeoutError } from '../client.js';
import type { TestContext } from '../context.js';
import { describeBytes, hexId, hexOf } from '../format.js';
import { kitHandshake, secureFinish, secureInit } from '../kit-handshake.js';
import { type ConformanceCase, check, fail } from '../types.js';

const SECURE_CAPS = ['SECURE', 'CHANNELS'] as const;

/** Is this a MSG frame carrying a message with `opcode`? (payload of a SECURE frame is still the message.) */
function carries(frame: Frame, opcode: number): boolean {
  return frame.type === FrameType.MSG && frame.payload[0] === opcode;
}

/** Sockets the channel holds (SNAPSHOT), or the mirror when the device has no SNAPSHOT. */
async function socketsOf(ctx: TestContext): Promise<number[]> {
  if (ctx.has('SNAPSHOT')) return (await ctx.snapshot()).entries.map((e) => e.id);
  return [...ctx.client.live];
}

export const secureCases: ConformanceCase[] = [
  {
    id: 'secure.finish-without-init',
    title:
      'SECURE_FINISH without a preceding SECURE_INIT is E_BAD_STATE; SECURE_INIT with an unknown keyId is E_AUTH',
    section: '§12.2',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      await withChannel(ctx, KIT_CHANNEL.secure, {}, async (s) => {
        s.ctx.expect(
          await s.ctx.req('SECURE_FINISH', { hostProof: Buffer.alloc(SECURE_PROOF_SIZE, 0x11) }),
          'E_BAD_STATE',
          'SECURE_FINISH without SECURE_INIT',
          '§12.2',
        );
        const unknown = ((ctx.options.secureKey?.keyId ?? 0) ^ 0xfffffffe) >>> 0;
        s.ctx.expect(
          await s.ctx.req('SECURE_INIT', { keyId: unknown, hostNonce: randomBytes(SECURE_NONCE_SIZE) }),
          'E_AUTH',
          `SECURE_INIT with keyId ${unknown} (not provisioned)`,
          '§12.2',
        );
      });
    },
  },
  {
    id: 'secure.handshake',
    title:
      "the handshake with the provisioned key: the device's proof verifies, then every frame both ways is SECURE and commands work",
    section: '§12.2, §12.3',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      ctx.secureKey('the secure handshake');
      await withChannel(ctx, KIT_CHANNEL.secure, { secure: true }, async (s) => {
        const tap = s.client.wire;
        const mark = tap.fromDevice.length;
        await openChannel(s.ctx, 'NORMAL');
        const ping = await s.ctx.req('PING', { payload: Buffer.from('sealed') });
        s.ctx.expect(ping, 'OK', 'PING after the handshake', '§12.3');
        const mine = tap.fromDevice
          .slice(mark)
          .filter(
            (f) =>
              f.frame.channel === s.channel &&
              f.frame.type !== FrameType.SYNC &&
              f.frame.type !== FrameType.SYNC_ACK,
          );
        check(mine.length > 0, `no frame from the device on channel ${s.channel} after the handshake`);
        const plain = mine.filter((f) => (f.frame.flags & FrameFlag.SECURE) === 0);
        if (plain.length > 0) {
          fail(
            `after SECURE_FINISH's OK response the device sent ${plain.length} plain frame(s) on the secure channel (§12.3: every frame but SYNC / SYNC_ACK sets flags.SECURE)`,
            { expected: 'flags.SECURE on every frame', received: frameText(plain[0]!.frame) },
          );
        }
      });
    },
  },
  {
    id: 'secure.wrong-proof',
    title:
      'SECURE_FINISH with a wrong hostProof is E_AUTH and changes nothing (plain frames work, a second FINISH is E_BAD_STATE, a new handshake succeeds)',
    section: '§12.2',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      const key = ctx.secureKey('the secure handshake');
      await withChannel(ctx, KIT_CHANNEL.secure, {}, async (s) => {
        // A fresh link may find the channel locked by an earlier session (§12.3): PING is always accepted.
        const hs = await secureInit(s.ctx, key);
        const bad = await secureFinish(s.ctx, hs, Buffer.alloc(SECURE_PROOF_SIZE, 0xa5));
        s.ctx.expect(bad, 'E_AUTH', 'SECURE_FINISH with a wrong hostProof', '§12.2');
        check(!s.client.frameLink.isSecure, 'the link switched to SECURE after a refused SECURE_FINISH');
        s.ctx.expect(
          await s.ctx.req('PING', { payload: Buffer.from('still plain') }),
          'OK',
          'a plain PING after the refused SECURE_FINISH (the channel stays as it was)',
          '§12.2',
        );
        s.ctx.expect(
          await s.ctx.req('SECURE_FINISH', { hostProof: Buffer.alloc(SECURE_PROOF_SIZE, 0x5a) }),
          'E_BAD_STATE',
          'a second SECURE_FINISH after the refused one (one FINISH per INIT)',
          '§12.2',
        );
        await kitHandshake(s.ctx, key);
        s.ctx.expect(
          await s.ctx.req('PING', { payload: Buffer.from([1]) }),
          'OK',
          'PING after a new handshake',
          '§12.3',
        );
      });
    },
  },
  {
    id: 'secure.bad-mac',
    title:
      'a SECURE frame whose MAC does not verify is dropped, never acted on (the sealed SOCKET_OPEN creates nothing)',
    section: '§12.3',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      ctx.secureKey('the secure handshake');
      await withChannel(ctx, KIT_CHANNEL.secure, { secure: true, role: 'NORMAL' }, async (s) => {
        const tap = s.client.wire;
        const before = await socketsOf(s.ctx);
        let forged: Buffer | undefined;
        tap.setWriteHook((frame) => {
          if (forged || !carries(frame, Opcode.SOCKET_OPEN) || !frame.mac) return 'pass';
          const mac = Buffer.from(frame.mac);
          mac[0] = mac[0]! ^ 0x01;
          forged = tap.wireOf({ ...frame, mac });
          return forged;
        });
        const hostMark = tap.fromHost.length;
        const type = ctx.socketType();
        const open = s.ctx.client.request(
          'SOCKET_OPEN',
          {
            type: type === 'STREAM' ? 1 : 2,
            family: ctx.family,
            protocol: type === 'STREAM' ? 6 : 17,
            blocking: 0,
            recvCredit: 0,
          },
          s.client.params.arq ? 5000 : 1500,
        );
        const answer = await open.then(
          (ex) => ex,
          (err: unknown) => {
            if (err instanceof TimeoutError) return undefined;
            throw err;
          },
        );
        tap.setWriteHook(undefined);
        check(forged !== undefined, 'the kit saw no sealed SOCKET_OPEN frame to forge');
        // With ARQ the link retransmits the message (new counter, good MAC); without it the message is gone.
        const sent = tap.fromHost.slice(hostMark).filter((f) => carries(f.frame, Opcode.SOCKET_OPEN)).length;
        if (answer && sent < 2) {
          fail(
            'the device answered a SOCKET_OPEN whose frame had a wrong MAC (§12.3: verify before acting on any field)',
            {
              sent: describeBytes(forged!),
              expected: 'the frame dropped: no answer',
              received: describeBytes(answer.raw),
            },
          );
        }
        const after = await socketsOf(s.ctx);
        const grown = after.filter((id) => !before.includes(id));
        const answered = answer && answer.answer.status === 0 ? 1 : 0;
        check(
          grown.length === answered,
          `the table grew by ${grown.length} socket(s) (${grown.map(hexId).join(', ')}) for ${answered} answered SOCKET_OPEN after a forged MAC (§12.3: never acted on)`,
        );
        s.ctx.expect(
          await s.ctx.req('PING', { payload: Buffer.from([2]) }),
          'OK',
          'PING after the forged frame (the session survives)',
          '§12.3',
        );
      });
    },
  },
  {
    id: 'secure.replay',
    title:
      'a replayed SECURE frame (a sealed SOCKET_OPEN sent again byte for byte) is dropped: no second answer, no second socket',
    section: '§12.3',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      ctx.secureKey('the secure handshake');
      await withChannel(ctx, KIT_CHANNEL.secure, { secure: true, role: 'NORMAL' }, async (s) => {
        const tap = s.client.wire;
        const mark = tap.fromHost.length;
        const id = await s.ctx.open(ctx.socketType());
        const sealed = tap.fromHost.slice(mark).find((f) => carries(f.frame, Opcode.SOCKET_OPEN));
        check(
          sealed !== undefined && (sealed.frame.flags & FrameFlag.SECURE) !== 0,
          'the kit did not see its own SOCKET_OPEN go out sealed (§12.3)',
        );
        const before = await socketsOf(s.ctx);
        const violations = s.client.violations.length;
        const strays = s.client.strayAnswers.length;
        tap.inject(sealed.wire);
        await s.client.wake(300);
        await s.client.quiet(100, 1500);
        const after = await socketsOf(s.ctx);
        const second = s.client.violations.slice(violations).filter((v) => v.kind === 'answer');
        if (second.length > 0 || s.client.strayAnswers.length > strays || after.length !== before.length) {
          fail(
            `the device acted on a replayed SECURE frame (counter ${sealed.frame.counter}) (§12.3: a counter already seen is rejected)`,
            {
              sent: describeBytes(sealed.wire),
              expected: `no answer and the table unchanged (${before.map(hexId).join(', ')})`,
              received: `${second.length + s.client.strayAnswers.length - strays} answer(s); table ${after.map(hexId).join(', ')}`,
            },
          );
        }
        check(after.includes(id), `${hexId(id)} is gone after a replayed frame`);
        s.ctx.expect(
          await s.ctx.req('PING', { payload: Buffer.from([3]) }),
          'OK',
          'PING after the replay (the session survives)',
          '§12.3',
        );
      });
    },
  },
  {
    id: 'secure.locked',
    title:
      'a link restart locks a secure channel: only HELLO, PING, REG_READ and SECURE_* are accepted (else E_AUTH) until a new handshake; its sockets survive',
    section: '§12.3, §12.4',
    requires: [...SECURE_CAPS],
    framing: 'link',
    async run(ctx) {
      const key = ctx.secureKey('the secure handshake');
      await withChannel(ctx, KIT_CHANNEL.secure, { secure: true, role: 'NORMAL' }, async (s) => {
        const id = await s.ctx.open(ctx.socketType());
        await s.client.stopLink();
        const locked = await startChannelLink(ctx, s.client);
        const w = 'on a secure channel after a link restart';
        locked.expect(await locked.req('PING', { payload: Buffer.from([4]) }), 'OK', `PING ${w}`, '§12.3');
        locked.expect(
          await locked.req('REG_READ', { offset: Register.SLOTS, count: 1 }),
          'OK',
          `REG_READ ${w}`,
          '§12.3',
        );
        for (const [what, ex] of [
          ['GETOPT', await locked.req('GETOPT', { id, option: SocketOption.NODELAY })],
          [
            'SOCKET_OPEN',
            await locked.req('SOCKET_OPEN', {
              type: 1,
              family: ctx.family,
              protocol: 6,
              blocking: 0,
              recvCredit: 0,
            }),
          ],
          ['CHANNEL_OPEN', await locked.req('CHANNEL_OPEN', { role: 0, credential: Buffer.alloc(0) })],
          ['CLOSE', await locked.req('CLOSE', { id, abort: 1 })],
        ] as const) {
          locked.expect(ex, 'E_AUTH', `${what} ${w} (locked)`, '§12.3');
        }
        await kitHandshake(locked, key);
        const ex = await locked.req('GETOPT', { id, option: SocketOption.NODELAY });
        locked.expect(
          ex,
          'OK',
          `GETOPT of ${hexId(id)} after the new handshake (the socket survives the lock)`,
          '§12.3',
        );
        locked.kept.clear();
        await locked.closeAll(3000);
      });
    },
  },
];

function frameText(f: Frame): string {
  return `frame channel ${f.channel} type ${f.type} seq ${f.seq} flags 0x${f.flags.toString(16)} payload ${hexOf(f.payload, 32)}`;
}
