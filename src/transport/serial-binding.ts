import { read as fsRead } from 'node:fs';
import { promisify } from 'node:util';
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
 * Everything else (open, write, close, ioctls) is the stock binding; Windows ports are left untouched.
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
}

// libuv poll flags, as bindings-cpp's poller EVENTS.
const UV_READABLE = 0b0001;
const UV_WRITABLE = 0b0010;
const UV_DISCONNECT = 0b0100;

const readAsync = promisify(fsRead);

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
  const waitReadable = (): Promise<void> =>
    new Promise((resolve, reject) => unix.poller.once('readable', (err) => (err ? reject(err) : resolve())));
  port.read = async (buffer: Buffer, offset: number, length: number) => {
    for (;;) {
      if (!unix.isOpen || unix.fd === null) throw new CanceledError('Port is not open');
      let bytesRead: number;
      try {
        ({ bytesRead } = await readAsync(unix.fd, buffer, offset, length, null));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') {
          if (!unix.isOpen) throw new CanceledError('Port is not open');
          await waitReadable();
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
