import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../hub/rules/clock';
import { CARE_TIME_ZONE } from '../../hub/rules/messages';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * Each default rule of docs/clinical/rules.md with a scenario that must fire and one
 * that must not, against real PostgreSQL (windows read from the reading ledger).
 */
let f: RulesFixture;
let seq = 0;
const pid = (tag: string) => `P${++seq}-${tag}`;
const at = (ms: number) => new Date(f.t0.getTime() + ms);
const careHour = new Intl.DateTimeFormat('en-GB', { timeZone: CARE_TIME_ZONE, hour: 'numeric', hourCycle: 'h23' });
/** The first 07:00 of the care team's zone at or after `ms`: weigh-ins hours apart stay on distinct local days whatever the hour the suite runs. */
const morningFrom = (ms: number) => {
  let t = Math.ceil(ms / HOUR) * HOUR;
  while (Number(careHour.format(t)) !== 7) t += HOUR;
  return t;
};
const open = async (patient: string) => (await f.episodeRows(patient)).filter((e) => e.status !== 'resolved');
const pending = async (patient: string) =>
  (
    await f.pool.query<{ rule_id: string; status: string }>(
      `SELECT rule_id, status FROM remeasure_requests WHERE patient_id = $1 ORDER BY id`,
      [patient],
    )
  ).rows;

beforeAll(async () => {
  f = await rulesFixture();
});
afterAll(async () => {
  await f.pg.drop();
});

describe('rule 1: SpO2 < 92 % on 2 readings >= 15 min apart (88 % with chronic lung disease)', () => {
  it('fires red on the confirming reading, after a "please re-measure" state', async () => {
    const p = pid('spo2');
    await f.enroll(p, 'heart_failure');
    await f.measure(p, at(0), { spo2: 90 });
    expect(await open(p)).toHaveLength(0);
    expect(await pending(p)).toEqual([{ rule_id: 'spo2-low', status: 'pending' }]);
    await f.measure(p, at(20 * MINUTE), { spo2: 89 });
    const eps = await open(p);
    expect(eps.map((e) => [e.rule_id, e.severity])).toEqual([['spo2-low', 'red']]);
    expect(await pending(p)).toEqual([{ rule_id: 'spo2-low', status: 'confirmed' }]);
  });
  it('does not fire for a second low reading within 15 min, nor for a normal re-measure, nor at 90 % with chronic lung disease', async () => {
    const p = pid('spo2-ok');
    await f.enroll(p, 'heart_failure');
    await f.measure(p, at(DAY), { spo2: 90 });
    await f.measure(p, at(DAY + 5 * MINUTE), { spo2: 91 });
    expect(await open(p)).toHaveLength(0);
    await f.measure(p, at(DAY + 30 * MINUTE), { spo2: 96 });
    expect(await open(p)).toHaveLength(0);
    expect((await pending(p)).map((r) => r.status)).toEqual(['cleared']);
    const c = pid('copd');
    await f.enroll(c, 'heart_failure', { chronicLungDisease: true });
    await f.measure(c, at(DAY), { spo2: 90 });
    await f.measure(c, at(DAY + 20 * MINUTE), { spo2: 89 });
    expect(await open(c)).toHaveLength(0);
    expect(await pending(c)).toHaveLength(0);
  });
});

describe('rule 2: heart rate > 130 /min or systolic < 90 mmHg', () => {
  it('fires red on one reading', async () => {
    const p = pid('sepsis');
    await f.enroll(p, 'oral_chemotherapy');
    await f.measure(p, at(0), { heart_rate: 134 });
    const q = pid('hypo');
    await f.enroll(q, 'oral_chemotherapy');
    await f.measure(q, at(0), { blood_pressure_systolic: 86, blood_pressure_diastolic: 55, heart_rate: 88 });
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['sepsis-red-flags', 'red']]);
    expect((await open(q)).map((e) => e.rule_id)).toEqual(['sepsis-red-flags']);
  });
  // UK Sepsis Trust: systolic 90 or less is the red flag (issue 18), so 91 is the quiet edge
  it('stays silent at 130 /min and 91 mmHg', async () => {
    const p = pid('sepsis-ok');
    await f.enroll(p, 'oral_chemotherapy');
    await f.measure(p, at(0), { heart_rate: 130, blood_pressure_systolic: 91, blood_pressure_diastolic: 60 });
    expect(await open(p)).toHaveLength(0);
  });
});

describe('rules 3/3b: missing data 48 h amber, 72 h red (one episode)', () => {
  it('opens amber at 48 h, turns red at 72 h, resolves after data returns and 2 normal evaluations', async () => {
    const p = pid('missing');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { body_weight: 80 });
    f.clock.set(t + 47 * HOUR);
    await f.engine.evaluateScheduled(f.clock.now(), [p]);
    expect(await open(p)).toHaveLength(0);
    f.clock.set(t + 49 * HOUR);
    await f.engine.evaluateScheduled(f.clock.now(), [p]);
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['missing-data', 'amber']]);
    f.clock.set(t + 73 * HOUR);
    await f.engine.evaluateScheduled(f.clock.now(), [p]);
    const eps = await open(p);
    expect(eps.map((e) => [e.rule_id, e.severity, e.escalated_from])).toEqual([['missing-data', 'red', 'amber']]);
    expect((await f.notifications(p)).map((n) => [n.kind, n.severity])).toEqual([
      ['opened', 'amber'],
      ['escalated', 'red'],
    ]);
    await f.measure(p, new Date(t + 74 * HOUR), { body_weight: 80.2 });
    await f.engine.evaluateScheduled(f.clock.now(), [p]);
    expect(await open(p)).toHaveLength(1);
    f.clock.advance(10 * MINUTE);
    await f.engine.evaluateScheduled(f.clock.now(), [p]);
    expect(await open(p)).toHaveLength(0);
  });
  it('stays silent while the device reports every day', async () => {
    const p = pid('present');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    for (let d = 0; d < 5; d++) {
      await f.measure(p, new Date(t + d * DAY), { body_weight: 80 });
      await f.engine.evaluateScheduled(new Date(t + d * DAY + 23 * HOUR), [p]);
    }
    expect(await open(p)).toHaveLength(0);
  });
});

describe('rule 4: 7-day home BP mean >= 135/85 (cardiovascular, day 1 dropped)', () => {
  const week = async (p: string, sys: number, dia: number, start: number) => {
    for (let d = 0; d < 7; d++)
      for (const h of [7, 19])
        await f.measure(p, new Date(start + d * DAY + h * HOUR), {
          blood_pressure_systolic: sys + (h === 7 ? 2 : -2),
          blood_pressure_diastolic: dia,
        });
  };
  it('fires amber when the mean reaches 135/85', async () => {
    const p = pid('bpmean');
    await f.enroll(p, 'cardiovascular_prevention');
    await week(p, 141, 88, f.clock.now().getTime());
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['bp-home-mean-7d', 'amber']]);
  });
  it('stays silent at 126/78, and for a heart-failure patient', async () => {
    const p = pid('bpok');
    await f.enroll(p, 'cardiovascular_prevention');
    await week(p, 126, 78, f.clock.now().getTime());
    expect(await open(p)).toHaveLength(0);
    const hf = pid('bphf');
    await f.enroll(hf, 'heart_failure');
    await week(hf, 141, 88, f.clock.now().getTime());
    expect((await open(hf)).map((e) => e.rule_id)).not.toContain('bp-home-mean-7d');
  });
});

describe('rule 5: hypertensive crisis >= 180/120, confirmed by a re-measure after 1-2 min', () => {
  it('asks to re-measure, then fires red on the confirming reading', async () => {
    const p = pid('crisis');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { blood_pressure_systolic: 194, blood_pressure_diastolic: 118, heart_rate: 80 });
    expect(await open(p)).toHaveLength(0);
    expect(await pending(p)).toEqual([{ rule_id: 'bp-hypertensive-crisis', status: 'pending' }]);
    await f.measure(p, new Date(t + 2 * MINUTE), {
      blood_pressure_systolic: 178,
      blood_pressure_diastolic: 123,
      heart_rate: 82,
    });
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['bp-hypertensive-crisis', 'red']]);
  });
  it('stays silent when the re-measure is below 180/120', async () => {
    const p = pid('crisis-ok');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { blood_pressure_systolic: 182, blood_pressure_diastolic: 100 });
    await f.measure(p, new Date(t + 2 * MINUTE), { blood_pressure_systolic: 165, blood_pressure_diastolic: 98 });
    expect(await open(p)).toHaveLength(0);
    expect((await pending(p)).map((r) => r.status)).toEqual(['cleared']);
    f.clock.set(t + 2 * HOUR);
    await f.engine.tick();
    expect(await open(p)).toHaveLength(0);
  });
  it('a crisis reading never re-measured opens one amber follow-up episode; a later confirmed crisis makes it red', async () => {
    const p = pid('crisis-unconfirmed');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { blood_pressure_systolic: 185, blood_pressure_diastolic: 100 });
    f.clock.set(t + 29 * MINUTE);
    await f.engine.tick();
    expect(await open(p)).toHaveLength(0); // still within the 30 min to re-measure
    f.clock.set(t + 31 * MINUTE);
    await f.engine.tick();
    await f.engine.tick(); // a second pass (or a second hub instance) opens nothing more
    expect((await pending(p)).map((r) => r.status)).toEqual(['expired']);
    const followUp = await open(p);
    expect(followUp.map((e) => [e.rule_id, e.severity])).toEqual([['bp-hypertensive-crisis', 'amber']]);
    expect(followUp[0]!.summary).toBe('Blood pressure 185/100 mmHg not re-measured within 30 min: call the patient.');
    // the next day the patient measures twice in crisis: the same episode, now red
    await f.measure(p, new Date(t + 20 * HOUR), { blood_pressure_systolic: 190, blood_pressure_diastolic: 104 });
    await f.measure(p, new Date(t + 20 * HOUR + 2 * MINUTE), {
      blood_pressure_systolic: 188,
      blood_pressure_diastolic: 102,
    });
    expect((await open(p)).map((e) => [e.id, e.severity, e.escalated_from])).toEqual([
      [followUp[0]!.id, 'red', 'amber'],
    ]);
  });
  it('a program that does not want the follow-up sets unconfirmedFollowUp to none', async () => {
    const p = pid('crisis-nofollow');
    await f.enroll(p, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    await f.engine.settings.setOverride(
      {
        patientId: p,
        ruleId: 'bp-hypertensive-crisis',
        params: { unconfirmedFollowUp: 'none' },
        actor: 'test',
        reason: 'measures in clinic only',
      },
      new Date(t),
    );
    await f.measure(p, new Date(t), { blood_pressure_systolic: 185, blood_pressure_diastolic: 100 });
    f.clock.set(t + 31 * MINUTE);
    await f.engine.tick();
    expect((await pending(p)).map((r) => r.status)).toEqual(['expired']);
    expect(await open(p)).toHaveLength(0);
  });
});

describe('rules 6, 7, 8: heart-failure weight', () => {
  it('rule 6 fires at > 2 kg over 3 days, rule 7 at >= 2.3 kg in 7 days', async () => {
    const p = pid('hfgain');
    await f.enroll(p, 'heart_failure');
    const t = f.clock.now().getTime();
    const w = [82.0, 82.3, 83.0, 84.1, 84.6];
    for (const [d, kg] of w.entries()) await f.measure(p, new Date(t + d * DAY), { body_weight: kg });
    // one gain, one episode (issue 18): rule 7's breach joins the open episode of rule 6
    const eps = await open(p);
    expect(eps.map((e) => e.rule_id)).toEqual(['hf-weight-gain-3d']);
    expect(eps[0]!.breach_count).toBeGreaterThan(1);
  });
  it('rule 6 compares with the weigh-in of 3 days ago even when the new one is a little later in the day', async () => {
    const p = pid('hfdrift');
    await f.enroll(p, 'heart_failure');
    const t = f.clock.now().getTime();
    // day 0 at 07:00, day 3 at 07:05 (72 h 5 min apart): +2.2 kg over the 3 days, only +1.4 kg
    // since day 1, and below rule 7's 1.4 kg/day and 2.3 kg/week
    await f.measure(p, new Date(t), { body_weight: 80.0 });
    await f.measure(p, new Date(t + DAY), { body_weight: 80.8 });
    await f.measure(p, new Date(t + 2 * DAY), { body_weight: 81.5 });
    await f.measure(p, new Date(t + 3 * DAY + 5 * 60_000), { body_weight: 82.2 });
    expect((await open(p)).map((e) => e.rule_id)).toEqual(['hf-weight-gain-3d']);
  });
  it('rule 7 fires at 1.4 kg in one day', async () => {
    const p = pid('hfday');
    await f.enroll(p, 'heart_failure');
    // 07:00, then 03:00 the next day: 20 h apart, two care days (a second weigh-in the same day is not the protocol one)
    const t = morningFrom(f.clock.now().getTime());
    await f.measure(p, new Date(t), { body_weight: 70 });
    await f.measure(p, new Date(t + 20 * HOUR), { body_weight: 71.5 });
    expect((await open(p)).map((e) => e.rule_id)).toEqual(['hf-weight-gain-day-week']);
  });
  it('rule 8 fires at -0.9 kg over 2 days', async () => {
    const p = pid('hfloss');
    await f.enroll(p, 'heart_failure');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { body_weight: 75 });
    await f.measure(p, new Date(t + DAY), { body_weight: 74.6 });
    await f.measure(p, new Date(t + 2 * DAY), { body_weight: 74.0 });
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['hf-weight-loss-2d', 'amber']]);
  });
  it('stays silent for a stable weight, and for other programs', async () => {
    const p = pid('hfok');
    await f.enroll(p, 'heart_failure');
    const q = pid('cvw');
    await f.enroll(q, 'cardiovascular_prevention');
    const t = f.clock.now().getTime();
    for (const [d, kg] of [82.0, 82.4, 81.9, 82.3, 82.1, 82.6, 82.2].entries()) {
      await f.measure(p, new Date(t + d * DAY), { body_weight: kg });
      await f.measure(q, new Date(t + d * DAY), { body_weight: kg + d });
    }
    expect(await open(p)).toHaveLength(0);
    expect(await open(q)).toHaveLength(0);
  });
});

describe('rule 10: fever on oral chemotherapy', () => {
  it('fires red at 38.3 C once', async () => {
    const p = pid('fever1');
    await f.enroll(p, 'oral_chemotherapy');
    await f.measure(p, at(0), { body_temperature: 38.4 });
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['chemo-fever', 'red']]);
  });
  it('fires at 38.0 C twice >= 1 h apart, not twice within the hour; not in another program', async () => {
    const p = pid('fever2');
    await f.enroll(p, 'oral_chemotherapy');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { body_temperature: 38.1 });
    await f.measure(p, new Date(t + 30 * MINUTE), { body_temperature: 38.1 });
    expect(await open(p)).toHaveLength(0);
    await f.measure(p, new Date(t + 70 * MINUTE), { body_temperature: 38.2 });
    expect((await open(p)).map((e) => e.rule_id)).toEqual(['chemo-fever']);
    const q = pid('feverhf');
    await f.enroll(q, 'heart_failure');
    await f.measure(q, new Date(t), { body_temperature: 39 });
    expect(await open(q)).toHaveLength(0);
  });
});

describe('rule 11: 3-day steps vs 14-day personal baseline (oral chemotherapy)', () => {
  const days = async (p: string, start: number, steps: number[], hr: number[] = []) => {
    for (const [d, s] of steps.entries()) {
      await f.file(p, new Date(start + d * DAY + 12 * HOUR), { steps: s / 2 });
      await f.file(p, new Date(start + d * DAY + 18 * HOUR), {
        steps: s / 2,
        ...(hr[d] !== undefined ? { heart_rate: hr[d] } : {}),
      });
    }
  };
  it('fires amber when the last 3 days are >= 20 % below the baseline', async () => {
    const p = pid('steps');
    await f.enroll(p, 'oral_chemotherapy');
    const start = Math.floor(f.clock.now().getTime() / DAY) * DAY;
    await days(p, start, [...Array<number>(14).fill(6500), 3600, 3500, 3700]);
    await f.engine.evaluateScheduled(new Date(start + 17 * DAY + HOUR), [p]);
    expect((await open(p)).map((e) => [e.rule_id, e.severity])).toEqual([['chemo-activity-decline', 'amber']]);
  });
  it('fires when resting heart rate rises >= 20 %; stays silent for a 10 % dip', async () => {
    const p = pid('hr');
    await f.enroll(p, 'oral_chemotherapy');
    const start = Math.floor(f.clock.now().getTime() / DAY) * DAY;
    await days(p, start, Array<number>(17).fill(6000), [...Array<number>(14).fill(70), 88, 86, 90]);
    await f.engine.evaluateScheduled(new Date(start + 17 * DAY + HOUR), [p]);
    expect((await open(p)).map((e) => e.rule_id)).toEqual(['chemo-activity-decline']);
    const q = pid('steps-ok');
    await f.enroll(q, 'oral_chemotherapy');
    await days(q, start, [...Array<number>(14).fill(6500), 5900, 5800, 6000]);
    await f.engine.evaluateScheduled(new Date(start + 17 * DAY + HOUR), [q]);
    expect(await open(q)).toHaveLength(0);
  });
});

describe('rule 12: glucose', () => {
  it('< 3.0 red, < 3.9 amber, > 13.9 amber', async () => {
    const a = pid('glu-red');
    const b = pid('glu-low');
    const c = pid('glu-high');
    for (const p of [a, b, c]) await f.enroll(p, 'cardiovascular_prevention');
    await f.measure(a, at(0), { glucose: 2.8 });
    await f.measure(b, at(0), { glucose: 3.6 });
    await f.measure(c, at(0), { glucose: 15.2 });
    expect((await open(a)).map((e) => e.severity)).toEqual(['red']);
    expect((await open(b)).map((e) => e.severity)).toEqual(['amber']);
    expect((await open(c)).map((e) => e.severity)).toEqual(['amber']);
  });
  it('stays silent between 3.9 and 13.9', async () => {
    const p = pid('glu-ok');
    await f.enroll(p, 'cardiovascular_prevention');
    await f.measure(p, at(0), { glucose: 3.9 });
    await f.measure(p, at(HOUR), { glucose: 13.9 });
    expect(await open(p)).toHaveLength(0);
  });
});

describe('adherence: days with data in the last 30 (CPT 99454: >= 16)', () => {
  it('fires amber below 16 days once enrolled 30 days; silent at 16 days', async () => {
    const low = pid('adh-low');
    const ok = pid('adh-ok');
    await f.enroll(low, 'cardiovascular_prevention');
    await f.enroll(ok, 'cardiovascular_prevention');
    const start = f.clock.now().getTime();
    for (let d = 0; d < 30; d++) {
      if (d < 10) await f.file(low, new Date(start + d * DAY + 3 * HOUR), { body_weight: 80 });
      if (d % 2 === 0 || d < 3) await f.file(ok, new Date(start + d * DAY + 3 * HOUR), { body_weight: 80 });
    }
    const now = new Date(start + 30 * DAY + 2 * HOUR);
    await f.engine.evaluateScheduled(now, [low, ok]);
    expect((await open(low)).map((e) => e.rule_id)).toContain('adherence-days-30');
    expect((await open(ok)).map((e) => e.rule_id)).not.toContain('adherence-days-30');
  });
});
