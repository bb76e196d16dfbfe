import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RaiseInput } from '../../hub/alerts/episode-store';
import { createPatient } from '../../hub/admin/provisioning';
import { loadEpisode } from '../../hub/fhir/load';
import { MINUTE } from '../../hub/rules/clock';
import { createPool, dropDatabase, ensureDatabase } from '../../hub/storage/postgres/database';
import { listMigrations, migrate } from '../../hub/storage/postgres/migrate';
import { TEST_PG_BASE, uniqueName } from '../support/stores';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * An episode's readings are rows of alert_episode_readings (migration 290), one per counted
 * reading with the rule's interpretation, instead of arrays rewritten at every breach. The loaded
 * episode, the "a reading counts once" checks and the late-normal check are what they were.
 */
let f: RulesFixture;
let seq = 0;
const pid = (tag: string) => `ER${++seq}-${tag}`;

beforeAll(async () => {
  f = await rulesFixture();
});
afterAll(async () => {
  await f.pg.drop();
});

const breach = (patientId: string, readingIds: string[], evalKey: string, extra: Partial<RaiseInput> = {}) => ({
  patientId,
  ruleId: 'bp-home-mean',
  severity: 'amber' as const,
  readingIds,
  value: { n: readingIds.length },
  summary: `breach ${evalKey}`,
  interpretations: Object.fromEntries(readingIds.map((id) => [id, 'H'])),
  evalKey,
  ...extra,
});
const childRows = async (episodeId: number) =>
  (
    await f.pool.query<{ reading_id: string; interpretation: string | null }>(
      'SELECT reading_id, interpretation FROM alert_episode_readings WHERE episode_id = $1 ORDER BY seq',
      [episodeId],
    )
  ).rows;
const episodeCount = async (patientId: string) =>
  (await f.pool.query('SELECT id FROM alert_episodes WHERE patient_id = $1', [patientId])).rowCount;
/** a fresh heart-failure patient and the fixture's now (ms) */
async function enrolled(tag: string): Promise<{ p: string; t: number }> {
  const p = pid(tag);
  await f.enroll(p, 'heart_failure');
  return { p, t: f.clock.now().getTime() };
}
/** files one measurement and raises a breach counting its readings */
async function fileAndRaise(p: string, at: Date, values: Parameters<RulesFixture['file']>[2], evalKey: string) {
  const readings = await f.file(p, at, values);
  const episode = await f.episodes.raise(
    breach(
      p,
      readings.map((r) => r.readingId),
      evalKey,
    ),
    at,
  );
  return { readings, episode };
}

describe('an episode that keeps breaching', () => {
  it('keeps every breach readings in order, with their interpretations, and counts a reading once', async () => {
    const { p, t } = await enrolled('grow');
    const { readings: first, episode: opened } = await fileAndRaise(
      p,
      new Date(t),
      { blood_pressure_systolic: 150, blood_pressure_diastolic: 95 },
      'e0',
    );
    expect(opened.opened).toBe(true);
    const ids = first.map((r) => r.readingId);
    const interpretations: Record<string, string> = Object.fromEntries(ids.map((id) => [id, 'H']));
    for (let i = 1; i <= 60; i++) {
      const rs = await f.file(p, new Date(t + i * MINUTE), {
        blood_pressure_systolic: 150 + i,
        blood_pressure_diastolic: 95,
      });
      const rids = rs.map((r) => r.readingId);
      // some breaches interpret only one of their readings, some both, one HH
      const interp = i % 3 === 0 ? { [rids[0]!]: 'HH' as const } : Object.fromEntries(rids.map((id) => [id, 'H']));
      const r = await f.episodes.raise(breach(p, rids, `e${i}`, { interpretations: interp }), new Date(t + i * MINUTE));
      expect(r).toMatchObject({ episodeId: opened.episodeId, opened: false });
      ids.push(...rids);
      Object.assign(interpretations, interp);
    }
    const ep = (await loadEpisode(f.pool, opened.episodeId))!;
    expect(ep.breachCount).toBe(61);
    // the order counted, not the ids' order
    expect(ep.triggerReadingIds).toEqual(ids);
    expect([...ids].sort()).not.toEqual(ids);
    expect(ep.interpretations).toEqual(interpretations);
    expect(Object.keys(ep.interpretations)).toHaveLength(ids.length - 20);
    const rows = await childRows(opened.episodeId);
    expect(rows).toHaveLength(122);
    expect(rows.filter((r) => r.interpretation === null)).toHaveLength(20);

    // a breach with a reading the episode already counted writes nothing, even with a new one
    const fresh = await f.file(p, new Date(t + 61 * MINUTE), { blood_pressure_systolic: 170 });
    const before = await f.pool.query('SELECT breach_count, summary, updated_at FROM alert_episodes WHERE id = $1', [
      opened.episodeId,
    ]);
    const again = await f.episodes.raise(
      breach(p, [ids[5]!, fresh[0]!.readingId], 'e-resent'),
      new Date(t + 61 * MINUTE),
    );
    expect(again).toEqual({ episodeId: opened.episodeId, opened: false, escalated: false, notificationId: null });
    expect(
      (
        await f.pool.query('SELECT breach_count, summary, updated_at FROM alert_episodes WHERE id = $1', [
          opened.episodeId,
        ])
      ).rows,
    ).toEqual(before.rows);
    expect(await childRows(opened.episodeId)).toHaveLength(122);
    // the same evaluation again (a second instance) writes nothing either
    const sameEval = await f.episodes.raise(breach(p, [fresh[0]!.readingId], 'e60'), new Date(t + 61 * MINUTE));
    expect(sameEval.episodeId).toBe(opened.episodeId);
    expect((await loadEpisode(f.pool, opened.episodeId))!.breachCount).toBe(61);
    expect(await childRows(opened.episodeId)).toHaveLength(122);
  });

  it('readings a resolved episode counted do not open a new one; new readings do', async () => {
    const { p, t } = await enrolled('resolved');
    const a = await f.file(p, new Date(t), { blood_pressure_systolic: 150 });
    const b = await f.file(p, new Date(t + MINUTE), { blood_pressure_systolic: 152 });
    const first = await f.episodes.raise(breach(p, [a[0]!.readingId], 'r1'), new Date(t));
    await f.episodes.raise(breach(p, [b[0]!.readingId], 'r2'), new Date(t + MINUTE));
    await f.episodes.resolve(first.episodeId, 'nurse-1', 'seen', new Date(t + 2 * MINUTE));
    // re-sent after a hub died between filing and marking stored: the resolved episode's reading
    const resent = await f.episodes.raise(breach(p, [b[0]!.readingId], 'r2-again'), new Date(t + 3 * MINUTE));
    expect(resent).toEqual({ episodeId: first.episodeId, opened: false, escalated: false, notificationId: null });
    expect(await episodeCount(p)).toBe(1);
    const c = await f.file(p, new Date(t + 4 * MINUTE), { blood_pressure_systolic: 155 });
    const next = await f.episodes.raise(breach(p, [c[0]!.readingId], 'r3'), new Date(t + 4 * MINUTE));
    expect(next.opened).toBe(true);
    expect(next.episodeId).not.toBe(first.episodeId);
    expect((await loadEpisode(f.pool, next.episodeId))!.triggerReadingIds).toEqual([c[0]!.readingId]);
    expect(await episodeCount(p)).toBe(2);
  });

  it('a normal measured before the latest reading of the episode does not step it', async () => {
    const { p, t } = await enrolled('late');
    const late = await f.file(p, new Date(t + 10 * MINUTE), { blood_pressure_systolic: 150 });
    const early = await f.file(p, new Date(t + 5 * MINUTE), { blood_pressure_systolic: 151 });
    const ep = await f.episodes.raise(breach(p, [late[0]!.readingId], 'l1'), new Date(t + 11 * MINUTE));
    // a later breach with an older reading (arrived after an outage): the episode's latest stays t+10
    await f.episodes.raise(breach(p, [early[0]!.readingId], 'l2'), new Date(t + 12 * MINUTE));
    const now = new Date(t + 13 * MINUTE);
    expect(await f.episodes.recordNormal(p, 'bp-home-mean', 'n1', now, new Date(t + 7 * MINUTE))).toBeNull();
    expect(await f.episodes.recordNormal(p, 'bp-home-mean', 'n2', now, new Date(t + 10 * MINUTE))).toBeNull();
    expect((await loadEpisode(f.pool, ep.episodeId))!.normalStreak).toBe(0);
    expect(await f.episodes.recordNormal(p, 'bp-home-mean', 'n3', now, new Date(t + 11 * MINUTE))).toEqual({
      episodeId: ep.episodeId,
      resolved: false,
    });
    // without a measured time (a scheduled rule) a normal always counts
    expect(await f.episodes.recordNormal(p, 'bp-home-mean', 'n4', now)).toEqual({
      episodeId: ep.episodeId,
      resolved: true,
    });
  });

  it('an episode without readings (a message, a questionnaire) steps on any normal', async () => {
    const { p, t } = await enrolled('noreadings');
    const ep = await f.episodes.raise(breach(p, [], 'q1', { interpretations: {} }), new Date(t));
    expect((await loadEpisode(f.pool, ep.episodeId))!).toMatchObject({ triggerReadingIds: [], interpretations: {} });
    expect(await f.episodes.recordNormal(p, 'bp-home-mean', 'n1', new Date(t), new Date(0))).toEqual({
      episodeId: ep.episodeId,
      resolved: false,
    });
  });

  it("deleting an episode deletes its readings' rows", async () => {
    const { p, t } = await enrolled('delete');
    const { episode: ep } = await fileAndRaise(
      p,
      new Date(t),
      { blood_pressure_systolic: 150, blood_pressure_diastolic: 100 },
      'd1',
    );
    expect(await childRows(ep.episodeId)).toHaveLength(2);
    await f.pool.query('DELETE FROM notifications WHERE episode_id = $1', [ep.episodeId]);
    await f.pool.query('DELETE FROM alert_episodes WHERE id = $1', [ep.episodeId]);
    expect(await childRows(ep.episodeId)).toEqual([]);
  });
});

describe('migration 290 on a database holding the arrays', () => {
  it('moves each array, in order, with its interpretations, into rows and drops the columns', async () => {
    const url = `${TEST_PG_BASE}/${uniqueName('vigil_m290')}`;
    await ensureDatabase(url);
    const pool = createPool(url, 2);
    try {
      // the schema as it was before 290, recorded as migrate() records it
      await pool.query(`CREATE TABLE schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const m of listMigrations().filter((m) => m.version < 290)) {
        await pool.query(m.sql);
        await pool.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      await createPatient(pool, { id: 'M-1', programId: 'heart_failure', displayName: 'M', birthYear: 1950 });
      const at = (m: number) => new Date(Date.UTC(2026, 0, 1) + m * MINUTE);
      for (const [id, m] of [
        ['zz', 3],
        ['aa', 9],
        ['mm', 5],
        ['old', 1],
      ] as const)
        await pool.query(
          `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, received_at)
           VALUES ($1, 'M-1', 'gw', 'dev', 'sim', 'blood_pressure_systolic', 150, 'mmHg', $2, $2)`,
          [id, at(m)],
        );
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, trigger_reading_ids, interpretations)
         VALUES ('M-1', 'bp-home-mean', 'amber', 'open', '{zz,aa,mm,aa}', '{"aa": "H", "zz": "HH", "gone": "L"}'),
                ('M-1', 'bp-grade-3', 'red', 'resolved', '{old}', '{"old": "H"}'),
                ('M-1', 'message-urgent', 'red', 'acknowledged', '{}', '{}')
         RETURNING id`,
      );
      const [open, resolved, empty] = rows.map((r) => Number(r.id));

      expect(await migrate(pool)).toEqual(
        listMigrations()
          .filter((m) => m.version >= 290)
          .map((m) => m.version),
      );

      // array order kept, a repeated id once, an interpretation of a reading outside the array kept after it
      expect(await loadEpisode(pool, open!)).toMatchObject({
        triggerReadingIds: ['zz', 'aa', 'mm', 'gone'],
        interpretations: { aa: 'H', zz: 'HH', gone: 'L' },
      });
      expect(await loadEpisode(pool, resolved!)).toMatchObject({
        triggerReadingIds: ['old'],
        interpretations: { old: 'H' },
      });
      expect(await loadEpisode(pool, empty!)).toMatchObject({ triggerReadingIds: [], interpretations: {} });
      const measured = await pool.query<{ id: string; last_measured_at: Date | null }>(
        'SELECT id, last_measured_at FROM alert_episodes ORDER BY id',
      );
      // the latest of the active episode's readings in the ledger; resolved episodes are never stepped
      expect(measured.rows.map((r) => r.last_measured_at)).toEqual([at(9), null, null]);
      const columns = await pool.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns
          WHERE table_name = 'alert_episodes' AND column_name IN ('trigger_reading_ids', 'interpretations')`,
      );
      expect(columns.rows).toEqual([]);
    } finally {
      await pool.end();
      await dropDatabase(url);
    }
  });
});
