/**
 * offload selftest: the bring-up checklist, one step after another, each PASS or FAIL with what was seen.
 * Exit status 0 only when every step passed.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { Command, Option } from 'commander';
import { isOffloadError } from '../../errors.js';
import {
  ConditionFlag,
  decodeMessage,
  Limits,
  type SocketEntry,
  SocketStatus,
  SocketType,
  STATUS_NAME,
  StatusCode,
} from '../../protocol/index.js';
import {
  ALL_ENTRY_FIELDS,
  diffTables,
  formatDifferences,
  type OffloadDevice,
  type OffloadSocket,
} from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { startTcpEcho, startUdpEcho } from '../loopback.js';
import { type DeviceCliOptions, intArg, withDeviceOptions } from '../options.js';
import { hex, hexId, out, printJson } from '../output.js';
import { PatternStream, tcpTransfer } from '../workload.js';

export interface StepResult {
  step: string;
  title: string;
  ok: boolean;
  ms: number;
  detail: string;
}

class StepFailed extends Error {}

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new StepFailed(message);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new StepFailed(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function once<T = unknown>(em: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onErr = (e: Error) => {
      em.off(event, onOk);
      reject(e);
    };
    const onOk = (v: T) => {
      em.off('error', onErr);
      resolve(v);
    };
    em.once(event, onOk);
    em.once('error', onErr);
  });
}

async function quiet(dev: OffloadDevice): Promise<void> {
  await dev.device.idle(3000);
  await sleep(50);
  await dev.device.idle(3000);
}

async function openRaw(dev: OffloadDevice, type: number): Promise<number> {
  const r = await dev.device.request('SOCKET_OPEN', {
    type,
    family: 4,
    protocol: type === SocketType.STREAM ? 6 : 17,
    blocking: 0,
    recvCredit: 0,
  });
  return r.id;
}

async function closeRaw(dev: OffloadDevice, id: number): Promise<void> {
  await dev.device.request('CLOSE', { id, abort: 1 }, { socketId: id });
}

type Step = { step: string; title: string; run: (dev: OffloadDevice, ctx: Context) => Promise<string> };

interface Context {
  /** Event sequence numbers seen (epoch, seq) since the start. */
  events: Array<{ epoch: number; seq: number; name: string }>;
  transferBytes?: number;
}

export const STEPS: Step[] = [
  {
    step: 'handshake',
    title: 'handshake: version, capabilities, PING',
    run: async (dev) => {
      const i = dev.info;
      check(i.protocolVersion.major === 1, `protocol major version ${i.protocolVersion.major}, expected 1`);
      check(i.slots >= 1 && i.slots <= Limits.maxSlots, `slots ${i.slots} out of 1..${Limits.maxSlots}`);
      check(
        i.maxPayload >= Limits.minMaxPayload,
        `max payload ${i.maxPayload} below ${Limits.minMaxPayload}`,
      );
      check(i.epoch !== 0, 'boot epoch is 0');
      check(i.capabilityNames.includes('TCP'), 'the device does not offer TCP');
      const payload = new PatternStream(7).next(Math.min(200, i.maxPayload - 16));
      const rtt = await dev.ping(payload);
      return `protocol ${i.protocolVersion.major}.${i.protocolVersion.minor}, ${i.capabilityNames.join(' ')}, ${i.slots} slots, max payload ${i.maxPayload}, firmware '${i.firmware}', PING ${payload.length} B echoed in ${rtt.toFixed(2)} ms`;
    },
  },
  {
    step: 'registers',
    title: 'registers: identity, SCRATCH write/read-back',
    run: async (dev) => {
      const i = dev.info;
      const magic = await dev.readRegister('MAGIC');
      check(
        magic === Limits.registerMagic,
        `MAGIC reads ${hex(magic)}, expected ${hex(Limits.registerMagic)}`,
      );
      const version = await dev.readRegister('VERSION');
      check(
        version === i.protocolVersion.word,
        `VERSION reads ${hex(version)}, HELLO said ${hex(i.protocolVersion.word)}`,
      );
      const epoch = await dev.readRegister('BOOT_EPOCH');
      check(epoch === i.epoch, `BOOT_EPOCH reads ${epoch}, HELLO said ${i.epoch}`);
      const slots = await dev.readRegister('SLOTS');
      check((slots & 0xffff) >= i.slots, `SLOTS total ${slots & 0xffff} < ${i.slots}`);
      const saved = await dev.readRegister('SCRATCH');
      for (const v of [0xa5a55a5a, 0x5a5aa5a5, 0xffffffff, 0]) {
        await dev.writeRegister('SCRATCH', v);
        const back = await dev.readRegister('SCRATCH');
        check(back === v, `SCRATCH: wrote ${hex(v)}, read back ${hex(back)}`);
      }
      await dev.writeRegister('SCRATCH', saved);
      return `MAGIC ${hex(magic)}, VERSION ${hex(version, 4)}, BOOT_EPOCH ${epoch}, SCRATCH read back 4 patterns`;
    },
  },
  {
    step: 'read-only',
    title: 'registers: write to read-only MAGIC refused',
    run: async (dev) => {
      let code: string | undefined;
      try {
        await dev.writeRegister('MAGIC', 0x12345678);
      } catch (err) {
        code = isOffloadError(err) ? err.code : String(err);
      }
      check(
        code === 'E_OFFLOAD_NOT_PERMITTED',
        `REG_WRITE MAGIC answered ${code ?? 'OK'}, expected E_NOT_PERMITTED`,
      );
      const magic = await dev.readRegister('MAGIC');
      check(magic === Limits.registerMagic, `MAGIC changed to ${hex(magic)}`);
      return 'REG_WRITE MAGIC → E_NOT_PERMITTED, MAGIC unchanged';
    },
  },
  {
    step: 'slots',
    title: 'open and close every socket slot',
    run: async (dev) => {
      await dev.sync();
      const n = dev.info.slots;
      const before = await dev.readRegister('SLOTS');
      const used0 = before >>> 16;
      check(dev.sockets.size === 0, `${dev.sockets.size} sockets already open on this channel`);
      const ids = await Promise.all(
        Array.from({ length: n }, (_, i) => openRaw(dev, i % 2 ? SocketType.DGRAM : SocketType.STREAM)),
      );
      check(new Set(ids).size === n, 'SOCKET_OPEN returned a duplicate id');
      check(new Set(ids.map((id) => id & 0xff)).size === n, 'two sockets share a slot');
      const full = await dev.readRegister('SLOTS');
      let extra: string;
      try {
        const id = await openRaw(dev, SocketType.STREAM);
        await closeRaw(dev, id);
        extra = 'OK';
      } catch (err) {
        extra = isOffloadError(err) ? err.code : String(err);
      }
      const snap = await dev.snapshot();
      await Promise.all(ids.map((id) => closeRaw(dev, id)));
      await quiet(dev);
      const after = await dev.readRegister('SLOTS');
      const snapAfter = await dev.snapshot();
      check(
        full >>> 16 === used0 + n,
        `SLOTS showed ${full >>> 16} in use with all ${n} open (expected ${used0 + n})`,
      );
      check(
        extra === 'E_OFFLOAD_NO_SLOT',
        `one socket more than the slots answered ${extra}, expected E_NO_SLOT`,
      );
      check(snap.entries.length === n, `the snapshot showed ${snap.entries.length} sockets, expected ${n}`);
      check(
        after >>> 16 === used0,
        `SLOTS shows ${after >>> 16} in use after closing all (expected ${used0})`,
      );
      check(snapAfter.entries.length === 0, `${snapAfter.entries.length} sockets left in the snapshot`);
      check(dev.sockets.size === 0, `${dev.sockets.size} sockets left in the mirror`);
      return `${n} sockets opened (SLOTS ${full >>> 16}/${full & 0xffff}), one more → E_NO_SLOT, all closed`;
    },
  },
  {
    step: 'tcp-connect',
    title: 'TCP connect through the device to a loopback peer',
    run: async (dev) => {
      const echo = await startTcpEcho();
      try {
        const r = await tcpTransfer(dev, echo, 64 * 1024, { seed: 11 });
        check(r.ok, `echoed data differs: sent sha256 ${r.sentSha256}, got ${r.receivedSha256}`);
        return `connected to ${echo.host}:${echo.port}, 64 KiB echoed, sha256 ${r.sentSha256.slice(0, 16)}… matches`;
      } finally {
        await echo.close();
      }
    },
  },
  {
    step: 'tcp-accept',
    title: 'TCP listen/accept on the device, loopback client',
    run: async (dev) => {
      const server = dev.createServer((c: OffloadSocket) => {
        c.on('error', () => undefined);
        c.pipe(c);
      });
      server.on('error', () => undefined);
      try {
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const port = server.address()!.port;
        const entry = dev.sockets.get(server.socketId!);
        check(
          entry?.status === SocketStatus.LISTENING,
          `listener status ${entry?.status}, expected LISTENING`,
        );
        const client = net.connect(port, '127.0.0.1');
        const chunks: Buffer[] = [];
        client.on('data', (d: Buffer) => chunks.push(d));
        await once(client, 'connect');
        const msg = Buffer.from('hello through the offload device\n'.repeat(100));
        client.end(msg);
        await once(client, 'close');
        const got = Buffer.concat(chunks);
        check(
          got.equals(msg),
          `the loopback client got ${got.length} bytes back, expected ${msg.length} identical`,
        );
        return `listening on 127.0.0.1:${port}, accepted a connection, ${msg.length} B echoed back to the client`;
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    },
  },
  {
    step: 'udp',
    title: 'UDP both ways through the device',
    run: async (dev) => {
      const echo = await startUdpEcho();
      const u = dev.createSocket('udp4');
      const native = dgram.createSocket('udp4');
      try {
        u.on('error', () => undefined);
        u.bind(0);
        await once(u, 'listening');
        const devPort = u.address().port;
        const reply = once<Buffer>(u, 'message');
        u.send(Buffer.from('ping from the device'), echo.port, '127.0.0.1');
        const r1 = await reply;
        check(r1.toString() === 'ping from the device', `the echo answered '${r1.toString()}'`);
        await new Promise<void>((r) => native.bind(0, '127.0.0.1', () => r()));
        const inbound = new Promise<[Buffer, { address: string; port: number }]>((resolve) =>
          u.once('message', (m, ri) => resolve([m, ri])),
        );
        native.send('hello device', devPort, '127.0.0.1');
        const [m2, from] = await inbound;
        check(m2.toString() === 'hello device', `the device received '${m2.toString()}'`);
        check(
          from.port === native.address().port,
          `the datagram came from port ${from.port}, sent from ${native.address().port}`,
        );
        return `sent to the echo at ${echo.host}:${echo.port} and back; received from a loopback sender on port ${devPort}`;
      } finally {
        await new Promise<void>((r) => u.close(() => r()));
        native.close();
        await echo.close();
      }
    },
  },
  {
    step: 'update-unknown',
    title: 'UPDATE with an unknown id: E_UNKNOWN_SOCKET, table unchanged',
    run: async (dev) => {
      const id = await openRaw(dev, SocketType.DGRAM);
      try {
        await quiet(dev);
        const before = await dev.snapshot();
        const used = new Set(before.entries.map((e) => e.id & 0xff));
        let slot = 0;
        while (used.has(slot) && slot < dev.info.slots) slot++;
        const unknownId = ((((id >> 8) % 255) + 1) << 8) | (slot < dev.info.slots ? slot : id & 0xff);
        check(!before.entries.some((e) => e.id === unknownId), 'could not find an unused id');
        const r = await dev.device.requestRaw('UPDATE', {
          id: unknownId,
          status: 0xff,
          setFlags: ConditionFlag.HOST_MARK0,
          clearFlags: 0,
        });
        await quiet(dev);
        const after = await dev.snapshot();
        check(
          r.status === StatusCode.E_UNKNOWN_SOCKET,
          `UPDATE ${hexId(unknownId)} answered ${STATUS_NAME[r.status] ?? r.status}, expected E_UNKNOWN_SOCKET`,
        );
        const d = diffTables(before.entries, after.entries, { fields: ALL_ENTRY_FIELDS });
        check(d.length === 0, `the table changed: ${formatDifferences(d)}`);
        check(
          after.eventSeq === before.eventSeq,
          `events were sent (#${before.eventSeq} → #${after.eventSeq})`,
        );
        // The same UPDATE on a socket that exists does change it (and is announced).
        const ok = await dev.device.request(
          'UPDATE',
          { id, status: 0xff, setFlags: ConditionFlag.HOST_MARK0, clearFlags: 0 },
          { socketId: id },
        );
        check((ok.flags & ConditionFlag.HOST_MARK0) !== 0, 'UPDATE on a known id did not set HOST_MARK0');
        return `UPDATE ${hexId(unknownId)} → E_UNKNOWN_SOCKET, snapshot identical (${after.entries.length} entr${after.entries.length === 1 ? 'y' : 'ies'}); UPDATE ${hexId(id)} set HOST_MARK0`;
      } finally {
        await closeRaw(dev, id).catch(() => undefined);
      }
    },
  },
  {
    step: 'flow-control',
    title: 'flow control: credits honoured on a larger transfer',
    run: async (dev, ctx) => flowControl(dev, ctx),
  },
  {
    step: 'events',
    title: 'event sequence contiguous, nothing lost',
    run: async (dev, ctx) => {
      await quiet(dev);
      const lost = await dev.device.probeEvents();
      const st = dev.device.stats();
      const ev = ctx.events;
      check(ev.length > 0, 'no events were received');
      let breaks = 0;
      for (let i = 1; i < ev.length; i++) {
        if (ev[i]!.epoch === ev[i - 1]!.epoch && ev[i]!.seq !== (ev[i - 1]!.seq + 1) >>> 0) breaks++;
      }
      check(breaks === 0, `${breaks} break(s) in the event sequence`);
      check(st.gaps === 0 && st.missedEvents === 0, `${st.gaps} gaps, ${st.missedEvents} events missed`);
      check(st.staleEvents === 0, `${st.staleEvents} stale or duplicate events`);
      check(!lost, 'EVENT_SEQ shows events that never arrived');
      return `${ev.length} events #${ev[0]!.seq}..#${ev[ev.length - 1]!.seq}, contiguous; EVENT_SEQ agrees`;
    },
  },
  {
    step: 'mirror',
    title: 'host mirror equals the device snapshot',
    run: async (dev) => {
      await quiet(dev);
      const d = await dev.diff();
      check(d.length === 0, formatDifferences(d));
      const slots = await dev.readRegister('SLOTS');
      return `mirror and snapshot agree (${dev.sockets.size} sockets; SLOTS ${slots >>> 16} in use)`;
    },
  },
];

async function flowControl(dev: OffloadDevice, ctx: Context): Promise<string> {
  const echo = await startTcpEcho();
  const size =
    ctx.transferBytes ??
    Math.min(8 * 1024 * 1024, Math.max(512 * 1024, 4 * dev.info.sendQueueSize, 4 * dev.info.recvQueueSize));
  const recvWindow = 16 * 1024;
  const sock = dev.createConnection({ host: echo.host, port: echo.port, recvWindow, allowHalfOpen: true });
  let error: Error | undefined;
  sock.on('error', (e) => {
    error ??= e;
  });
  const violations: string[] = [];
  let granted = 0;
  let sent = 0;
  let sends = 0;
  const onCredit = (b: { id: number; bytes: number }) => {
    if (b.id === sock.socketId) granted += b.bytes;
  };
  const onResponse = (cmd: { name: string; body: unknown }, resp: { status: number; body?: unknown }) => {
    const body = cmd.body as { id?: number; data?: Uint8Array };
    if (cmd.name !== 'SEND' || body.id !== sock.socketId) return;
    sends++;
    sent += body.data?.length ?? 0;
    const accepted = (resp.body as { accepted?: number } | undefined)?.accepted;
    if (resp.status !== StatusCode.OK) violations.push(`SEND answered ${STATUS_NAME[resp.status]}`);
    else if (accepted !== body.data?.length)
      violations.push(`SEND of ${body.data?.length} B accepted ${accepted}`);
    if (sent > granted && violations.length < 5)
      violations.push(`${sent} B sent with only ${granted} B of credit`);
  };
  dev.device.on('sendCredit', onCredit);
  dev.device.on('response', onResponse);
  const got = createHash('sha256');
  const want = createHash('sha256');
  let received = 0;
  try {
    await once(sock, 'connect');
    granted += dev.sockets.get(sock.socketId!)?.sendSpace ?? 0;
    // Write everything (waiting for drain), but do not read for a while: the device must hold back.
    const gen = new PatternStream(99);
    const writer = (async () => {
      for (let off = 0; off < size; ) {
        const n = Math.min(64 * 1024, size - off);
        const chunk = gen.next(n);
        want.update(chunk);
        off += n;
        if (!sock.write(chunk))
          await new Promise<void>((r) => {
            sock.once('drain', r);
            sock.once('close', r);
          });
      }
      sock.end();
    })();
    // Wait until nothing more arrives (the receive credit is used up), then check that it stays so.
    let held1 = -1;
    for (const until = performance.now() + 10_000; performance.now() < until; ) {
      await sleep(100);
      const now = sock.bytesRead;
      if (now === held1 && now > 0) break;
      held1 = now;
    }
    await sleep(300);
    const held2 = sock.bytesRead;
    const q = await dev.device.request('QUERY', { id: sock.socketId! }, { socketId: sock.socketId! });
    const e: SocketEntry = q.entry;
    check(held2 === held1, `data kept arriving while the application read nothing (${held1} → ${held2} B)`);
    check(
      held2 <= recvWindow + sock.readableHighWaterMark + 64 * 1024,
      `${held2} B arrived with a ${recvWindow} B receive window`,
    );
    check(e.recvQueued > 0 || e.sendQueued > 0, 'the device holds nothing back while the reader is stalled');
    const heldOnDevice = e.recvQueued + e.sendQueued;
    sock.on('data', (d: Buffer) => {
      got.update(d);
      received += d.length;
    });
    await withTimeout(Promise.all([writer, once(sock, 'end')]), 60_000, 'transfer');
    sock.destroy();
    if (error) throw error;
    check(violations.length === 0, violations.slice(0, 3).join('; '));
    check(received === size, `received ${received} B of ${size}`);
    check(got.digest('hex') === want.digest('hex'), 'the data came back different (sha256)');
    return `${size} B echoed, sha256 ok; ${sends} SENDs all within credit; with the reader stalled ${held2} B arrived and the device held ${heldOnDevice} B`;
  } finally {
    dev.device.off('sendCredit', onCredit);
    dev.device.off('response', onResponse);
    sock.destroy();
    await echo.close();
  }
}

export async function runSelftest(
  dev: OffloadDevice,
  opts: {
    only?: string[];
    stepTimeoutMs?: number;
    onStep?: (r: StepResult) => void;
    transferBytes?: number;
  } = {},
): Promise<StepResult[]> {
  const ctx: Context = { events: [] };
  if (opts.transferBytes !== undefined) ctx.transferBytes = opts.transferBytes;
  const onMessage = (bytes: Buffer) => {
    try {
      const m = decodeMessage(bytes);
      if (m.kind === 'event') ctx.events.push({ epoch: m.epoch, seq: m.seq, name: m.name });
    } catch {
      // undecodable: the device layer counts it
    }
  };
  dev.device.link.on('message', onMessage);
  const results: StepResult[] = [];
  try {
    for (const s of STEPS) {
      if (opts.only && !opts.only.includes(s.step)) continue;
      const t0 = performance.now();
      let r: StepResult;
      try {
        const detail = await withTimeout(s.run(dev, ctx), opts.stepTimeoutMs ?? 60_000, s.step);
        r = { step: s.step, title: s.title, ok: true, ms: performance.now() - t0, detail };
      } catch (err) {
        const code = (err as { code?: string }).code;
        const msg =
          err instanceof StepFailed ? err.message : `${code ? `${code}: ` : ''}${(err as Error).message}`;
        r = { step: s.step, title: s.title, ok: false, ms: performance.now() - t0, detail: msg };
      }
      results.push(r);
      opts.onStep?.(r);
      if (dev.device.state === 'down' || dev.device.state === 'closed') break;
    }
  } finally {
    dev.device.link.off('message', onMessage);
  }
  return results;
}

export function selftestCommand(): Command {
  const cmd = new Command('selftest')
    .description(
      'run the bring-up checklist against a device and print PASS/FAIL per step; exit status 0 only if all pass',
    )
    .addOption(
      new Option(
        '--only <steps>',
        `comma-separated subset of: ${STEPS.map((s) => s.step).join(', ')}`,
      ).argParser((v: string) => {
        const names = v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        for (const n of names) {
          if (!STEPS.some((s) => s.step === n))
            throw new Error(`unknown step '${n}' (known: ${STEPS.map((s) => s.step).join(', ')})`);
        }
        return names;
      }),
    )
    .addOption(
      new Option('--step-timeout <ms>', 'a step that takes longer fails')
        .default(60_000)
        .argParser(intArg('--step-timeout', 100, 3_600_000)),
    );
  withDeviceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Steps:
${STEPS.map((s) => `  ${s.step.padEnd(15)} ${s.title}`).join('\n')}

The loopback peers (TCP echo, UDP echo, a TCP client) run in this process on 127.0.0.1, as for the simulator.
Sockets another host left on the device are closed first (the "slots" step needs every slot).

Examples:
  $ offload selftest
  $ offload selftest --device tcp://127.0.0.1:7070
  $ offload selftest --device 'serial:///dev/ttyUSB0?baud=921600' --json
  $ offload selftest --only handshake,registers,read-only`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<DeviceCliOptions & { only?: string[]; stepTimeout: number }>();
    await withDevice(o, 'use', async (dev) => {
      if (!o.json)
        out(
          `selftest of ${dev.name}: firmware '${dev.info.firmware}', protocol ${dev.info.protocolVersion.major}.${dev.info.protocolVersion.minor}, epoch ${dev.info.epoch}`,
        );
      const w = Math.max(...STEPS.map((s) => s.step.length));
      const opts: Parameters<typeof runSelftest>[1] = { stepTimeoutMs: o.stepTimeout };
      if (o.only) opts.only = o.only;
      if (!o.json)
        opts.onStep = (r) =>
          out(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.step.padEnd(w)}  ${r.detail}  (${r.ms.toFixed(0)} ms)`);
      const results = await runSelftest(dev, opts);
      const passed = results.filter((r) => r.ok).length;
      const all = results.length === (o.only?.length ?? STEPS.length) && passed === results.length;
      if (o.json)
        printJson({ device: dev.name, ok: all, passed, failed: results.length - passed, steps: results });
      else
        out(
          all ? `${passed}/${results.length} steps passed` : `FAIL: ${passed}/${results.length} steps passed`,
        );
      if (!all) process.exitCode = 1;
    });
  });
  return cmd;
}
