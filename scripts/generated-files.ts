/** Every file derived from firmware-protocol/protocol.json, with its expected content. */
import { join } from 'node:path';
import { generateCHeader } from './gen-c-header.js';
import { generateCVectors } from './gen-c-vectors.js';
import { loadDefinition, ROOT } from './definition.js';
import { generateTs } from './gen-ts.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

export function generatedFiles(): GeneratedFile[] {
  const def = loadDefinition();
  return [
    { path: 'src/protocol/generated.ts', content: generateTs(def) },
    { path: 'firmware-protocol/include/offload_protocol.h', content: generateCHeader(def) },
    // Reads the committed JSON vectors: run after `npm run gen:vectors` when those change.
    {
      path: 'firmware-protocol/c/vectors_data.c',
      content: generateCVectors(join(ROOT, 'firmware-protocol', 'vectors')),
    },
  ];
}
