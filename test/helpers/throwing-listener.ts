/**
 * Run as a child process by test/driver/listener-errors.test.ts: an application whose socket 'data' handler
 * throws on the first chunk while a peer streams to it through the in-process simulator. The exception must
 * surface as uncaught (as from a net.Socket) and the driver must lose nothing. Prints one JSON line.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { openDevice } from '../../src/index.js';

const total = Number(process.argv[2] ?? 4 * 1024 * 1024);
const data = Buffer.alloc(total);
for (let i = 0; i < total; i++) data[i] = (i * 31 + 7) & 0xff;

const uncaught: string[] = [];
process.on('uncaughtException', (err) => uncaught.push(err.message));

const server = net.createServer((s) => s.end(data));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as net.AddressInfo).port;
const dev = await openDevice('sim:');
const sock = dev.createConnection({ host: '127.0.0.1', port });
const h = createHash('sha256');
let bytes = 0;
let thrown = false;
let socketError: string | undefined;
sock.on('data', (d: Buffer) => {
  h.update(d);
  bytes += d.length;
  if (!thrown) {
    thrown = true;
    throw new Error('application bug in a data handler');
  }
});
sock.on('error', (err) => {
  socketError = `${(err as { code?: string }).code}: ${err.message}`;
});
await new Promise<void>((resolve) => {
  sock.on('close', () => resolve());
  setTimeout(resolve, 20_000).unref();
});
const counters = dev.device.stats();
process.stdout.write(
  `${JSON.stringify({
    bytes,
    sha256: h.digest('hex'),
    expectedSha256: createHash('sha256').update(data).digest('hex'),
    uncaught,
    socketError,
    listenerErrors: counters.listenerErrors,
    gaps: counters.gaps,
    pingAfter: await dev.ping().then(
      () => 'ok',
      (e: Error) => e.message,
    ),
  })}\n`,
);
await dev.close();
server.close();
process.exit(0);
