/** Every file derived from firmware-protocol/protocol.json, with its expected content. */
import { loadDefinition } from './definition.js';
import { generateTs } from './gen-ts.js';

export interface GeneratedFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

export function generatedFiles(): GeneratedFile[] {
  const def = loadDefinition();
  return [{ path: 'src/protocol/generated.ts', content: generateTs(def) }];
}
