import { existsSync, readFileSync, readSync, writeSync } from 'node:fs';
import { SerialPort } from 'serialport';

/**
 * Two fixes for serialport 13's unix binding (@serialport/bindings-cpp 13), both found with socat pty pairs:
 *
 * 1. Hangup never reported. unixRead() reads with fs.read and, when read() returns 0 bytes, simply reads
 *    again. A raw tty (VMIN=1, non-blocking) returns 0 bytes only after a hangup: a pty whose master closed,
 *    a USB adapter that was unplugged. Depending on timing the kernel reports that either as EIO/POLLERR
 *    (which serialport turns into a disconnect) or as endless EOF, in which case the stock binding spins in
 *    a tight read loop forever and never reports the disconnect (about every other socat kill). We replace
 *    read() with an equivalent loop that treats EOF as a disconnect.
 *
 * 2. Lost wake-ups, full-duplex stall. The native Poller's poll(events) records the union of requested
 *    events but calls uv_poll_start() with only the NEW events, replacing the previous mask. When the reader
 *    waits for 'readable' while the writer waits for 'writable', whichever asked last wins and the other
 *    is never woken: a 1 MiB transfer in both directions stalls for good once the peer stops sending
 *    (seen in about 1 run in 10). We make poll() always ask for every event someone is waiting for.
 *
 * And one change for speed: reads and writes go straight to the descriptor from the main thread (it is opened
 * O_NONBLOCK, so a read or write returns at once: data, or EAGAIN and we wait on the poller), instead of through
 * fs.read / fs.write on libuv's thread pool (4 threads shared with everything else in the process). A round trip
 * through the pool per chunk was most of the link's latency on a pty pair; see bench/link.ts.
 *
 * Everything else (open, close, ioctls) is the stock binding; Windows ports are left untouched.
 */

type DetectedBinding = typeof SerialPort.binding;
type DetectedPort = Awaited<ReturnType<DetectedBinding['open']>>;

interface PollerInternals {
  once(event: 'readable', cb: (err: Error | null) => void): unknown;
  poll(eventFlag?: number): void;
  listenerCount(event: string): number;
}

interface UnixPortInternals {
  fd: number | null;
  isOpen: boolean;
  poller: PollerInternals;
  /** The write in progress (the stock drain() waits for it before tcdrain). */
  writeOperation: Promise<void> | null;
}

// libuv poll flags, as bindings-cpp's poller EVENTS.
const UV_READABLE = 0b0001;
const UV_WRITABLE = 0b0010;
const UV_DISCONNECT = 0b0100;

const O_NONBLOCK = 0o4000; // Linux

/** Whether `fd` is non-blocking (Linux: /proc/self/fdinfo; elsewhere the binding's O_NONBLOCK open is trusted). */
function nonBlocking(fd: number): boolean {
  const info = `/proc/self/fdinfo/${fd}`;
  if (!existsSync(info)) return process.platform !== 'linux';
  const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(info, 'utf8'));
  return flags !== null && (Number.parseInt(flags[1] as string, 8) & O_NONBLOCK) !== 0;
}

function wouldBlock(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

class CanceledError extends Error {
  readonly canceled = true;
}

function isUnixPort(port: unknown): port is UnixPortInternals {
  const p = port as Partial<UnixPortInternals>;
  return (
    typeof p === 'object' &&
    p !== null &&
    'fd' in p &&
    typeof p.poller?.once === 'function' &&
    typeof p.poller.poll === 'function' &&
    typeof p.poller.listenerCount === 'function'
  );
}

function patchPoller(poller: PollerInternals): void {
  const poll = poller.poll.bind(poller);
  // Poller.once(event) calls this.poll(flag) before adding its listener: the new flag comes in as the
  // argument, the events others are still waiting for are those with listeners.
  poller.poll = (eventFlag = 0) => {
    let flags = eventFlag;
    if (poller.listenerCount('readable') > 0) flags |= UV_READABLE;
    if (poller.listenerCount('writable') > 0) flags |= UV_WRITABLE;
    if (poller.listenerCount('disconnect') > 0) flags |= UV_DISCONNECT;
    poll(flags);
  };
}

function patchPort(port: DetectedPort): DetectedPort {
  if (!isUnixPort(port)) return port; // Windows: overlapped I/O, no such loop
  const unix: UnixPortInternals = port;
  patchPoller(unix.poller);
  // Never a blocking call on the main thread: without O_NONBLOCK (not seen) keep the stock thread-pool I/O.
  if (unix.fd === null || !nonBlocking(unix.fd)) return port;
  const waitFor = (event: 'readable' | 'writable'): Promise<void> =>
    new Promise((resolve, reject) =>
      (unix.poller.once as (e: string, cb: (err: Error | null) => void) => unknown)(event, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  port.read = async (buffer: Buffer, offset: number, length: number) => {
    for (;;) {
      if (!unix.isOpen || unix.fd === null) throw new CanceledError('Port is not open');
      let bytesRead: number;
      try {
        bytesRead = readSync(unix.fd, buffer, offset, length, null);
      } catch (err) {
        if (wouldBlock(err)) {
          await waitFor('readable');
          if (!unix.isOpen) throw new CanceledError('Port is not open');
          continue;
        }
        throw err; // EIO, EBADF, ENXIO ...: serialport treats it as a disconnect
      }
      if (bytesRead > 0) return { buffer, bytesRead };
      throw Object.assign(new Error('end of file on serial port (hangup: device gone)'), {
        code: 'EOF',
        disconnect: true,
      });
    }
  };
  port.write = (buffer: Buffer): Promise<void> => {
    if (!Buffer.isBuffer(buffer)) return Promise.reject(new TypeError('"buffer" is not a Buffer'));
    if (!unix.isOpen) return Promise.reject(new Error('Port is not open'));
    const op = (async () => {
      let off = 0;
      while (off < buffer.length) {
        if (!unix.isOpen || unix.fd === null) throw new Error('Port is not open');
        try {
          off += writeSync(unix.fd, buffer, off, buffer.length - off);
        } catch (err) {
          if (wouldBlock(err)) {
            await waitFor('writable');
            continue;
          }
          const e = err as NodeJS.ErrnoException & { disconnect?: boolean };
          // As the stock binding: these mean the port went away.
          if (e.code === 'EBADF' || e.code === 'ENXIO' || e.code === 'EIO' || e.code === 'UNKNOWN')
            e.disconnect = true;
          throw e;
        }
      }
      unix.writeOperation = null;
    })();
    unix.writeOperation = op;
    return op;
  };
  return port;
}

/** The auto-detected serialport binding with both fixes above. */
export const patchedSerialBinding: DetectedBinding = {
  list: () => SerialPort.binding.list(),
  open: async (options: unknown) => {
    // The detected binding's open() is typed as an intersection of all platforms' options; it gets ours.
    const open = SerialPort.binding.open.bind(SerialPort.binding) as (o: unknown) => Promise<DetectedPort>;
    return patchPort(await open(options));
  },
} as DetectedBinding;
