/**
 * The conformance kit (src/conformance) against the C reference device: over the TCP shim (sanitizer build) and on
 * a socat pty pair with serial framing and ARQ (where the kit's serial link-fault tests apply too). Every test must
 * pass or be not applicable; the device must exit cleanly afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatText, runConformance } from '../../src/conformance/index.js';
import { buildReferenceDevice, type RefPath, startRefPath } from './ref-device.js';

beforeAll(() => {
  buildReferenceDevice('all');
  buildReferenceDevice('san');
}, 180_000);

describe.each([
  { path: 'tcp', flavour: 'san' },
  { path: 'pty', flavour: 'release' },
] as const)('conformance kit over $path ($flavour build)', ({ path: name, flavour }) => {
  let path: RefPath;

  beforeAll(async () => {
    path = await startRefPath(name, { slots: 32 }, flavour);
  }, 30_000);

  afterAll(async () => {
    await path?.close();
  }, 30_000);

  it('every test passes or is not applicable', async () => {
    const report = await runConformance({ url: path.url });
    const text = formatText(report);
    expect(
      report.results.filter((r) => r.outcome === 'fail').map((r) => r.id),
      text,
    ).toEqual([]);
    expect(report.ok, text).toBe(true);
    const passed = report.results.filter((r) => r.outcome === 'pass').length;
    // Over the pty every test applies (the serial link faults too); over TCP only the ARQ tests do not.
    expect(passed).toBeGreaterThan(name === 'pty' ? 250 : 240);
    expect(path.ref.child.exitCode).toBeNull();
  }, 120_000);
});
