import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, revokeConsent, type CareRole } from '../../hub/admin/provisioning';
import type { Call } from '../../hub/coaching/calls';
import type { Goal } from '../../hub/coaching/goals';
import { DAY, HOUR } from '../../hub/rules/clock';
import { apiOnFixture, rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * The cardiovascular coaching team on real PostgreSQL: goals agreed with a participant, their
 * progress from the devices' readings and from what the participant reports on calls, the calls
 * themselves, and who may see and do what.
 */
let f: RulesFixture;
let api: FastifyInstance;
let served: Awaited<ReturnType<typeof apiOnFixture>>;
const P = 'CV-1';
const ROLES: CareRole[] = [
  'coordinating_nurse',
  'physical_activity_coach',
  'dietitian',
  'tobacco_specialist',
  'general_practitioner',
  'pharmacist',
];
let team: Record<CareRole, { professionalId: string; token: string }>;
let outsider = '';

const as = (role: CareRole | 'outsider', method: string, url: string, payload?: object) =>
  api.inject({
    method: method as 'GET',
    url,
    ...(payload ? { payload } : {}),
    headers: { authorization: `Bearer ${role === 'outsider' ? outsider : team[role].token}` },
  });

/** a running step total at `hour` on the day `day` days before today */
async function steps(day: number, value: number, hour = value > 3000 ? 20 : 12) {
  const at = new Date(f.clock.now().getTime() - day * DAY + hour * HOUR);
  await f.pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
     VALUES (md5($1 || $2::text || $3::text), $1, 'gw-cv1', 'C0:00:00:00:00:01', 'sim-device', 'steps', $3::float8, '{steps}', $2::timestamptz, now())`,
    [P, at, value],
  );
}

beforeAll(async () => {
  f = await rulesFixture();
  served = await apiOnFixture(f, 'vigil_coaching');
  api = served.api;
  // midnight, so that each day's readings fall on that day
  f.clock.set(new Date(Math.floor(f.clock.now().getTime() / DAY) * DAY));
  await f.enroll(P, 'cardiovascular_prevention');
  team = await createCareTeamWithMembers(f.pool, {
    id: 'team-cv',
    programId: 'cardiovascular_prevention',
    name: 'Coaching',
    patientIds: [P],
    roles: ROLES,
  });
  // the participant withdrew the dietitian's access
  await revokeConsent(f.pool, { patientId: P, professionalId: team.dietitian.professionalId });
  const other = await createCareTeamWithMembers(f.pool, {
    id: 'team-other',
    programId: 'cardiovascular_prevention',
    name: 'Other',
    patientIds: [],
    roles: ['physical_activity_coach'],
  });
  outsider = other.physical_activity_coach.token;
  // the last 7 days: 5 000 steps a day, counted up during the day
  for (let d = 1; d <= 7; d++) {
    await steps(d, 2000);
    await steps(d, 5000);
  }
});

afterAll(async () => {
  await served.close();
  await f.pg.drop();
});

describe('coaching goals and calls', () => {
  let stepsGoal: Goal;

  it('sets a steps goal from the last week as baseline and follows its progress', async () => {
    const due = new Date(f.clock.now().getTime() + 90 * DAY).toISOString().slice(0, 10);
    const res = await as('physical_activity_coach', 'POST', `/api/patients/${P}/coaching/goals`, {
      kind: 'steps_per_day',
      target: 8000,
      dueOn: due,
      note: 'marche 30 min par jour',
    });
    expect(res.statusCode).toBe(201);
    stepsGoal = res.json<Goal>();
    expect(stepsGoal).toMatchObject({ kind: 'steps_per_day', baseline: 5000, target: 8000, unit: 'steps/day' });
    expect(stepsGoal.progress).toEqual({ current: 5000, percent: 0, elapsedPercent: 0, state: 'on_track' });

    // three weeks later the participant walks 6 500 steps a day: half way, ahead of the calendar
    f.clock.advance(21 * DAY);
    for (let d = 1; d <= 7; d++) await steps(d, 6500);
    const plan = (await as('dietitian', 'GET', `/api/patients/${P}/coaching`)).statusCode;
    expect(plan).toBe(403); // the dietitian has no consent of this participant
    const goals = (await as('coordinating_nurse', 'GET', `/api/patients/${P}/coaching`)).json<{ goals: Goal[] }>()
      .goals;
    expect(goals.find((g) => g.id === stepsGoal.id)!.progress).toEqual({
      current: 6500,
      percent: 50,
      elapsedPercent: 23,
      state: 'on_track',
    });
  });

  it('follows a smoking goal from what the participant reports on a coaching call', async () => {
    const due = new Date(f.clock.now().getTime() + 60 * DAY).toISOString().slice(0, 10);
    const set = await as('tobacco_specialist', 'POST', `/api/patients/${P}/coaching/goals`, {
      kind: 'cigarettes_per_day',
      target: 0,
      dueOn: due,
    });
    // nothing reported yet: the baseline must be given
    expect([set.statusCode, set.json<{ message: string }>().message]).toEqual([
      400,
      expect.stringMatching(/NO_BASELINE/),
    ]);
    const goal = (
      await as('tobacco_specialist', 'POST', `/api/patients/${P}/coaching/goals`, {
        kind: 'cigarettes_per_day',
        baseline: 20,
        target: 0,
        dueOn: due,
      })
    ).json<Goal>();
    expect(goal.progress.state).toBe('no_data');

    const call = (
      await as('tobacco_specialist', 'POST', `/api/patients/${P}/coaching/calls`, {
        scheduledAt: new Date(f.clock.now().getTime() + HOUR).toISOString(),
        channel: 'phone',
      })
    ).json<Call>();
    expect(call).toMatchObject({ status: 'scheduled', coachId: team.tobacco_specialist.professionalId });
    f.clock.advance(2 * HOUR);
    const done = await as('tobacco_specialist', 'POST', `/api/coaching/calls/${call.id}/complete`, {
      status: 'done',
      note: 'substituts nicotiniques bien tolérés',
      reported: { cigarettesPerDay: 10 },
    });
    expect(done.json<Call>()).toMatchObject({ status: 'done', reported: { cigarettesPerDay: 10 } });
    expect(
      (await as('tobacco_specialist', 'POST', `/api/coaching/calls/${call.id}/complete`, { status: 'missed' }))
        .statusCode,
    ).toBe(409);
    const goals = (await as('general_practitioner', 'GET', `/api/patients/${P}/coaching`)).json<{
      goals: Goal[];
      calls: Call[];
    }>();
    expect(goals.goals.find((g) => g.id === goal.id)!.progress).toMatchObject({ current: 10, percent: 50 });
    expect(goals.calls.map((c) => c.note)).toContain('substituts nicotiniques bien tolérés');
  });

  it("schedules calls only for the participant's coaching team, and each coach sees her agenda", async () => {
    const at = new Date(f.clock.now().getTime() + DAY).toISOString();
    const forGp = await as('coordinating_nurse', 'POST', `/api/patients/${P}/coaching/calls`, {
      scheduledAt: at,
      coachId: team.general_practitioner.professionalId,
    });
    expect(forGp.statusCode).toBe(400);
    const forCoach = await as('coordinating_nurse', 'POST', `/api/patients/${P}/coaching/calls`, {
      scheduledAt: at,
      channel: 'video',
      coachId: team.physical_activity_coach.professionalId,
    });
    expect(forCoach.statusCode).toBe(201);
    const agenda = (await as('physical_activity_coach', 'GET', '/api/coaching/calls')).json<{ calls: Call[] }>().calls;
    expect(agenda.map((c) => [c.patientId, c.channel])).toEqual([[P, 'video']]);
  });

  it('the pharmacist and the coaches of other teams see nothing of the plan', async () => {
    expect((await as('pharmacist', 'GET', `/api/patients/${P}/coaching`)).statusCode).toBe(403);
    expect((await as('outsider', 'GET', `/api/patients/${P}/coaching`)).statusCode).toBe(404);
    const close = await as('outsider', 'POST', `/api/coaching/goals/${stepsGoal.id}/close`, { status: 'stopped' });
    expect(close.statusCode).toBe(404);
    expect(
      (await as('physical_activity_coach', 'POST', `/api/coaching/goals/${stepsGoal.id}/close`, { status: 'achieved' }))
        .statusCode,
    ).toBe(204);
  });
});
