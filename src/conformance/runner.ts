/**
 * runConformance(): opens the device (a URL, or a transport you already have), starts the kit's link and
 * HELLO, closes sockets a previous host left, starts the kit's peers, runs every selected test in catalogue
 * order (each bounded in time, its sockets closed afterwards) and returns the report. A test whose capability
 * the device does not advertise is not applicable; nothing is passed without having been checked.
 */
import { type Logger, pino } from 'pino';
import {
  Capability,
  type CapabilityName,
  type OkResponseMessage,
  PROTOCOL_VERSION_WORD,
  parseSecureKey,
} from '../protocol/index.js';
import { createTransport, parseDeviceUrl, type Transport } from '../transport/index.js';
import { allCases } from './catalogue.js';
import { KIT_CHANNEL } from './channel-session.js';
import { type Carrier, ClientDownError, KitClient, TimeoutError } from './client.js';
import { capsNames, ALL_HOST_CAPS } from './cases/handshake.js';
import { type ContextOptions, type DeviceInfo, TestContext } from './context.js';
import { Peers } from './peers.js';
import type { Framing } from './tamper.js';
import {
  type ConformanceCase,
  ConformanceFailure,
  type ConformanceReport,
  type DeviceSummary,
  NotApplicable,
  type TestResult,
} from './types.js';

export interface ConformanceOptions {
  /**
   * Device URL: tcp://host:port, serial:///dev/ttyUSB0?baud=921600, rfc2217://host:port,
   * pcie:///dev/xdma0_user?events=/dev/xdma0_events_0 (the rings: link-layer tests are not applicable).
   */
  url?: string;
  /** Or an open (or openable) transport to the device; give `framing` ('tcp' default; 'serial' for COBS + ARQ). */
  transport?: Transport;
  framing?: Framing;
  /** Run only tests whose id or title matches (case-insensitive regular expression). */
  grep?: string | RegExp;
  logger?: Logger;
  /**
   * Address of this host where the kit's peers listen and the device is told to connect (default 127.0.0.1,
   * right for the simulator). For a board on a real network: an address of this host the board can reach.
   */
  peerHost?: string;
  /** Address at which the kit reaches sockets the device listens on (default: the host of a tcp:// URL, else 127.0.0.1). */
  deviceHost?: string;
  /** Per-command answer timeout (ms). Default 3000. */
  timeoutMs?: number;
  /** Link start (SYNC) must complete within this (ms). Default max(3000, timeoutMs). */
  handshakeTimeoutMs?: number;
  /** Bytes per direction in the data-integrity tests. Default 256 KiB. */
  dataBytes?: number;
  /** Most bytes pushed to fill a send queue (SENDING held) before giving up. Default 32 MiB. */
  fillBudgetBytes?: number;
  /**
   * The device's admin credential (CHANNEL_OPEN ADMIN, §11): the admin and egress tests need it and are not
   * applicable without it.
   */
  adminCredential?: string | Uint8Array;
  /** A key provisioned on the device (§12.1; 32 bytes or 64 hex characters): the secure tests need it. */
  secureKey?: { keyId: number; key: Uint8Array | string };
  /**
   * The channel timeout the device uses (§11, ms; the protocol's default is 10000): channel.timeout waits for it
   * and is not applicable without it.
   */
  channelTimeoutMs?: number;
  /** Called as each test finishes (for live output). */
  onResult?: (r: TestResult) => void;
  /** Replaces the catalogue (tests of the kit itself). */
  cases?: readonly ConformanceCase[];
}

function matcher(grep: string | RegExp | undefined): (c: ConformanceCase) => boolean {
  if (grep === undefined || grep === '') return () => true;
  const re = typeof grep === 'string' ? new RegExp(grep, 'i') : grep;
  return (c) => re.test(c.id) || re.test(c.title);
}

/** The catalogue, in run order, filtered by `grep`. */
export function listConformanceTests(grep?: string | RegExp): ConformanceCase[] {
  return allCases().filter(matcher(grep));
}

function areaOf(id: string): string {
  return id.split('.')[0] ?? id;
}

function withLimit<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new ConformanceFailure(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

class Session {
  client!: KitClient;
  ctx!: TestContext;
  info!: DeviceInfo;
  private transport: Transport | undefined;

  constructor(
    private readonly opts: ConformanceOptions,
    readonly framing: Carrier,
    readonly description: string,
    private readonly log: Logger,
    private readonly ctxOptions: ContextOptions,
    readonly peers: Peers,
  ) {}

  private timeout(): number {
    return this.opts.timeoutMs ?? 3000;
  }

  /** Opens (or reopens) the transport, starts the link and HELLO. */
  async connect(first: boolean): Promise<void> {
    if (this.framing === 'pcie') {
      // The rings reopen on every start (a new host, §10.4); there is no byte stream to keep.
      this.client ??= new KitClient(undefined, 'pcie', this.timeout(), this.log, this.opts.url);
      if (!first) await this.client.stopLink();
    } else if (!this.transport?.isOpen) {
      if (this.opts.transport) {
        if (!first && !this.opts.transport.isOpen) throw new Error('the transport to the device is closed');
        this.transport = this.opts.transport;
      } else {
        this.transport = createTransport(
          this.opts.url!,
          this.opts.logger ? { logger: this.opts.logger } : {},
        );
      }
      if (!this.transport.isOpen) await this.transport.open();
      const old = this.client;
      this.client = new KitClient(this.transport, this.framing, this.timeout(), this.log);
      if (old) await old.close().catch(() => undefined);
    } else {
      await this.client.stopLink();
    }
    await this.client.start(this.opts.handshakeTimeoutMs ?? Math.max(3000, this.timeout()));
    this.info = await this.hello(true);
    this.ctx = new TestContext(this.client, this.info, this.peers, this.ctxOptions, () => this.hello(false));
  }

  async hello(first: boolean): Promise<DeviceInfo> {
    const ex = await this.client.request('HELLO', {
      protoVersion: PROTOCOL_VERSION_WORD,
      hostCaps: ALL_HOST_CAPS,
    });
    if (ex.answer.kind !== 'response' || ex.answer.status !== 0) {
      throw new ConformanceFailure(
        `HELLO answered ${ex.answer.kind === 'error' ? 'ERROR_RESPONSE' : ''} status ${ex.answer.status} (§5.8.1)`,
      );
    }
    const b = (ex.answer as OkResponseMessage<'HELLO'>).body;
    this.client.adoptHello(b.epoch, b.eventSeq, first);
    const info: DeviceInfo = {
      protoVersion: b.protoVersion,
      caps: b.caps,
      slots: b.slots,
      helloMaxPayload: b.maxPayload,
      maxPayload: Math.min(b.maxPayload, this.client.params.maxPayload),
      epoch: b.epoch,
      eventSeq: b.eventSeq,
      sendQueueSize: b.sendQueueSize,
      recvQueueSize: b.recvQueueSize,
      firmware: b.firmware,
    };
    this.info = info;
    if (this.ctx) this.ctx.info = info;
    return info;
  }

  /** Closes sockets a previous host (or an earlier run) left on the device. */
  async clean(): Promise<void> {
    if ((this.info.caps & Capability.SNAPSHOT) === 0) return;
    const snap = await this.ctx.snapshot();
    if (snap.entries.length === 0) return;
    this.log.info({ sockets: snap.entries.length }, 'closing sockets left on the device');
    this.client.adopt(snap.entries);
    await this.ctx.closeAll(5000);
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    if (!this.opts.transport) await this.transport?.close().catch(() => undefined);
  }
}

export async function runConformance(opts: ConformanceOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'conformance' });
  let framing: Carrier;
  let description: string;
  let urlHost: string | undefined;
  if (opts.transport) {
    framing =
      opts.framing ??
      (opts.transport.kind === 'serial' || opts.transport.kind === 'rfc2217' ? 'serial' : 'tcp');
    description = opts.url ?? opts.transport.description;
  } else {
    if (!opts.url) throw new TypeError('runConformance needs { url } or { transport }');
    const parsed = parseDeviceUrl(opts.url);
    if (
      parsed.kind !== 'tcp' &&
      parsed.kind !== 'serial' &&
      parsed.kind !== 'rfc2217' &&
      parsed.kind !== 'pcie'
    ) {
      throw new TypeError(
        `runConformance opens tcp:, serial:, rfc2217: and pcie: URLs; for '${parsed.kind}:' pass { transport } (the CLI does this for sim:)`,
      );
    }
    framing = parsed.kind === 'tcp' ? 'tcp' : parsed.kind === 'pcie' ? 'pcie' : 'serial';
    if (parsed.kind === 'tcp') urlHost = parsed.host;
    description = opts.url;
  }
  const peerHost = opts.peerHost ?? '127.0.0.1';
  const ctxOptions: ContextOptions = {
    deviceHost: opts.deviceHost ?? urlHost ?? '127.0.0.1',
    dataBytes: opts.dataBytes ?? 256 * 1024,
    fillBudgetBytes: opts.fillBudgetBytes ?? 32 * 1024 * 1024,
  };
  if (opts.adminCredential !== undefined && opts.adminCredential.length > 0) {
    ctxOptions.adminCredential = Buffer.from(opts.adminCredential);
  }
  if (opts.secureKey) {
    ctxOptions.secureKey = { keyId: opts.secureKey.keyId, key: parseSecureKey(opts.secureKey.key) };
  }
  if (opts.channelTimeoutMs !== undefined) ctxOptions.channelTimeoutMs = opts.channelTimeoutMs;
  const cases = (opts.cases ?? allCases()).filter(matcher(opts.grep));
  const results: TestResult[] = [];
  const report = (setupError?: string, info?: DeviceSummary): ConformanceReport => {
    const passed = results.filter((r) => r.outcome === 'pass').length;
    const failed = results.filter((r) => r.outcome === 'fail').length;
    const na = results.filter((r) => r.outcome === 'n/a').length;
    const r: ConformanceReport = {
      device: description,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      peerHost,
      results,
      summary: { total: results.length, passed, failed, notApplicable: na },
      ok: !setupError && failed === 0,
    };
    if (info) r.info = info;
    if (setupError) r.setupError = setupError;
    return r;
  };

  const peers = await Peers.start(peerHost);
  const session = new Session(opts, framing, description, log, ctxOptions, peers);
  try {
    try {
      await session.connect(true);
      await session.clean();
    } catch (err) {
      return report(`could not start a session with ${description}: ${(err as Error).message}`);
    }
    const summary = (): DeviceSummary => ({
      protocolVersion: `${session.info.protoVersion >> 8}.${session.info.protoVersion & 0xff}`,
      capabilities: capsNames(session.info.caps),
      slots: session.info.slots,
      maxPayload: session.info.maxPayload,
      epoch: session.info.epoch,
      firmware: session.info.firmware,
      sendQueueSize: session.info.sendQueueSize,
      recvQueueSize: session.info.recvQueueSize,
      link: {
        framing,
        arq: session.client.params.arq,
        window: session.client.params.window,
        maxPayload: session.client.params.maxPayload,
      },
    });
    const info = summary();
    for (const [index, c] of cases.entries()) {
      const t0 = Date.now();
      const result: TestResult = {
        id: c.id,
        title: c.title,
        section: c.section,
        area: areaOf(c.id),
        outcome: 'pass',
        ms: 0,
      };
      const missing = (c.requires ?? []).filter((cap: CapabilityName) => !session.ctx.has(cap));
      if (c.framing === 'serial' && framing === 'tcp') {
        result.outcome = 'n/a';
        result.message =
          'serial links only: the TCP shim runs the link with ARQ off, nothing to corrupt or lose (§3, §4.4)';
      } else if (c.framing !== undefined && framing === 'pcie') {
        result.outcome = 'n/a';
        result.message = (c.requires ?? []).includes('SECURE')
          ? 'secure frames need a link layer: §12 does not apply on PCIe, which carries messages in rings (§10, §10.5)'
          : 'link layer only: PCIe carries messages in rings, without frames or a link (§10)';
      } else if (missing.length) {
        result.outcome = 'n/a';
        result.message = `the device does not advertise ${missing.join(', ')} (§14)`;
        if (framing === 'pcie' && missing.includes('CHANNELS'))
          result.message += `; on PCIe a board advertises CHANNELS only with extra ring pairs (§10.5): start the simulator with --pcie-channels ${KIT_CHANNEL.normal},${KIT_CHANNEL.admin}`;
      } else {
        if (session.client.isDown) {
          try {
            log.info('link down: reconnecting');
            await session.connect(false);
          } catch (err) {
            result.outcome = 'fail';
            result.message = `the link to the device is down and could not be restarted: ${(err as Error).message}`;
          }
        }
        if (result.outcome === 'pass') {
          try {
            await withLimit(c.run(session.ctx), c.timeoutMs ?? 20_000, c.id);
          } catch (err) {
            if (err instanceof NotApplicable) {
              result.outcome = 'n/a';
              result.message = err.message;
            } else if (err instanceof ConformanceFailure) {
              result.outcome = 'fail';
              result.message = err.message;
              if (Object.keys(err.detail).length) result.detail = err.detail;
            } else if (err instanceof TimeoutError || err instanceof ClientDownError) {
              result.outcome = 'fail';
              result.message = err.message;
            } else {
              result.outcome = 'fail';
              result.message = `${(err as Error)?.message ?? String(err)}`;
              log.debug({ err, test: c.id }, 'test threw');
            }
          }
          session.client.tap?.setWriteHook(undefined);
          session.client.tap?.setReadHook(undefined);
          const groupEnds = c.group === undefined || cases[index + 1]?.group !== c.group;
          if (!session.client.isDown) await session.ctx.closeAll(3000, groupEnds).catch(() => undefined);
        }
      }
      result.ms = Date.now() - t0;
      results.push(result);
      log.debug({ test: c.id, outcome: result.outcome, message: result.message }, 'test done');
      opts.onResult?.(result);
    }
    return report(undefined, info);
  } finally {
    await session.close();
    await peers.close();
  }
}
