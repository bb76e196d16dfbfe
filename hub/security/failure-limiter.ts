import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Brute-force throttling of failed authentications (OWASP Authentication Cheat Sheet, "Login
 * Throttling"; ANSSI "Recommandations relatives a l'authentification multifacteur et aux mots de
 * passe", 2021, R27): after `failures` failures of one key within `windowSec`, the key is blocked
 * for `blockSec`, doubled at each new block within a day (back-off) up to `maxBlockSec`.
 * Only failures count, so an honest client is never slowed down by its own successful traffic.
 *
 * Used by the API bearer-token check, the enrollment-code exchange, the embedded MQTT broker and
 * the patient space's code requests (every request counts there, hub/patient/accounts.ts);
 * reusable by any login route (key it by address, and by address + account name).
 * State is per hub process (rate-limiter-flexible memory store): behind several hub instances the
 * budget is per instance, which docs/security.md accepts (the budget stays small in absolute terms).
 */
export interface FailureLimit {
  failures: number;
  windowSec: number;
  blockSec: number;
  maxBlockSec: number;
}

export const DEFAULT_FAILURE_LIMIT: FailureLimit = { failures: 20, windowSec: 600, blockSec: 60, maxBlockSec: 3600 };

export class FailureLimiter {
  private readonly failures: RateLimiterMemory;
  private readonly strikes: RateLimiterMemory;

  constructor(private readonly limit: FailureLimit = DEFAULT_FAILURE_LIMIT) {
    this.failures = new RateLimiterMemory({ points: limit.failures, duration: limit.windowSec });
    this.strikes = new RateLimiterMemory({ points: 1_000_000, duration: 86_400 });
  }

  /** How long (ms) this key must wait before trying again; 0 when it may try now. */
  async retryAfterMs(key: string): Promise<number> {
    const r = await this.failures.get(key);
    return r && r.consumedPoints > this.limit.failures ? Math.max(1, r.msBeforeNext) : 0;
  }

  /** Records a failure; returns the wait (ms) when this failure blocked the key, else 0. */
  async fail(key: string): Promise<number> {
    try {
      await this.failures.consume(key);
      return 0;
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const strikes = await this.strikes.penalty(key, 1);
      const sec = Math.min(this.limit.maxBlockSec, this.limit.blockSec * 2 ** (strikes.consumedPoints - 1));
      await this.failures.block(key, sec);
      return sec * 1000;
    }
  }

  /** Forgets a key's failures (e.g. after a successful login with a per-account key). */
  async reset(key: string): Promise<void> {
    await Promise.all([this.failures.delete(key), this.strikes.delete(key)]);
  }
}
