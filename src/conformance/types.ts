/**
 * The conformance kit's vocabulary: a test case is a small declarative record (id, title, the PROTOCOL.md
 * section it checks, the capabilities it needs) with a run(ctx) that either returns (pass), throws a
 * ConformanceFailure (fail, with what was sent, expected and received) or throws NotApplicable (the device
 * lacks something the test needs, with the reason). Nothing else counts as a pass.
 */
import type { CapabilityName } from '../protocol/index.js';
import type { TestContext } from './context.js';

export type Outcome = 'pass' | 'fail' | 'n/a';

/** What a failure shows: the bytes sent, what PROTOCOL.md expects, what came back (hex where it helps). */
export interface FailureDetail {
  sent?: string;
  expected?: string;
  received?: string;
}

export interface ConformanceCase {
  /** Stable id, `area.name` (e.g. `transition.STREAM.LISTENING.BIND`); --grep matches it and the title. */
  readonly id: string;
  readonly title: string;
  /** The PROTOCOL.md section(s) it checks, e.g. '§6.5'. */
  readonly section: string;
  /** Capabilities the device must advertise; otherwise the test is not applicable. */
  readonly requires?: readonly CapabilityName[];
  /**
   * 'serial': only over a serial link with ARQ (corruption and loss tests); 'link': over any link layer (serial or
   * TCP shim: frames to tamper with), not over the PCIe rings.
   */
  readonly framing?: 'serial' | 'link';
  /** Tests of one group share sockets (kept open until the group's last test has run). */
  readonly group?: string;
  /** Wall-clock limit (ms); default 20000. */
  readonly timeoutMs?: number;
  run(ctx: TestContext): Promise<void>;
}

export interface TestResult {
  id: string;
  title: string;
  section: string;
  /** The area: the id's first component (handshake, register, transition ...). */
  area: string;
  outcome: Outcome;
  ms: number;
  /** Fail: what went wrong (names the problem); n/a: why the test does not apply. */
  message?: string;
  detail?: FailureDetail;
}

export interface DeviceSummary {
  protocolVersion: string;
  capabilities: string[];
  slots: number;
  maxPayload: number;
  epoch: number;
  firmware: string;
  sendQueueSize: number;
  recvQueueSize: number;
  link: { framing: 'serial' | 'tcp' | 'pcie'; arq: boolean; window: number; maxPayload: number };
}

export interface ConformanceReport {
  /** The device URL (or the transport's description). */
  device: string;
  startedAt: string;
  durationMs: number;
  /** What HELLO and the link said; undefined when the session could not be set up. */
  info?: DeviceSummary;
  /** Where the kit's peers listen (the device was told to connect there). */
  peerHost: string;
  results: TestResult[];
  summary: { total: number; passed: number; failed: number; notApplicable: number };
  /** A failure before any test could run (link, HELLO); the results are then empty. */
  setupError?: string;
  /** True when every applicable test passed (and setup succeeded). */
  ok: boolean;
}

/** A failing check: the message names the problem and cites PROTOCOL.md. */
export class ConformanceFailure extends Error {
  constructor(
    message: string,
    readonly detail: FailureDetail = {},
  ) {
    super(message);
    this.name = 'ConformanceFailure';
  }
}

/** The test does not apply to this device (missing capability, environment limit); never a pass. */
export class NotApplicable extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NotApplicable';
  }
}

export function fail(message: string, detail: FailureDetail = {}): never {
  throw new ConformanceFailure(message, detail);
}

export function notApplicable(reason: string): never {
  throw new NotApplicable(reason);
}

export function check(cond: unknown, message: string, detail: FailureDetail = {}): asserts cond {
  if (!cond) throw new ConformanceFailure(message, detail);
}
