/**
 * The egress policy (PROTOCOL.md §12.5): per channel, allow rules of three kinds (CONNECT, SENDTO, LISTEN).
 * A channel with no rules of a kind is unrestricted for that kind; with rules, an address must match one.
 * Rules are configuration: the table lives beside the socket table and survives RESET.
 */
import {
  type Addr,
  type CommandBodies,
  EgressKind,
  type StatusCodeName,
  addressToBytes,
} from '../../src/protocol/index.js';

export interface EgressRule {
  kind: number;
  family: 4 | 6;
  prefixLen: number;
  portLow: number;
  portHigh: number;
  /** Address bytes in network order (4 or 16). */
  prefix: Buffer;
}

const KINDS: ReadonlySet<number> = new Set(Object.values(EgressKind));

/** The first `bits` bits of a and b are equal. */
function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}

function sameRule(a: EgressRule, b: EgressRule): boolean {
  return (
    a.kind === b.kind &&
    a.family === b.family &&
    a.prefixLen === b.prefixLen &&
    a.portLow === b.portLow &&
    a.portHigh === b.portHigh &&
    prefixEqual(a.prefix, b.prefix, a.prefixLen)
  );
}

export function ruleMatches(rule: EgressRule, addr: Addr): boolean {
  if (addr.family !== rule.family) return false;
  if (addr.port < rule.portLow || addr.port > rule.portHigh) return false;
  return prefixEqual(addressToBytes(addr.family, addr.address), rule.prefix, rule.prefixLen);
}

/** EGRESS_SET's fields as a rule, or the E_INVALID they deserve. */
export function ruleFromBody(body: CommandBodies['EGRESS_SET']): EgressRule | 'E_INVALID' {
  const { kind, prefixLen, portLow, portHigh, addr } = body;
  if (!KINDS.has(kind)) return 'E_INVALID';
  if (addr.family !== 4 && addr.family !== 6) return 'E_INVALID';
  if (prefixLen > (addr.family === 4 ? 32 : 128)) return 'E_INVALID';
  if (portLow > portHigh) return 'E_INVALID';
  return {
    kind,
    family: addr.family,
    prefixLen,
    portLow,
    portHigh,
    prefix: addressToBytes(addr.family, addr.address),
  };
}

export class EgressPolicy {
  private readonly rules = new Map<number, EgressRule[]>();
  private total = 0;

  constructor(readonly max: number) {}

  /** Rules held for `channel`. */
  of(channel: number): readonly EgressRule[] {
    return this.rules.get(channel) ?? [];
  }

  /** Adds an allow rule (an identical one is not added twice); E_QUOTA when the device's table is full. */
  add(channel: number, rule: EgressRule): number | 'E_QUOTA' {
    const list = this.rules.get(channel) ?? [];
    if (list.some((r) => sameRule(r, rule))) return list.length;
    if (this.total >= this.max) return 'E_QUOTA';
    list.push(rule);
    this.rules.set(channel, list);
    this.total++;
    return list.length;
  }

  clear(channel: number): void {
    this.total -= this.of(channel).length;
    this.rules.delete(channel);
  }

  /** May `channel` do an operation of `kind` on `addr`? */
  allows(channel: number, kind: number, addr: Addr): boolean {
    const mine = this.of(channel).filter((r) => r.kind === kind);
    return mine.length === 0 || mine.some((r) => ruleMatches(r, addr));
  }

  /** E_NOT_PERMITTED when the policy refuses, else null (for the socket handlers, §5.4 step 10). */
  check(channel: number, kind: number, addr: Addr): StatusCodeName | null {
    return this.allows(channel, kind, addr) ? null : 'E_NOT_PERMITTED';
  }
}
