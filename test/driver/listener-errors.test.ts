/**
 * An application listener that throws (a socket's 'data' handler with a bug) must not cost the driver anything:
 * the rest of the data arrives exact, no event is lost, the device keeps answering, and the exception surfaces
 * as uncaught, as it would from a net.Socket. Run in a child process so that the uncaught exception is its own.
 */
import { describe, expect, it } from 'vitest';
import { spawnScript } from '../helpers/sim-process.js';

describe('an application listener that throws', () => {
  it('surfaces as uncaught; the driver loses nothing and carries on', async () => {
    const run = spawnScript('test/helpers/throwing-listener.ts', [String(4 * 1024 * 1024)]);
    const code = await new Promise<number | null>((resolve) => run.child.once('exit', resolve));
    expect(run.stderr()).toBe('');
    expect(code).toBe(0);
    const r = JSON.parse(run.stdout().trim()) as {
      bytes: number;
      sha256: string;
      expectedSha256: string;
      uncaught: string[];
      socketError?: string;
      listenerErrors: number;
      gaps: number;
      pingAfter: string;
    };
    expect(r.uncaught).toEqual(['application bug in a data handler']);
    expect(r.listenerErrors).toBe(1);
    expect(r.socketError).toBeUndefined();
    expect(r.gaps).toBe(0);
    expect(r.bytes).toBe(4 * 1024 * 1024);
    expect(r.sha256).toBe(r.expectedSha256);
    expect(r.pingAfter).toBe('ok');
  }, 60_000);
});
