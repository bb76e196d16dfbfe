import { z } from 'zod';

/**
 * Canonical metric catalog (wire contract v1). Every reading carries one of these metrics,
 * with its value in the canonical UCUM unit. Extend it when a profile needs more; never rename.
 * `range` is the physiological plausibility range: a decoded value outside it is rejected.
 * LOINC codes follow the HL7 FHIR R4 Vital Signs profile and the HL7 Personal Health Device IG.
 */
export interface MetricSpec {
  readonly unit: string;
  readonly range: readonly [min: number, max: number];
  readonly loinc?: string;
  readonly description: string;
}

export const METRICS = {
  blood_pressure_systolic: {
    unit: 'mm[Hg]',
    range: [40, 300],
    loinc: '8480-6',
    description: 'Systolic blood pressure',
  },
  blood_pressure_diastolic: {
    unit: 'mm[Hg]',
    range: [20, 200],
    loinc: '8462-4',
    description: 'Diastolic blood pressure',
  },
  blood_pressure_mean: { unit: 'mm[Hg]', range: [25, 250], loinc: '8478-0', description: 'Mean arterial pressure' },
  heart_rate: { unit: '/min', range: [20, 300], loinc: '8867-4', description: 'Heart rate / pulse rate' },
  body_weight: { unit: 'kg', range: [2, 400], loinc: '29463-7', description: 'Body weight' },
  body_fat: { unit: '%', range: [1, 75], loinc: '41982-0', description: 'Body fat percentage' },
  bmi: { unit: 'kg/m2', range: [8, 100], loinc: '39156-5', description: 'Body mass index' },
  body_temperature: { unit: 'Cel', range: [25, 45], loinc: '8310-5', description: 'Body temperature' },
  spo2: { unit: '%', range: [50, 100], loinc: '59408-5', description: 'Oxygen saturation by pulse oximetry' },
  glucose: { unit: 'mmol/L', range: [0.5, 50], loinc: '15074-8', description: 'Capillary blood glucose' },
  steps: { unit: '{steps}', range: [0, 200000], loinc: '41950-7', description: 'Step count' },
  distance: { unit: 'm', range: [0, 300000], loinc: '41953-1', description: 'Distance walked/run' },
  energy_expended: { unit: 'kcal', range: [0, 20000], loinc: '41981-2', description: 'Energy expended' },
  battery_level: { unit: '%', range: [0, 100], description: 'Device battery level' },
  height: { unit: 'cm', range: [40, 250], loinc: '8302-2', description: 'Body height' },
  impedance: { unit: 'Ohm', range: [50, 3000], description: 'Bioelectrical impedance (body composition scales)' },
  muscle_percentage: { unit: '%', range: [5, 90], description: 'Muscle percentage of body mass' },
  muscle_mass: { unit: 'kg', range: [1, 200], description: 'Muscle mass' },
  fat_free_mass: { unit: 'kg', range: [1, 300], description: 'Fat-free mass' },
  soft_lean_mass: { unit: 'kg', range: [1, 300], description: 'Soft lean mass' },
  body_water_mass: { unit: 'kg', range: [1, 200], description: 'Body water mass' },
  basal_metabolism: { unit: 'kcal/d', range: [300, 10000], description: 'Basal metabolic rate' },
  pulse_amplitude_index: {
    unit: '%',
    range: [0.01, 30],
    description: 'Pulse amplitude index (perfusion) of a pulse oximeter',
  },
  rr_interval: { unit: 'ms', range: [200, 3000], description: 'Interval between two R waves (beat-to-beat)' },
  speed: { unit: 'm/s', range: [0, 15], description: 'Instantaneous walking/running speed' },
  cadence: { unit: '/min', range: [0, 300], description: 'Step cadence' },
  stride_length: { unit: 'm', range: [0.1, 3], description: 'Stride length' },
  hba1c: { unit: '%', range: [3, 20], loinc: '4548-4', description: 'Hemoglobin A1c' },
} as const satisfies Record<string, MetricSpec>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as [MetricName, ...MetricName[]];
export const metricNameSchema = z.enum(METRIC_NAMES);

export function metricSpec(metric: MetricName): MetricSpec {
  return METRICS[metric];
}

/** True when `value` lies in the metric's physiological plausibility range. */
export function isPlausible(metric: MetricName, value: number): boolean {
  const [min, max] = METRICS[metric].range;
  return Number.isFinite(value) && value >= min && value <= max;
}
