import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCareTeamWithMembers,
  createPatient,
  createProfessional,
  type Program,
} from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { createHubMetrics } from '../../hub/observability/metrics';
import type { CohortReport } from '../../hub/reporting/cohort-report';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * A simulated cohort whose answers are known by construction (figures worked out by hand in the
 * comments), reported through the API as JSON, CSV and PDF; the PDF is rendered by pdftoppm.
 */
const DAY = 86_400_000;
const AS_OF = new Date('2026-10-01T00:30:00Z'); // enrolled at 00:30: every reading's hour falls on its own day
const ENROLLED = new Date(AS_OF.getTime() - 400 * DAY);
const PROGRAM: Program = 'cardiovascular_prevention';
/** systolic drop of each of the six patients at 3 months: mean 7, sample SD sqrt(14) */
const DROPS = [2, 4, 6, 8, 10, 12];
/** weekly questionnaire answers of the first five patients (the last one answered daily: 6 for 5 due) */
const WEEKLY_ANSWERS = [0, 1, 2, 3, 6];

let pg: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
let api: FastifyInstance;
let admin = '';
let nurse = '';
let otherNurse = '';

async function reading(patientId: string, metric: string, day: number, hour: number, value: number) {
  await pg.pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
     VALUES (md5($1 || $2 || $3::text || $4::text), $1, 'gw-r', 'C0:00:00:00:00:01', 'sim-device', $2, $5, 'x', $6, now())`,
    [patientId, metric, day, hour, value, new Date(ENROLLED.getTime() + day * DAY + hour * 3_600_000)],
  );
}

beforeAll(async () => {
  pg = await createTestPostgres('vigil_report');
  influx = await createTestInflux('vigil_report');
  api = await buildApi({
    pool: pg.pool,
    timeseries: new TimeSeriesStore(influx.url, influx.database),
    metrics: createHubMetrics(),
    logLevel: 'silent',
  });
  const ids = DROPS.map((_, i) => `RP-${i}`);
  for (const id of [...ids, 'RP-OTHER'])
    await createPatient(pg.pool, { id, programId: PROGRAM, displayName: `Patient ${id}` });
  await pg.pool.query(`UPDATE patients SET created_at = $1`, [ENROLLED]);
  const team = await createCareTeamWithMembers(pg.pool, {
    id: 'team-r',
    programId: PROGRAM,
    name: 'Coaching R',
    patientIds: ids,
    roles: ['coordinating_nurse'],
  });
  nurse = team.coordinating_nurse.token;
  const other = await createCareTeamWithMembers(pg.pool, {
    id: 'team-o',
    programId: PROGRAM,
    name: 'Coaching O',
    patientIds: ['RP-OTHER'],
    roles: ['coordinating_nurse'],
  });
  otherNurse = other.coordinating_nurse.token;
  admin = (await createProfessional(pg.pool, { id: 'admin-r', displayName: 'Admin', role: 'admin' })).token;

  for (const [i, id] of ids.entries()) {
    for (let d = 0; d < 30; d++) {
      await reading(id, 'blood_pressure_systolic', d, 8, 150 + i); // baseline 150 + i
      await reading(id, 'steps', d, 12, 3000); // running total: the day's value is its largest
      await reading(id, 'steps', d, 20, 6000);
      if (i < 3) await reading(id, 'body_weight', d, 7, 80); // weight: 3 patients only
    }
    for (let d = 76; d < 106; d++) {
      await reading(id, 'blood_pressure_systolic', d, 8, 150 + i - DROPS[i]!); // 3 months: -DROPS[i]
      if (i < 3) await reading(id, 'body_weight', d, 7, 78);
    }
    for (let d = 167; d < 197; d++) await reading(id, 'steps', d, 20, 7000); // 6 months: +1000 for all
    if (i < 3) await reading(id, 'blood_pressure_systolic', 398, 8, 140); // active in the last 7 days
    await reading(id, 'battery_level', 300, 8, 50); // device state: not a day with data
  }
  await reading('RP-OTHER', 'blood_pressure_systolic', 1, 8, 200);
  // questionnaires, due and answered (figures worked out in the test)
  const assign = (patientId: string, questionnaireId: string, everyDays: number | null, firstDue: Date) =>
    pg.pool.query(
      `INSERT INTO questionnaire_assignments (patient_id, questionnaire_id, every_days, next_due_at, first_due_at, assigned_by)
       VALUES ($1, $2, $3, $4, $4, 'test')`,
      [patientId, questionnaireId, everyDays, firstDue],
    );
  const answer = (patientId: string, questionnaireId: string, at: Date) =>
    pg.pool.query(
      `INSERT INTO questionnaire_responses (patient_id, questionnaire_id, author_kind, author_id, resource, outcome, authored_at)
       VALUES ($1, $2, 'patient', $1, '{}', '{}', $3)`,
      [patientId, questionnaireId, at],
    );
  const weeklyFrom = new Date(AS_OF.getTime() - 28 * DAY);
  for (const [i, id] of ids.entries()) {
    await assign(id, 'cardio-risk', null, ENROLLED);
    if (i < 4) await answer(id, 'cardio-risk', new Date(ENROLLED.getTime() + DAY));
    if (i < 5) {
      await assign(id, 'oral-chemo-weekly', 7, weeklyFrom);
      for (let k = 0; k < WEEKLY_ANSWERS[i]!; k++)
        await answer(id, 'oral-chemo-weekly', new Date(weeklyFrom.getTime() + (k + 1) * DAY));
    }
    if (i < 2) await assign(id, 'education-check', null, ENROLLED);
  }
  // answered before it was due: not an answer to this assignment
  await answer('RP-5', 'cardio-risk', new Date(ENROLLED.getTime() - DAY));
  // another team's patient never counts
  await assign('RP-OTHER', 'cardio-risk', null, ENROLLED);
  await answer('RP-OTHER', 'cardio-risk', new Date(ENROLLED.getTime() + DAY));
  // four episodes: acknowledged after 10, 20 and 30 minutes, one never
  const opened = new Date(ENROLLED.getTime() + 100 * DAY);
  for (const [n, [severity, minutes]] of (
    [
      ['red', 10],
      ['red', 20],
      ['amber', 30],
      ['amber', null],
    ] as const
  ).entries())
    await pg.pool.query(
      `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, priority, opened_at, updated_at, summary, acknowledged_at)
       VALUES ($1, $2, $3, 'resolved', 'routine', $4, $4, 'x', $5)`,
      [ids[n], `rule-${n}`, severity, opened, minutes === null ? null : new Date(opened.getTime() + minutes * 60_000)],
    );
}, 120_000);

afterAll(async () => {
  await api.close();
  await influx.drop();
  await pg.drop();
});

const get = (token: string, url: string) =>
  api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const url = (q = '') => `/api/reports/programs/${PROGRAM}?careTeamId=team-r&asOf=${AS_OF.toISOString()}${q}`;

describe('program report on a cohort with known answers', () => {
  it('computes participation, adherence, alerts and outcomes with their confidence intervals', async () => {
    const res = await get(admin, url());
    expect(res.statusCode).toBe(200);
    const r = res.json<CohortReport>();
    // 90 days with data of 400 followed (baseline, 3-month and 6-month windows), 91 for the 3 active
    expect(r.participation).toEqual({
      enrolled: 6,
      active: 3,
      adherencePercent: { mean: 22.6, median: 22.6 },
      patientMonths: 78.9,
    });
    // 4 episodes over 2 400 patient-days = 78.85 patient-months; acknowledged after 10, 20, 30 min
    expect(r.alerts).toEqual({
      episodes: 4,
      red: 2,
      amber: 2,
      perPatientMonth: 0.051,
      acknowledged: 3,
      minutesToAcknowledge: { median: 20, p90: 28 },
    });
    // cardio-risk once for 6 patients, 4 answered in time (one answered before it was due);
    // weekly for 5 patients from 28 days before: due 5 times each = 25, answered 0+1+2+3+min(6,5) = 11;
    // education-check for 2 patients: masked alone, counted in the total. 15 / 33 = 45.5 %
    expect(r.questionnaires).toEqual({
      patients: 6,
      due: 33,
      answered: 15,
      adherencePercent: 45.5,
      byQuestionnaire: [
        { questionnaireId: 'cardio-risk', patients: 6, due: 6, answered: 4, adherencePercent: 66.7 },
        { questionnaireId: 'education-check', patients: 2, due: null, answered: null, adherencePercent: null },
        { questionnaireId: 'oral-chemo-weekly', patients: 5, due: 25, answered: 11, adherencePercent: 44 },
      ],
    });
    const [systolic, weight, steps] = r.outcomes;
    // changes -2..-12: mean -7, SD sqrt(14) = 3.742, half-width t(0.975, 5) * SD / sqrt(6) = 3.927
    expect(systolic).toMatchObject({ metric: 'blood_pressure_systolic', baselineMean: 152.5 });
    expect(systolic!.changes[0]).toEqual({
      horizon: '3m',
      change: { n: 6, mean: -7, sd: 3.74, ciLow: -10.93, ciHigh: -3.07 },
      suppressed: false,
    });
    expect(systolic!.changes[1]).toEqual({ horizon: '6m', change: null, suppressed: false });
    // three patients weighed: fewer than 5, masked
    expect(weight!.baselineMean).toBeNull();
    expect(weight!.changes[0]).toEqual({ horizon: '3m', change: null, suppressed: true });
    // daily steps: 6 000 at baseline (largest running total of the day), 7 000 at 6 months
    expect(steps!.baselineMean).toBe(6000);
    expect(steps!.changes[1]).toEqual({
      horizon: '6m',
      change: { n: 6, mean: 1000, sd: 0, ciLow: 1000, ciHigh: 1000 },
      suppressed: false,
    });
  });

  it('exports CSV and a PDF that renders', async () => {
    const csv = await get(admin, url('&format=csv'));
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.body.trim().split('\r\n');
    expect(lines[0]).toBe('section,indicator,horizon,n,value,ci_low,ci_high,unit');
    expect(lines).toContain('outcome,blood_pressure_systolic_change,3m,6,-7,-10.93,-3.07,mmHg');
    expect(lines).toContain('outcome,body_weight_change,3m,,suppressed,,,kg');
    expect(lines).toContain('participation,enrolled,,6,6,,,patients');
    expect(lines).toContain('questionnaires,all_adherence,,6,45.5,,,%');
    expect(lines).toContain('questionnaires,oral-chemo-weekly_answered,,5,11,,,questionnaires');
    expect(lines).toContain('questionnaires,education-check_due,,2,,,,questionnaires');

    const pdf = await get(admin, url('&format=pdf'));
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-report-'));
    try {
      writeFileSync(join(dir, 'report.pdf'), pdf.rawPayload);
      execFileSync('pdftoppm', ['-png', '-r', '50', join(dir, 'report.pdf'), join(dir, 'page')]);
      const pages = readdirSync(dir).filter((f) => f.endsWith('.png'));
      expect(pages.length).toBeGreaterThanOrEqual(1);
      expect(readFileSync(join(dir, pages[0]!)).length).toBeGreaterThan(2000);
      const text = execFileSync('pdftotext', [join(dir, 'report.pdf'), '-']).toString();
      expect(text).toContain('Prévention cardiovasculaire');
      expect(text).toContain('45,5 % (15 / 33)');
      expect(text).toContain('−7'.replace('−', '-'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a coordinating nurse reports on her own teams only; other teams' patients never count", async () => {
    const mine = (
      await get(nurse, `/api/reports/programs/${PROGRAM}?asOf=${AS_OF.toISOString()}`)
    ).json<CohortReport>();
    expect(mine.participation.enrolled).toBe(6);
    expect((await get(nurse, url().replace('team-r', 'team-o'))).statusCode).toBe(404);
    // the other team has one patient: every figure is masked
    const theirs = (
      await get(otherNurse, `/api/reports/programs/${PROGRAM}?asOf=${AS_OF.toISOString()}`)
    ).json<CohortReport>();
    expect(theirs.participation).toMatchObject({ enrolled: 1, active: null, adherencePercent: null });
    expect(theirs.alerts.episodes).toBeNull();
    expect(theirs.questionnaires).toMatchObject({ patients: 1, due: null, answered: null, adherencePercent: null });
    expect(mine.questionnaires.due).toBe(33);
  });
});
