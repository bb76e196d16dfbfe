import type { CohortReport } from './cohort-report';

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. */
const field = (v: string | number | null): string => {
  const s = v === null ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const HEADER = ['section', 'indicator', 'horizon', 'n', 'value', 'ci_low', 'ci_high', 'unit'] as const;

/** The report as one long CSV table (one indicator a row), for spreadsheets and statistics tools. */
export function reportCsv(r: CohortReport): string {
  const rows: (string | number | null)[][] = [];
  const p = r.participation;
  rows.push(['participation', 'enrolled', '', p.enrolled, p.enrolled, null, null, 'patients']);
  rows.push(['participation', 'active_last_7_days', '', p.enrolled, p.active, null, null, 'patients']);
  rows.push(['participation', 'adherence_mean', '', p.enrolled, p.adherencePercent?.mean ?? null, null, null, '%']);
  rows.push(['participation', 'adherence_median', '', p.enrolled, p.adherencePercent?.median ?? null, null, null, '%']);
  rows.push(['participation', 'patient_months', '', p.enrolled, p.patientMonths, null, null, 'months']);
  const a = r.alerts;
  rows.push(['alerts', 'episodes', '', p.enrolled, a.episodes, null, null, 'episodes']);
  rows.push(['alerts', 'episodes_red', '', p.enrolled, a.red, null, null, 'episodes']);
  rows.push(['alerts', 'episodes_amber', '', p.enrolled, a.amber, null, null, 'episodes']);
  rows.push(['alerts', 'episodes_per_patient_month', '', p.enrolled, a.perPatientMonth, null, null, 'episodes']);
  rows.push([
    'alerts',
    'minutes_to_acknowledge_median',
    '',
    a.acknowledged,
    a.minutesToAcknowledge?.median ?? null,
    null,
    null,
    'min',
  ]);
  rows.push([
    'alerts',
    'minutes_to_acknowledge_p90',
    '',
    a.acknowledged,
    a.minutesToAcknowledge?.p90 ?? null,
    null,
    null,
    'min',
  ]);
  const q = r.questionnaires;
  const qRows = (id: string, c: typeof q) => {
    rows.push(['questionnaires', `${id}_due`, '', c.patients, c.due, null, null, 'questionnaires']);
    rows.push(['questionnaires', `${id}_answered`, '', c.patients, c.answered, null, null, 'questionnaires']);
    rows.push(['questionnaires', `${id}_adherence`, '', c.patients, c.adherencePercent, null, null, '%']);
  };
  qRows('all', q);
  for (const b of q.byQuestionnaire) qRows(b.questionnaireId, { ...b, byQuestionnaire: [] });
  for (const o of r.outcomes) {
    rows.push(['outcome', `${o.metric}_baseline`, '0m', null, o.baselineMean, null, null, o.unit]);
    for (const c of o.changes)
      rows.push([
        'outcome',
        `${o.metric}_change`,
        c.horizon,
        c.change?.n ?? null,
        c.suppressed ? 'suppressed' : (c.change?.mean ?? null),
        c.change?.ciLow ?? null,
        c.change?.ciHigh ?? null,
        o.unit,
      ]);
  }
  return [HEADER, ...rows].map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}
