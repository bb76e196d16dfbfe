/**
 * Per-gateway publish rate limit of the embedded broker (docs/ingest.md "Rate limiting"):
 * a token bucket that may go into debt. A publish over the budget is not refused but delayed
 * until its token is due; aedes reads a client's next packets only after the current ones are
 * authorised, so a flooding gateway is slowed down on its own connection (TCP back-pressure)
 * while the other gateways' messages keep reaching the hub.
 */
export interface RateLimit {
  messagesPerSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class GatewayRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for the gateway; returns how long (ms) the publish must wait, 0 when none. */
  take(gatewayId: string): number {
    const t = this.now();
    const b = this.buckets.get(gatewayId) ?? { tokens: this.limit.burst, at: t };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((t - b.at) / 1000) * this.limit.messagesPerSecond) - 1;
    b.at = t;
    this.buckets.set(gatewayId, b);
    return b.tokens >= 0 ? 0 : (-b.tokens / this.limit.messagesPerSecond) * 1000;
  }

  forget(gatewayId: string): void {
    this.buckets.delete(gatewayId);
  }
}
