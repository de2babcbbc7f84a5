/**
 * The kit catches real bugs: for every deliberate defect mode of the simulator (sim/core options.ts
 * DEFECT_MODE_NAMES), the whole kit runs against an in-process simulator with that mode on and at least one
 * test fails with a message that names the problem. The runs go concurrently (each has its own simulator and
 * its own peers); a new defect mode without an entry here fails the first test.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DEFECT_MODE_NAMES, type DefectModes } from '../../sim/core/index.js';
import { createInProcessDevice, type InProcessDevice } from '../../sim/index.js';
import { type ConformanceReport, formatJunit, runConformance } from '../../src/conformance/index.js';
import { expectJunitMatches } from './helpers.js';

/** Per defect: the test(s) that must fail, and what the failure message must say. */
const EXPECTED: Record<keyof DefectModes, { test: RegExp; message: RegExp }> = {
  acceptIllegalTransition: {
    test: /^transition\.(STREAM|DGRAM)\.\w+\.\w+$/,
    message:
      /answered OK, expected (E_BAD_STATE|ENOTCONN|EISCONN|EALREADY|EPIPE|E_NOT_SUPPORTED) \(§6\.5 transition table\)/,
  },
  updateUnknownChangesTable: {
    test: /^update\.unknown-id$/,
    message:
      /UPDATE of the unknown id 0x[0-9A-F]{4} .* answered E_UNKNOWN_SOCKET but changed the table: .*flags/,
  },
  skipEventSeq: {
    test: /^events\.(sequence|whole-run)$/,
    message: /event sequence gap: after seq \d+ came seq \d+/,
  },
  overGrantCredit: {
    test: /^flow\.send-credit-accounting$/,
    message:
      /the device granted more send credit than its queue freed: host credit \d+ .* but the send queue has \d+ bytes free/,
  },
  dropDataByte: {
    test: /^flow\.echo-integrity$/,
    message: /data lost or changed through the device: sent \d+ bytes .* received \d+ bytes/,
  },
  ignoreUnknownOpcode: {
    test: /^malformed\.(unknown-opcode|wrong-kind)$/,
    message: /no answer within \d+ ms; undecodable messages are answered with ERROR_RESPONSE, never ignored/,
  },
  ignoreQueueQuota: {
    test: /^channel\.queue-quota$/,
    message:
      /SETOPT RCVBUF \d+ on channel 1 answered OK: its socket now holds \d+ \+ \d+ bytes of queue, beyond queueQuota \d+/,
  },
  foreignIdAccepted: {
    test: /^channel\.isolation\.[A-Z_]+$/,
    message:
      /on channel 1 naming 0x[0-9A-F]{4}, a socket of channel 0: answered \w+, expected E_UNKNOWN_SOCKET \(§11 isolation, §6\.2\)/,
  },
};

const devices: InProcessDevice[] = [];
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close()));
});

async function runWith(defect: keyof DefectModes): Promise<ConformanceReport> {
  const dev = createInProcessDevice({ network: 'host', defects: { [defect]: true } });
  devices.push(dev);
  await dev.transport.open();
  return runConformance({ transport: dev.transport, framing: 'tcp', dataBytes: 64 * 1024 });
}

describe('every defect mode makes the kit fail, naming the problem', () => {
  it('covers every defect mode the simulator has', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...DEFECT_MODE_NAMES].sort());
  });

  describe.concurrent('defect modes', () => {
    for (const defect of DEFECT_MODE_NAMES) {
      it(`${defect}`, async () => {
        const report = await runWith(defect);
        expect(report.setupError).toBeUndefined();
        expect(report.ok).toBe(false);
        const failed = report.results.filter((r) => r.outcome === 'fail');
        const hits = failed.filter(
          (r) => EXPECTED[defect].test.test(r.id) && EXPECTED[defect].message.test(r.message ?? ''),
        );
        expect(
          hits.map((r) => r.id),
          `failures seen: ${failed.map((r) => `${r.id}: ${r.message}`).join('\n')}`,
        ).not.toEqual([]);
        // A failure report shows what was sent / expected / received where there was an exchange, and JUnit still parses.
        expectJunitMatches(formatJunit(report), report);
      }, 85_000);
    }
  });
});
