/** The simulator's provisioned keys come from a key file (format: src/protocol/secure-keys.ts). */
export { KeyFileError, loadKeyFile, parseKeyFile } from '../src/protocol/secure-keys.js';
