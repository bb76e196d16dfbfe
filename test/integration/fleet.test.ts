import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxDB } from 'influx';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { FLEET_DEFAULTS, buildHouseholds, runFleet, type FleetOptions } from '../../simulators/fleet/fleet';
import { enrollHouseholds } from '../../simulators/fleet/enroll';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * 20 simulated gateways x 50 readings against an in-process hub (embedded broker on a free port,
 * its own PostgreSQL and InfluxDB databases): every reading receipted and stored exactly once,
 * and a full re-send of every backlog changes nothing.
 */
describe('fleet simulator against a real hub', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub;

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_fleet'), createTestInflux('vigil_fleet')]);
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influx.url, database: influx.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
        },
      }),
    );
  });

  afterAll(async () => {
    await hub.stop();
    await Promise.all([pg.drop(), influx.drop()]);
  });

  async function influxCount(): Promise<number> {
    const u = new URL(influx.url);
    const client = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influx.database });
    const rows = await client.query<{ count: number }>('SELECT count("value") FROM /.*/');
    return rows.reduce((a, r) => a + r.count, 0);
  }

  it('20 gateways x 50 readings: all receipted, stored once in InfluxDB and the ledger; a re-send is all duplicates', async () => {
    const o: FleetOptions = {
      ...FLEET_DEFAULTS,
      url: hub.mqttUrl,
      gateways: 20,
      readingsPerGateway: 50,
      prefix: 'fleet-it',
      batchSize: 20,
      receiptTimeoutMs: 10_000,
      deadlineMs: 60_000,
    };
    const households = buildHouseholds(o);
    // every scenario is in the mix, the two-user household scale included
    expect(new Set(households.map((h) => h.scenario)).size).toBe(7);
    const passwords = await enrollHouseholds(pg.pool, households);
    const progress: number[] = [];
    const first = await runFleet(o, households, passwords, (p) => progress.push(p.receipted));

    expect(first.errors).toEqual([]);
    expect(first).toMatchObject({ gateways: 20, total: 1000, receipted: 1000, lost: 0 });
    expect(first.outcomes).toEqual({ stored: 1000, duplicate: 0, quarantined: 0, rejected: 0 });
    expect(progress.at(-1)).toBe(1000);

    const ledger = await pg.pool.query<{ n: string; stored: string; patients: string }>(
      `SELECT count(*) AS n, count(stored_at) AS stored, count(DISTINCT patient_id) AS patients FROM reading_ledger WHERE gateway_id LIKE 'fleet-it-%'`,
    );
    // the household scale's two users are filed to two patients: 20 gateways, 23 patients
    expect(ledger.rows[0]).toEqual({
      n: '1000',
      stored: '1000',
      patients: String(households.reduce((a, h) => a + h.patients.length, 0)),
    });
    expect(await influxCount()).toBe(1000);
    const dead = await pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
    expect(dead.rows[0]?.n).toBe(0);

    // the whole backlog again (a gateway that lost its receipts): same ids, nothing new stored
    const again = await runFleet(o, households, passwords);
    expect(again).toMatchObject({ receipted: 1000, lost: 0 });
    expect(again.outcomes).toEqual({ stored: 0, duplicate: 1000, quarantined: 0, rejected: 0 });
    expect(await influxCount()).toBe(1000);
    const ledger2 = await pg.pool.query<{ n: string }>(`SELECT count(*) AS n FROM reading_ledger`);
    expect(ledger2.rows[0]!.n).toBe('1000');
  }, 120_000);
});
