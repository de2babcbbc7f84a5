/**
 * A driver in its own process, for tests where one channel's host crashes: opens `url` on `channel`, connects
 * to 127.0.0.1:`port`, prints `connected <id>` and then writes (bounded: at most 256 MiB) until it is killed.
 *   node --import tsx test/helpers/channel-client.ts URL CHANNEL PORT
 */
import { openDevice } from '../../src/index.js';

const [url, channelText, portText] = process.argv.slice(2);
const dev = await openDevice(url!, { channel: Number(channelText) });
const sock = dev.createConnection({ host: '127.0.0.1', port: Number(portText) });
sock.on('error', (err) => {
  process.stderr.write(`socket error ${(err as { code?: string }).code}\n`);
});
sock.on('data', () => undefined);
await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
process.stdout.write(
  `connected ${dev.sockets
    .list()
    .map((e) => e.id)
    .join(',')}\n`,
);
const chunk = Buffer.alloc(64 * 1024, 0x5a);
for (let i = 0; i < 4096; i++) {
  if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
}
process.stdout.write('done\n');
await dev.close();
