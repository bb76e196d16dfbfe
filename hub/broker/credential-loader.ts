import type pg from 'pg';

/** What a gateway's CONNECT is checked against (migration 001 gateways). */
export interface GatewayCredential {
  credentialHash: string | null;
  revokedAt: Date | null;
}

interface Waiting {
  resolve(c: GatewayCredential | undefined): void;
  reject(e: unknown): void;
}

/** Ids per statement: a storm's queue is read in a few statements of this size. */
const MAX_IDS_PER_QUERY = 1000;

/**
 * Gateways' credentials for the broker's logins, many CONNECTs per statement. While a statement is
 * out (at most `maxInFlight`, the broker's own connections), the CONNECTs that arrive wait and are
 * read together by the next one: a lone CONNECT costs one statement as before, and a reconnect
 * storm's thousands of CONNECTs cost a few dozen instead of being checked two at a time, each
 * waiting its turn past the broker's connect timeout (bench/README.md, session 8).
 */
export class CredentialLoader {
  private queued = new Map<string, Waiting[]>();
  private inFlight = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxInFlight: number,
  ) {}

  load(gatewayId: string): Promise<GatewayCredential | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.queued.get(gatewayId);
      if (waiting) waiting.push({ resolve, reject });
      else this.queued.set(gatewayId, [{ resolve, reject }]);
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queued.size > 0) {
      const batch = new Map<string, Waiting[]>();
      for (const [id, waiting] of this.queued) {
        if (batch.size >= MAX_IDS_PER_QUERY) break;
        batch.set(id, waiting);
      }
      for (const id of batch.keys()) this.queued.delete(id);
      this.inFlight++;
      this.pool
        .query<{ id: string; credential_hash: string | null; revoked_at: Date | null }>(
          'SELECT id, credential_hash, revoked_at FROM gateways WHERE id = ANY($1::text[])',
          [[...batch.keys()]],
        )
        .then(
          ({ rows }) => {
            const found = new Map(rows.map((r) => [r.id, r]));
            for (const [id, waiting] of batch) {
              const r = found.get(id);
              const credential = r ? { credentialHash: r.credential_hash, revokedAt: r.revoked_at } : undefined;
              for (const w of waiting) w.resolve(credential);
            }
          },
          (e: unknown) => {
            for (const waiting of batch.values()) for (const w of waiting) w.reject(e);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
