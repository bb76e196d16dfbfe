/**
 * Reading what was thrown: a rejection or a catch clause may carry anything (an Error, a pg or
 * Node system error with a `code`, or a plain value), so callers look through these two helpers.
 */

/** The message of a thrown value, whatever it is. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The stable string `code` a thrown value carries (our typed errors, pg, Node system errors), if any. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}
