import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { POSTGRES_DS } from '../lib/datasources';
import { COLORS, colouredCells, fieldLinkToBoard, statPanel, tablePanel, vigilBoardLinks } from '../lib/panels';
import { normaliseSql, postgresTarget } from '../lib/targets';
import { PATIENT_BOARD_UID } from './patient';

/**
 * Care team worklist: who needs attention first. Reads the PostgreSQL views of migrations 030-031
 * (grafana.worklist, grafana.episodes); filtered by program and by the signed-in professional.
 */
export const WORKLIST_BOARD_UID = 'vigil-worklist';

/** The selected programs, and only the signed-in professional's patients. */
// the rows are the signed-in professional's by row-level security (migration 210), not by a filter here
const IN_PROGRAM = `program_id IN ($program)`;

const redPatients = statPanel({
  title: 'Patients with a red episode',
  description: 'Patients with at least one red episode not yet resolved (open or acknowledged).',
  unit: 'none',
  targets: [
    postgresTarget(
      'A',
      `SELECT count(*) FILTER (WHERE red_open > 0) AS "patients" FROM grafana.worklist WHERE ${IN_PROGRAM}`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 1, color: COLORS.red },
  ],
});

const amberPatients = statPanel({
  title: 'Patients with an amber episode',
  description: 'Patients with at least one amber episode not yet resolved.',
  unit: 'none',
  targets: [
    postgresTarget(
      'A',
      `SELECT count(*) FILTER (WHERE amber_open > 0) AS "patients" FROM grafana.worklist WHERE ${IN_PROGRAM}`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 1, color: COLORS.amber },
  ],
});

const silentPatients = statPanel({
  title: 'No reading for 48 h',
  description: 'Patients whose last reading is 48 h old or more, or who never sent one (rule 3).',
  unit: 'none',
  targets: [
    postgresTarget(
      'A',
      `SELECT count(*) FILTER (WHERE last_reading_age_hours IS NULL OR last_reading_age_hours >= 48) AS "patients" FROM grafana.worklist WHERE ${IN_PROGRAM}`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 1, color: COLORS.amber },
  ],
});

const lowAdherence = statPanel({
  title: 'Under 16 days with data',
  description: 'Patients with fewer than 16 days with data in the last 30 (the CPT 99454 reporting bar).',
  unit: 'none',
  targets: [
    postgresTarget(
      'A',
      `SELECT count(*) FILTER (WHERE days_with_data_30d < 16) AS "patients" FROM grafana.worklist WHERE ${IN_PROGRAM}`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 1, color: COLORS.amber },
  ],
});

const worklist = tablePanel({
  title: 'Worklist',
  description:
    'One row per patient, most urgent first: open episodes by severity, unacknowledged episodes, age of the last reading, days with data in the last 30 and the program. Click a patient to open the patient board.',
  height: 12,
  targets: [
    postgresTarget(
      'A',
      `SELECT patient_id AS "patient", program_name AS "program", red_open AS "red", amber_open AS "amber", unacknowledged AS "unacknowledged",
       last_reading_age_hours AS "last reading (h)", days_with_data_30d AS "days with data / 30"
       FROM grafana.worklist
       WHERE ${IN_PROGRAM}
       ORDER BY red_open DESC, amber_open DESC, unacknowledged DESC, last_reading_age_hours DESC NULLS FIRST, patient_id`,
    ),
  ],
})
  .overrideByName('patient', [fieldLinkToBoard('Open the patient board', PATIENT_BOARD_UID, 'patient')])
  .overrideByName(
    'red',
    colouredCells([
      { value: null, color: COLORS.transparent },
      { value: 1, color: COLORS.red },
    ]),
  )
  .overrideByName(
    'amber',
    colouredCells([
      { value: null, color: COLORS.transparent },
      { value: 1, color: COLORS.amber },
    ]),
  )
  .overrideByName(
    'last reading (h)',
    colouredCells([
      { value: null, color: COLORS.transparent },
      { value: 48, color: COLORS.amber },
      { value: 72, color: COLORS.red },
    ]),
  )
  .overrideByName(
    'days with data / 30',
    colouredCells([
      { value: null, color: COLORS.red },
      { value: 2, color: COLORS.amber },
      { value: 16, color: COLORS.transparent },
    ]),
  );

const openEpisodes = tablePanel({
  title: 'Open episodes',
  description: 'Every episode not yet resolved, red first, oldest first: the items to acknowledge and close.',
  height: 10,
  targets: [
    postgresTarget(
      'A',
      `SELECT patient_id AS "patient", rule_id AS "rule", severity, status, opened_at AS "opened", acknowledged_at AS "acknowledged", assignee, breach_count AS "breaches"
       FROM grafana.episodes
       WHERE status <> 'resolved' AND ${IN_PROGRAM}
       ORDER BY CASE severity WHEN 'red' THEN 0 ELSE 1 END, opened_at`,
    ),
  ],
})
  .overrideByName('patient', [fieldLinkToBoard('Open the patient board', PATIENT_BOARD_UID, 'patient')])
  .overrideByName('severity', [
    {
      id: 'mappings',
      value: [
        { type: 'value', options: { red: { color: COLORS.red, index: 0 }, amber: { color: COLORS.amber, index: 1 } } },
      ],
    },
    { id: 'custom.cellOptions', value: { type: 'color-background' } },
  ]);

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

export function worklistBoard(): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder('Vigil · Care team worklist')
    .uid(WORKLIST_BOARD_UID)
    .description('Patients needing attention: open episodes by severity, silent patients, adherence.')
    .tags(['vigil', 'worklist'])
    .editable()
    .time({ from: 'now-30d', to: 'now' })
    .timezone('browser')
    .refresh('1m')
    .withVariable(programVariable)
    .link(vigilBoardLinks())
    .withPanel(redPatients)
    .withPanel(amberPatients)
    .withPanel(silentPatients)
    .withPanel(lowAdherence)
    .withPanel(worklist)
    .withPanel(openEpisodes);
}
