import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/definition.js';
import { generatedFiles } from '../../scripts/generated-files.js';

describe('generated files', () => {
  for (const f of generatedFiles()) {
    it(`${f.path} is up to date with protocol.json (run npm run gen)`, () => {
      expect(readFileSync(join(ROOT, f.path), 'utf8')).toBe(f.content);
    });
  }
});
