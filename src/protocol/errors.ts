import { OffloadError } from '../errors.js';
import { DecodeError, type DecodeErrorName } from './generated.js';

/**
 * The only error decoding ever throws, whatever the input bytes.
 * `decodeError` is the protocol's name for it (firmware-protocol decodeErrors, shared with the C codec);
 * `code` is 'E_OFFLOAD_' + that name.
 */
export class ProtocolError extends OffloadError {
  readonly decodeError: DecodeErrorName;
  readonly decodeErrorValue: number;

  constructor(decodeError: DecodeErrorName, message: string, details: Record<string, unknown> = {}) {
    super(`E_OFFLOAD_${decodeError}`, message, details);
    this.decodeError = decodeError;
    this.decodeErrorValue = DecodeError[decodeError];
  }
}
