import { z } from 'zod';
import { DAY } from '../clock';
import { both, say, summaryOf } from '../messages';
import { defineMeasurementRule, type Evaluation } from '../rule';

/**
 * Default rule 4 (cardiovascular prevention): 7-day home mean >= 135/85 mmHg -> amber, routine
 * review. ESH protocol: morning and evening readings over 7 days, day 1 discarded; here the window
 * is the 7 days up to the new reading and its first 24 h are dropped. The series must cover the
 * whole window (a reading at least 6 days before) and hold at least `minReadings` systolic
 * readings after day 1 (ESH: 12 from days 2-7).
 * Source: ESH home BP position paper (J Hypertens 2021;39:1742); Hypertension Canada (docs/clinical/rules.md #4).
 */
export const homeBpMean = defineMeasurementRule({
  id: 'bp-home-mean-7d',
  title: '7-day home blood pressure mean >= 135/85 mmHg',
  kind: 'windowed-mean',
  source: 'ESH home BP position paper, J Hypertens 2021;39:1742; Hypertension Canada (docs/clinical/rules.md #4)',
  programs: ['cardiovascular_prevention'],
  params: z
    .object({
      systolic: z.number().default(135),
      diastolic: z.number().default(85),
      days: z.number().int().min(2).default(7),
      minReadings: z.number().int().min(1).default(12),
    })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse', 'cardiologist', 'general_practitioner'],
  treatmentRelated: false,
  trigger: 'measurement',
  metrics: ['blood_pressure_systolic', 'blood_pressure_diastolic'],
  async evaluate(ctx, m): Promise<Evaluation> {
    const p = ctx.params;
    const t = m.measuredAt.getTime();
    // day 1 of the window dropped
    // the series must be older than the window (ESH: 7 measuring days)
    const older = await ctx.history.readings(
      m.patientId,
      ['blood_pressure_systolic'],
      new Date(t - 31 * DAY),
      new Date(t - (p.days - 1) * DAY),
    );
    if (older.length === 0) return { outcome: 'skip' };
    const rows = await ctx.history.readings(
      m.patientId,
      ['blood_pressure_systolic', 'blood_pressure_diastolic'],
      new Date(t - (p.days - 1) * DAY + 1),
      m.measuredAt,
    );
    const sys = rows.filter((r) => r.metric === 'blood_pressure_systolic');
    const dia = rows.filter((r) => r.metric === 'blood_pressure_diastolic');
    if (sys.length < p.minReadings || dia.length === 0) return { outcome: 'skip' };
    const mean = (xs: typeof rows) => Math.round((xs.reduce((s, r) => s + r.value, 0) / xs.length) * 10) / 10;
    const ms = mean(sys);
    const md = mean(dia);
    if (ms < p.systolic && md < p.diastolic) return { outcome: 'normal' };
    const latest = [...m.readings.values()].filter(
      (r) => r.metric === 'blood_pressure_systolic' || r.metric === 'blood_pressure_diastolic',
    );
    return {
      outcome: 'breach',
      severity: 'amber',
      readingIds: latest.map((r) => r.readingId),
      value: { meanSystolic: ms, meanDiastolic: md, readings: sys.length },
      ...summaryOf(
        both((l) =>
          say(
            l,
            `${p.days}-day home blood pressure mean ${Math.round(ms)}/${Math.round(md)} mmHg from ${sys.length} readings (≥ ${p.systolic}/${p.diastolic}, ESH home protocol). Review the treatment at the next consultation.`,
            `Moyenne d'automesure sur ${p.days} jours ${Math.round(ms)}/${Math.round(md)} mmHg sur ${sys.length} mesures (≥ ${p.systolic}/${p.diastolic}, protocole ESH). Revoir le traitement à la prochaine consultation.`,
          ),
        ),
      ),
      interpretations: Object.fromEntries(latest.map((r) => [r.readingId, 'H'])),
    };
  },
});
