import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signature: HMAC-SHA256 over "<timestamp>.<body>" with the webhook's secret, sent as
 * `X-Vigil-Signature: sha256=<hex>` with `X-Vigil-Timestamp: <unix seconds>`. Receivers recompute
 * it and reject stale timestamps (replay protection).
 */
export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function verify(secret: string, timestamp: number, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, timestamp, body));
  const got = Buffer.from(signature);
  return expected.length === got.length && timingSafeEqual(expected, got);
}
