/**
 * # src/conformance — the protocol conformance kit
 *
 * Drives any device (the simulator, firmware over serial, a TCP shim) through raw messages and reports, per
 * test, pass / fail / not applicable, with PROTOCOL.md sections and, on failure, what was sent, what was
 * expected and what came back.
 *
 * ```ts
 * const report = await runConformance({ url: 'tcp://127.0.0.1:7070' });            // or { transport, framing }
 * console.log(formatText(report)); writeFileSync('junit.xml', formatJunit(report));
 * process.exitCode = report.ok ? 0 : 1;
 * ```
 *
 * The kit is destructive: it opens and closes sockets, writes SCRATCH and IRQ registers and RESETs the device
 * (last). It starts its own network peers on `peerHost` (127.0.0.1 by default) and tells the device to connect
 * there: a board on a real network needs `peerHost` = an address of this host the board can reach.
 * May import only src/protocol, src/transport, src/link and src/device.
 */
export { runConformance, listConformanceTests, type ConformanceOptions } from './runner.js';
export { formatJunit, formatResultLine, formatSummary, formatText } from './report.js';
export {
  type ConformanceCase,
  ConformanceFailure,
  type ConformanceReport,
  type DeviceSummary,
  type FailureDetail,
  NotApplicable,
  type Outcome,
  type TestResult,
} from './types.js';
export type { TestContext } from './context.js';
