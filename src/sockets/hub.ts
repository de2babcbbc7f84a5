/**
 * SocketHub: binds one Device to its SocketTable mirror and to the socket objects. It
 *   - feeds the mirror from responses (synchronously, through the device's 'response' hook) and from events;
 *   - routes events by socket id to the endpoint (OffloadSocket, OffloadServer, OffloadUdpSocket) owning it;
 *   - applies FIG 32 on the host side: an event naming an id the mirror does not hold is logged, counted,
 *     changes nothing, and schedules a reconciliation;
 *   - reconciles from SNAPSHOT pages on a sequence gap (and on request), closing orphans the host never knew;
 *   - fails every endpoint on device reset (E_OFFLOAD_DEVICE_RESET), link down (E_OFFLOAD_LINK_DOWN) and close.
 */
import type { Logger } from 'pino';
import type { Device } from '../device/index.js';
import { DeviceError, DeviceErrorCode } from '../device/index.js';
import type { OffloadError } from '../errors.js';
import type { Addr, AnyResponse, EventBodies } from '../protocol/index.js';
import { type MirrorEntry, type RemoveReason, SocketTable, type UpdateCause } from './table.js';

export interface SocketEndpoint {
  /** The entry changed (from a response, an event or a snapshot); prev undefined when it was just added. */
  onEntry(prev: MirrorEntry | undefined, next: MirrorEntry, cause: UpdateCause): void;
  onData?(data: Buffer): void;
  onDatagram?(from: Addr, data: Buffer): void;
  /** ERROR event for this socket (statusCodes). */
  onAsyncError?(code: number): void;
  /** The entry is gone from the mirror. */
  onRemoved(entry: MirrorEntry, reason: RemoveReason): void;
  /** The device is unusable (link down), was reset, or is closing (err undefined: close quietly). */
  onFatal(err: OffloadError | undefined): void;
}

export interface HubCounters {
  unknownIdEvents: number;
  reconciliations: number;
  orphansClosed: number;
  removedByReconcile: number;
}

export class SocketHub {
  readonly table: SocketTable;
  private readonly endpoints = new Map<number, SocketEndpoint>();
  /** Endpoints not yet owning an id (SOCKET_OPEN in flight) that must hear about resets and link loss. */
  private readonly unbound = new Set<SocketEndpoint>();
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  readonly counters: HubCounters = {
    unknownIdEvents: 0,
    reconciliations: 0,
    orphansClosed: 0,
    removedByReconcile: 0,
  };
  private closed = false;
  private lastEventAt = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** Quiet time after which the hub checks for events lost at the tail (EVENT_SEQ), while sockets exist. */
  readonly probeIntervalMs: number;

  constructor(
    readonly device: Device,
    readonly log: Logger,
    options: { probeIntervalMs?: number } = {},
  ) {
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    this.table = new SocketTable({ channel: device.channel });
    this.table.on('add', (e, cause) => this.endpoints.get(e.id)?.onEntry(undefined, e, cause));
    this.table.on('update', (prev, next, cause) => this.endpoints.get(next.id)?.onEntry(prev, next, cause));
    this.table.on('remove', (e, reason) => {
      const ep = this.endpoints.get(e.id);
      this.endpoints.delete(e.id);
      ep?.onRemoved(e, reason);
    });

    device.on('response', (cmd, resp) => this.onResponse(cmd, resp));
    for (const ev of ['status', 'data', 'datagram', 'sendCredit', 'deviceError', 'boot'] as const) {
      device.on(ev, () => {
        this.lastEventAt = performance.now();
      });
    }
    device.on('status', (b) => {
      if (!this.table.applyStatus(b)) this.unknownId(b.id, 'STATUS');
    });
    device.on('data', (b) => this.onData(b));
    device.on('datagram', (b) => this.onDatagram(b));
    device.on('sendCredit', (b) => {
      if (!this.table.applySendCredit(b.id, b.bytes)) this.unknownId(b.id, 'SEND_CREDIT');
    });
    device.on('deviceError', (b) => {
      if (b.id === 0xffff) return;
      const ep = this.endpoints.get(b.id);
      if (!this.table.has(b.id)) this.unknownId(b.id, 'ERROR');
      else ep?.onAsyncError?.(b.code);
    });
    device.on(
      'gap',
      () => void this.reconcile().catch((err: unknown) => this.log.warn({ err }, 'reconciliation failed')),
    );
    device.on('reset', (info) => this.onDeviceReset(info.previousEpoch, info.epoch));
    device.on('down', (err) => {
      this.stopProbe();
      this.failAll(err);
    });
    device.on('closing', () => this.onClosing());
    if (this.probeIntervalMs > 0) {
      this.probeTimer = setInterval(() => this.maybeProbe(), this.probeIntervalMs);
      this.probeTimer.unref();
    }
  }

  /**
   * A lost event at the tail of the stream is revealed by no later event; while sockets exist and the stream
   * has been quiet for a while, read EVENT_SEQ (one REG_READ) to find out.
   */
  private maybeProbe(): void {
    if (this.closed || this.probing || this.table.size === 0 || this.device.state !== 'ready') return;
    if (performance.now() - this.lastEventAt < this.probeIntervalMs) return;
    this.probing = true;
    this.device
      .probeEvents()
      .catch((err: unknown) => this.log.debug({ err }, 'event probe failed'))
      .finally(() => {
        this.probing = false;
      });
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  register(id: number, ep: SocketEndpoint): void {
    this.unbound.delete(ep);
    this.endpoints.set(id, ep);
  }
  unregister(id: number, ep: SocketEndpoint): void {
    if (this.endpoints.get(id) === ep) this.endpoints.delete(id);
  }
  /** Track an endpoint that has no id yet (so that resets and link loss reach it). */
  track(ep: SocketEndpoint): void {
    this.unbound.add(ep);
  }
  untrack(ep: SocketEndpoint): void {
    this.unbound.delete(ep);
  }
  endpoint(id: number): SocketEndpoint | undefined {
    return this.endpoints.get(id);
  }
  get endpointCount(): number {
    return this.endpoints.size;
  }

  private onResponse(
    cmd: { name: string; body: unknown; socketId: number | undefined; tag: number },
    resp: AnyResponse,
  ): void {
    if (this.table.applyResponse(cmd, resp) === 'unknown-id') {
      this.log.warn(
        { socketId: (cmd.body as { id?: number }).id, opcode: cmd.name, tag: cmd.tag },
        'device does not know a mirrored socket',
      );
      this.scheduleReconcile();
    }
  }

  private onData(b: EventBodies['DATA']): void {
    if (!this.table.applyData(b.id, b.data.length)) {
      this.unknownId(b.id, 'DATA');
      return;
    }
    const ep = this.endpoints.get(b.id);
    if (ep?.onData) ep.onData(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
    else
      this.log.debug(
        { socketId: b.id, bytes: b.data.length },
        'data for a socket without an owner (dropped)',
      );
  }

  private onDatagram(b: EventBodies['DATAGRAM']): void {
    if (!this.table.applyData(b.id, b.data.length)) {
      this.unknownId(b.id, 'DATAGRAM');
      return;
    }
    this.endpoints
      .get(b.id)
      ?.onDatagram?.(b.from, Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
  }

  /** FIG 32 on the host: log, count, change nothing, reconcile. */
  private unknownId(id: number, opcode: string): void {
    this.counters.unknownIdEvents++;
    this.table.counters.unknownIdEvents++;
    this.log.warn({ socketId: id, opcode }, 'event for a socket id the mirror does not hold (ignored)');
    this.scheduleReconcile();
  }

  private scheduleReconcile(): void {
    if (this.closed) return;
    void this.reconcile().catch((err: unknown) => this.log.warn({ err }, 'reconciliation failed'));
  }

  /**
   * Bring the mirror in line with the device (SNAPSHOT, page by page, applied in stream order). Concurrent
   * calls share a run; a request during a run causes one more run. Sockets the device no longer has fail;
   * sockets the host never knew are closed with CLOSE abort.
   */
  reconcile(): Promise<void> {
    if (this.closed || !this.device.hasCapability('SNAPSHOT')) return Promise.resolve();
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      try {
        do {
          this.reconcileAgain = false;
          this.counters.reconciliations++;
          const orphans: number[] = [];
          await this.device.snapshot({
            onPage: (page) => {
              if (page.epoch !== this.device.epoch) return;
              const r = this.table.applyPage(page);
              this.counters.removedByReconcile += r.removed.length;
              for (const id of r.added) if (!this.endpoints.has(id)) orphans.push(id);
              if (r.changed > 0)
                this.log.info({ changed: r.changed, startSlot: page.startSlot }, 'mirror reconciled');
            },
          });
          for (const id of orphans) {
            if (this.endpoints.has(id)) continue;
            this.counters.orphansClosed++;
            this.log.warn({ socketId: id }, 'closing a device socket the host never knew');
            await this.device.request('CLOSE', { id, abort: 1 }, { socketId: id }).catch(() => undefined);
          }
        } while (this.reconcileAgain && !this.closed);
      } finally {
        this.reconciling = undefined;
      }
    })();
    return this.reconciling;
  }

  private onDeviceReset(previousEpoch: number, epoch: number): void {
    const err = new DeviceError(
      DeviceErrorCode.DEVICE_RESET,
      `device ${this.device.name} was reset (epoch ${previousEpoch} → ${epoch}); its sockets no longer exist`,
      { previousEpoch, epoch },
    );
    const all = [...this.endpoints.values(), ...this.unbound];
    this.endpoints.clear();
    this.unbound.clear();
    for (const ep of all) ep.onFatal(err);
    this.table.clear('device-reset');
  }

  private failAll(err: OffloadError | undefined): void {
    for (const ep of [...this.unbound]) ep.onFatal(err);
    for (const ep of [...this.endpoints.values()]) ep.onFatal(err);
  }

  private onClosing(): void {
    this.closed = true;
    this.stopProbe();
    this.failAll(undefined);
  }
}

export type { RemoveReason };
