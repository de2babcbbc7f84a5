/**
 * Event sequence and boot epoch tracking for one channel. Pure: it classifies each event, the Device
 * decides what to do (reconcile on a gap, reset on a new epoch).
 */
export type SequenceVerdict =
  /** The expected next event. */
  | { kind: 'in-order' }
  /** Events were lost between `expected` and `got` (both inclusive bounds of what arrived vs expected). */
  | { kind: 'gap'; expected: number; got: number; missing: number }
  /** Sequence went backwards or repeated within the epoch. */
  | { kind: 'stale'; expected: number; got: number }
  /** The event carries another boot epoch: the device rebooted. */
  | { kind: 'new-epoch'; previousEpoch: number; epoch: number };

export class EventSequencer {
  epoch = 0;
  /** Sequence number of the last event seen (the next expected is this + 1, mod 2^32). */
  lastSeq = 0;
  gaps = 0;
  missed = 0;
  stale = 0;

  /** Start (or restart) from a HELLO or SNAPSHOT answer. */
  reset(epoch: number, lastSeq: number): void {
    this.epoch = epoch >>> 0;
    this.lastSeq = lastSeq >>> 0;
  }

  /**
   * The device says its last event was `seq` (a SNAPSHOT page, the EVENT_SEQ register, HELLO). Returns how many
   * events never arrived (0 if none; counted as a gap), and continues from there.
   */
  skipTo(seq: number): number {
    const missing = (seq - this.lastSeq) >>> 0;
    if (missing === 0 || missing >= 0x80000000) return 0;
    this.lastSeq = seq >>> 0;
    this.gaps++;
    this.missed += missing;
    return missing;
  }

  check(epoch: number, seq: number): SequenceVerdict {
    if (epoch !== this.epoch) {
      return { kind: 'new-epoch', previousEpoch: this.epoch, epoch };
    }
    const expected = (this.lastSeq + 1) >>> 0;
    if (seq === expected) {
      this.lastSeq = seq;
      return { kind: 'in-order' };
    }
    const ahead = (seq - expected) >>> 0;
    if (ahead < 0x80000000) {
      this.lastSeq = seq;
      this.gaps++;
      this.missed += ahead;
      return { kind: 'gap', expected, got: seq, missing: ahead };
    }
    this.stale++;
    return { kind: 'stale', expected, got: seq };
  }
}
