import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { POSTGRES_DS } from '../lib/datasources';
import { COLORS, colouredCells, tablePanel, trendPanel, vigilBoardLinks } from '../lib/panels';
import { normaliseSql, postgresTarget } from '../lib/targets';

/**
 * Cohort board: how the programs and their care teams fare, month by month, from the
 * pseudonymised aggregates of grafana.cohort_monthly (migration 262) only: no patient id, and
 * every figure of a team with fewer than 5 patients masked (as the program report masks them).
 */
export const COHORT_BOARD_UID = 'vigil-cohort';

const IN_SCOPE = `program_id IN ($program) AND care_team_id IN ($care_team) AND $__timeFilter(month)`;

const monthly = tablePanel({
  title: 'Cohort by month',
  description:
    'Per care team and month: patients enrolled, active (a reading in the month), adherence (days with a reading / days followed), episodes per patient-month, median minutes to acknowledge. Teams of fewer than 5 patients show no figure.',
  height: 12,
  targets: [
    postgresTarget(
      'A',
      `SELECT month, program_id AS "program", care_team_name AS "care team", enrolled, active,
       adherence_pct AS "adherence %", episodes, episodes_per_patient_month AS "episodes / patient-month",
       median_minutes_to_acknowledge AS "median min to acknowledge", masked
       FROM grafana.cohort_monthly
       WHERE ${IN_SCOPE}
       ORDER BY month DESC, program_id, care_team_name`,
    ),
  ],
}).overrideByName(
  'adherence %',
  // under 16 days of 30 (53.3 %): the reporting bar the worklist uses (CPT 99454)
  colouredCells([
    { value: null, color: COLORS.amber },
    { value: 53.3, color: COLORS.transparent },
  ]),
);

const adherence = trendPanel({
  title: 'Adherence by month',
  description: 'Mean share of followed days with at least one reading, per care team (masked teams are absent).',
  unit: 'percent',
  min: 0,
  max: 100,
  bars: true,
  targets: [
    postgresTarget(
      'A',
      `SELECT month AS "time", care_team_name AS "metric", adherence_pct AS "value"
       FROM grafana.cohort_monthly
       WHERE ${IN_SCOPE} AND NOT masked
       ORDER BY month, care_team_name`,
      'time_series',
    ),
  ],
});

const episodes = trendPanel({
  title: 'Episodes per patient-month',
  description: 'Alert episodes opened per patient-month of follow-up, per care team (masked teams are absent).',
  unit: 'none',
  min: 0,
  bars: true,
  decimals: 2,
  targets: [
    postgresTarget(
      'A',
      `SELECT month AS "time", care_team_name AS "metric", episodes_per_patient_month AS "value"
       FROM grafana.cohort_monthly
       WHERE ${IN_SCOPE} AND NOT masked
       ORDER BY month, care_team_name`,
      'time_series',
    ),
  ],
});

const programVariable = new dashboard.QueryVariableBuilder('program')
  .label('Program')
  .datasource(POSTGRES_DS)
  .query(
    normaliseSql(
      `SELECT program_id AS "__value", program_name AS "__text" FROM grafana.programs ORDER BY program_name`,
    ),
  )
  .definition('grafana.programs')
  .refresh(dashboard.VariableRefresh.OnDashboardLoad)
  .sort(dashboard.VariableSort.Disabled)
  .multi(true)
  .includeAll(true)
  .current({ selected: true, text: ['All'], value: ['$__all'] });

const careTeamVariable = new dashboard.QueryVariableBuilder('care_team')
  .label('Care team')
  .datasource(POSTGRES_DS)
  .query(
    normaliseSql(
      `SELECT DISTINCT care_team_id AS "__value", care_team_name AS "__text" FROM grafana.cohort_monthly
       WHERE program_id IN ($program) ORDER BY care_team_name`,
    ),
  )
  .definition('grafana.cohort_monthly')
  .refresh(dashboard.VariableRefresh.OnDashboardLoad)
  .sort(dashboard.VariableSort.Disabled)
  .multi(true)
  .includeAll(true)
  .current({ selected: true, text: ['All'], value: ['$__all'] });

export function cohortBoard(): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder('Vigil · Cohorts')
    .uid(COHORT_BOARD_UID)
    .description('Programs and care teams month by month, from pseudonymised aggregates (small cells masked).')
    .tags(['vigil', 'cohort'])
    .editable()
    .time({ from: 'now-1y', to: 'now' })
    .timezone('utc')
    .refresh('1h')
    .withVariable(programVariable)
    .withVariable(careTeamVariable)
    .link(vigilBoardLinks())
    .withPanel(monthly)
    .withPanel(adherence)
    .withPanel(episodes);
}
