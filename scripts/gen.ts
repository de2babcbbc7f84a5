/**
 * `npm run gen`: regenerates every file derived from firmware-protocol/protocol.json.
 * `npm run gen -- --check` exits 1 (listing the files) when a committed file is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './definition.js';
import { generatedFiles } from './generated-files.js';

const check = process.argv.includes('--check');
const stale: string[] = [];
for (const f of generatedFiles()) {
  const abs = join(ROOT, f.path);
  let current = '';
  try {
    current = readFileSync(abs, 'utf8');
  } catch {
    // missing: counts as out of date
  }
  if (current === f.content) continue;
  if (check) stale.push(f.path);
  else {
    writeFileSync(abs, f.content);
    console.log(`wrote ${f.path}`);
  }
}
if (stale.length > 0) {
  console.error(`out of date (run npm run gen): ${stale.join(', ')}`);
  process.exit(1);
}
