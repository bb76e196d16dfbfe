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

/**
 * A driver in an integrator's folder may get its own copy of this module (a folder outside an ES
 * module package is loaded as CommonJS): a registry-wide brand keeps `instanceof DecodeError`
 * true for errors of either copy, so that its stable codes are not turned into DRIVER_FAILURE.
 */
const BRAND = Symbol.for('vigil.drivers.DecodeError');

export class DecodeError extends Error {
  readonly code: DecodeErrorCode;
  readonly [BRAND] = true;

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== DecodeError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

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
