/**
 * `npm run demo`: the driver against the bundled simulator, the way a board is used.
 *
 *   1. start the simulator as its own TCP-shim server (tcp://127.0.0.1:<any port>), in this process;
 *   2. open it by URL exactly as a board is opened (openDevice(url)) and print the probe;
 *   3. run a few sockets through it: an HTTP GET to a local http.Server, a TCP echo, a UDP exchange,
 *      printing each socket-table change as the device's status updates arrive;
 *   4. show the socket table (host mirror and the device's own snapshot) and compare them;
 *   5. close everything and check that nothing is left running.
 *
 * Unattended, a few seconds; exit status 1 if any step fails.
 */
import http from 'node:http';
import net from 'node:net';
import { probeDevice, printProbe } from '../src/cli/commands/probe.js';
import { socketTable } from '../src/cli/commands/sockets.js';
import { entryRow } from '../src/cli/decode.js';
import { startTcpEcho, startUdpEcho } from '../src/cli/loopback.js';
import { timestamp } from '../src/cli/output.js';
import {
  formatDifferences,
  type MirrorEntry,
  type OffloadDevice,
  type OffloadSocket,
  openDevice,
} from '../src/index.js';
import { type Simulator, startSimulator } from '../sim/index.js';

const T0 = performance.now();
const say = (s = '') => process.stdout.write(`${s}\n`);
const heading = (s: string) => say(`\n── ${s} ${'─'.repeat(Math.max(0, 70 - s.length))}`);

function fail(what: string): never {
  throw new Error(what);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Print every status change of the mirror, as the device's STATUS events (and responses) update it. */
function watchTable(dev: OffloadDevice): () => void {
  const line = (text: string) => say(`  ${timestamp()}  ${text}`);
  const onAdd = (e: MirrorEntry) => {
    const r = entryRow(e);
    line(`${r.id} ${r.type.padEnd(4)} opened       ${r.status}`);
  };
  const onUpdate = (p: MirrorEntry, n: MirrorEntry) => {
    if (p.status === n.status && p.local.port === n.local.port && p.remote.port === n.remote.port) return;
    const a = entryRow(p);
    const b = entryRow(n);
    line(
      `${b.id} ${b.type.padEnd(4)} ${a.status.padEnd(12)} → ${b.status.padEnd(12)} ${b.local} → ${b.remote}`,
    );
  };
  const onRemove = (e: MirrorEntry, reason: string) => {
    const r = entryRow(e);
    line(`${r.id} ${r.type.padEnd(4)} removed      (${reason})`);
  };
  dev.sockets.on('add', onAdd);
  dev.sockets.on('update', onUpdate);
  dev.sockets.on('remove', onRemove);
  return () => {
    dev.sockets.off('add', onAdd);
    dev.sockets.off('update', onUpdate);
    dev.sockets.off('remove', onRemove);
  };
}

function httpGet(
  dev: OffloadDevice,
  port: number,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/hello',
        // The whole HTTP client runs unchanged; only its socket lives on the board.
        createConnection: () => dev.createConnection({ host: '127.0.0.1', port }) as unknown as net.Socket,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function settle(dev: OffloadDevice): Promise<void> {
  await dev.device.idle(2000);
  await new Promise((r) => setTimeout(r, 50));
  await dev.device.idle(2000);
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void> | void> = [];
  let sim: Simulator | undefined;
  let dev: OffloadDevice | undefined;
  try {
    heading('1. the simulator');
    sim = await startSimulator({ listen: 'tcp://127.0.0.1:0', network: 'host', logLevel: 'silent' });
    say(`  the bundled simulator serves the firmware protocol on ${sim.url}`);
    say(
      "  (its sockets run on this machine's network; a real board would sit behind a serial line or its own bridge)",
    );

    heading(`2. open ${sim.url} and probe it`);
    dev = await openDevice(sim.url);
    printProbe(await probeDevice(dev, sim.url), '  ');

    // Local peers on this machine that the "board" talks to.
    const web = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from a local http.Server: you asked for ${req.method} ${req.url}\n`);
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => web.close(() => r())));
    const webPort = (web.address() as net.AddressInfo).port;
    const echo = await startTcpEcho();
    cleanups.push(() => echo.close());
    const udpEcho = await startUdpEcho();
    cleanups.push(() => udpEcho.close());

    heading('3. sockets through the device');
    say('  (lines with a time: socket-table changes, as the device reports them)');
    const unwatch = watchTable(dev);
    cleanups.push(unwatch);

    say(`  HTTP GET http://127.0.0.1:${webPort}/hello with Node's http client on an offloaded socket:`);
    const res = await withTimeout(httpGet(dev, webPort), 10_000, 'HTTP GET');
    say(
      `  → HTTP ${res.status} ${http.STATUS_CODES[res.status] ?? ''}, ${res.headers['content-length']} bytes: ${res.body.trim()}`,
    );
    if (res.status !== 200 || !res.body.includes('hello from a local http.Server'))
      fail(`unexpected HTTP answer ${res.status}`);
    await settle(dev);

    say('');
    say(`  TCP echo: connect to the echo server at ${echo.host}:${echo.port}, send a line, read it back:`);
    const sock: OffloadSocket = dev.createConnection({ host: echo.host, port: echo.port });
    sock.on('error', () => undefined);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      }),
      5000,
      'TCP connect',
    );
    const line = 'hello through the offload board\n';
    const echoed = await withTimeout(
      new Promise<string>((resolve, reject) => {
        let got = '';
        const onData = (d: Buffer) => {
          got += d.toString();
          if (got.length >= line.length) {
            sock.off('data', onData);
            resolve(got);
          }
        };
        sock.on('data', onData);
        sock.once('error', reject);
        sock.write(line);
      }),
      5000,
      'TCP echo',
    );
    say(`  → echo reply: ${JSON.stringify(echoed)}`);
    if (echoed !== line) fail('the echo came back different');

    say('');
    say(`  UDP: send a datagram to the UDP echo at ${udpEcho.host}:${udpEcho.port}:`);
    const udp = dev.createSocket('udp4');
    udp.on('error', () => undefined);
    await new Promise<void>((r) => udp.bind(0, () => r()));
    const reply = await withTimeout(
      new Promise<{ msg: string; from: string }>((resolve) => {
        udp.once('message', (m, ri) => resolve({ msg: m.toString(), from: `${ri.address}:${ri.port}` }));
        udp.send('ping over UDP', udpEcho.port, udpEcho.host);
      }),
      5000,
      'UDP reply',
    );
    say(`  → UDP reply from ${reply.from}: ${JSON.stringify(reply.msg)}`);
    if (reply.msg !== 'ping over UDP') fail('the UDP reply differs');

    // A native client connecting to a server that listens on the device.
    say('');
    say('  A server on the device: listen on 127.0.0.1:<any>, a native client connects and says hi:');
    const greeting = new Promise<{ heard: string; answer: string }>((resolve) => {
      let heard = '';
      let answer = '';
      const srv = dev!.createServer((c: OffloadSocket) => {
        c.on('error', () => undefined);
        c.on('data', (d: Buffer) => {
          heard += d.toString();
          if (heard.endsWith('\n')) c.end('bye\n');
        });
      });
      srv.on('error', () => undefined);
      srv.listen(0, '127.0.0.1', () => {
        const port = srv.address()!.port;
        const client = net.connect(port, '127.0.0.1', () => client.write('hi from a native client\n'));
        client.on('error', () => undefined);
        client.on('data', (d: Buffer) => {
          answer += d.toString();
        });
        // The client ends when the device's socket ends; then the server on the device closes.
        client.on('close', () => srv.close(() => resolve({ heard: heard.trim(), answer: answer.trim() })));
      });
    });
    const g = await withTimeout(greeting, 5000, 'accept');
    say(
      `  → the device accepted a connection, read ${JSON.stringify(g.heard)} and answered ${JSON.stringify(g.answer)}`,
    );
    if (g.heard !== 'hi from a native client' || g.answer !== 'bye')
      fail('the accepted connection did not exchange as expected');
    await settle(dev);

    heading('4. the socket table now (the TCP echo and UDP sockets are still open)');
    say('  host mirror (dev.sockets):');
    say(socketTable(dev.sockets.list(), '    '));
    const snap = await dev.snapshot();
    say(`  device view (SNAPSHOT, epoch ${snap.epoch}, after event #${snap.eventSeq}):`);
    say(socketTable(snap.entries, '    '));
    const diffs = await dev.diff();
    say(diffs.length === 0 ? '  mirror and device agree' : `  DIFFERENCES:\n${formatDifferences(diffs)}`);
    if (diffs.length > 0) fail('the mirror and the device disagree');

    heading('5. close everything');
    sock.end();
    await withTimeout(new Promise<void>((r) => sock.once('close', () => r())), 5000, 'TCP close');
    await new Promise<void>((r) => udp.close(() => r()));
    await settle(dev);
    unwatch();
    const left = (await dev.snapshot()).entries.length;
    say(`  sockets left on the device: ${left}`);
    if (left !== 0 || dev.sockets.size !== 0)
      fail(`${left} sockets left on the device, ${dev.sockets.size} in the mirror`);
  } finally {
    for (const c of cleanups.reverse()) await c();
    await dev?.close();
    await sim?.close();
  }
  say(`  device closed, simulator stopped; done in ${((performance.now() - T0) / 1000).toFixed(1)} s`);
}

main().then(
  () => {
    // Everything is closed: the process ends by itself. If some handle were left, say so and fail.
    setTimeout(() => {
      process.stderr.write('demo: handles still open 3 s after closing everything\n');
      process.exit(1);
    }, 3000).unref();
  },
  (err: unknown) => {
    const e = err as Error & { code?: string };
    process.stderr.write(`\ndemo FAILED: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    process.exit(1);
  },
);
