/**
 * A TCP "blackhole" on loopback, for connect timeouts: a child process listens on 127.0.0.1 with backlog 1 and
 * then blocks its event loop (Atomics.wait), so it never accepts. Two filler connections fill the kernel's
 * accept queue; from then on Linux drops further SYNs to that port (ListenOverflows), so a connect attempt gets
 * no answer at all — exactly what an unreachable, silent host looks like — until the client gives up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

export interface Blackhole {
  port: number;
  close(): Promise<void>;
}

const CHILD = `
const net = require('net');
const s = net.createServer();
s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(String(s.address().port) + '\\n', () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });
});`;

export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('blackhole child did not start')), 10_000);
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(Number(String(d).trim()));
    });
  });
  const fillers: net.Socket[] = [];
  // Fill the accept queue (backlog 1 → two established connections wait; later SYNs are dropped).
  for (let i = 0; i < 3; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => undefined);
    fillers.push(c);
    await new Promise((r) => setTimeout(r, 50));
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    close: async () => {
      for (const f of fillers) f.destroy();
      child.kill('SIGKILL');
      await exited;
    },
  };
}
