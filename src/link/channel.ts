/**
 * MessageChannel: the narrow seam between the mailbox client (src/device) and whatever carries its messages.
 *
 * On serial and TCP it is the Link (frames, CRC, sequence/ack, SYNC); on PCIe it is the pair of rings in the
 * register window (no framing, no link layer: PROTOCOL.md §10). The Device uses nothing else, so it does not
 * know which transport it runs on.
 *
 *   start()    bring the channel up; resolves with the agreed parameters (maxPayload above all)
 *   send(m)    hand over one encoded message; false = wait for 'drain' (the message is still taken)
 *   'message'  one message from the device, in order, exactly once
 *   'up'       start() completed
 *   'reset'    the peer restarted under us: what was in flight is lost, the layer above re-handshakes
 *   'down'     terminal failure (the device or the wire is gone)
 *   'drain'    send() may be called again after it returned false
 *   close()    stop; idempotent
 */
import type { EventEmitter } from 'node:events';
import type { StatusCodeName } from '../protocol/index.js';
import type { LinkCounters, LinkEvents, LinkParams } from './link.js';
import type { SecureSession } from './secure-session.js';

/** The events every message channel emits (those of the Link). */
export type MessageChannelEvents = LinkEvents;

export interface MessageChannel extends EventEmitter<MessageChannelEvents> {
  /** Name in logs and errors. */
  readonly name: string;
  /** Channel number (PROTOCOL.md §11); 0 on PCIe. */
  readonly channel: number;
  /** The agreed parameters once up. */
  readonly params: LinkParams | undefined;
  readonly isUp: boolean;
  /**
   * Traffic counters. bytesReceived > 0 tells "something answered" from silence in the handshake; counters
   * that have no meaning on a channel (retransmits on PCIe) stay 0.
   */
  readonly counters: LinkCounters;
  start(): Promise<LinkParams>;
  send(message: Uint8Array): boolean;
  close(): Promise<void>;
  /**
   * Direct register access, where the registers are real (PCIe: PROTOCOL.md §1.1). Without it the Device reaches
   * them with REG_READ / REG_WRITE messages.
   */
  readonly registers?: RegisterPort;
  /** Secure execution (§12), where frames can be sealed (the Link; not the PCIe rings): a session is in force. */
  readonly isSecure?: boolean;
  /** Host switch-over (§12.3), see Link.expectSecure. */
  expectSecure?(session: SecureSession, isSwitch: (message: Buffer) => boolean): void;
  cancelSecure?(): void;
}

/** Registers reached directly (aligned 32-bit accesses on the window). */
export interface RegisterPort {
  /** `count` consecutive registers from byte `offset` (a multiple of 4). Throws if the window is unusable. */
  read(offset: number, count: number): number[];
  /** One register; the status a REG_WRITE would have answered (RO and reserved offsets: E_NOT_PERMITTED). */
  write(offset: number, value: number): StatusCodeName;
}
