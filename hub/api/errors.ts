/** Stable HTTP API error codes: clients branch on `code`, never on the message. */
export const API_ERRORS = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  /** the episode's state does not allow this transition (e.g. acknowledge a resolved episode) */
  INVALID_TRANSITION: 409,
  /** the resource exists already or was already handled (e.g. a quarantined reading already assigned) */
  CONFLICT: 409,
  INVALID_REQUEST: 400,
  STORE_UNAVAILABLE: 503,
  /** the hub could not reach its MQTT broker to tell the gateway (the change is kept and published at the next hub start) */
  MQTT_UNAVAILABLE: 503,
  /** request body over the API's body limit */
  PAYLOAD_TOO_LARGE: 413,
  /** too many failed authentications from this address; Retry-After says when to try again */
  RATE_LIMITED: 429,
  /** a webhook URL refused by the egress policy (https only in production, public addresses only) */
  WEBHOOK_TARGET_REFUSED: 400,
  /** production without security.secretKey: webhook secrets could not be sealed, so none is registered */
  SECRET_KEY_MISSING: 503,
  /** the bearer token's SMART scopes do not cover this FHIR interaction (RFC 6750 insufficient_scope) */
  INSUFFICIENT_SCOPE: 403,
  INTERNAL: 500,
  /** patient side (docs/patient.md, docs/messaging.md) */
  CODE_INVALID: 401,
  CODE_RATE_LIMITED: 429,
  CHANNEL_UNAVAILABLE: 503,
  DELIVERY_FAILED: 502,
  ATTACHMENT_TOO_LARGE: 413,
  ATTACHMENT_TYPE: 415,
  INVALID_ANSWERS: 400,
  MESSAGING_UNAVAILABLE: 503,
} as const;
export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** RATE_LIMITED: how long to wait (sent as Retry-After) */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
  get status(): number {
    return API_ERRORS[this.code];
  }
}
