import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type { MetricName } from '../../contract/metrics';
import { DAILY_ROLLUP_RP, READINGS_RP, POSTGRES_DS } from '../lib/datasources';
import { call, influxql, tagEqualsVariable, type InfluxQuery } from '../lib/influxql';
import {
  COLORS,
  historyPanel,
  statPanel,
  tablePanel,
  thresholdOverride,
  trendPanel,
  vigilBoardLinks,
} from '../lib/panels';
import { influxTarget, normaliseSql, postgresTarget } from '../lib/targets';

/**
 * Patient board: one patient's trends with the default rule thresholds drawn
 * (docs/clinical/rules.md, rule numbers in the descriptions), alert episodes as
 * annotations, and the days with data.
 */
export const PATIENT_BOARD_UID = 'vigil-patient';

const m = (name: MetricName): MetricName => name;
// The patient variable is single-valued (patientVariable below) and a patient id holds no quote
// (contract/ids.ts), so the InfluxDB panels compare the tag by equality, as the PostgreSQL ones do.
const PATIENT = tagEqualsVariable('patient', 'patient');

/** A patient's raw readings of one metric in the dashboard range. */
function readings(metric: MetricName): InfluxQuery {
  return influxql().select(`"value"`).from(metric, { rp: READINGS_RP }).where(PATIENT).timeFilter();
}

/**
 * Daily aggregate (UTC days) of one metric, read from the hub's daily rollup (its per-day mean or
 * sum); `lookback` extends the range backwards for the moving means built on it.
 */
function daily(metric: MetricName, fn: 'mean' | 'sum', fill: 'none' | '0', lookback?: string): InfluxQuery {
  const q = influxql().select(call(fn, fn), 'daily').from(metric, { rp: DAILY_ROLLUP_RP }).where(PATIENT);
  return (lookback ? q.timeFilterWithLookback(lookback) : q.timeFilter()).groupByTime('1d').fill(fill);
}

/**
 * 7-day moving mean of the daily means, days without data skipped: one statement,
 * `moving_average(mean(...), 7)` over the daily groups. InfluxDB 1.x answered the same as a
 * subquery with a regex patient condition 7 times slower (bench/README.md, session 6: 67 ms against
 * 9 ms over a year, 3 000 patients; same values, plus the first day of the range that the subquery
 * left out).
 */
function movingMean(metric: MetricName, days: number): InfluxQuery {
  return influxql()
    .select(`moving_average(${call('mean', 'mean')}, ${days})`, 'value')
    .from(metric, { rp: DAILY_ROLLUP_RP })
    .where(PATIENT)
    .timeFilterWithLookback(`${days}d`)
    .groupByTime('1d')
    .fill('none');
}

/**
 * Moving means of the daily sums with days without data counted as zero, several windows in one
 * statement (a column each, named by its alias; the target's alias `$col`): a subquery of daily
 * sums filled with 0, read once over the longest window's lookback, whose outer statement repeats
 * the range (without it InfluxDB 1.x took 106 ms against 16 ms over 30 days). One statement instead
 * of one per window: each statement re-read the same daily sums (bench/README.md, session 7).
 */
function movingSums(metric: MetricName, windows: { days: number; scale?: number; alias: string }[]): InfluxQuery {
  const lookback = `${Math.max(...windows.map((w) => w.days))}d`;
  const q = influxql();
  for (const w of windows)
    q.select(`moving_average("daily", ${w.days})${w.scale === undefined ? '' : ` * ${w.scale}`}`, w.alias);
  return q.fromSubquery(daily(metric, 'sum', '0', lookback)).timeFilterWithLookback(lookback);
}

// Rule 4 (7-day home mean >= 135/85) and rule 5 (single reading >= 180/120).
const SYSTOLIC_STEPS = [
  { value: null, color: COLORS.ok },
  { value: 135, color: COLORS.amber },
  { value: 180, color: COLORS.red },
];
const DIASTOLIC_STEPS = [
  { value: null, color: COLORS.ok },
  { value: 85, color: COLORS.amber },
  { value: 120, color: COLORS.red },
];

const bloodPressure = trendPanel({
  title: 'Blood pressure',
  description:
    'Home readings with the 7-day mean of daily means. Amber band from 135/85 mmHg (rule 4, ESH home mean), red band from 180/120 mmHg (rule 5, hypertensive crisis). Systolic thresholds are drawn as bands, diastolic ones (85/120) as dashed lines.',
  unit: 'mmHg',
  width: 24,
  height: 9,
  targets: [
    influxTarget('A', readings(m('blood_pressure_systolic')), { alias: 'systolic' }),
    influxTarget('B', readings(m('blood_pressure_diastolic')), { alias: 'diastolic' }),
    influxTarget('C', movingMean(m('blood_pressure_systolic'), 7), { alias: 'systolic 7-day mean' }),
    influxTarget('D', movingMean(m('blood_pressure_diastolic'), 7), { alias: 'diastolic 7-day mean' }),
  ],
  steps: SYSTOLIC_STEPS,
  thresholdStyle: common.GraphThresholdsStyleMode.LineAndArea,
})
  .overrideByRegexp('^diastolic', thresholdOverride(DIASTOLIC_STEPS, common.GraphThresholdsStyleMode.Dashed))
  .overrideByRegexp('7-day mean$', [
    { id: 'custom.showPoints', value: common.VisibilityMode.Never },
    { id: 'custom.lineWidth', value: 2 },
  ]);

const weight = trendPanel({
  title: 'Weight',
  description: 'Body weight readings (heart failure follow-up, rules 6 to 8).',
  unit: 'masskg',
  decimals: 1,
  targets: [influxTarget('A', readings(m('body_weight')), { alias: 'weight' })],
});

/**
 * Change over 3 days: the sum of the last 3 day-to-day changes of the daily mean, i.e.
 * mean(day d) - mean(day d-3); a day without a weighing carries the previous mean.
 */
const weightChange3d = influxql()
  .select('moving_average("d", 3) * 3', 'value')
  .fromSubquery(
    influxql()
      .select(`difference(${call('mean', 'mean')})`, 'd')
      .from(m('body_weight'), { rp: DAILY_ROLLUP_RP })
      .where(PATIENT)
      .timeFilterWithLookback('3d')
      .groupByTime('1d')
      .fill('previous'),
  )
  .timeFilterWithLookback('3d');

const weightChange = trendPanel({
  title: 'Weight change over 3 days',
  description:
    'Daily mean weight minus the daily mean 3 days earlier. Red line at +2 kg: rule 6 (ESC/HFA self-care, weight up > 2 kg over 3 days).',
  unit: 'masskg',
  decimals: 1,
  bars: true,
  targets: [influxTarget('A', weightChange3d, { alias: '3-day change' })],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 2, color: COLORS.red },
  ],
  thresholdStyle: common.GraphThresholdsStyleMode.Dashed,
});

const temperature = trendPanel({
  title: 'Temperature',
  description:
    'Body temperature. Lines at 38.0 °C (two readings >= 1 h apart) and 38.3 °C (once): rule 10, febrile neutropenia (IDSA), oral chemotherapy.',
  unit: 'celsius',
  decimals: 1,
  targets: [influxTarget('A', readings(m('body_temperature')), { alias: 'temperature' })],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 38, color: COLORS.amber },
    { value: 38.3, color: COLORS.red },
  ],
  thresholdStyle: common.GraphThresholdsStyleMode.Dashed,
});

const spo2 = trendPanel({
  title: 'SpO2',
  description: 'Oxygen saturation. Red below 92 % (rule 1; 88 % for chronic lung disease).',
  unit: 'percent',
  max: 100,
  targets: [influxTarget('A', readings(m('spo2')), { alias: 'SpO2' })],
  steps: [
    { value: null, color: COLORS.red },
    { value: 92, color: COLORS.transparent },
  ],
  thresholdStyle: common.GraphThresholdsStyleMode.LineAndArea,
});

const heartRate = trendPanel({
  title: 'Heart rate',
  description: 'Heart rate from the cuff and the oximeter. Red above 130 /min (rule 2, UK Sepsis Trust red flag).',
  unit: 'bpm',
  targets: [influxTarget('A', readings(m('heart_rate')), { alias: 'heart rate' })],
  steps: [
    { value: null, color: COLORS.transparent },
    { value: 130, color: COLORS.red },
  ],
  thresholdStyle: common.GraphThresholdsStyleMode.LineAndArea,
});

const steps = trendPanel({
  title: 'Daily steps against the personal baseline',
  description:
    'Steps per day (bars), their 3-day mean, the 14-day personal baseline (moving mean of daily totals) and 80 % of it: rule 11 (oral chemotherapy) triggers when the 3-day mean falls under that line.',
  unit: 'none',
  targets: [
    influxTarget('A', daily(m('steps'), 'sum', '0'), { alias: 'steps per day' }),
    influxTarget(
      'B',
      movingSums(m('steps'), [
        { days: 3, alias: '3-day mean' },
        { days: 14, alias: '14-day baseline' },
        { days: 14, scale: 0.8, alias: '80 % of baseline' },
      ]),
      { alias: '$col' },
    ),
  ],
})
  .overrideByName('steps per day', [
    { id: 'custom.drawStyle', value: common.GraphDrawStyle.Bars },
    { id: 'custom.fillOpacity', value: 50 },
  ])
  .overrideByName('80 % of baseline', [
    { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
    { id: 'color', value: { mode: 'fixed', fixedColor: COLORS.amber } },
  ]);

const MONITORED: MetricName[] = [
  'blood_pressure_systolic',
  'body_weight',
  'body_temperature',
  'spo2',
  'heart_rate',
  'steps',
  'glucose',
];

const readingsPerDay = historyPanel({
  title: 'Readings per day',
  description:
    'Number of readings per day and metric; red cells are days without any reading (missing data is followed up by the coordinating nurse).',
  unit: 'none',
  targets: [
    influxTarget(
      'A',
      influxql()
        .select(call('sum', 'count'), 'readings')
        .fromAny(MONITORED, { rp: DAILY_ROLLUP_RP })
        .where(PATIENT)
        .timeFilter()
        .groupByTime('1d')
        .fill('0'),
      {
        alias: '$m',
      },
    ),
  ],
  steps: [
    { value: null, color: COLORS.red },
    { value: 1, color: COLORS.ok },
  ],
  height: 6,
});

const daysWithData = statPanel({
  title: 'Days with data in the last 30',
  description:
    'Distinct days with at least one reading in the last 30 (UTC). Programs report on >= 16 of 30 (CPT 99454); 2 to 15 is partial (99445).',
  unit: 'none',
  width: 6,
  targets: [
    postgresTarget(
      'A',
      `SELECT days_with_data_30d AS "days with data" FROM grafana.adherence WHERE patient_id = '$patient'`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.red },
    { value: 2, color: COLORS.amber },
    { value: 16, color: COLORS.ok },
  ],
});

const lastReading = statPanel({
  title: 'Last reading',
  description: 'Hours since the last reading of any device. Amber from 48 h (rule 3), red from 72 h (rule 3b).',
  unit: 'h',
  width: 6,
  targets: [
    postgresTarget(
      'A',
      `SELECT last_reading_age_hours AS "hours ago" FROM grafana.last_reading WHERE patient_id = '$patient'`,
    ),
  ],
  steps: [
    { value: null, color: COLORS.ok },
    { value: 48, color: COLORS.amber },
    { value: 72, color: COLORS.red },
  ],
  noValue: 'never',
});

const episodes = tablePanel({
  title: 'Alert episodes',
  description: 'This patient’s episodes overlapping the time range (also drawn as annotations on the graphs).',
  width: 12,
  height: 4,
  targets: [
    postgresTarget(
      'A',
      `SELECT opened_at AS "opened", rule_id AS "rule", severity, status, ended_at AS "resolved", breach_count AS "breaches"
       FROM grafana.episodes
       WHERE patient_id = '$patient' AND opened_at <= $__timeTo() AND coalesce(ended_at, now()) >= $__timeFrom()
       ORDER BY opened_at DESC`,
    ),
  ],
});

/** Episodes as region annotations: opened -> resolved (or now while not resolved). */
function episodeAnnotations(severity: 'red' | 'amber'): dashboard.AnnotationQueryBuilder {
  return new dashboard.AnnotationQueryBuilder()
    .name(`${severity === 'red' ? 'Red' : 'Amber'} alert episodes`)
    .datasource(POSTGRES_DS)
    .enable(true)
    .hide(false)
    .iconColor(severity === 'red' ? COLORS.red : COLORS.amber)
    .target(
      postgresTarget(
        'Anno',
        `SELECT opened_at AS "time", coalesce(ended_at, now()) AS "timeend", rule_id || ' (' || status || ')' AS "text", severity AS "tags"
         FROM grafana.episodes
         WHERE patient_id = '$patient' AND severity = '${severity}' AND opened_at <= $__timeTo() AND coalesce(ended_at, now()) >= $__timeFrom()
         ORDER BY opened_at`,
      ),
    );
}

const patientVariable = new dashboard.QueryVariableBuilder('patient')
  .label('Patient')
  .description(
    'Pseudonymous patient id and program; a professional sees the patients of their care teams who consented',
  )
  .datasource(POSTGRES_DS)
  .query(
    normaliseSql(`SELECT patient_id AS "__value", label AS "__text" FROM grafana.patient_directory ORDER BY label`),
  )
  .definition('grafana.patient_directory')
  .refresh(dashboard.VariableRefresh.OnDashboardLoad)
  .sort(dashboard.VariableSort.Disabled)
  .multi(false)
  .includeAll(false);

export function patientBoard(): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder('Vigil · Patient')
    .uid(PATIENT_BOARD_UID)
    .description(
      'One patient’s home measurements against the default alert thresholds, with alert episodes and missing days.',
    )
    .tags(['vigil', 'patient'])
    .editable()
    .time({ from: 'now-30d', to: 'now' })
    .timezone('browser')
    .refresh('5m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .withVariable(patientVariable)
    .annotation(episodeAnnotations('red'))
    .annotation(episodeAnnotations('amber'))
    .link(vigilBoardLinks())
    .withPanel(daysWithData)
    .withPanel(lastReading)
    .withPanel(episodes)
    .withPanel(bloodPressure)
    .withPanel(weight)
    .withPanel(weightChange)
    .withPanel(temperature)
    .withPanel(spo2)
    .withPanel(heartRate)
    .withPanel(steps)
    .withPanel(readingsPerDay);
}
