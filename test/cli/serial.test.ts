/**
 * The CLI over a serial line: the standalone simulator serves one end of a socat pty pair, the CLI opens the other
 * through serial:// (real serialport binding, COBS framing, CRC-32, ARQ on).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPtyPair, type PtyPair } from '../helpers/pty.js';
import {
  expectOneLineError,
  ndjson,
  requireBuild,
  runCli,
  type SimChild,
  startCli,
  startSimProcess,
} from './helpers.js';

const BAUD = 4_000_000; // a pty is not rate-limited; the baud rate sizes the retransmission timer

describe('offload CLI against the standalone simulator over a serial line (pty pair)', () => {
  let pty: PtyPair;
  let sim: SimChild;
  let dev: string[];

  beforeAll(async () => {
    requireBuild();
    pty = await createPtyPair();
    sim = await startSimProcess(`serial://${pty.b}?baud=${BAUD}`);
    dev = ['--device', `serial://${pty.a}?baud=${BAUD}`];
  });
  afterAll(async () => {
    await sim?.stop();
    await pty?.kill();
  });

  it('probe --json: serial framing with ARQ', async () => {
    const r = await runCli(['probe', ...dev, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p).toMatchObject({ protocolVersion: '1.0', magic: '0x4F464C44', link: { arq: true } });
    expect(p.link.framing).toMatch(/^serial/);
    expect(p.maxPayload).toBeLessThanOrEqual(4096);
    // The retransmission timer (§4.3): the PINGs gave round-trip samples; the RTO never goes below 200 ms.
    expect(p.link.rto.samples).toBeGreaterThan(0);
    expect(p.link.rto.srttMs).toBeGreaterThan(0);
    expect(p.link.rto.rtoMs).toBeGreaterThanOrEqual(200);
    const text = await runCli(['probe', ...dev]);
    expect(text.stdout).toMatch(
      /retransmit +RTO \d+(\.\d+)? ms \(initial \d+(\.\d+)? ms; measured round trip [\d.]+ ms over \d+ frames\)/,
    );
  });

  it('regs: write to read-only refused, SCRATCH written and read back', async () => {
    expectOneLineError(
      await runCli(['regs', 'write', 'VERSION', '0x200', ...dev]),
      'E_OFFLOAD_NOT_PERMITTED',
    );
    const w = await runCli(['regs', 'write', 'SCRATCH', '305419896', ...dev, '--json']);
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({
      name: 'SCRATCH',
      written: '0x12345678',
      readBack: '0x12345678',
    });
    const t = await runCli(['regs', ...dev]);
    expect(t.stdout).toMatch(/^0x30\s+SCRATCH\s+RW\s+0x12345678/m);
  });

  it('traffic TCP and UDP through the serial link, sha256 verified', async () => {
    const tcp = await runCli(['traffic', ...dev, '--size', '512k', '--parallel', '2', '--json']);
    expect(tcp.code, tcp.stdout + tcp.stderr).toBe(0);
    expect(JSON.parse(tcp.stdout)).toMatchObject({ proto: 'tcp', ok: true, verified: 2, mismatches: 0 });
    const udp = await runCli(['traffic', ...dev, '--udp', '--count', '100', '--json']);
    expect(udp.code, udp.stdout + udp.stderr).toBe(0);
    expect(JSON.parse(udp.stdout)).toMatchObject({ proto: 'udp', ok: true, verified: 100 });
  });

  it('selftest passes over serial', async () => {
    const r = await runCli(['selftest', ...dev, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ok).toBe(true);
    expect(s.steps).toHaveLength(11);
  });

  it('connect through the serial device to a listener on the in-process simulator', async () => {
    const l = startCli(['listen', '0', '--host', '127.0.0.1', '--half-open', '--device', 'sim:']);
    const m = await l.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    l.child.stdin!.end('served over sim:\n');
    // --half-open on both sides: each sends its input and ends; with nc's default (end with the peer) the first FIN
    // could end the other session before it had read its stdin, and nothing would be sent that way.
    const c = await runCli(['connect', `127.0.0.1:${m[1]}`, '--half-open', ...dev], {
      input: 'sent over serial\n',
    });
    const lr = await l.done;
    expect(c.code, c.stderr).toBe(0);
    expect(lr.code, lr.stderr).toBe(0);
    expect(c.stdout).toBe('served over sim:\n');
    expect(lr.stdout).toBe('sent over serial\n');
  });

  it('monitor --json shows the link counters of the serial link', async () => {
    const r = await runCli([
      'monitor',
      ...dev,
      '--json',
      '--duration',
      '800',
      '--interval',
      '200',
      '--traffic',
      'udp',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = ndjson(r.stdout);
    const link = lines.filter((l) => l.type === 'link');
    expect(link.length).toBeGreaterThanOrEqual(2);
    const c = link[link.length - 1]!.counters as Record<string, number>;
    expect(c.framesSent).toBeGreaterThan(0);
    expect(c.crcErrors).toBe(0);
    expect(lines.some((l) => l.type === 'event' && l.event === 'DATAGRAM')).toBe(true);
  });
});
