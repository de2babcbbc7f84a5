/**
 * The C reference codec (firmware-protocol/c) against the same golden vectors as the TypeScript codec:
 * builds it with cc (normal and AddressSanitizer + UBSan) and runs its test through `make test`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateCHeader } from '../../scripts/gen-c-header.js';
import { generateCVectors } from '../../scripts/gen-c-vectors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FP = join(ROOT, 'firmware-protocol');
const VECTORS = join(FP, 'vectors');
const VECTOR_FILES = [
  'crc32.json',
  'cobs.json',
  'frames.json',
  'messages.json',
  'negative.json',
  'secure.json',
];

function requireTool(cmd: string): void {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `the C codec test needs \`${cmd}\` on PATH (${r.error?.message ?? `exit ${r.status}`}); install a C toolchain (gcc/clang and make)`,
    );
  }
}

describe('C reference codec', () => {
  it('generated header and vector tables are up to date (else run npm run gen)', () => {
    const def = JSON.parse(readFileSync(join(FP, 'protocol.json'), 'utf8')) as unknown;
    expect(readFileSync(join(FP, 'include', 'offload_protocol.h'), 'utf8')).toBe(generateCHeader(def));
    expect(readFileSync(join(FP, 'c', 'vectors_data.c'), 'utf8')).toBe(generateCVectors(VECTORS));
  });

  it('passes every golden vector, normally and under ASan/UBSan', () => {
    requireTool('cc');
    requireTool('make');
    const expected = VECTOR_FILES.reduce(
      (n, f) => n + (JSON.parse(readFileSync(join(VECTORS, f), 'utf8')) as unknown[]).length,
      0,
    );
    const r = spawnSync('make', ['-C', join(FP, 'c'), 'test'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    if (r.error) throw r.error;
    expect(r.status, output).toBe(0);
    const summaries = [...output.matchAll(/c-codec vectors: (\d+) passed, (\d+) failed/g)];
    // One summary from the normal build, one from the sanitizer build.
    expect(summaries, output).toHaveLength(2);
    for (const s of summaries) {
      expect(Number(s[1]), output).toBe(expected);
      expect(Number(s[2]), output).toBe(0);
    }
    const robustness = [...output.matchAll(/c-codec robustness: \d+ inputs .*?, (\d+) failures/g)];
    expect(robustness, output).toHaveLength(2);
    for (const s of robustness) expect(Number(s[1]), output).toBe(0);
  });
});
