import type { MetricName } from '../../../contract';
import { z } from 'zod';
import { DAY, HOUR } from '../clock';
import { changeOverWindow } from '../kinds/change';
import { both, describeReading, num, say, summaryOf, type Locale } from '../messages';
import { defineMeasurementRule, type Evaluation, type FiledReading } from '../rule';

/**
 * NEWS2 points (Royal College of Physicians 2017, chart 1) for the parameters home devices measure.
 * Each band is [upper bound inclusive, points]; values above the last bound score the final points.
 */
type Bands = readonly (readonly [number, number])[];
const SPO2_SCALE_1: Bands = [
  [91, 3],
  [93, 2],
  [95, 1],
];
/** scale 2, on air: confirmed hypercapnic respiratory failure (target 88-92 %) */
const SPO2_SCALE_2: Bands = [
  [83, 3],
  [85, 2],
  [87, 1],
];
const PULSE: Bands = [
  [40, 3],
  [50, 1],
  [90, 0],
  [110, 1],
  [130, 2],
];
const PULSE_ABOVE = 3;
const SYSTOLIC: Bands = [
  [90, 3],
  [100, 2],
  [110, 1],
  [219, 0],
];
const SYSTOLIC_ABOVE = 3;
const TEMPERATURE: Bands = [
  [35.0, 3],
  [36.0, 1],
  [38.0, 0],
  [39.0, 1],
];
const TEMPERATURE_ABOVE = 2;

function points(v: number, bands: Bands, above: number): number {
  for (const [upper, p] of bands) if (v <= upper) return p;
  return above;
}

const PARAMETERS: readonly { metric: MetricName }[] = [
  { metric: 'spo2' },
  { metric: 'heart_rate' },
  { metric: 'blood_pressure_systolic' },
  { metric: 'body_temperature' },
];

const params = z
  .object({
    /** the latest reading of each parameter within this many hours makes the set scored together */
    windowHours: z.number().positive().default(12),
    /** a score needs at least this many of the 4 home parameters */
    minParameters: z.number().int().min(2).max(4).default(3),
    /** NEWS2: aggregate 5-6 = urgent review */
    amberAt: z.number().int().positive().default(5),
    /** NEWS2: aggregate 7 or more = emergency response */
    redAt: z.number().int().positive().default(7),
    /** heart failure: a gain of this much over 3 days (below the weight rule) counts as a sign of congestion */
    congestionGainKg: z.number().positive().default(1.5),
    congestionPoints: z.number().int().nonnegative().default(2),
  })
  .strict();

/**
 * Home early-warning score: NEWS2 points for SpO2 (scale 2 for patients with chronic lung disease
 * recorded by the team), pulse, systolic BP and temperature, each the latest reading within 12 h;
 * respiration rate, supplemental oxygen and new confusion are not measured by home devices and
 * count 0, so the thresholds err on the side of missing, never adding, points. In heart failure, a
 * weight gain of 1.5 kg over 3 days adds 2 points as a sign of congestion (program adaptation).
 * Aggregate >= 5 -> amber (urgent review the same day), >= 7 -> red. It catches decompensation where
 * each sign stays under its own limit (issue 18).
 * Sources: RCP NEWS2 (2017) chart 1 and SpO2 scale 2; ESC 2021 HF guideline, signs of congestion
 * (docs/clinical/rules.md#home-early-warning).
 */
export const homeEarlyWarning = defineMeasurementRule({
  id: 'home-early-warning',
  title: 'Home early-warning score (NEWS2 points for SpO2, pulse, systolic, temperature) of 5 or more',
  kind: 'early-warning-score',
  source: 'Royal College of Physicians NEWS2 (2017), chart 1 and SpO2 scale 2 (docs/clinical/rules.md)',
  programs: 'all',
  params,
  priority: 'urgent',
  notify: ['coordinating_nurse', 'general_practitioner', 'cardiologist', 'oncologist'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['spo2', 'heart_rate', 'blood_pressure_systolic', 'body_temperature', 'body_weight'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const t = m.measuredAt.getTime();
    const recent = await ctx.history.readings(
      m.patientId,
      PARAMETERS.map((x) => x.metric),
      new Date(t - p.windowHours * HOUR),
      m.measuredAt,
    );
    const latest = new Map<MetricName, { readingId: string; value: number; measuredAt: Date }>();
    for (const r of recent) latest.set(r.metric, r);
    for (const r of m.readings.values()) latest.set(r.metric, r);
    // texts are written only for a breach: most evaluations are normal, and formatting the times of
    // every part was the largest share of the rules' own CPU time (bench/README.md, session 9)
    const parts: { metric: MetricName; text: (l: Locale) => string; points: number; readingId?: string }[] = [];
    for (const x of PARAMETERS) {
      const r = latest.get(x.metric);
      if (!r) continue;
      const pts =
        x.metric === 'spo2'
          ? points(r.value, ctx.patient.chronicLungDisease ? SPO2_SCALE_2 : SPO2_SCALE_1, 0)
          : x.metric === 'heart_rate'
            ? points(r.value, PULSE, PULSE_ABOVE)
            : x.metric === 'blood_pressure_systolic'
              ? points(r.value, SYSTOLIC, SYSTOLIC_ABOVE)
              : points(r.value, TEMPERATURE, TEMPERATURE_ABOVE);
      parts.push({
        metric: x.metric,
        points: pts,
        readingId: r.readingId,
        text: (l) => `${describeReading({ ...r, metric: x.metric }, l)} (${pts})`,
      });
    }
    if (parts.length < p.minParameters) return { outcome: 'skip' };
    if (ctx.patient.programId === 'heart_failure' && p.congestionPoints > 0) {
      const w = m.readings.has('body_weight')
        ? await changeOverWindow(ctx, m, 'body_weight', 3 * DAY, 'up')
        : await latestGain(ctx, m.patientId, t);
      if (w && w.delta >= p.congestionGainKg)
        parts.push({
          metric: 'body_weight',
          points: p.congestionPoints,
          text: (l) =>
            `${say(l, 'weight', 'poids')} +${num(w.delta, 1, l)} kg ${say(l, 'over 3 days', 'en 3 jours')} (${p.congestionPoints})`,
        });
    }
    const score = parts.reduce((s, x) => s + x.points, 0);
    if (score < p.amberAt) return { outcome: 'normal' };
    const scored = parts.filter((x) => x.points > 0);
    // the readings of this measurement: earlier ones already counted in the episode (a reading counts once)
    const ids = [...m.readings.values()].map((r) => r.readingId);
    const red = score >= p.redAt;
    return {
      outcome: 'breach',
      severity: red ? 'red' : 'amber',
      readingIds: ids,
      value: { score, ...Object.fromEntries(parts.map((x) => [`${x.metric}Points`, x.points])) },
      ...summaryOf(
        both((l) => {
          const signs = scored.map((x) => x.text(l)).join(', ');
          const limit = red ? p.redAt : p.amberAt;
          return say(
            l,
            `Home early-warning score ${score} (≥ ${limit}): ${signs}. ${red ? 'Call now: emergency assessment.' : 'Call today: symptoms, breathlessness, fluid status; same-day clinical review.'}`,
            `Score d'alerte à domicile ${score} (≥ ${limit}) : ${signs}. ${red ? 'Appeler maintenant : évaluation en urgence.' : "Appeler aujourd'hui : symptômes, essoufflement, état d'hydratation ; avis médical dans la journée."}`,
          );
        }),
      ),
      interpretations: Object.fromEntries(ids.map((id) => [id, red ? 'HH' : 'H'])),
    };
  },
});

/** Gain of the last protocol weigh-in (within 24 h) over the lowest of the 3 days before it. */
async function latestGain(
  ctx: Parameters<typeof homeEarlyWarning.evaluate>[0],
  patientId: string,
  t: number,
): Promise<{ delta: number } | null> {
  const last = (await ctx.history.readings(patientId, ['body_weight'], new Date(t - DAY), new Date(t))).at(0);
  if (!last) return null;
  const m = {
    patientId,
    measuredAt: last.measuredAt,
    readings: new Map<MetricName, FiledReading>([
      [
        'body_weight',
        { readingId: last.readingId, patientId, metric: 'body_weight', value: last.value, measuredAt: last.measuredAt },
      ],
    ]),
  };
  return changeOverWindow(ctx, m, 'body_weight', 3 * DAY, 'up');
}
