/**
 * The clinical scenario library, written from published guidance (docs/clinical/scenarios.md).
 * Each scenario is a replay scenario (docs/clinical/replay.md) with its source and what must open.
 * `npx tsx test/clinical/library.ts` writes them as JSON under test/clinical/scenarios/ for the
 * replay CLI; library.test.ts runs them through the same replay path.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import type { scenarioSchema } from '../../hub/rules/replay/scenario';

type Scenario = z.input<typeof scenarioSchema>;
type Event = Scenario['events'][number];
type Device = Scenario['patients'][number]['devices'][number];
type Expect = { patient: string; rule?: string; severity: 'amber' | 'red' };

export const SOURCES = {
  esh2023:
    'ESH 2023 Guidelines for the management of arterial hypertension (J Hypertens 2023;41:1874), BP categories and grade 3',
  esc2024:
    'ESC 2024 Guidelines for elevated blood pressure and hypertension (Eur Heart J 2024;45:3912), out-of-office BP',
  eshHome:
    'ESH practice guidelines for home BP monitoring (J Hum Hypertens 2010;24:779) and ESH 2023 section 4: 7-day protocol, day 1 discarded',
  escHf:
    'ESC 2021 Heart Failure Guidelines (Eur Heart J 2021;42:3599) section on self-care and telemonitoring; 2023 focused update',
  hfaSelfCare:
    'HFA/ESC position paper on self-care in heart failure (Jaarsma, Eur J Heart Fail 2021;23:157): daily weight, >2 kg in 3 days',
  nice106: 'NICE NG106 Chronic heart failure in adults (2018), monitoring and specialist review',
  nice136: 'NICE NG136 Hypertension in adults (2019, updated 2023), severe hypertension 180/120 same-day review',
  news2: 'Royal College of Physicians, National Early Warning Score (NEWS) 2 (2017), chart 1 and SpO2 scale 2',
  ukons:
    'UKONS 24-hour triage toolkit for systemic anticancer therapy (version 3, launched January 2025), temperature and escalation of ambers',
  esmoFn:
    'ESMO clinical practice guideline on febrile neutropenia (Klastersky, Ann Oncol 2016;27 suppl 5) and IDSA 2010 definition',
  sepsisTrust:
    'UK Sepsis Trust Sepsis Screening and Action Tool (2022), red flags: systolic <= 90 mmHg, heart rate > 130 /min, SpO2 < 92 %',
  ada2025: 'ADA Standards of Care in Diabetes 2025, section 6 (glycemic goals and hypoglycemia levels 1 and 2)',
  program: 'Vigil program heuristic (docs/clinical/rules.md, missing data): no published number',
  bleGss:
    'Bluetooth GATT Specification Supplement (GSS) v11, measurement time stamps and units; Current Time Service 1.1',
} as const;

const DAY0 = '2026-03-02T00:00:00+01:00';
const cuff = (o: Partial<Device> = {}): Device => ({
  name: 'tensiomètre',
  address: 'A0:00:00:00:00:01',
  profile: 'blood_pressure',
  ...o,
});
const scale = (o: Partial<Device> = {}): Device => ({
  name: 'balance',
  address: 'A0:00:00:00:00:02',
  profile: 'weight_scale',
  ...o,
});
const thermo = (o: Partial<Device> = {}): Device => ({
  name: 'thermomètre',
  address: 'A0:00:00:00:00:03',
  profile: 'thermometer',
  ...o,
});
const oxi = (o: Partial<Device> = {}): Device => ({
  name: 'oxymètre',
  address: 'A0:00:00:00:00:04',
  profile: 'pulse_oximeter',
  ...o,
});
const meter = (o: Partial<Device> = {}): Device => ({
  name: 'lecteur de glycémie',
  address: 'A0:00:00:00:00:05',
  profile: 'glucose_meter',
  ...o,
});

/** Deterministic noise: the same library every run. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}
const hhmm = (h: number, m: number) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
const t = (day: number, h: number, m = 0) => `d${day} ${hhmm(h, m)}`;

function bp(device: string, day: number, h: number, m: number, s: number, d: number, p = 72): Event {
  return { measure: device, at: t(day, h, m), values: { systolic: s, diastolic: d, pulse: p } };
}
function weight(day: number, kg: number, h = 7, m = 10, device = 'balance'): Event {
  return { measure: device, at: t(day, h, m), values: { weight: kg } };
}
function temp(day: number, h: number, m: number, c: number, device = 'thermomètre'): Event {
  return { measure: device, at: t(day, h, m), values: { temperature: c } };
}
function sat(day: number, h: number, m: number, spo2: number, pulse = 78): Event {
  return { measure: 'oxymètre', at: t(day, h, m), values: { spo2, pulse } };
}
function gly(day: number, h: number, m: number, mmol: number): Event {
  return { measure: 'lecteur de glycémie', at: t(day, h, m), values: { glucose: mmol } };
}

/** ESH home protocol: two readings morning and evening, 1 min apart. */
function bpWeek(days: number, sys: number, dia: number, spread: number, seed: number, from = 0): Event[] {
  const r = rng(seed);
  const out: Event[] = [];
  for (let d = from; d < from + days; d++)
    for (const [h, m] of [
      [7, 30],
      [7, 32],
      [20, 0],
      [20, 2],
    ] as const) {
      const j = () => Math.round((r() - 0.5) * 2 * spread);
      out.push(bp('tensiomètre', d, h, m, sys + j(), dia + Math.round(j() / 2), 66 + Math.round(r() * 12)));
    }
  return out;
}
function weights(days: number, kg: number, spread: number, seed: number, from = 0): Event[] {
  const r = rng(seed);
  return Array.from({ length: days }, (_, i) =>
    weight(from + i, Math.round((kg + (r() - 0.5) * 2 * spread) * 10) / 10, 7, 5 + Math.round(r() * 40)),
  );
}
function temps(days: number, seed: number, from = 0, base = 36.8): Event[] {
  const r = rng(seed);
  return Array.from({ length: days }, (_, i) => temp(from + i, 8, 0, Math.round((base + (r() - 0.5) * 0.8) * 10) / 10));
}
function sats(days: number, base: number, seed: number, from = 0): Event[] {
  const r = rng(seed);
  return Array.from({ length: days }, (_, i) =>
    sat(from + i, 9, 0, base + Math.round(r() * 3), 70 + Math.round(r() * 12)),
  );
}

interface Def {
  name: string;
  category: NonNullable<Scenario['category']>;
  source: string;
  description: string;
  program: Scenario['patients'][number]['program'];
  devices: Device[];
  events: Event[];
  expect?: Expect[];
  chronicLungDisease?: boolean;
  settings?: Record<string, Record<string, unknown>>;
  /** stable/noisy patients: weeks of data */
  weeks?: number;
  endDay?: number;
}

function scenario(d: Def): Scenario {
  return {
    name: d.name,
    description: d.description,
    source: d.source,
    category: d.category,
    start: DAY0,
    // weeks-long stable series: the scheduler every 2 h is enough for 48/72 h missing data
    ...(d.weeks ? { tickMinutes: 120 } : {}),
    patients: [
      {
        id: 'P1',
        program: d.program,
        devices: d.devices,
        ...(d.chronicLungDisease ? { chronicLungDisease: true } : {}),
        ...(d.settings ? { settings: d.settings } : {}),
      },
    ],
    events: d.events,
    ...(d.endDay !== undefined ? { end: t(d.endDay, 12) } : {}),
    expect: {
      episodes: (d.expect ?? []).map((e) => ({ ...e, patient: 'P1' })),
      ...(d.weeks ? { stablePatientWeeks: d.weeks } : {}),
    },
  };
}

const red = (rule?: string): Expect => ({ patient: 'P1', severity: 'red', ...(rule ? { rule } : {}) });
const amber = (rule?: string): Expect => ({ patient: 'P1', severity: 'amber', ...(rule ? { rule } : {}) });

const defs: Def[] = [];
const add = (d: Def) => defs.push(d);

// ---------------------------------------------------------------- must fire: red
add({
  name: 'red-bp-crisis-confirmed',
  category: 'must-fire-red',
  source: SOURCES.nice136,
  description: '190/100 then 188/104 three minutes later: severe hypertension confirmed',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 190, 100, 80), bp('tensiomètre', 0, 8, 3, 188, 104, 82)],
  expect: [red('bp-hypertensive-crisis')],
});
add({
  name: 'red-bp-crisis-diastolic-kpa',
  category: 'must-fire-red',
  source: `${SOURCES.esh2023}; ${SOURCES.bleGss}`,
  description: 'cuff in kPa: 170/124 twice (diastolic crisis), decoded and converted by the driver',
  program: 'heart_failure',
  devices: [cuff({ unit: 'kPa' })],
  events: [bp('tensiomètre', 0, 8, 0, 170, 124), bp('tensiomètre', 0, 8, 2, 172, 125)],
  expect: [red('bp-hypertensive-crisis')],
});
add({
  name: 'red-sepsis-low-systolic',
  category: 'must-fire-red',
  source: SOURCES.sepsisTrust,
  description: 'chemotherapy patient, systolic 86 with pulse 118',
  program: 'oral_chemotherapy',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 86, 52, 118)],
  expect: [red('sepsis-red-flags')],
});
add({
  name: 'threshold-sepsis-systolic-exactly-90',
  category: 'threshold',
  source: SOURCES.sepsisTrust,
  description: 'systolic exactly 90 mmHg: the source says 90 or less',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 90, 58, 96)],
  expect: [red('sepsis-red-flags')],
});
add({
  name: 'threshold-sepsis-systolic-91-quiet',
  category: 'threshold',
  source: SOURCES.sepsisTrust,
  description: 'systolic 91 mmHg: above the red flag',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 91, 60, 80)],
});
add({
  name: 'red-sepsis-tachycardia',
  category: 'must-fire-red',
  source: SOURCES.sepsisTrust,
  description: 'pulse 136 /min on the cuff',
  program: 'oral_chemotherapy',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 112, 70, 136)],
  expect: [red('sepsis-red-flags')],
});
add({
  name: 'threshold-pulse-130-quiet',
  category: 'threshold',
  source: SOURCES.sepsisTrust,
  description: 'pulse exactly 130: the flag is above 130',
  program: 'oral_chemotherapy',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 120, 75, 130), bp('tensiomètre', 0, 9, 5, 118, 74, 104)],
});
add({
  name: 'red-vasodilator-low-systolic-confirmed',
  category: 'must-fire-red',
  source: SOURCES.sepsisTrust,
  description: 'on a vasodilator (team set confirmation): 88 then 86 five minutes later',
  program: 'heart_failure',
  devices: [cuff()],
  settings: { 'sepsis-red-flags': { confirmLowSystolic: true } },
  events: [bp('tensiomètre', 0, 9, 0, 88, 55, 70), bp('tensiomètre', 0, 9, 5, 86, 54, 72)],
  expect: [red('sepsis-red-flags')],
});
add({
  name: 'noisy-vasodilator-single-low-systolic',
  category: 'noisy',
  source: SOURCES.sepsisTrust,
  description: 'on a vasodilator: one 88 mmHg reading, 104 on the re-measure: no red',
  program: 'heart_failure',
  devices: [cuff()],
  settings: { 'sepsis-red-flags': { confirmLowSystolic: true } },
  events: [bp('tensiomètre', 0, 9, 0, 88, 55, 70), bp('tensiomètre', 0, 9, 4, 104, 62, 72)],
});
add({
  name: 'red-spo2-low-confirmed',
  category: 'must-fire-red',
  source: SOURCES.sepsisTrust,
  description: 'SpO2 90 then 89 twenty minutes later',
  program: 'heart_failure',
  devices: [oxi()],
  events: [sat(0, 10, 0, 90), sat(0, 10, 20, 89)],
  expect: [red('spo2-low')],
});
add({
  name: 'red-spo2-copd-scale2',
  category: 'must-fire-red',
  source: SOURCES.news2,
  description: 'COPD (scale 2): 86 twice',
  program: 'heart_failure',
  chronicLungDisease: true,
  devices: [oxi()],
  events: [sat(0, 10, 0, 86, 84), sat(0, 10, 30, 86, 86)],
  expect: [red('spo2-low')],
});
add({
  name: 'threshold-spo2-92-quiet',
  category: 'threshold',
  source: SOURCES.sepsisTrust,
  description: 'SpO2 exactly 92 twice: the flag is below 92',
  program: 'oral_chemotherapy',
  devices: [oxi()],
  events: [sat(0, 10, 0, 92), sat(0, 10, 20, 92)],
});
add({
  name: 'threshold-spo2-91-twice',
  category: 'threshold',
  source: SOURCES.sepsisTrust,
  description: 'SpO2 91 twice 15 min apart',
  program: 'oral_chemotherapy',
  devices: [oxi()],
  events: [sat(0, 10, 0, 91), sat(0, 10, 15, 91)],
  expect: [red('spo2-low')],
});
add({
  name: 'red-fever-single-385',
  category: 'must-fire-red',
  source: SOURCES.esmoFn,
  description: 'oral chemotherapy, 38.5 °C at night',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [temp(0, 3, 10, 38.5)],
  expect: [red('chemo-fever')],
});
add({
  name: 'threshold-fever-exactly-383',
  category: 'threshold',
  source: SOURCES.esmoFn,
  description: '38.3 °C once: at the single-reading threshold',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [temp(0, 14, 0, 38.3)],
  expect: [red('chemo-fever')],
});
add({
  name: 'red-fever-sustained-380',
  category: 'must-fire-red',
  source: SOURCES.esmoFn,
  description: '38.0 then 38.1 °C 70 min apart',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [temp(0, 15, 0, 38.0), temp(0, 16, 10, 38.1)],
  expect: [red('chemo-fever')],
});
add({
  name: 'red-fever-fahrenheit-thermometer',
  category: 'must-fire-red',
  source: `${SOURCES.esmoFn}; ${SOURCES.bleGss}`,
  description: 'thermometer set to °F: 101.3 °F (38.5 °C)',
  program: 'oral_chemotherapy',
  devices: [thermo({ unit: 'degF' })],
  events: [temp(0, 18, 0, 38.5)],
  expect: [red('chemo-fever')],
});
add({
  name: 'red-fever-overnight-delivered-morning',
  category: 'must-fire-red',
  source: SOURCES.esmoFn,
  description: '38.6 °C at 03:10 kept in the thermometer memory, received at 08:02',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [{ ...temp(0, 3, 10, 38.6), receivedAt: t(0, 8, 2) }],
  expect: [red('chemo-fever')],
});
add({
  name: 'red-hypoglycaemia-level2',
  category: 'must-fire-red',
  source: SOURCES.ada2025,
  description: 'glucose 2.8 mmol/L',
  program: 'cardiovascular_prevention',
  devices: [meter()],
  events: [gly(0, 11, 0, 2.8)],
  expect: [red('glucose-out-of-range')],
});
add({
  name: 'red-hypoglycaemia-mgdl-meter',
  category: 'must-fire-red',
  source: `${SOURCES.ada2025}; ${SOURCES.bleGss}`,
  description: 'meter in mg/dL: 50 mg/dL',
  program: 'heart_failure',
  devices: [meter({ unit: 'mg/dL' })],
  events: [gly(0, 11, 0, 50 / 18.016)],
  expect: [red('glucose-out-of-range')],
});
add({
  name: 'red-missing-data-72h',
  category: 'must-fire-red',
  source: SOURCES.program,
  description: 'scale silent after day 0: 72 h without a reading',
  program: 'heart_failure',
  devices: [scale()],
  events: [weight(0, 80.2)],
  endDay: 4,
  expect: [red('missing-data')],
});
add({
  name: 'red-two-ambers-escalate',
  category: 'must-fire-red',
  source: SOURCES.ukons,
  description: 'a level-1 hypoglycaemia and a grade-3 blood pressure the same morning: two distinct ambers escalate',
  program: 'cardiovascular_prevention',
  devices: [cuff(), meter()],
  events: [gly(0, 7, 0, 3.6), bp('tensiomètre', 0, 8, 0, 168, 112), bp('tensiomètre', 0, 8, 3, 166, 113)],
  expect: [amber('glucose-out-of-range'), red('bp-grade-3')],
});

// ---------------------------------------------------------------- must fire: amber
add({
  name: 'amber-bp-grade3-diastolic',
  category: 'must-fire-amber',
  source: SOURCES.esh2023,
  description: '165/114 then 162/112: grade 3 by diastolic, below crisis',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 165, 114), bp('tensiomètre', 0, 8, 3, 162, 112)],
  expect: [amber('bp-grade-3')],
});
add({
  name: 'threshold-bp-diastolic-exactly-110',
  category: 'threshold',
  source: SOURCES.esh2023,
  description: 'diastolic exactly 110 twice',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 158, 110), bp('tensiomètre', 0, 8, 2, 156, 110)],
  expect: [amber('bp-grade-3')],
});
add({
  name: 'threshold-bp-diastolic-109-quiet',
  category: 'threshold',
  source: SOURCES.esh2023,
  description: 'diastolic 109 twice: grade 2',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 158, 109), bp('tensiomètre', 0, 8, 2, 156, 108)],
});
add({
  name: 'amber-bp-crisis-not-remeasured',
  category: 'must-fire-amber',
  source: SOURCES.nice136,
  description: 'one 192/98 reading, never re-measured: the nurse must call',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 192, 98)],
  expect: [amber('bp-hypertensive-crisis')],
});
add({
  name: 'amber-home-bp-mean-high',
  category: 'must-fire-amber',
  source: SOURCES.eshHome,
  description: 'ESH protocol over 7 days, mean about 146/92',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: bpWeek(7, 146, 92, 6, 11),
  expect: [amber('bp-home-mean-7d')],
});
add({
  name: 'threshold-home-bp-mean-exactly-135-85',
  category: 'threshold',
  source: SOURCES.eshHome,
  description: 'every reading 135/85 for 7 days: the mean is at the threshold (>= 135/85)',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: bpWeek(7, 135, 85, 0, 3),
  expect: [amber('bp-home-mean-7d')],
});
add({
  name: 'amber-hf-weight-gain-3-days',
  category: 'must-fire-amber',
  source: SOURCES.hfaSelfCare,
  description: 'stable 78 kg, then 78.9, 79.8, 80.6 kg: +2.6 kg in 3 days, one episode',
  program: 'heart_failure',
  devices: [scale()],
  events: [...weights(7, 78, 0.2, 5), weight(7, 78.9), weight(8, 79.8), weight(9, 80.6)],
  expect: [amber('hf-weight-gain-3d')],
});
add({
  name: 'amber-hf-weight-gain-lb-scale',
  category: 'must-fire-amber',
  source: `${SOURCES.hfaSelfCare}; ${SOURCES.bleGss}`,
  description: 'scale in pounds: 172 lb stable, then +5.5 lb over 2 days',
  program: 'heart_failure',
  devices: [scale({ unit: 'lb' })],
  events: [...weights(6, 78, 0.2, 6), weight(6, 79.2), weight(7, 80.6)],
  expect: [amber('hf-weight-gain-3d')],
});
add({
  name: 'amber-hf-weight-gain-after-gap',
  category: 'must-fire-amber',
  source: `${SOURCES.escHf}; ${SOURCES.hfaSelfCare}`,
  description: 'two weeks around 82 kg, ten days without weighing, then 85.1 kg: compared with the learnt baseline',
  program: 'heart_failure',
  devices: [scale()],
  events: [...weights(14, 82, 0.3, 8), weight(24, 85.1)],
  endDay: 24,
  expect: [amber('hf-weight-gain-3d'), red('missing-data')],
});
add({
  name: 'amber-hf-dry-weight-set-by-team',
  category: 'must-fire-amber',
  source: SOURCES.escHf,
  description: 'dry weight 70 kg set by the team; first weigh-in after enrolment is 72.6 kg',
  program: 'heart_failure',
  devices: [scale()],
  settings: { 'hf-weight-gain-3d': { dryWeightKg: 70 } },
  events: [weight(0, 72.6)],
  expect: [amber('hf-weight-gain-3d')],
});
add({
  name: 'threshold-hf-gain-exactly-2kg-quiet',
  category: 'threshold',
  source: SOURCES.hfaSelfCare,
  description: '+2.0 kg over 3 days: the rule asks for more than 2 kg',
  program: 'heart_failure',
  devices: [scale()],
  events: [weight(0, 75.0), weight(1, 75.4), weight(2, 75.8), weight(3, 77.0), weight(4, 76.8)],
});
add({
  name: 'amber-hf-weight-loss-over-diuresis',
  category: 'must-fire-amber',
  source: SOURCES.nice106,
  description: '-1.3 kg over 2 days after a diuretic increase',
  program: 'heart_failure',
  devices: [scale()],
  events: [...weights(5, 74, 0.15, 9), weight(5, 73.4), weight(6, 72.6)],
  expect: [amber('hf-weight-loss-2d')],
});
add({
  name: 'amber-fever-not-remeasured',
  category: 'must-fire-amber',
  source: SOURCES.ukons,
  description: '38.1 °C once, never re-measured: the nurse must call',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [temp(0, 19, 0, 38.1)],
  endDay: 1,
  expect: [amber('chemo-fever')],
});
add({
  name: 'amber-spo2-not-remeasured',
  category: 'must-fire-amber',
  source: SOURCES.sepsisTrust,
  description: 'SpO2 90 once, no second reading',
  program: 'heart_failure',
  devices: [oxi()],
  events: [sat(0, 10, 0, 90)],
  endDay: 1,
  expect: [amber('spo2-low')],
});
add({
  name: 'amber-hypoglycaemia-level1',
  category: 'must-fire-amber',
  source: SOURCES.ada2025,
  description: 'glucose 3.6 mmol/L',
  program: 'cardiovascular_prevention',
  devices: [meter()],
  events: [gly(0, 11, 0, 3.6)],
  expect: [amber('glucose-out-of-range')],
});
add({
  name: 'threshold-glucose-exactly-3-0',
  category: 'threshold',
  source: SOURCES.ada2025,
  description: 'glucose exactly 3.0 mmol/L: level 1 (level 2 is below 3.0)',
  program: 'cardiovascular_prevention',
  devices: [meter()],
  events: [gly(0, 11, 0, 3.0)],
  expect: [amber('glucose-out-of-range')],
});
add({
  name: 'threshold-glucose-3-9-quiet',
  category: 'threshold',
  source: SOURCES.ada2025,
  description: 'glucose exactly 3.9 mmol/L: not below 3.9',
  program: 'cardiovascular_prevention',
  devices: [meter()],
  events: [gly(0, 11, 0, 3.9)],
});
add({
  name: 'amber-hyperglycaemia',
  category: 'must-fire-amber',
  source: SOURCES.ada2025,
  description: 'glucose 16.2 mmol/L',
  program: 'heart_failure',
  devices: [meter()],
  events: [gly(0, 12, 0, 16.2)],
  expect: [amber('glucose-out-of-range')],
});
add({
  name: 'amber-missing-data-48h',
  category: 'must-fire-amber',
  source: SOURCES.program,
  description: 'cuff silent 2.5 days',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 8, 0, 128, 80)],
  endDay: 2,
  expect: [amber('missing-data')],
});

// ---------------------------------------------------------------- combined signals (home early-warning score)
add({
  name: 'amber-hf-decompensation-combined-signs',
  category: 'must-fire-amber',
  source: `${SOURCES.news2}; ${SOURCES.escHf}`,
  description:
    'heart failure: +1.6 kg over 3 days (under the weight rule), pulse 104, SpO2 93 %, systolic 104: each under its own limit, together a decompensation',
  program: 'heart_failure',
  devices: [scale(), cuff(), oxi()],
  events: [
    ...weights(6, 81, 0.15, 1000),
    ...bpWeek(8, 118, 72, 6, 1001).filter((_, k) => k % 4 === 0),
    ...sats(8, 95, 1002),
    weight(6, 81.6),
    weight(7, 82.1),
    weight(8, 82.6),
    bp('tensiomètre', 8, 8, 0, 104, 66, 104),
    sat(8, 8, 5, 93, 103),
  ],
  expect: [amber('home-early-warning')],
});
add({
  name: 'red-chemo-septic-picture-unanswered-fever',
  category: 'must-fire-red',
  source: `${SOURCES.ukons}; ${SOURCES.news2}; ${SOURCES.esmoFn}`,
  description:
    'oral chemotherapy: 38.2 °C (under the single-reading fever threshold), pulse 112, systolic 98, SpO2 95 %; the temperature is never re-measured: two ambers escalate',
  program: 'oral_chemotherapy',
  devices: [thermo(), cuff(), oxi()],
  events: [temp(0, 10, 0, 38.2), bp('tensiomètre', 0, 10, 5, 98, 60, 112), sat(0, 10, 6, 95, 110)],
  endDay: 1,
  expect: [amber('home-early-warning'), red('chemo-fever')],
});
add({
  name: 'red-home-early-warning-score-7',
  category: 'must-fire-red',
  source: SOURCES.news2,
  description: 'heart failure: 38.6 °C, SpO2 92 %, pulse 124, systolic 96 within the hour: score 7',
  program: 'heart_failure',
  devices: [thermo(), cuff(), oxi()],
  events: [temp(0, 18, 0, 38.6), sat(0, 18, 5, 92, 122), bp('tensiomètre', 0, 18, 10, 96, 58, 124)],
  expect: [red('home-early-warning')],
});
add({
  name: 'threshold-home-early-warning-exactly-5',
  category: 'threshold',
  source: SOURCES.news2,
  description: 'SpO2 93 (2), pulse 112 (2), systolic 108 (1): score exactly 5',
  program: 'cardiovascular_prevention',
  devices: [cuff(), oxi()],
  events: [sat(0, 9, 0, 93, 112), bp('tensiomètre', 0, 9, 5, 108, 70, 112)],
  expect: [amber('home-early-warning')],
});
add({
  name: 'threshold-home-early-warning-4-quiet',
  category: 'threshold',
  source: SOURCES.news2,
  description: 'SpO2 94 (1), pulse 112 (2), systolic 108 (1): score 4',
  program: 'cardiovascular_prevention',
  devices: [cuff(), oxi()],
  events: [sat(0, 9, 0, 94, 112), bp('tensiomètre', 0, 9, 5, 108, 70, 112)],
});
add({
  name: 'stable-copd-scale2-exclusion',
  category: 'stable',
  source: SOURCES.news2,
  description:
    'COPD with SpO2 88-89 % (0 points on scale 2, 3 on scale 1), pulse 95-105 and systolic 106-110 every day: quiet on scale 2',
  program: 'heart_failure',
  chronicLungDisease: true,
  devices: [oxi(), cuff()],
  events: Array.from({ length: 14 }, (_, d): Event[] => [
    sat(d, 9, 0, 88 + (d % 2), 95 + (d % 3) * 5),
    bp('tensiomètre', d, 9, 5, 106 + (d % 5), 66, 95 + (d % 3) * 5),
  ]).flat(),
  weeks: 2,
});

// ---------------------------------------------------------------- stable patients (must stay quiet)
for (let i = 0; i < 4; i++)
  add({
    name: `stable-cv-home-bp-${i + 1}`,
    category: 'stable',
    source: SOURCES.eshHome,
    description: 'controlled hypertension, two weeks of ESH protocol readings around 126/78',
    program: 'cardiovascular_prevention',
    devices: [cuff()],
    events: bpWeek(14, 124 + i * 2, 77 + i, 8, 100 + i),
    weeks: 2,
  });
for (let i = 0; i < 4; i++)
  add({
    name: `stable-hf-weights-${i + 1}`,
    category: 'stable',
    source: SOURCES.hfaSelfCare,
    description: 'heart failure, daily morning weights within ±0.5 kg for two weeks, SpO2 and BP normal',
    program: 'heart_failure',
    devices: [scale(), cuff(), oxi()],
    events: [
      ...weights(14, 72 + i * 6, 0.5, 200 + i),
      ...bpWeek(14, 118 + i * 3, 72, 8, 210 + i).filter((_, k) => k % 2 === 0),
      ...sats(14, 94 + (i % 2), 220 + i),
    ],
    weeks: 2,
  });
for (let i = 0; i < 3; i++)
  add({
    name: `stable-chemo-${i + 1}`,
    category: 'stable',
    source: SOURCES.ukons,
    description: 'oral chemotherapy, daily temperatures 36.4-37.2 °C, BP and pulse normal',
    program: 'oral_chemotherapy',
    devices: [thermo(), cuff()],
    events: [...temps(14, 300 + i), ...bpWeek(14, 120, 74, 10, 310 + i).filter((_, k) => k % 4 === 0)],
    weeks: 2,
  });
add({
  name: 'stable-copd-scale2',
  category: 'stable',
  source: SOURCES.news2,
  description: "COPD on scale 2: SpO2 88-91 % every day is this patient's usual",
  program: 'heart_failure',
  chronicLungDisease: true,
  devices: [oxi(), scale()],
  events: [...sats(14, 88, 400), ...weights(14, 68, 0.4, 401)],
  weeks: 2,
});
add({
  name: 'stable-diabetic-glucose',
  category: 'stable',
  source: SOURCES.ada2025,
  description: 'glucose 5-11 mmol/L before meals for two weeks',
  program: 'cardiovascular_prevention',
  devices: [meter(), cuff()],
  events: [
    ...Array.from({ length: 14 }, (_, d) => [
      gly(d, 7, 30, 5.2 + (d % 4) * 0.6),
      gly(d, 19, 0, 7.5 + (d % 5) * 0.7),
    ]).flat(),
    ...bpWeek(14, 128, 80, 6, 501).filter((_, k) => k % 2 === 0),
  ],
  weeks: 2,
});
add({
  name: 'stable-bradycardic-athlete-low-normal-bp',
  category: 'stable',
  source: SOURCES.news2,
  description: 'pulse 48-55 and systolic 100-108: low-normal for this patient',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: Array.from({ length: 14 }, (_, d) => bp('tensiomètre', d, 8, 0, 100 + (d % 9), 64, 48 + (d % 8))),
  weeks: 2,
});

// ---------------------------------------------------------------- noisy patients (must stay quiet)
add({
  name: 'noisy-hf-weighed-twice-dressed',
  category: 'noisy',
  source: SOURCES.hfaSelfCare,
  description: 'every morning a second weigh-in, dressed, 1.4-1.9 kg heavier: only the first counts',
  program: 'heart_failure',
  devices: [scale()],
  events: Array.from({ length: 10 }, (_, d) => [
    weight(d, 80 + (d % 3) * 0.2, 7, 0),
    weight(d, 81.6 + (d % 4) * 0.1, 9, 30),
  ]).flat(),
  weeks: 10 / 7,
});
add({
  name: 'noisy-white-coat-first-reading',
  category: 'noisy',
  source: SOURCES.eshHome,
  description: 'first reading of each session high (158/92), second normal (128/80): the means stay below 135/85',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: Array.from({ length: 8 }, (_, d) => [
    bp('tensiomètre', d, 7, 30, 150, 90),
    bp('tensiomètre', d, 7, 32, 118, 74),
    bp('tensiomètre', d, 20, 0, 122, 76),
    bp('tensiomètre', d, 20, 2, 116, 72),
  ]).flat(),
  weeks: 8 / 7,
});
add({
  name: 'noisy-oximeter-cold-finger',
  category: 'noisy',
  source: SOURCES.news2,
  description: 'SpO2 89 % on a cold finger, 96 % ten minutes later',
  program: 'heart_failure',
  devices: [oxi()],
  events: [...sats(6, 95, 600), sat(6, 9, 0, 89), sat(6, 9, 10, 96), ...sats(6, 95, 601, 7)],
  weeks: 13 / 7,
});
add({
  name: 'noisy-temperature-379-once',
  category: 'noisy',
  source: SOURCES.esmoFn,
  description: '37.9 °C once, 37.1 °C an hour later',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [...temps(7, 700), temp(7, 18, 0, 37.9), temp(7, 19, 0, 37.1), ...temps(6, 701, 8)],
  weeks: 2,
});
add({
  name: 'noisy-fever-remeasured-normal',
  category: 'noisy',
  source: SOURCES.esmoFn,
  description: '38.1 °C after a hot drink, 37.0 °C on the re-measure',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [...temps(5, 710), temp(5, 17, 0, 38.1), temp(5, 17, 40, 37.0), ...temps(5, 711, 6)],
  weeks: 10 / 7,
});
add({
  name: 'noisy-bp-crisis-single-then-normal',
  category: 'noisy',
  source: SOURCES.nice136,
  description: '184/96 after climbing stairs, 142/84 on the re-measure',
  program: 'cardiovascular_prevention',
  devices: [cuff()],
  events: [bp('tensiomètre', 0, 9, 0, 184, 96), bp('tensiomètre', 0, 9, 3, 142, 84)],
});

// ---------------------------------------------------------------- device faults
add({
  name: 'device-clockless-cuff-resends-memory',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description:
    'cuff without a clock: one 186/98 reading, its memory re-sent at three later connections; copies must not confirm it',
  program: 'cardiovascular_prevention',
  devices: [cuff({ clock: 'none' })],
  events: [
    bp('tensiomètre', 0, 8, 0, 186, 98),
    { resend: 'tensiomètre', receivedAt: t(0, 8, 20) },
    { resend: 'tensiomètre', receivedAt: t(0, 12, 0) },
    { resend: 'tensiomètre', receivedAt: t(1, 8, 0) },
  ],
  expect: [amber('bp-hypertensive-crisis')],
});
add({
  name: 'device-clockless-cuff-memory-mean',
  category: 'device-fault',
  source: `${SOURCES.bleGss}; ${SOURCES.eshHome}`,
  description:
    'clockless cuff, normal readings; every connection re-sends the whole memory: the 7-day mean must not fill with copies',
  program: 'cardiovascular_prevention',
  devices: [cuff({ clock: 'none' })],
  events: Array.from({ length: 8 }, (_, d): Event[] => [
    bp('tensiomètre', d, 8, 0, 124 + (d % 3), 78),
    { resend: 'tensiomètre', receivedAt: t(d, 20, 0) },
  ]).flat(),
  weeks: 8 / 7,
});
add({
  name: 'device-cuff-clock-days-behind-no-time-service',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'cuff clock 3 days behind, no time service: readings arrive daily, missing data must not fire',
  program: 'cardiovascular_prevention',
  devices: [cuff({ clock: { offsetMinutes: -3 * 24 * 60, timeService: false } })],
  events: Array.from({ length: 8 }, (_, d) => bp('tensiomètre', d, 8, 0, 122 + (d % 4), 76)),
  weeks: 8 / 7,
});
add({
  name: 'device-scale-clock-skew-with-time-service',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'scale clock 7 h ahead, corrected by the gateway: stable weights stay quiet',
  program: 'heart_failure',
  devices: [scale({ clock: { offsetMinutes: 7 * 60, timeService: true } })],
  events: weights(10, 77, 0.3, 800),
  weeks: 10 / 7,
});
add({
  name: 'device-scale-clock-skew-gain-detected',
  category: 'device-fault',
  source: `${SOURCES.bleGss}; ${SOURCES.hfaSelfCare}`,
  description: 'scale clock 7 h ahead (corrected): +2.4 kg in 2 days still seen',
  program: 'heart_failure',
  devices: [scale({ clock: { offsetMinutes: 7 * 60, timeService: true } })],
  events: [...weights(5, 77, 0.2, 801), weight(5, 78.3), weight(6, 79.4)],
  expect: [amber('hf-weight-gain-3d')],
});
add({
  name: 'device-backlog-after-gateway-outage',
  category: 'device-fault',
  source: `${SOURCES.bleGss}; ${SOURCES.hfaSelfCare}`,
  description: 'gateway offline 3 days: the scale memory (+2.5 kg gain) arrives in one sync',
  program: 'heart_failure',
  devices: [scale()],
  events: [
    ...weights(5, 76, 0.2, 900),
    { ...weight(5, 76.9), receivedAt: t(7, 19, 0) },
    { ...weight(6, 77.8), receivedAt: t(7, 19, 0) },
    { ...weight(7, 78.7), receivedAt: t(7, 19, 0) },
  ],
  // the silent gateway is itself news for the coordinating nurse
  expect: [amber('hf-weight-gain-3d'), red('missing-data')],
});
add({
  name: 'device-out-of-order-fever-confirmation',
  category: 'device-fault',
  source: SOURCES.esmoFn,
  description: 'two 38.1 °C readings 90 min apart; the later one arrives first (memory synced later)',
  program: 'oral_chemotherapy',
  devices: [thermo()],
  events: [{ ...temp(0, 14, 0, 38.1), receivedAt: t(0, 16, 0) }, temp(0, 15, 30, 38.1)],
  expect: [red('chemo-fever')],
});
add({
  name: 'device-duplicate-weigh-in-resent',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: "the scale re-sends yesterday's stamped record at each connection: same reading, no change",
  program: 'heart_failure',
  devices: [scale()],
  events: [
    ...weights(8, 70, 0.3, 950),
    { resend: 'balance', receivedAt: t(8, 7, 0), last: 3 },
    { resend: 'balance', receivedAt: t(8, 19, 0), last: 3 },
  ],
  weeks: 8 / 7,
});
add({
  name: 'device-kpa-cuff-stable',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'cuff in kPa, normal readings: conversion must not push the mean over 135/85',
  program: 'cardiovascular_prevention',
  devices: [cuff({ unit: 'kPa' })],
  events: bpWeek(10, 128, 80, 5, 960),
  weeks: 10 / 7,
});
add({
  name: 'device-lb-scale-stable',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'scale in pounds, stable weights',
  program: 'heart_failure',
  devices: [scale({ unit: 'lb' })],
  events: weights(10, 90, 0.4, 970),
  weeks: 10 / 7,
});
add({
  name: 'device-fahrenheit-stable',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'thermometer in °F, normal temperatures',
  program: 'oral_chemotherapy',
  devices: [thermo({ unit: 'degF' })],
  events: temps(10, 980),
  weeks: 10 / 7,
});
add({
  name: 'device-mgdl-meter-stable',
  category: 'device-fault',
  source: SOURCES.bleGss,
  description: 'glucose meter in mg/dL, 95-160 mg/dL',
  program: 'cardiovascular_prevention',
  devices: [meter({ unit: 'mg/dL' })],
  events: Array.from({ length: 10 }, (_, d) => gly(d, 8, 0, (95 + (d % 6) * 12) / 18.016)),
  weeks: 10 / 7,
});

export const LIBRARY: Scenario[] = defs.map(scenario);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = fileURLToPath(new URL('./scenarios/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const s of LIBRARY) writeFileSync(`${dir}${s.name}.json`, `${JSON.stringify(s, null, 1)}\n`);
  process.stdout.write(`${LIBRARY.length} scenarios written to ${dir}\n`);
}
