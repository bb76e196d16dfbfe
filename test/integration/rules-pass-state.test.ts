import { afterAll, beforeAll, expect, it } from 'vitest';
import { MINUTE } from '../../hub/rules/clock';
import type { FiledReading } from '../../hub/rules/rule';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * One evaluation pass reads what it needs of all its patients in one statement (facts, overrides,
 * consent, open episodes and pending re-measure requests: RuleEngine.passState). Patients that
 * differ in each of these, filed in one pass as ingest files a group, each get their own outcome.
 */
let f: RulesFixture;
beforeAll(async () => {
  f = await rulesFixture();
});
afterAll(async () => {
  await f.pg.drop();
});

const pendingRules = async (patient: string) =>
  (
    await f.pool.query<{ rule_id: string }>(
      `SELECT rule_id FROM remeasure_requests WHERE patient_id = $1 AND status = 'pending' ORDER BY id`,
      [patient],
    )
  ).rows.map((r) => r.rule_id);

it('applies each patient its own facts, overrides, consent and open episodes within one pass', async () => {
  const t = f.t0.getTime();
  // one patient per difference the pass must read
  const [plain, lungs, off, withdrawn, stepping, nurse] = [
    'plain',
    'lungs',
    'override-off',
    'withdrawn',
    'stepping',
    'pending',
  ].map((tag) => `PS-${tag}`) as [string, string, string, string, string, string];
  for (const p of [plain, off, withdrawn, stepping, nurse]) await f.enroll(p, 'heart_failure');
  await f.enroll(lungs, 'heart_failure', { chronicLungDisease: true });
  await f.engine.settings.setOverride(
    { patientId: off, ruleId: 'spo2-low', enabled: false, actor: 'test', reason: 'oxygen at home' },
    new Date(t),
  );
  await f.pool.query('UPDATE patients SET processing_withdrawn_at = now() WHERE id = $1', [withdrawn]);
  // before the pass: an open red episode (one reading is enough for rule 2) and a pending request
  await f.measure(stepping, new Date(t), { heart_rate: 134 });
  await f.measure(nurse, new Date(t), { spo2: 90 });
  expect((await f.episodeRows(stepping)).map((e) => [e.rule_id, e.status, e.normal_streak])).toEqual([
    ['sepsis-red-flags', 'open', 0],
  ]);
  expect(await pendingRules(nurse)).toEqual(['spo2-low']);

  // the pass: every patient's readings handed to the rules at once
  const at = new Date(t + 20 * MINUTE);
  f.clock.set(at);
  const readings: FiledReading[] = [];
  for (const p of [plain, lungs, off, withdrawn]) readings.push(...(await f.file(p, at, { spo2: 90 })));
  readings.push(...(await f.file(stepping, at, { heart_rate: 80 })));
  readings.push(...(await f.file(nurse, at, { spo2: 89 })));
  await f.engine.onStored(readings);

  // SpO2 90 %: below 92, a re-measure request for a plain patient...
  expect(await pendingRules(plain)).toEqual(['spo2-low']);
  // ...not for one with chronic lung disease (threshold 88 %), nor with the rule switched off,
  // nor after consent was withdrawn
  expect(await pendingRules(lungs)).toEqual([]);
  expect(await pendingRules(off)).toEqual([]);
  expect(await pendingRules(withdrawn)).toEqual([]);
  for (const p of [plain, lungs, off, withdrawn]) expect(await f.episodeRows(p)).toEqual([]);
  // the open episode's streak steps on a normal reading (known open when the pass began)
  expect((await f.episodeRows(stepping)).map((e) => [e.rule_id, e.status, e.normal_streak])).toEqual([
    ['sepsis-red-flags', 'open', 1],
  ]);
  // the pending request is confirmed by the second low reading: red episode
  expect(await pendingRules(nurse)).toEqual([]);
  expect((await f.episodeRows(nurse)).map((e) => [e.rule_id, e.severity])).toEqual([['spo2-low', 'red']]);
});
