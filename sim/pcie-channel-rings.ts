/**
 * One extra ring pair of the simulated PCIe window (PROTOCOL.md §10.5): the rings of channel c ≥ 1, described by
 * a block of the channel ring table, with its own interrupt FIFO (`<events>.<c>`). pcie-server.ts (PcieShim) owns
 * the window file, its inotify watcher and the device reset; it places the pairs, services them in its passes
 * and resets them with channel 0's rings. A pair is the host endpoint of its channel on the board.
 *
 * The link a pair stands for: up (Board.attachEndpoint, which reports channelUp) when the host writes a new
 * non-zero HOST_SESSION; down (detach: channelDown, the channel timeout runs) when HOST_SESSION is 0 or
 * HOST_HEARTBEAT stayed unchanged for hostDeadMs. Commands in the rings while no host session is up are
 * consumed and dropped (nobody would read their answers).
 *
 * The rings themselves are served by channel 0's code (PcieRingPair, pcie-ring-pair.ts), addressed through the
 * block's registers (channelBlockRegisters); this file adds what only an extra pair has: the block's CHANNEL and
 * IRQ_VECTOR words, HOST_SESSION / HOST_HEARTBEAT liveness (the `beforeRings` hook) and its own FIFO.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import {
  CHANNEL_RING_STRIDE,
  ChannelRingField,
  channelBlockRegisters,
  IrqBit,
  RING_DESCRIPTOR_HEADER,
} from '../src/protocol/index.js';
import type { PcieBoard, PcieHostEndpoint } from './pcie-server.js';
import { faultResponse, PcieRingPair } from './pcie-ring-pair.js';

/** Where one pair lives in the window. */
export interface ChannelPairGeometry {
  channel: number;
  /** The block in the channel ring table. */
  block: number;
  cmdOffset: number;
  cmdEntries: number;
  cplOffset: number;
  cplEntries: number;
  descSize: number;
  /** The pair's interrupt FIFO. */
  events: string;
}

export interface ChannelPairStats {
  commandsConsumed: number;
  commandsDropped: number;
  completionsProduced: number;
  interruptsRaised: number;
  interruptsDropped: number;
  tornCommands: number;
  tornFaults: number;
  sessions: number;
  hostsGone: number;
  ringResets: number;
}

/** What a pair needs of the shim that serves the window. */
export interface ChannelPairContext {
  readonly board: PcieBoard;
  readonly log: Logger;
  readonly fd: number;
  /** Service the window soon (a message to produce, a torn descriptor to re-read). */
  kick(): void;
  /** The board reset since the shim last looked: the shim resets every pair now (before a message is queued). */
  checkEpoch(): void;
  /** The window is served (not closed, not vanished). */
  live(): boolean;
  /** The epoch the rings belong to; a change during a pass stops consuming. */
  epoch(): number;
}

const F = ChannelRingField;

export class PcieChannelPair implements PcieHostEndpoint {
  readonly geometry: Readonly<ChannelPairGeometry>;
  readonly stats: ChannelPairStats = {
    commandsConsumed: 0,
    commandsDropped: 0,
    completionsProduced: 0,
    interruptsRaised: 0,
    interruptsDropped: 0,
    tornCommands: 0,
    tornFaults: 0,
    sessions: 0,
    hostsGone: 0,
    ringResets: 0,
  };
  private readonly ctx: ChannelPairContext;
  private readonly hostDeadMs: number;
  private readonly rings: PcieRingPair;
  private closed = false;
  private attached: { message(bytes: Buffer): void; detach(): void } | undefined;
  /** HOST_SESSION last seen, the one found dead (not taken up again), HOST_HEARTBEAT and when it changed. */
  private session = 0;
  private deadSession = 0;
  private heartbeat = 0;
  private heartbeatAt = 0;

  constructor(ctx: ChannelPairContext, geometry: ChannelPairGeometry, hostDeadMs: number) {
    this.ctx = ctx;
    this.geometry = geometry;
    this.hostDeadMs = hostDeadMs;
    this.rings = new PcieRingPair({
      registers: channelBlockRegisters(geometry.block),
      layout: geometry,
      maxMessage: this.maxMessage,
      snapshot: { offset: geometry.block, length: CHANNEL_RING_STRIDE },
      events: geometry.events,
      stats: this.stats,
      log: ctx.log,
      logFields: { channel: geometry.channel },
      fd: () => ctx.fd,
      epoch: () => ctx.epoch(),
      live: () => !this.closed,
      retry: () => ctx.kick(),
      deliver: (message) => {
        if (!this.attached) this.stats.commandsDropped++;
        else if (message) this.attached.message(message);
        else this.rings.enqueue(faultResponse());
      },
      beforeRings: (now) => this.hostLiveness(now),
    });
  }

  get isUp(): boolean {
    return !this.closed && this.attached !== undefined && this.ctx.live();
  }

  private get maxMessage(): number {
    return this.geometry.descSize - RING_DESCRIPTOR_HEADER;
  }

  /** Opens the FIFO and writes the block (values after reset). `fifo` is created by the caller. */
  start(): void {
    this.rings.openEvents();
    this.rings.put(this.geometry.block + F.HOST_SESSION, 0);
    this.rings.put(this.geometry.block + F.HOST_HEARTBEAT, 0);
    this.writeIdentity();
    this.rings.start(0);
  }

  /** The block's words that are not ring registers. */
  private writeIdentity(): void {
    const g = this.geometry;
    this.rings.put(g.block + F.CHANNEL, g.channel);
    this.rings.put(g.block + F.IRQ_VECTOR, g.channel);
  }

  // ---- board side ------------------------------------------------------------------------------------

  send(message: Buffer): boolean {
    if (this.closed || !this.ctx.live()) return false;
    this.ctx.checkEpoch();
    this.rings.enqueue(message);
    this.ctx.kick();
    return true;
  }

  cork(): void {
    // completions are produced in the shim's next pass anyway
  }

  uncork(): void {
    // see cork()
  }

  // ---- service (called by the shim's pass) -----------------------------------------------------------

  service(now: number): void {
    if (this.closed) return;
    this.rings.service(now);
  }

  /** §10.5: HOST_SESSION starts and ends the channel's link, HOST_HEARTBEAT shows the host alive. */
  private hostLiveness(now: number): void {
    const session = this.rings.getStable(this.geometry.block + F.HOST_SESSION);
    const beat = this.rings.snapshotWord(this.geometry.block + F.HOST_HEARTBEAT);
    if (beat !== this.heartbeat) {
      this.heartbeat = beat;
      this.heartbeatAt = now;
    }
    if (session !== this.session) {
      this.session = session;
      if (session !== 0 && session !== this.deadSession) {
        this.heartbeatAt = now;
        this.stats.sessions++;
        this.rings.clearQueue(); // answers to an earlier host's tags: the new host discards its ring, and these with it
        this.ctx.log.info({ channel: this.geometry.channel, session }, 'PCIe channel host up');
        // A new session is a link start (§11), also while the previous one is still attached.
        this.attached = this.ctx.board.attachEndpoint(this, this.maxMessage, this.geometry.channel);
        return;
      }
    }
    if (!this.attached) return;
    if (session === 0) this.hostGone('the host left (HOST_SESSION 0)');
    else if (now - this.heartbeatAt > this.hostDeadMs) {
      this.deadSession = session;
      this.hostGone(`HOST_HEARTBEAT unchanged for ${this.hostDeadMs} ms`);
    }
  }

  private hostGone(why: string): void {
    this.stats.hostsGone++;
    this.ctx.log.info(
      { channel: this.geometry.channel, why },
      'PCIe channel host gone: the channel timeout runs',
    );
    const a = this.attached;
    this.attached = undefined;
    this.rings.clearQueue();
    a?.detach();
  }

  /** §10.5: the device reset; the shim has zeroed the rings. The host's session words stay. */
  reset(): void {
    this.writeIdentity();
    this.rings.writeDescription();
    this.rings.reset();
    this.rings.raise(IrqBit.RESET);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const a = this.attached;
    this.attached = undefined;
    a?.detach();
    this.rings.close();
    try {
      fs.unlinkSync(this.geometry.events);
    } catch {
      // already gone
    }
  }
}
