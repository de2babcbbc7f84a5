/**
 * The root of every error the driver, the link and the simulator raise.
 * Each layer defines its own subclasses in its folder; all carry a stable `code`
 * (a string such as 'E_OFFLOAD_LINK_DOWN' or a Node/POSIX code such as 'ECONNRESET')
 * so that callers can switch on `err.code` exactly as they do with Node's own errors.
 */
export class OffloadError extends Error {
  readonly code: string;
  /** Structured context for logs: socket id, channel, tag, opcode, path ... */
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

export function isOffloadError(err: unknown): err is OffloadError {
  return err instanceof OffloadError;
}
