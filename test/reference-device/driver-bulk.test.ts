/**
 * The driver's own bulk and flow-control tests (test/driver/bulk.test.ts: several MiB through one socket in both
 * directions at once with sha256 checks, a slow reader whose pace throttles the remote peer), run unchanged against
 * the C reference device over the TCP shim ("tcp", 8 MiB each way) and a socat pty pair ("pty", 2 MiB each way).
 * Only the device behind the paths changes (startPath is replaced by startRefPath); the test bodies are the driver's.
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

await import('../driver/bulk.test.js');
