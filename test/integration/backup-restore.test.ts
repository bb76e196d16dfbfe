/**
 * Issue 17 item 6: `vigil-hub backup` then `vigil-hub restore` into empty stores gives back the same
 * patients, episodes and series (real PostgreSQL with pg_dump/pg_restore, real InfluxDB with
 * `influxd backup/restore -portable`); a restore over existing data is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import { createPool, dropDatabase } from '../../hub/storage/postgres/database';
import { hubCli } from '../support/cli';
import { waitFor } from '../support/wait';
import {
  TEST_PG_BASE,
  createTestInflux,
  createTestPostgres,
  testInfluxUrl,
  uniqueName,
  type TestPostgres,
} from '../support/stores';

describe('backup and restore of both stores', () => {
  const influxUrl = new URL(testInfluxUrl());
  // scripts/lib/influxd.ts binds the RPC (backup) service two ports above HTTP
  const rpc = `${influxUrl.hostname}:${Number(influxUrl.port) + 2}`;
  const restoredPg = `${TEST_PG_BASE}/${uniqueName('vigil_restored')}`;
  const restoredInflux = uniqueName('vigil_restored');
  const dir = join(mkdtempSync(join(tmpdir(), 'vigil-backup-')), 'backup');
  let pg: TestPostgres;
  let source: { url: string; database: string; drop(): Promise<void> };
  const influx = (database: string) =>
    new InfluxDB({ host: influxUrl.hostname, port: Number(influxUrl.port), database });

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_backup');
    source = await createTestInflux('vigil_backup');
    for (const [id, program] of [
      ['P-B1', 'heart_failure'],
      ['P-B2', 'oral_chemotherapy'],
    ] as const) {
      await createPatient(pg.pool, { id, programId: program, displayName: `Backup ${id}`, birthYear: 1950 });
      await createGateway(pg.pool, { id: `gw-${id.toLowerCase()}`, patientId: id });
    }
    const episodes = await pg.pool.query<{ id: string }>(
      `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, last_value)
       VALUES ('P-B1', 'bp-hypertensive-crisis', 'red', 'open', '{"systolic": 186}'),
              ('P-B2', 'chemo-fever', 'red', 'resolved', '{"celsius": 38.4}')
       RETURNING id`,
    );
    const [b1, b2] = episodes.rows.map((r) => r.id);
    // the episodes' readings (migration 290): the restored rows keep their order and interpretations
    await pg.pool.query(
      `INSERT INTO alert_episode_readings (episode_id, reading_id, interpretation)
       VALUES ($1, 'r2', 'HH'), ($1, 'r1', NULL), ($2, 'r3', 'H')`,
      [b1, b2],
    );
    const t0 = Date.UTC(2026, 10, 1, 8);
    await influx(source.database).writePoints(
      [0, 1, 2].flatMap((i) => [
        {
          measurement: 'blood_pressure_systolic',
          tags: { patient: 'P-B1', gateway: 'gw-p-b1' },
          fields: { value: 140 + i },
          timestamp: new Date(t0 + i * 60_000),
        },
        {
          measurement: 'body_temperature',
          tags: { patient: 'P-B2', gateway: 'gw-p-b2' },
          fields: { value: 37 + i / 10 },
          timestamp: new Date(t0 + i * 60_000),
        },
      ]),
    );
  }, 120_000);

  afterAll(async () => {
    await pg.drop();
    await source.drop();
    await dropDatabase(restoredPg).catch(() => undefined);
    await influx(restoredInflux)
      .dropDatabase(restoredInflux)
      .catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  const records = async (pool: import('pg').Pool) => ({
    patients: (await pool.query('SELECT id, program_id, display_name, birth_year FROM patients ORDER BY id')).rows,
    gateways: (await pool.query('SELECT id, patient_id, credential_hash FROM gateways ORDER BY id')).rows,
    episodes: (
      await pool.query(
        'SELECT id, patient_id, rule_id, severity, status, opened_at, last_value FROM alert_episodes ORDER BY id',
      )
    ).rows,
    episodeReadings: (
      await pool.query<{ episode_id: string; reading_id: string; interpretation: string | null; seq: string }>(
        'SELECT episode_id, reading_id, interpretation, seq FROM alert_episode_readings ORDER BY seq',
      )
    ).rows,
  });
  const series = async (database: string) => {
    const db = influx(database);
    return {
      series: await db.getSeries(),
      bp: await db.query('SELECT * FROM blood_pressure_systolic'),
      temp: await db.query('SELECT * FROM body_temperature'),
    };
  };

  it('restores the same patients, episodes and series into empty stores', async () => {
    const backup = await hubCli(['backup', dir, '--influx-rpc', rpc], {
      VIGIL_PG_URL: pg.url,
      VIGIL_INFLUX_URL: source.url,
      VIGIL_INFLUX_DATABASE: source.database,
    });
    expect(backup.status, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ event: 'backup.done', influx: { database: source.database } });

    const restoreEnv = {
      VIGIL_PG_URL: restoredPg,
      VIGIL_PG_CREATE_DATABASE: 'true',
      VIGIL_INFLUX_URL: source.url,
      VIGIL_INFLUX_DATABASE: restoredInflux,
    };
    const restore = await hubCli(['restore', dir, '--influx-rpc', rpc], restoreEnv);
    expect(restore.status, restore.stderr).toBe(0);

    const restoredPool = createPool(restoredPg, 2);
    try {
      const before = await records(pg.pool);
      expect(before.patients).toHaveLength(2);
      expect(before.episodes).toHaveLength(2);
      expect(before.episodeReadings.map((r) => r.reading_id)).toEqual(['r2', 'r1', 'r3']);
      expect(await records(restoredPool)).toEqual(before);
    } finally {
      await restoredPool.end();
    }
    const original = await series(source.database);
    expect(original.bp).toHaveLength(3);
    expect(original.series).toHaveLength(2);
    // the points are queryable at once; the series index of restored shards (tsi1) is rebuilt as
    // the shards load, which takes a moment on a busy machine
    await waitFor(
      'the restored series index',
      async () => (await influx(restoredInflux).getSeries()).length === original.series.length,
    );
    expect(await series(restoredInflux)).toEqual(original);

    // a second restore meets data: refused before touching anything (exit 2)
    const again = await hubCli(['restore', dir, '--influx-rpc', rpc], restoreEnv);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^RESTORE_TARGET_NOT_EMPTY: /);
  }, 120_000);
});
