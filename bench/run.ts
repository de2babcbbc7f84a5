/**
 * `npm run bench`: every benchmark of the project in one run, printed as tables (or JSON with --json).
 * Modules are optional so that a partial tree still benches what exists.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

type Row = Record<string, unknown>;
const MODULES: [string, string][] = [
  ['codec.ts', 'benchCodec'],
  ['link.ts', 'benchLink'],
  ['driver.ts', 'benchDriver'],
  ['secure.ts', 'benchSecure'],
  ['reference-device.ts', 'benchReferenceDevice'],
];

const json = process.argv.includes('--json');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const results: Record<string, Row[]> = {};
for (const [file, fn] of MODULES) {
  const name = file.replace(/\.ts$/, '');
  if (only && only !== name) continue;
  const path = join(import.meta.dirname, file);
  if (!existsSync(path)) continue;
  const mod = (await import(path)) as Record<string, () => Promise<Row[]>>;
  const run = mod[fn];
  if (!run) continue;
  const started = Date.now();
  results[name] = await run();
  if (!json) {
    console.log(`\n== ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    console.table(results[name]);
  }
}
if (json) console.log(JSON.stringify(results, null, 2));
process.exit(0);
