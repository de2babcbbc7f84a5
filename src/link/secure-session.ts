/**
 * One secure session of a link (PROTOCOL.md §12.3): a MAC key per direction, the send counter and the
 * 64-frame sliding replay window of the receive direction. seal() makes a frame SECURE; open() checks one.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Frame } from '../protocol/frame.js';
import { FrameFlag, Limits } from '../protocol/generated.js';
import { frameMac, type SessionKeys } from '../protocol/secure.js';
import { LinkError, LinkErrorCode } from './errors.js';

/** Counters a session accepts behind the highest one seen: highest − 63 … highest. */
export const REPLAY_WINDOW = 64;
const WINDOW_MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;
export const MAX_COUNTER = 0xffff_ffff_ffff_ffffn;

/** Why open() refused a frame: MAC wrong, counter already seen, counter below the window (or 0). */
export type SecureRejection = 'mac' | 'replay' | 'old';

export interface SecureSessionOptions {
  /** Key of what we send. */
  txKey: Uint8Array;
  /** Key of what we receive. */
  rxKey: Uint8Array;
  /** Last counter already used (tests start near the end of the counter space). Default 0. */
  lastSent?: bigint;
}

export class SecureSession {
  private readonly txKey: Buffer;
  private readonly rxKey: Buffer;
  private sent: bigint;
  /** Highest counter accepted; bit i of `seen` is counter (highest − i). */
  private highest = 0n;
  private seen = 0n;
  private readonly scratch = Buffer.allocUnsafe(Limits.frameHeaderSize + Limits.secureCounterSize);

  constructor(opts: SecureSessionOptions) {
    if (opts.txKey.length !== 32 || opts.rxKey.length !== 32)
      throw new RangeError('session keys are 32 bytes');
    this.txKey = Buffer.from(opts.txKey);
    this.rxKey = Buffer.from(opts.rxKey);
    this.sent = opts.lastSent ?? 0n;
  }

  /** The host's session: sends with K_h2d, receives with K_d2h. */
  static forHost(keys: SessionKeys): SecureSession {
    return new SecureSession({ txKey: keys.h2d, rxKey: keys.d2h });
  }

  /** The device's session: sends with K_d2h, receives with K_h2d. */
  static forDevice(keys: SessionKeys): SecureSession {
    return new SecureSession({ txKey: keys.d2h, rxKey: keys.h2d });
  }

  /** Last counter sent (0: none yet). */
  get lastSent(): bigint {
    return this.sent;
  }

  /** Highest counter received and accepted (0: none yet). */
  get highestReceived(): bigint {
    return this.highest;
  }

  /**
   * Sets flags.SECURE, the next counter and the MAC on `frame` (changed in place). Throws
   * E_OFFLOAD_SECURE_COUNTER_EXHAUSTED rather than reuse a counter: the session must be replaced.
   */
  seal(frame: Frame): void {
    if (this.sent >= MAX_COUNTER) {
      throw new LinkError(
        LinkErrorCode.COUNTER_EXHAUSTED,
        'secure session: the 64-bit frame counter is exhausted; a new handshake is needed',
      );
    }
    const counter = ++this.sent;
    frame.flags |= FrameFlag.SECURE;
    frame.counter = counter;
    frame.mac = frameMac(this.txKey, frame, counter, this.scratch);
  }

  /**
   * Checks a received SECURE frame: the MAC first (constant time), then the counter against the replay
   * window. Only an accepted frame moves the window. Returns 'ok' or why it was refused. `ordered`: the
   * transport keeps order and nothing is retransmitted (ARQ off), so the window is 0 wide: only a counter above
   * the highest is honest, anything else is replayed ('replay') or reordered ('old').
   */
  open(frame: Frame, ordered = false): 'ok' | SecureRejection {
    const counter = frame.counter;
    const mac = frame.mac;
    if (counter === undefined || mac?.length !== Limits.secureMacSize) return 'mac';
    const expected = frameMac(this.rxKey, frame, counter, this.scratch);
    if (!timingSafeEqual(expected, mac)) return 'mac';
    let verdict = this.check(counter);
    if (ordered && verdict === 'ok' && counter <= this.highest) verdict = 'old';
    if (verdict === 'ok') this.accept(counter);
    return verdict;
  }

  /** The replay-window verdict on a counter, without recording it. */
  check(counter: bigint): 'ok' | 'replay' | 'old' {
    if (counter === 0n) return 'old';
    if (counter > this.highest) return 'ok';
    const behind = this.highest - counter;
    if (behind >= BigInt(REPLAY_WINDOW)) return 'old';
    return (this.seen >> behind) & 1n ? 'replay' : 'ok';
  }

  /** Records an accepted counter (slides the window when it is the new highest). */
  private accept(counter: bigint): void {
    if (counter > this.highest) {
      const shift = counter - this.highest;
      this.seen = shift >= BigInt(REPLAY_WINDOW) ? 1n : ((this.seen << shift) | 1n) & WINDOW_MASK;
      this.highest = counter;
    } else {
      this.seen |= 1n << (this.highest - counter);
    }
  }
}
