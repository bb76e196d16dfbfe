import { API_ERRORS, ApiError, type ApiErrorCode } from '../api/errors';

/**
 * Domain errors of the patient side carry a stable `code`; at the HTTP boundary they become
 * ApiErrors with the status of docs/api.md. Anything else is left to the hub's handler.
 */
export function toApiError(e: unknown): ApiError | null {
  if (e instanceof ApiError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code in API_ERRORS && e instanceof Error)
    return new ApiError(code as ApiErrorCode, e.message);
  if (code === 'SCORE2_OUT_OF_RANGE' && e instanceof Error) return new ApiError('INVALID_ANSWERS', e.message);
  if (code === 'FST_REQ_FILE_TOO_LARGE')
    return new ApiError('ATTACHMENT_TOO_LARGE', 'an attachment may not exceed 5 MiB');
  return null;
}
