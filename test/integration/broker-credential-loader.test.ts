/**
 * The broker's credential reads (hub/broker/credential-loader.ts) on a real PostgreSQL: CONNECTs
 * that arrive while a statement is out are read together by the next one, each gets its own
 * gateway's row (or none), a revoked box stays revoked, and a failed statement fails exactly the
 * CONNECTs it carried while the loader keeps answering afterwards.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, createPatient, revokeGateway } from '../../hub/admin/provisioning';
import { CredentialLoader } from '../../hub/broker/credential-loader';
import { verifySecret } from '../../hub/security/secrets';
import { createTestPostgres, type TestPostgres } from '../support/stores';

let db: TestPostgres;
const passwords = new Map<string, string>();
const GATEWAYS = 150;
const gatewayId = (i: number) => `gw-cred-${String(i).padStart(4, '0')}`;

beforeAll(async () => {
  db = await createTestPostgres('vigil_cred_loader');
  for (let i = 0; i < GATEWAYS; i++) {
    const patientId = `P-CRED-${i}`;
    await createPatient(db.pool, { id: patientId, programId: 'heart_failure', displayName: `Patient ${i}` });
    passwords.set(gatewayId(i), (await createGateway(db.pool, { id: gatewayId(i), patientId })).password);
  }
  await revokeGateway(db.pool, gatewayId(7));
}, 60_000);

afterAll(async () => {
  await db.drop();
});

/** The pool's statements, counted as they are sent. */
function counting(pool: pg.Pool): { pool: pg.Pool; statements: () => number } {
  let n = 0;
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  const counted = Object.create(pool) as pg.Pool;
  (counted as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
    n++;
    return query(...a);
  };
  return { pool: counted, statements: () => n };
}

describe('broker credential loader', () => {
  it('reads a burst of CONNECTs in a few statements, each with its own row', async () => {
    const { pool, statements } = counting(db.pool);
    const loader = new CredentialLoader(pool, 1);
    // every gateway twice (a box retrying), and two ids no household has
    const ids = [...Array.from({ length: GATEWAYS }, (_, i) => gatewayId(i)), ...['gw-cred-none-1', 'gw-cred-none-2']];
    const asked = [...ids, ...ids];
    const answers = await Promise.all(asked.map((id) => loader.load(id)));
    // the first CONNECT goes alone; all the others waited behind it and share the next statement
    expect(statements()).toBe(2);
    asked.forEach((id, k) => {
      const c = answers[k];
      if (id.startsWith('gw-cred-none')) {
        expect(c).toBeUndefined();
        return;
      }
      expect(c).toBeDefined();
      if (id === gatewayId(7)) {
        expect(c?.revokedAt).toBeInstanceOf(Date);
        expect(c?.credentialHash).toBeNull();
      } else {
        expect(c?.revokedAt).toBeNull();
        expect(verifySecret(passwords.get(id)!, c?.credentialHash)).toBe(true);
        // another box's password does not open this one
        expect(verifySecret(passwords.get(gatewayId(id === gatewayId(0) ? 1 : 0))!, c?.credentialHash)).toBe(false);
      }
    });
  });

  it('a lone CONNECT is read at once, by its own statement', async () => {
    const { pool, statements } = counting(db.pool);
    const loader = new CredentialLoader(pool, 2);
    const c = await loader.load(gatewayId(3));
    expect(statements()).toBe(1);
    expect(verifySecret(passwords.get(gatewayId(3))!, c?.credentialHash)).toBe(true);
  });

  it('a failed statement fails the CONNECTs it carried, and the same loader answers the next ones', async () => {
    const loader = new CredentialLoader(db.pool, 1);
    // the table out of reach for a moment (as a statement failing on a broken connection would)
    await db.pool.query('ALTER TABLE gateways RENAME TO gateways_away');
    let failed: PromiseSettledResult<unknown>[];
    try {
      failed = await Promise.allSettled([loader.load(gatewayId(1)), loader.load(gatewayId(2))]);
    } finally {
      await db.pool.query('ALTER TABLE gateways_away RENAME TO gateways');
    }
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((failed[0] as PromiseRejectedResult).reason)).toMatch(/gateways/);
    const [a, b] = await Promise.all([loader.load(gatewayId(1)), loader.load(gatewayId(2))]);
    expect(verifySecret(passwords.get(gatewayId(1))!, a?.credentialHash)).toBe(true);
    expect(verifySecret(passwords.get(gatewayId(2))!, b?.credentialHash)).toBe(true);
  });
});
