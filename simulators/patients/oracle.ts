import type { MetricName } from '../../contract';
import { localMs } from './generate';
import type { SimulatedScenario } from './model';
import type { ClinicalRuleNumber } from './rule-ids';

/**
 * A plain reference reading of the default rules (docs/clinical/rules.md), written
 * independently of hub/rules/, on one scenario's data: when does each rule's condition first
 * hold for each patient? Scenarios are checked against it (their expected breach is really in the
 * data); the hub's rule engine is checked against the scenarios' expectations.
 */
const H = 3_600_000;
const DAY = 24 * H;
/** slack for "over N days" windows: people weigh at slightly different times each morning */
const SLACK = 3 * H;

interface Point {
  t: number;
  v: number;
  device: string;
}

export type FirstBreaches = Partial<Record<ClinicalRuleNumber, number | null>>;

export function firstBreaches(sim: SimulatedScenario): Record<string, FirstBreaches> {
  const out: Record<string, FirstBreaches> = {};
  for (const p of sim.patients) {
    const series = (metric: MetricName): Point[] =>
      sim.readings
        .filter((r) => r.patient === p.key && r.reading.metric === metric)
        .map((r) => ({ t: localMs(r.reading), v: r.reading.value, device: r.reading.device.address }))
        .sort((a, b) => a.t - b.t);
    const sys = series('blood_pressure_systolic');
    const dia = series('blood_pressure_diastolic');
    const weight = series('body_weight');
    const temp = series('body_temperature');
    const spo2 = series('spo2');
    const hr = series('heart_rate');
    const steps = series('steps');
    const all = sim.readings
      .filter((r) => r.patient === p.key)
      .map((r) => ({ t: localMs(r.reading), v: 0, device: r.reading.device.address }));
    out[p.key] = {
      '1': first(
        spo2,
        (x, i) => x.v < 92 && spo2.slice(0, i).some((y) => y.v < 92 && x.t - y.t >= 15 * 60_000 && x.t - y.t <= DAY),
      ),
      '2': firstOf(
        first(hr, (x) => x.v > 130),
        // UK Sepsis Trust: systolic 90 mmHg or less
        first(sys, (x) => x.v <= 90),
      ),
      '3': firstGap(all, 48 * H),
      '3b': firstGap(all, 72 * H),
      '4': homeMean(sys, dia),
      '5': crisis(sys, dia),
      '6': first(weight, (x) => x.v - minIn(weight, x.t - 3 * DAY - SLACK, x.t) > 2.0),
      '7': first(
        weight,
        (x, i) =>
          ((prev) => prev !== undefined && x.t - prev.t <= DAY + SLACK && x.v - prev.v >= 1.4)(weight[i - 1]) ||
          x.v - minIn(weight, x.t - 7 * DAY - SLACK, x.t) >= 2.3,
      ),
      '8': first(weight, (x) => maxIn(weight, x.t - 2 * DAY - SLACK, x.t) - x.v >= 0.9),
      '10': first(
        temp,
        (x, i) =>
          x.v >= 38.3 ||
          (x.v >= 38.0 && temp.slice(0, i).some((y) => y.v >= 38.0 && x.t - y.t >= H && x.t - y.t <= DAY)),
      ),
      '11': firstOf(
        baselineDrop(steps, (recent, base) => recent <= 0.8 * base),
        baselineDrop(hr, (recent, base) => recent >= 1.2 * base),
      ),
    };
  }
  return out;
}

function first(s: Point[], pred: (x: Point, i: number) => boolean): number | null {
  return s.find(pred)?.t ?? null;
}

function firstOf(...ts: (number | null)[]): number | null {
  const hits = ts.filter((t): t is number => t !== null);
  return hits.length ? Math.min(...hits) : null;
}

function minIn(s: Point[], from: number, to: number): number {
  return Math.min(...s.filter((p) => p.t >= from && p.t < to).map((p) => p.v));
}

function maxIn(s: Point[], from: number, to: number): number {
  return Math.max(...s.filter((p) => p.t >= from && p.t < to).map((p) => p.v));
}

/** per device: the moment a gap of `gap` since its last reading is reached (missing-data rules 3/3b) */
function firstGap(all: Point[], gap: number): number | null {
  const byDevice = new Map<string, number[]>();
  for (const p of all) byDevice.set(p.device, [...(byDevice.get(p.device) ?? []), p.t]);
  const hits: number[] = [];
  for (const ts of byDevice.values()) {
    ts.sort((a, b) => a - b);
    const gapStart = ts.find((t, i) => i + 1 < ts.length && (ts[i + 1] ?? t) - t >= gap);
    if (gapStart !== undefined) hits.push(gapStart + gap);
  }
  return hits.length ? Math.min(...hits) : null;
}

/** rule 5: a reading >= 180/120 confirmed by a second one within 15 min */
function crisis(sys: Point[], dia: Point[]): number | null {
  const high = sys.filter((s, i) => s.v >= 180 || (dia[i]?.v ?? 0) >= 120);
  return first(high, (x, i) => {
    const prev = high[i - 1];
    return prev !== undefined && x.t - prev.t <= 15 * 60_000;
  });
}

/** rule 4 (ESH): 7 measuring days ending today, day 1 dropped, mean >= 135 or >= 85 */
function homeMean(sys: Point[], dia: Point[]): number | null {
  const [head] = sys;
  if (!head) return null;
  const dayOf = (t: number) => Math.floor(t / DAY);
  const firstDay = dayOf(head.t);
  for (const [i, x] of sys.entries()) {
    const d = dayOf(x.t);
    if (d - firstDay < 6) continue;
    const idx = sys.flatMap((p, k) => (k <= i && dayOf(p.t) > d - 6 ? [k] : []));
    // a missing diastolic gives NaN: that day does not meet the threshold
    const mean = (s: Point[]) => idx.reduce((a, k) => a + (s[k]?.v ?? NaN), 0) / idx.length;
    if (mean(sys) >= 135 || mean(dia) >= 85) return x.t;
  }
  return null;
}

/** rule 11: mean of the last 3 days vs the mean of the 14 days before them */
function baselineDrop(s: Point[], breach: (recent: number, baseline: number) => boolean): number | null {
  const dayOf = (t: number) => Math.floor(t / DAY);
  const daily = new Map<number, number[]>();
  for (const p of s) daily.set(dayOf(p.t), [...(daily.get(dayOf(p.t)) ?? []), p.v]);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const p of s) {
    const d = dayOf(p.t);
    const days = (from: number, to: number) =>
      [...daily.entries()]
        .filter(([k]) => k >= from && k <= to)
        .flatMap(([k, v]) => (k === d ? v.slice(0, s.filter((q) => dayOf(q.t) === d && q.t <= p.t).length) : v));
    const baseDays = [...daily.keys()].filter((k) => k >= d - 16 && k <= d - 3);
    if (baseDays.length < 14) continue;
    if (breach(avg(days(d - 2, d)), avg(days(d - 16, d - 3)))) return p.t;
  }
  return null;
}
