/**
 * The `offload` CLI as a user runs it, against the standalone simulator over the TCP shim: every command's text
 * and --json output, exit statuses, the read-only register refusal, leftover sockets shown by `sockets`, traffic
 * verified by sha256, the self-test, a netcat session, monitor NDJSON while traffic runs, bench.
 * Each command is its own process; a new one takes channel 0 of the simulator over from the previous one.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectOneLineError,
  ndjson,
  requireBuild,
  runCli,
  type SimChild,
  startCli,
  startSimProcess,
} from './helpers.js';

describe('offload CLI against the standalone simulator over TCP', () => {
  let sim: SimChild;
  let dev: string[];

  beforeAll(async () => {
    requireBuild();
    sim = await startSimProcess('tcp://127.0.0.1:0', ['--slots', '16']);
    dev = ['--device', sim.url];
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('probe: text and --json', async () => {
    const t = await runCli(['probe', ...dev]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^protocol\s+1\.0/m);
    expect(t.stdout).toMatch(/^capabilities\s+TCP UDP .*SNAPSHOT/m);
    expect(t.stdout).toMatch(/^slots\s+16 \(0 in use\)/m);
    expect(t.stdout).toMatch(/^link\s+tcp \(length-prefixed\), ARQ off/m);
    expect(t.stdout).toMatch(/^round trip\s+min [\d.]+ \/ avg/m);
    const j = await runCli(['probe', ...dev, '--json', '--pings', '3']);
    expect(j.code, j.stderr).toBe(0);
    const p = JSON.parse(j.stdout);
    expect(p).toMatchObject({
      device: sim.url,
      protocolVersion: '1.0',
      slots: { total: 16, inUse: 0 },
      magic: '0x4F464C44',
      link: { arq: false, channel: 0 },
      rtt: { count: 3 },
    });
    expect(p.capabilities.names).toEqual(expect.arrayContaining(['TCP', 'UDP', 'SNAPSHOT', 'REG_WINDOW']));
    expect(p.epoch).toBeGreaterThan(0);
    expect(p.maxPayload).toBeGreaterThanOrEqual(256);
    expect(p.rtt.avgMs).toBeGreaterThan(0);
  });

  it('regs: the decoded map as a table and as JSON', async () => {
    const t = await runCli(['regs', ...dev]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^OFFSET\s+NAME\s+ACCESS\s+VALUE\s+DECODED/);
    expect(t.stdout).toMatch(/^0x00\s+MAGIC\s+RO\s+0x4F464C44\s+'OFLD' \(ok\)/m);
    expect(t.stdout).toMatch(/^0x14\s+SLOTS\s+RO\s+0x00000010\s+0 of 16 in use/m);
    expect(t.stdout).toMatch(/^0x0C\s+STATUS\s+RO\s+0x00000009\s+READY\|LINK_UP/m);
    const j = await runCli(['regs', ...dev, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const rows = JSON.parse(j.stdout) as Array<{
      name: string;
      access: string;
      raw: number;
      decoded: string;
    }>;
    expect(rows.map((r) => r.name)).toContain('SOCKET_WINDOW_STRIDE');
    expect(rows.find((r) => r.name === 'MAGIC')).toMatchObject({ access: 'RO', raw: 0x4f464c44 });
    expect(rows.find((r) => r.name === 'VERSION')).toMatchObject({ raw: 0x100, decoded: 'protocol 1.0' });
    expect(rows.find((r) => r.name === 'SOCKET_WINDOW_OFFSET')).toMatchObject({ raw: 0x1000 });
  });

  it('regs write MAGIC is refused by the device: exit 1, one clear line, MAGIC unchanged', async () => {
    const r = await runCli(['regs', 'write', 'MAGIC', '1', ...dev]);
    expectOneLineError(r, 'E_OFFLOAD_NOT_PERMITTED');
    expect(r.stderr).toMatch(/MAGIC is read-only \(RO\).*E_NOT_PERMITTED/);
    const m = await runCli(['regs', 'read', 'magic', ...dev, '--json']);
    expect(JSON.parse(m.stdout)).toMatchObject({ name: 'MAGIC', raw: 0x4f464c44 });
  });

  it('regs write / read SCRATCH (by name and by offset)', async () => {
    const w = await runCli(['regs', 'write', 'SCRATCH', '0xC0FFEE01', ...dev]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/SCRATCH \(0x30\) ← 0xC0FFEE01; reads back 0xC0FFEE01/);
    // A new host does not reset the board: SCRATCH keeps its value across connections.
    const r = await runCli(['regs', 'read', '0x30', ...dev]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SCRATCH \(0x30, RW\) = 0xC0FFEE01 \(3237998081\)/);
    const j = await runCli(['regs', '--device', sim.url, 'read', 'SCRATCH', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ raw: 0xc0ffee01, value: '0xC0FFEE01' });
    const bad = await runCli(['regs', 'write', 'SCRATCH', 'lots', ...dev]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/VALUE must be a 32-bit number/);
  });

  it('sockets: leftover sockets are shown, mirror = --device-view, --diff agrees; regs --raw shows the window', async () => {
    // A listener whose host dies leaves its socket on the board.
    const l = startCli(['listen', '0', '--host', '127.0.0.1', ...dev]);
    const m = await l.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(m[1]);
    l.child.kill('SIGKILL');
    await l.done;

    const mirror = await runCli(['sockets', ...dev, '--json']);
    expect(mirror.code, mirror.stderr).toBe(0);
    const rows = JSON.parse(mirror.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      type: 'TCP',
      status: 'LISTENING',
      local: `127.0.0.1:${port}`,
      remote: '-',
    });
    const device = await runCli(['sockets', ...dev, '--device-view', '--json']);
    expect(device.code, device.stderr).toBe(0);
    expect(JSON.parse(device.stdout)).toEqual(rows);
    const diff = await runCli(['sockets', ...dev, '--diff', '--json']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout)).toEqual({ agree: true, mirror: 1, differences: [] });
    const text = await runCli(['sockets', ...dev]);
    expect(text.stdout).toMatch(/^ID\s+TYPE\s+STATUS\s+FLAGS\s+LOCAL\s+REMOTE\s+SEND-Q\s+RECV-Q/m);
    expect(text.stdout).toMatch(
      new RegExp(`^0x[0-9a-f]{4}\\s+TCP\\s+LISTENING\\s+WRITABLE\\s+127\\.0\\.0\\.1:${port}`, 'm'),
    );

    const slot = Number.parseInt(String(rows[0]!.id), 16) & 0xff;
    const raw = await runCli(['regs', '--raw', `slot:${slot}`, ...dev]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout).toMatch(new RegExp(`^0${(0x1000 + slot * 0x80).toString(16)}: `, 'm'));
    expect(raw.stdout).toMatch(
      new RegExp(`slot ${slot}: ${rows[0]!.id} TCP LISTENING .*127\\.0\\.0\\.1:${port}`),
    );
    const rawJson = JSON.parse((await runCli(['regs', '--raw', '0x1000:0x800', ...dev, '--json'])).stdout);
    expect(rawJson.entries).toEqual([expect.objectContaining({ id: rows[0]!.id, status: 'LISTENING' })]);
  });

  it('sockets --watch: a change the device reports (the peer closes a leftover connection) is shown live', async () => {
    const peers = new Set<net.Socket>();
    const server = net.createServer((s) => {
      peers.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      // A connection whose host dies stays on the board, CONNECTED.
      const c = startCli(['connect', `127.0.0.1:${port}`, ...dev]);
      await c.waitFor(/connected to/);
      c.child.kill('SIGKILL');
      await c.done;
      const w = startCli(['sockets', ...dev, '--watch', '--json', '--duration', '8000']);
      await w.waitFor(/"change":"present".*"status":"CONNECTED"/);
      for (const s of peers) s.end(); // the remote peer closes: the device reports it
      await w.waitFor(/"change":"update"/);
      w.child.kill('SIGINT');
      const r = await w.done;
      expect(r.code, r.stderr).toBe(0);
      const lines = ndjson(r.stdout);
      expect(lines[0]).toMatchObject({
        change: 'present',
        entry: { status: 'CONNECTED', remote: `127.0.0.1:${port}` },
      });
      const update = lines.find((l) => l.change === 'update') as { entry: { flags: string; status: string } };
      expect(update.entry.flags).toContain('PEER_CLOSED');
      const text = await runCli(['sockets', ...dev, '--watch', '--duration', '300']);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(
        new RegExp(`TCP\\s+\\w+\\s+\\S*PEER_CLOSED\\S*\\s+127\\.0\\.0\\.1:\\d+\\s+127\\.0\\.0\\.1:${port}`),
      );
    } finally {
      for (const s of peers) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('traffic TCP (echo, 2 sockets) and TCP sink: sha256 verified, summary', async () => {
    const r = await runCli(['traffic', ...dev, '--size', '2M', '--parallel', '2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TCP echo through the device to 127\.0\.0\.1:\d+: 2 sockets/m);
    expect(r.stdout).toMatch(/^verified \(sha256\)\s+2\/2 transfers/m);
    expect(r.stdout).toMatch(/^throughput\s+[\d.]+ MB\/s/m);
    expect(r.stdout).toMatch(/^PASS: every byte arrived as sent/m);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a terminal
    const j = await runCli(['traffic', ...dev, '--mode', 'sink', '--size', '1M', '--count', '2', '--json']);
    expect(j.code, j.stdout + j.stderr).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s).toMatchObject({
      proto: 'tcp',
      mode: 'sink',
      ok: true,
      transfers: 2,
      verified: 2,
      mismatches: 0,
      errors: [],
    });
    expect(s.bytesSent).toBe(2 * 1024 * 1024);
    for (const h of s.sha256) expect(h.received).toBe(h.sent);
  });

  it('traffic UDP: every datagram echoed and verified', async () => {
    const r = await runCli([
      'traffic',
      ...dev,
      '--udp',
      '--size',
      '1000',
      '--count',
      '300',
      '--parallel',
      '2',
      '--json',
    ]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ proto: 'udp', ok: true, verified: 600, datagramsLost: 0, mismatches: 0 });
    expect(s.sha256).toHaveLength(2);
    const big = await runCli(['traffic', ...dev, '--udp', '--size', '100000']);
    expect(big.code).toBe(1);
    expect(big.stderr + big.stdout).toMatch(/exceeds what the device takes in one SENDTO/);
  });

  it('selftest passes every step (text and JSON)', async () => {
    const r = await runCli(['selftest', ...dev]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const step of [
      'handshake',
      'registers',
      'read-only',
      'slots',
      'tcp-connect',
      'tcp-accept',
      'udp',
      'update-unknown',
      'flow-control',
      'events',
      'mirror',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  PASS  ${step}\\b`, 'm'));
    }
    expect(r.stdout).toMatch(/16 sockets opened .*E_NO_SLOT/);
    expect(r.stdout).toMatch(/→ E_UNKNOWN_SOCKET, snapshot identical/);
    expect(r.stdout).toMatch(/^11\/11 steps passed$/m);
    const j = await runCli(['selftest', ...dev, '--json', '--only', 'handshake,read-only,update-unknown']);
    expect(j.code, j.stdout + j.stderr).toBe(0);
    const s = JSON.parse(j.stdout);
    expect(s).toMatchObject({ ok: true, passed: 3, failed: 0 });
    expect(s.steps.map((x: { step: string }) => x.step)).toEqual([
      'handshake',
      'read-only',
      'update-unknown',
    ]);
  });

  it('listen (through the standalone simulator) and connect (through an in-process one) pipe lines both ways', async () => {
    const l = startCli(['listen', '0', '--host', '127.0.0.1', ...dev]);
    const m = await l.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    l.child.stdin!.write('line 1 from the listener\nline 2 from the listener\n');
    const c = startCli(['connect', `127.0.0.1:${m[1]}`, '--device', 'sim:']);
    await c.waitFor(/connected to 127\.0\.0\.1:\d+/);
    c.child.stdin!.end('hello from connect\nsecond line\n');
    await l.waitFor(/second line\n/);
    l.child.stdin!.end();
    const [cr, lr] = await Promise.all([c.done, l.done]);
    expect(cr.code, cr.stderr).toBe(0);
    expect(lr.code, lr.stderr).toBe(0);
    expect(cr.stdout).toBe('line 1 from the listener\nline 2 from the listener\n');
    expect(lr.stdout).toBe('hello from connect\nsecond line\n');
    expect(cr.stderr).toMatch(/closed \(31 bytes sent, 50 received\)/);
    expect(lr.stderr).toMatch(/connection from 127\.0\.0\.1:\d+/);
  });

  it('connect to a port nobody listens on: ECONNREFUSED, exit 1, one line', async () => {
    const r = await runCli(['connect', '127.0.0.1:1', ...dev], { input: 'x' });
    expectOneLineError(r, 'ECONNREFUSED');
  });

  it('monitor --json: NDJSON events and link counters, with its own traffic and beside another host', async () => {
    const own = await runCli([
      'monitor',
      ...dev,
      '--json',
      '--duration',
      '1500',
      '--interval',
      '200',
      '--traffic',
      'tcp',
    ]);
    expect(own.code, own.stderr).toBe(0);
    const lines = ndjson(own.stdout);
    expect(lines[0]).toMatchObject({ type: 'start', device: sim.url, channel: 0 });
    const events = lines.filter((l) => l.type === 'event');
    expect(events.some((e) => e.event === 'STATUS' && e.status === 'CONNECTED')).toBe(true);
    expect(events.some((e) => e.event === 'DATA')).toBe(true);
    const seqs = events.map((e) => e.seq as number);
    expect(seqs).toEqual(seqs.slice().sort((a, b) => a - b));
    const link = lines.filter((l) => l.type === 'link');
    expect(link.length).toBeGreaterThanOrEqual(3);
    const last = link[link.length - 1]!.counters as Record<string, number>;
    expect(last.framesSent).toBeGreaterThan(0);
    expect(last.retransmits).toBe(0);
    expect(lines.some((l) => l.type === 'device')).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'traffic', proto: 'tcp', failed: 0 });
    for (const l of lines) expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);

    // On channel 1 the monitor does not take channel 0 over from the application (here `offload traffic`).
    const mon = startCli([
      'monitor',
      ...dev,
      '--json',
      '--channel',
      '1',
      '--duration',
      '4000',
      '--interval',
      '100',
    ]);
    await mon.waitFor(/"type":"start"/);
    const traffic = await runCli(['traffic', ...dev, '--size', '8M', '--count', '2']);
    expect(traffic.code, traffic.stdout + traffic.stderr).toBe(0);
    mon.child.kill('SIGINT'); // Ctrl-C ends the monitor cleanly
    const mr = await mon.done;
    expect(mr.code, mr.stderr).toBe(0);
    const side = ndjson(mr.stdout);
    expect(side[0]).toMatchObject({ type: 'start', channel: 1 });
    expect(side.filter((l) => l.type === 'device').some((l) => (l.slotsInUse as number) >= 1)).toBe(true);
  });

  it('bench --json: a row per benchmark', async () => {
    const r = await runCli(['bench', ...dev, '--json', '--duration', '150', '--tcp-size', '256k']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const b = JSON.parse(r.stdout);
    expect(b.results.map((x: { name: string }) => x.name)).toEqual([
      'ping-rtt',
      'commands',
      'link',
      'socket-open',
      'tcp',
      'udp',
    ]);
    for (const x of b.results) {
      expect(x.ok).toBe(true);
      expect(x.value).toBeGreaterThan(0);
      expect(x.operations).toBeGreaterThan(0);
    }
    const t = await runCli(['bench', ...dev, '--duration', '100', '--only', 'ping-rtt,commands']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^BENCHMARK\s+RESULT\s+UNIT\s+DETAIL/m);
    expect(t.stdout).toMatch(/commands \(REG_READ, 32 in flight\)\s+[\d.]+\s+commands\/s/);
  });
});
