/**
 * The driver's own end-to-end socket tests (test/driver/sockets.test.ts: http client and server on offloaded
 * sockets, UDP echo, error codes, 200 concurrent sockets, mirror against snapshot), run unchanged against the C
 * reference device: over the TCP shim ("tcp") and on a socat pty pair through serial:// ("pty"). Only the device
 * behind the paths changes (startPath is replaced by startRefPath); the test bodies are the driver's.
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

await import('../driver/sockets.test.js');
