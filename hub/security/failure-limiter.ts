import type pg from 'pg';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';

type Store = RateLimiterMemory | RateLimiterPostgres;

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
 * State is per hub process by default. With `shared` (security.sharedThrottling, for several hub
 * instances behind one address), the counters live in PostgreSQL (migration 211) so a guesser
 * spreading attempts over the instances meets one budget and one block; if PostgreSQL fails, each
 * instance falls back to its own memory counters (insurance limiter) rather than letting every
 * attempt through or refusing honest clients.
 */
export interface FailureLimit {
  failures: number;
  windowSec: number;
  blockSec: number;
  maxBlockSec: number;
}

export const DEFAULT_FAILURE_LIMIT: FailureLimit = { failures: 20, windowSec: 600, blockSec: 60, maxBlockSec: 3600 };

/** Where the counters of a shared limiter live: the hub's pool, and a name unique to the limiter. */
export interface SharedFailureStore {
  pool: pg.Pool;
  name: string;
}

export const FAILURE_LIMITS_TABLE = 'failure_limits';

function limiter(points: number, duration: number, shared?: SharedFailureStore, prefix = ''): Store {
  const memory = new RateLimiterMemory({ points, duration });
  if (!shared) return memory;
  return new RateLimiterPostgres({
    storeClient: shared.pool,
    storeType: 'pool',
    tableName: FAILURE_LIMITS_TABLE,
    // the table is made by the migrations, not by the library at run time
    tableCreated: true,
    keyPrefix: `${shared.name}${prefix}`,
    points,
    duration,
    insuranceLimiter: memory,
  });
}

export class FailureLimiter {
  private readonly failures: Store;
  private readonly strikes: Store;

  constructor(
    private readonly limit: FailureLimit = DEFAULT_FAILURE_LIMIT,
    shared?: SharedFailureStore,
  ) {
    this.failures = limiter(limit.failures, limit.windowSec, shared);
    this.strikes = limiter(1_000_000, 86_400, shared, ':strikes');
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
