/**
 * The driver's own fault tests (test/driver/faults.test.ts) against the C reference device over the TCP shim and a
 * pty: a RESET mid-transfer (E_OFFLOAD_DEVICE_RESET within 1 s), the link cut under the host, a hung board (the
 * device process SIGSTOPped: the heartbeat declares the link down), a board power cycle on the serial line (the
 * process killed and restarted on the same pty: new epoch, re-HELLO). Simulator-only tests are skipped by the file
 * itself; its "lost events" test starts its own lossy simulator (the reference device injects no faults).
 */
import { vi } from 'vitest';

vi.mock('../driver/paths.js', async (importOriginal) => {
  const orig = await importOriginal<typeof import('../driver/paths.js')>();
  const ref = await import('./ref-device.js');
  ref.buildReferenceDevice(process.env.REFDEV_FLAVOUR === 'san' ? 'san' : 'all');
  return {
    ...orig,
    PATHS: ['tcp', 'pty'],
    startPath: (name: 'tcp' | 'pty', settings?: import('../driver/paths.js').SimSettings) =>
      ref.startRefPath(name, settings),
  };
});

await import('../driver/faults.test.js');
