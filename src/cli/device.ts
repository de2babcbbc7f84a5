/**
 * Opening the device for a CLI command.
 *
 * Two modes:
 *  - 'use' (traffic, bench, selftest, connect, listen): openDevice() as any application; sockets a previous host
 *    left on the board are closed first (the driver's reconciliation, PROTOCOL.md §8.2).
 *  - 'observe' (probe, regs, sockets, monitor): the sockets a previous host left are *adopted* into the mirror
 *    instead of closed, so that `offload sockets` shows what is on the board and changes nothing. (For `sim:` the
 *    in-process board is new and empty, so both modes are the same.)
 */
import { pino, type Logger } from 'pino';
import { openDevice, type OpenDeviceOptions, resolveChannel } from '../index.js';
import { Device, type DeviceOptions } from '../device/index.js';
import { Link, type LinkFraming, type MessageChannel, openPcieChannel } from '../link/index.js';
import { secureFromUrl } from '../secure-url.js';
import { OffloadDevice } from '../sockets/index.js';
import { createTransport, parseDeviceUrl, type Transport } from '../transport/index.js';
import { type DeviceCliOptions, deviceUrl } from './options.js';

export type OpenMode = 'use' | 'observe';

export function cliLogger(o: DeviceCliOptions): Logger {
  return pino(
    { level: o.logLevel ?? 'silent', name: 'offload', base: { pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** Adds the device URL to an error message that does not name it already. */
function withUrl(err: unknown, url: string): unknown {
  if (err instanceof Error && !err.message.includes(url)) {
    try {
      err.message = `${err.message} (device ${url})`;
    } catch {
      // read-only message: leave it
    }
  }
  return err;
}

export async function openCliDevice(o: DeviceCliOptions, mode: OpenMode = 'use'): Promise<OffloadDevice> {
  const url = deviceUrl(o);
  const logger = cliLogger(o);
  const handshakeTimeoutMs = o.timeout ?? 3000;
  try {
    // ?keyId=N: secure execution with the key from OFFLOAD_KEY / OFFLOAD_KEY_FILE (src/secure-url.ts).
    const { url: plainUrl, secure } = secureFromUrl(url);
    // --channel / --credential, else the URL's ?channel= / &credential=, else $OFFLOAD_CREDENTIAL for ADMIN.
    const ch = resolveChannel({
      url: plainUrl,
      ...(o.channel !== undefined ? { channel: o.channel } : {}),
      ...(o.credential !== undefined ? { credential: o.credential } : {}),
    });
    const bare = ch.url!;
    const parsed = parseDeviceUrl(bare);
    const link: OpenDeviceOptions['link'] = {};
    if (ch.channel !== undefined) link.channel = ch.channel;
    const who: Pick<DeviceOptions, 'credential' | 'secure'> = {};
    if (ch.credential !== undefined) who.credential = ch.credential;
    if (secure) who.secure = secure;
    if (mode === 'use' || parsed.kind === 'sim') {
      return await openDevice({ url: bare, logger, handshakeTimeoutMs, link, name: bare, ...who });
    }
    return await openAdopting(bare, parsed, logger, handshakeTimeoutMs, link, who);
  } catch (err) {
    throw withUrl(err, url);
  }
}

/** openDevice() for tcp:/serial:/rfc2217:/pcie: URLs, minus the initial reconciliation; adopts instead (see above). */
async function openAdopting(
  url: string,
  parsed: ReturnType<typeof parseDeviceUrl>,
  logger: Logger,
  handshakeTimeoutMs: number,
  linkOpts: OpenDeviceOptions['link'],
  who: Pick<DeviceOptions, 'credential' | 'secure'> = {},
): Promise<OffloadDevice> {
  let transport: Transport;
  let link: MessageChannel;
  if (parsed.kind === 'pcie') {
    // The register window and its rings: no link layer (PROTOCOL.md §10).
    const p = await openPcieChannel(url, { logger, startTimeoutMs: handshakeTimeoutMs });
    transport = p.window;
    link = p.channel;
  } else {
    transport = createTransport(parsed, { logger });
    const framing: LinkFraming = parsed.kind === 'serial' || parsed.kind === 'rfc2217' ? 'serial' : 'tcp';
    await transport.open();
    link = new Link(transport, {
      role: 'host',
      framing,
      syncTimeoutMs: handshakeTimeoutMs,
      logger,
      ...(linkOpts ?? {}),
    });
  }
  const device = new Device(link, {
    name: url,
    handshakeTimeoutMs,
    logger,
    channel: linkOpts?.channel ?? 0,
    ...who,
    onClose: async () => {
      await link.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
    },
  });
  await device.open();
  const dev = new OffloadDevice(device, transport);
  // Reconciliation (a sequence gap, an event for an unknown id) adopts device sockets instead of closing them.
  const adopt = async (): Promise<void> => {
    if (!device.hasCapability('SNAPSHOT')) return;
    await device.snapshot({
      onPage: (page) => {
        if (page.epoch === device.epoch) dev.sockets.applyPage(page);
      },
    });
  };
  (dev.hub as unknown as { reconcile: () => Promise<void> }).reconcile = () =>
    adopt().catch((err: unknown) => device.log.warn({ err }, 'snapshot failed'));
  await adopt();
  return dev;
}

/** Open, run, close (always), rethrowing the first error. */
export async function withDevice<T>(
  o: DeviceCliOptions,
  mode: OpenMode,
  fn: (dev: OffloadDevice) => Promise<T>,
): Promise<T> {
  const dev = await openCliDevice(o, mode);
  try {
    return await fn(dev);
  } finally {
    await dev.close().catch(() => undefined);
  }
}

/** Resolves after `ms` (if given) or at SIGINT / SIGTERM, whichever comes first; 'signal' or 'time'. */
export function untilStopped(ms?: number): { promise: Promise<'signal' | 'time'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let resolveFn: (v: 'signal' | 'time') => void = () => undefined;
  const promise = new Promise<'signal' | 'time'>((resolve) => {
    resolveFn = resolve;
  });
  const onSignal = () => finish('signal');
  const finish = (why: 'signal' | 'time') => {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    resolveFn(why);
  };
  if (ms !== undefined) timer = setTimeout(() => finish('time'), ms);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { promise, cancel: () => finish('time') };
}
