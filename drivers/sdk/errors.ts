/** Stable decode error codes: integrators and logs rely on them, never rename. */
export const DECODE_ERROR_CODES = {
  TRUNCATED: 'packet shorter than its flags require',
  EMPTY: 'empty packet',
  RESERVED_VALUE: 'reserved value in a field with no meaning',
  UNSUPPORTED: 'characteristic or opcode not supported by this driver',
  INVALID: 'packet content contradicts the specification',
  DRIVER_FAILURE: 'driver threw an unexpected error',
} as const;
export type DecodeErrorCode = keyof typeof DECODE_ERROR_CODES;

export class DecodeError extends Error {
  readonly code: DecodeErrorCode;

  constructor(code: DecodeErrorCode, message: string) {
    // a malformed packet is expected control flow, not a bug: skip the costly stack capture
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}: ${message}`);
    Error.stackTraceLimit = limit;
    this.code = code;
    this.name = 'DecodeError';
  }
}
