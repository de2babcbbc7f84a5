/**
 * Robustness of the C reference device, all under AddressSanitizer + UBSan:
 *   - the in-process harness (fuzz_link.c): structured, random and mutated host input through the real link and
 *     device code over a stub network, checking every byte the device writes decodes;
 *   - fuzzed sessions (test/helpers/sim-fuzz.ts, fast-check) at its TCP-shim port;
 *   - random bytes and mutated COBS frames on a socat pty (serial framing, ARQ on).
 * Afterwards a well-behaved host must still be served, and the process must exit cleanly with no sanitizer report.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../src/index.js';
import {
  type AnyCommand,
  encodeMessage,
  encodeSerialFrame,
  encodeSync,
  FrameType,
  SerialDeframer,
} from '../../src/protocol/index.js';
import { openTransport } from '../../src/transport/factory.js';
import type { Transport } from '../../src/transport/transport.js';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import { RawDeviceClient } from '../helpers/raw-device-client.js';
import {
  type FuzzItem,
  fuzzItemArb,
  type FuzzSession,
  fuzzSessionArb,
  runSession,
} from '../helpers/sim-fuzz.js';
import {
  buildReferenceDevice,
  checkCleanExit,
  PTY_BAUD,
  REF_FUZZ_BIN,
  type RefProcess,
  spawnReferenceDevice,
} from './ref-device.js';

beforeAll(() => {
  buildReferenceDevice('san');
  buildReferenceDevice('fuzz');
}, 180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function checkAlive(ref: RefProcess): void {
  expect(ref.child.exitCode, `reference device exited; stderr:\n${ref.stderr()}`).toBeNull();
  expect(ref.stderr()).not.toMatch(/Sanitizer|runtime error/);
}

describe('in-process harness (fuzz_link.c) under ASan + UBSan', () => {
  it('structured, random and mutated input: no crash, every device frame and message decodes', () => {
    const out = execFileSync(
      REF_FUZZ_BIN,
      ['--iterations', '100000000', '--seconds', '6', '--seed', '20240611'],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          ASAN_OPTIONS: 'detect_leaks=1',
          UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
        },
        timeout: 60_000,
      },
    );
    const m = /fuzz-link: (\d+) inputs, seed \d+, no crash/.exec(out);
    expect(m, out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(1000);
  }, 70_000);
});

describe('fuzzed sessions at the TCP-shim port (sanitizer build)', () => {
  let ref: RefProcess;
  let host: string;
  let port: number;

  beforeAll(async () => {
    ref = await spawnReferenceDevice(['--listen', 'tcp://127.0.0.1:0', '--slots', '8', '--loopback-only'], {
      flavour: 'san',
    });
    const u = new URL(ref.url);
    host = u.hostname;
    port = Number(u.port);
  });

  afterAll(async () => {
    if (ref) checkCleanExit(ref, await ref.stop());
  });

  async function wellBehaved(): Promise<void> {
    const c = await RawDeviceClient.connect(ref.url, { timeoutMs: 3000 });
    try {
      const hello = await c.hello();
      expect(hello.protoVersion).toBe(0x0100);
      const { id } = await c.ok('SOCKET_OPEN', {
        type: 2,
        family: 4,
        protocol: 17,
        blocking: 0,
        recvCredit: 4096,
      });
      expect(id).toBeGreaterThan(0);
      expect((await c.ok('PING', { payload: Buffer.from('fresh') })).payload).toEqual(Buffer.from('fresh'));
      await c.ok('CLOSE', { id, abort: 1 });
      expect(c.undecodable).toEqual([]);
    } finally {
      await c.close();
    }
  }

  it('frame sessions: each is synced and answered; every device message decodes', async () => {
    await wellBehaved();
    await fc.assert(
      fc.asyncProperty(
        fuzzSessionArb.filter((s): s is Extract<FuzzSession, { kind: 'frames' }> => s.kind === 'frames'),
        async (session) => {
          const r = await runSession(host, port, session, 3000);
          expect(r.badFraming).toBe(false);
          expect(r.undecodable).toBe(0);
          expect(r.synced).toBe(true);
          if (session.fatalEnd) expect(r.closedByPeer).toBe(true);
          else expect(r.pinged).toBe(true);
        },
      ),
      { numRuns: 80, seed: 20240611, endOnFailure: true },
    );
    checkAlive(ref);
  }, 60_000);

  it('random bytes, and many concurrent connections at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fuzzSessionArb.filter((s): s is Extract<FuzzSession, { kind: 'junk' }> => s.kind === 'junk'),
        async (session) => {
          const r = await runSession(host, port, session, 100);
          expect(r.badFraming).toBe(false);
          expect(r.undecodable).toBe(0);
        },
      ),
      { numRuns: 25, seed: 7, endOnFailure: true },
    );
    const sessions = fc.sample(fuzzSessionArb, { numRuns: 25, seed: 99 });
    const results = await Promise.all(sessions.map((s) => runSession(host, port, s, 800)));
    for (const r of results) {
      expect(r.badFraming).toBe(false);
      expect(r.undecodable).toBe(0);
    }
    checkAlive(ref);
    await wellBehaved();
    checkAlive(ref);
  }, 60_000);
});

describe('random and mutated frames on a pty (serial framing, ARQ; sanitizer build)', () => {
  let pty: PtyPair;
  let ref: RefProcess;
  let url: string;

  beforeAll(async () => {
    pty = await createPtyPair();
    ref = await spawnReferenceDevice(
      ['--serial', pty.b, '--baud', String(PTY_BAUD), '--slots', '8', '--loopback-only'],
      { flavour: 'san' },
    );
    url = `serial://${pty.a}?baud=${PTY_BAUD}`;
  });

  afterAll(async () => {
    if (ref) checkCleanExit(ref, await ref.stop());
    await pty?.kill();
  });

  /** One serial session: a SYNC (ARQ on), then fuzz items as frames with plausible sequence numbers. */
  async function serialSession(
    t: Transport,
    deviceNext: { seq: number },
    items: FuzzItem[],
    junk: Uint8Array[],
  ) {
    let seq = 0;
    const frame = (type: number, payload: Uint8Array, channel = 0, flags = 0) =>
      encodeSerialFrame({
        channel,
        type,
        seq: type === FrameType.MSG ? seq : 0,
        ack: deviceNext.seq,
        flags,
        payload,
      });
    const nonce = (0x5e000000 + Math.floor(Math.random() * 0xffffff)) >>> 0;
    t.write(Buffer.from([0]));
    t.write(frame(FrameType.SYNC, encodeSync({ nonce, window: 16, arq: 1, maxPayload: 4096 })));
    await sleep(20);
    for (const item of items) {
      switch (item.kind) {
        case 'command':
          t.write(frame(FrameType.MSG, encodeMessage(item.message as AnyCommand)));
          seq = (seq + 1) & 0xffff;
          break;
        case 'msg-bytes':
          t.write(frame(FrameType.MSG, item.bytes));
          seq = (seq + 1) & 0xffff;
          break;
        case 'flipped': {
          // A corrupted copy (the CRC catches it), then the same frame intact, as a retransmission would.
          const good = frame(FrameType.MSG, encodeMessage(item.message as AnyCommand));
          const bad = Buffer.from(good);
          const bit = item.bit % ((bad.length - 1) * 8);
          bad[bit >> 3]! ^= 1 << (bit & 7);
          t.write(bad);
          t.write(Buffer.from([0]));
          t.write(good);
          seq = (seq + 1) & 0xffff;
          break;
        }
        case 'frame': {
          if (item.type === FrameType.SYNC && item.channel === 0 && item.payload.length === 8) {
            seq = 0; // a valid SYNC starts a new incarnation: sequence numbers restart
            deviceNext.seq = 0;
          }
          t.write(frame(item.type, item.payload, item.channel, item.flags & ~1));
          break;
        }
        case 'garbage-record':
          t.write(item.bytes);
          if (item.bytes.length % 2) t.write(Buffer.from([0]));
          break;
      }
    }
    for (const j of junk) t.write(j);
    await sleep(60);
  }

  it('junk and fuzzed frames never crash it; a well-behaved host is served afterwards', async () => {
    const t = await openTransport(url);
    const deframer = new SerialDeframer(65535);
    const deviceNext = { seq: 0 };
    t.on('data', (chunk: Buffer) => {
      for (const out of deframer.push(chunk)) {
        if (out.kind === 'frame' && out.frame.type === FrameType.MSG)
          deviceNext.seq = (out.frame.seq + 1) & 0xffff; // acknowledge what the device sent
      }
    });
    try {
      const sessions = fc.sample(
        fc.record({
          items: fc.array(fuzzItemArb, { minLength: 1, maxLength: 25 }),
          junk: fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 3 }),
        }),
        { numRuns: 60, seed: 4242 },
      );
      for (const s of sessions) {
        await serialSession(t, deviceNext, s.items, s.junk);
        checkAlive(ref);
      }
    } finally {
      await t.close();
    }
    checkAlive(ref);
    const dev = await openDevice({ url, handshakeTimeoutMs: 10_000 });
    try {
      expect(await dev.ping(Buffer.from('after the fuzz'))).toBeGreaterThanOrEqual(0);
      const u = dev.createSocket('udp4');
      u.bind(0, '127.0.0.1');
      await new Promise<void>((r) => u.once('listening', () => r()));
      await new Promise<void>((r) => u.close(() => r()));
    } finally {
      await dev.close();
    }
    checkAlive(ref);
  }, 60_000);
});
