import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MetricName } from '../../contract';
import { lockPatients } from '../../hub/alerts/audit';
import { HOUR } from '../../hub/rules/clock';
import { RuleEngine } from '../../hub/rules/engine';
import type { FiledReading } from '../../hub/rules/rule';
import type { Program } from '../../hub/vocabulary';
import { inSharedTransaction } from '../../hub/storage/postgres/transaction-scope';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * Inside ingest's shared transaction, breaches that only count on an open episode are written
 * together, at the end of the pass or before any other statement on their episode
 * (hub/rules/deferred-breaches.ts). The outcome must be that of raising them one by one: the same
 * backlogs, each filed in one pass inside a shared transaction, with and without the breaches
 * held back, leave the same episodes, readings, texts, notifications and audit trail.
 */
let deferred: RulesFixture;
let oneByOne: RulesFixture;
let reference: RuleEngine;
beforeAll(async () => {
  [deferred, oneByOne] = await Promise.all([rulesFixture(), rulesFixture()]);
  reference = new RuleEngine(oneByOne.episodes, oneByOne.metrics, oneByOne.log, {
    pool: oneByOne.pool,
    clock: oneByOne.clock,
    countBreachesTogether: false,
  });
});
afterAll(async () => {
  await Promise.all([deferred.pg.drop(), oneByOne.pg.drop()]);
});

const PATIENTS: [string, Program][] = [
  ['DB-hf-1', 'heart_failure'],
  ['DB-hf-2', 'heart_failure'],
  ['DB-cv-1', 'cardiovascular_prevention'],
  ['DB-cv-2', 'cardiovascular_prevention'],
  ['DB-chemo-1', 'oral_chemotherapy'],
];

/** a small deterministic generator (mulberry32): the same backlog for both databases */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

/**
 * Ten days of measurements every 6 hours per patient: mostly high blood pressure (a 7-day mean
 * that stays high over the backlog: long runs of breaches on one episode), with normal stretches
 * that step and resolve episodes, crises that turn an amber red, weight gains (a family of rules
 * sharing one episode and one evaluation key), fevers, low saturations asking for a re-measure.
 */
function backlog(
  patient: string,
  seed: number,
  from: number,
): { at: Date; values: Partial<Record<MetricName, number>> }[] {
  const r = prng(seed);
  const out: { at: Date; values: Partial<Record<MetricName, number>> }[] = [];
  let weight = 80;
  for (let i = 0; i < 40; i++) {
    const calm = Math.floor(i / 8) % 3 === 2; // a normal stretch in every third group of eight
    const values: Partial<Record<MetricName, number>> = {
      blood_pressure_systolic: calm ? pick(r, [118, 124, 128]) : pick(r, [152, 158, 164, 171, 186, 182]),
      blood_pressure_diastolic: calm ? pick(r, [74, 78, 80]) : pick(r, [92, 96, 101, 108, 112]),
      heart_rate: calm ? 72 : pick(r, [70, 88, 96, 134]),
    };
    weight += calm ? -0.4 : pick(r, [0, 0.3, 0.8, 1.4]);
    if (i % 2 === 0) values.body_weight = Math.round(weight * 10) / 10;
    if (i % 3 === 0) values.spo2 = calm ? 97 : pick(r, [97, 95, 92, 89]);
    if (i % 4 === 1) values.body_temperature = calm ? 36.8 : pick(r, [36.9, 37.6, 38.3, 38.6]);
    out.push({ at: new Date(from + i * 6 * HOUR + (seed % 7) * 60_000), values });
  }
  return out;
}

async function fileAll(f: RulesFixture, from: number): Promise<FiledReading[]> {
  const readings: FiledReading[] = [];
  // the same call order in both databases gives the same reading ids
  for (const [i, [p]] of PATIENTS.entries())
    for (const m of backlog(p, i + 1, from)) readings.push(...(await f.file(p, m.at, m.values)));
  return readings;
}

const inOnePass = (f: RulesFixture, readings: FiledReading[]) =>
  inSharedTransaction(f.pool, async ({ client }) => {
    await lockPatients(
      client,
      readings.map((r) => r.patientId),
    );
    await (f === oneByOne ? reference : f.engine).onStored(readings);
    // row updates of alert_episodes made by this transaction (PostgreSQL's own count)
    const { rows } = await client.query<{ n: string }>(
      `SELECT n_tup_upd AS n FROM pg_stat_xact_user_tables WHERE relname = 'alert_episodes'`,
    );
    return Number(rows[0]?.n ?? 0);
  });

/**
 * Everything the rules wrote, with episode ids replaced by their rank: an upsert that updates
 * still takes a value of the id sequence, so one by one the ids have gaps the deferred path has not
 */
async function outcome(f: RulesFixture) {
  const q = async (sql: string) => (await f.pool.query(sql)).rows as Record<string, unknown>[];
  const episodes =
    await q(`SELECT id, patient_id, rule_id, severity, status, breach_count, normal_streak, escalated_from,
                                   related_episode_ids, priority, last_value, summary, summary_fr, last_eval_key,
                                   last_measured_at, opened_at, updated_at, resolved_at
                              FROM alert_episodes ORDER BY id`);
  const rank = new Map(episodes.map((e, i) => [String(e.id), `episode ${i + 1}`]));
  const ep = (id: unknown) => rank.get(String(id)) ?? `unknown ${String(id)}`;
  const text = (t: unknown) => String(t).replace(/vigil-episode-(\d+)-/, (_, id: string) => `${ep(id)}-`);
  return {
    episodes: episodes.map((e) => ({
      ...e,
      id: ep(e.id),
      related_episode_ids: (e.related_episode_ids as string[] | null)?.map(ep) ?? null,
    })),
    readings: (
      await q(`SELECT episode_id, reading_id, interpretation FROM alert_episode_readings ORDER BY episode_id, seq`)
    ).map((r) => ({ ...r, episode_id: ep(r.episode_id) })),
    notifications: (await q(`SELECT episode_id, kind, severity, idempotency_key FROM notifications ORDER BY id`)).map(
      (n) => ({ ...n, episode_id: ep(n.episode_id), idempotency_key: text(n.idempotency_key) }),
    ),
    audit: (await q(`SELECT action, entity, entity_id, detail FROM audit_log WHERE actor = 'system' ORDER BY id`)).map(
      (a) => {
        const detail = a.detail as { related?: number[] };
        return {
          ...a,
          entity_id: a.entity === 'alert_episode' ? ep(a.entity_id) : a.entity_id,
          detail: detail.related ? { ...detail, related: detail.related.map(ep) } : detail,
        };
      },
    ),
    remeasure: await q(`SELECT patient_id, rule_id, status, reading_ids FROM remeasure_requests ORDER BY id`),
  };
}

it('leaves the episodes as raising breach after breach does', { timeout: 120_000 }, async () => {
  const from = deferred.t0.getTime() - 11 * 24 * HOUR;
  for (const f of [deferred, oneByOne]) {
    for (const [p, program] of PATIENTS) await f.enroll(p, program);
    f.clock.set(deferred.t0);
  }
  const [a, b] = [await fileAll(deferred, from), await fileAll(oneByOne, from)];
  expect(a.map((r) => r.readingId)).toEqual(b.map((r) => r.readingId));
  const updates = await inOnePass(deferred, a);
  const updatesOneByOne = await inOnePass(oneByOne, b);

  const [got, want] = [await outcome(deferred), await outcome(oneByOne)];
  // the backlog did what it was made for: long runs of breaches on open episodes, resolutions,
  // red episodes, re-measure requests
  const eps = want.episodes as unknown as { breach_count: number; status: string; severity: string }[];
  expect(Math.max(...eps.map((e) => e.breach_count))).toBeGreaterThanOrEqual(10);
  expect(eps.some((e) => e.status === 'resolved')).toBe(true);
  expect(eps.some((e) => e.severity === 'red')).toBe(true);
  expect(want.remeasure.length).toBeGreaterThan(0);
  expect(got).toEqual(want);
  // one by one, every breach after an episode's first is an update of its row; deferred, a run of
  // them is one
  expect(updates).toBeLessThan(updatesOneByOne * 0.85);
});

it('falls back to one breach at a time when readings were counted before (a re-evaluated reading)', async () => {
  // a hub that died between filing and storing: its readings come back and are evaluated again,
  // with later ones, in one pass. Raise skips the breaches whose readings an episode counted.
  const from = deferred.t0.getTime() + HOUR;
  const later = deferred.t0.getTime() + 12 * 24 * HOUR;
  for (const f of [deferred, oneByOne]) f.clock.set(new Date(later));
  const [a, b] = [await fileAll(deferred, from), await fileAll(oneByOne, from)];
  const half = (rs: FiledReading[]) => rs.filter((_, i) => i % 2 === 0);
  // first half of the backlog evaluated (each path as before), then all of it again with the rest
  await inOnePass(deferred, half(a));
  await inOnePass(oneByOne, half(b));
  await inOnePass(deferred, a);
  await inOnePass(oneByOne, b);
  expect(await outcome(deferred)).toEqual(await outcome(oneByOne));
});
