/**
 * offload connect HOST:PORT — netcat through an offloaded TCP socket: stdin → socket → stdout.
 * offload listen PORT — the server side: accepts one connection (or one after another with --keep-open).
 * EOF on stdin half-closes the socket (SHUTDOWN write); the session ends once the peer has ended too.
 */
import { Command, Option } from 'commander';
import type { OffloadDevice, OffloadSocket } from '../../sockets/index.js';
import { withDevice } from '../device.js';
import { type DeviceCliOptions, intArg, parseHostPort, withDeviceOptions } from '../options.js';

interface SessionOptions extends DeviceCliOptions {
  quiet?: boolean;
  halfOpen?: boolean;
  connectTimeout?: number;
}

function note(o: SessionOptions, text: string): void {
  if (!o.quiet) process.stderr.write(`offload: ${text}\n`);
}

/**
 * Pipes stdin → sock and sock → stdout until both directions ended; resolves on 'close', rejects on 'error'.
 * stdin is left readable afterwards (for the next connection of `listen --keep-open`).
 */
function session(sock: OffloadSocket, o: SessionOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed: Error | undefined;
    const stdin = process.stdin;
    const onData = (d: Buffer) => {
      if (!sock.write(d)) {
        stdin.pause();
        sock.once('drain', () => stdin.resume());
      }
    };
    const onEnd = () => {
      note(o, 'end of input: half-closing the connection');
      sock.end();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
    sock.on('data', (d: Buffer) => {
      if (!process.stdout.write(d)) {
        sock.pause();
        process.stdout.once('drain', () => sock.resume());
      }
    });
    sock.on('end', () => {
      note(o, 'the peer ended the connection');
      // Like nc: the session ends with the peer's end, unless --half-open keeps sending until stdin ends.
      if (!o.halfOpen && !sock.writableEnded) {
        stdin.off('data', onData);
        stdin.pause();
        sock.end();
      }
    });
    // Ctrl-C: abort the connection (CLOSE on the device) and end quietly.
    const onSigint = () => sock.destroy();
    process.once('SIGINT', onSigint);
    sock.once('close', () => process.off('SIGINT', onSigint));
    sock.on('error', (e) => {
      failed ??= e;
    });
    sock.on('close', () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      if (failed) reject(failed);
      else resolve();
    });
  });
}

export function connectCommand(): Command {
  const cmd = new Command('connect')
    .description(
      'netcat through the device: open an offloaded TCP connection to HOST:PORT, stdin → socket → stdout',
    )
    .argument(
      '<host:port>',
      'where the board connects to, e.g. 192.0.2.10:80 or [2001:db8::1]:80',
      parseHostPort,
    )
    .option('-q, --quiet', 'no status lines on stderr')
    .option('--half-open', 'after the peer ended, keep sending until stdin ends (default: end with the peer)')
    .addOption(
      new Option(
        '--connect-timeout <ms>',
        'the device gives up connecting after this long (ETIMEDOUT)',
      ).argParser(intArg('--connect-timeout', 1, 3_600_000)),
    );
  withDeviceOptions(cmd, false);
  cmd.addHelpText(
    'after',
    `
Status lines go to stderr; stdout carries only what the peer sent. EOF on stdin half-closes the connection
(SHUTDOWN) and the command exits once the peer has ended too; when the peer ends first, the session ends with it
(--half-open: keep sending until stdin ends). Ctrl-C aborts the connection.

Examples:
  $ printf 'GET / HTTP/1.0\\r\\n\\r\\n' | offload connect example.com:80 --device tcp://127.0.0.1:7070
  $ offload connect 127.0.0.1:7 < file.bin > echoed.bin`,
  );
  cmd.action(async (target: { host: string; port: number }, _o: unknown, c: Command) => {
    const o = c.optsWithGlobals<SessionOptions>();
    await withDevice(o, 'use', async (dev) => {
      const sock = dev.createConnection({
        host: target.host,
        port: target.port,
        allowHalfOpen: true,
        ...(o.connectTimeout !== undefined ? { connectTimeout: o.connectTimeout } : {}),
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      note(
        o,
        `connected to ${sock.remoteAddress}:${sock.remotePort} from ${sock.localAddress}:${sock.localPort} (socket ${hexOf(sock)})`,
      );
      await session(sock, o);
      note(o, `closed (${sock.bytesWritten} bytes sent, ${sock.bytesRead} received)`);
    });
  });
  return cmd;
}

function hexOf(s: { socketId: number | undefined }): string {
  return s.socketId === undefined ? '?' : `0x${s.socketId.toString(16).padStart(4, '0')}`;
}

export function listenCommand(): Command {
  const cmd = new Command('listen')
    .description('the server side of connect: listen on the device, stdin → connection → stdout')
    .argument(
      '<port>',
      'port on the device (0: any; the chosen one is printed on stderr)',
      intArg('port', 0, 65535),
    )
    .option('--host <address>', 'address to listen on, on the device', '0.0.0.0')
    .option('-k, --keep-open', 'after a connection ends, accept the next one (Ctrl-C ends)')
    .option('--half-open', 'after the peer ended, keep sending until stdin ends (default: end with the peer)')
    .option('-q, --quiet', 'no status lines on stderr');
  withDeviceOptions(cmd, false);
  cmd.addHelpText(
    'after',
    `
Prints "listening on ADDRESS:PORT" on stderr once the device listens. One connection is served (like nc -l);
the command exits when it has ended both ways, or at Ctrl-C.

Examples:
  $ offload listen 8080 --device tcp://127.0.0.1:7070
  $ offload listen 0 --host 127.0.0.1 > received.bin`,
  );
  cmd.action(async (port: number, _o: unknown, c: Command) => {
    const o = c.optsWithGlobals<SessionOptions & { host: string; keepOpen?: boolean }>();
    await withDevice(o, 'use', (dev) => listen(dev, port, o));
  });
  return cmd;
}

async function listen(
  dev: OffloadDevice,
  port: number,
  o: SessionOptions & { host: string; keepOpen?: boolean },
): Promise<void> {
  const server = dev.createServer({ allowHalfOpen: true });
  const queue: OffloadSocket[] = [];
  let waiter: ((s: OffloadSocket | undefined) => void) | undefined;
  let serverError: Error | undefined;
  server.on('connection', (s: OffloadSocket) => {
    s.on('error', () => undefined);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(s);
    } else queue.push(s);
  });
  server.on('error', (e: Error) => {
    serverError = e;
    waiter?.(undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  process.stderr.write(`offload: listening on ${a?.address}:${a?.port}\n`);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    waiter?.(undefined);
    for (const s of queue) s.destroy();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    do {
      const s = queue.shift() ?? (await new Promise<OffloadSocket | undefined>((r) => (waiter = r)));
      if (!s || interrupted) break;
      if (!o.keepOpen) server.close();
      note(o, `connection from ${s.remoteAddress}:${s.remotePort}`);
      await session(s, o);
      note(o, `connection closed (${s.bytesWritten} bytes sent, ${s.bytesRead} received)`);
    } while (o.keepOpen && !interrupted);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  }
  if (serverError) throw serverError;
}
