import { METRICS, type MetricName } from '../../contract';

export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';
export const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
export const VITALSIGNS_PROFILE = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';
export const GATEWAY_EXTENSION = 'http://hl7.org/fhir/uv/phd/StructureDefinition/Ext-gatewayDevice';
/** Identifier systems of the resources this hub creates (used for conditional create/update). */
export const SYSTEM = {
  reading: 'urn:vigil:reading',
  episode: 'urn:vigil:alert-episode',
  notification: 'urn:vigil:notification',
  device: 'urn:vigil:device',
  gateway: 'urn:vigil:gateway',
  rule: 'urn:vigil:rule',
  metric: 'urn:vigil:metric',
  severity: 'urn:vigil:severity',
  patient: 'urn:vigil:patient',
  program: 'urn:vigil:program',
} as const;

/** HL7 Vital Signs profile members (per-metric profiles of FHIR R4 core). */
const VITAL_PROFILES: Partial<Record<MetricName, string>> = {
  heart_rate: 'http://hl7.org/fhir/StructureDefinition/heartrate',
  body_weight: 'http://hl7.org/fhir/StructureDefinition/bodyweight',
  body_temperature: 'http://hl7.org/fhir/StructureDefinition/bodytemp',
  spo2: 'http://hl7.org/fhir/StructureDefinition/oxygensat',
  height: 'http://hl7.org/fhir/StructureDefinition/bodyheight',
  bmi: 'http://hl7.org/fhir/StructureDefinition/bmi',
  blood_pressure_mean: VITALSIGNS_PROFILE,
  blood_pressure_systolic: VITALSIGNS_PROFILE,
  blood_pressure_diastolic: VITALSIGNS_PROFILE,
};
export const BP_PANEL = {
  code: '85354-9',
  display: 'Blood pressure panel with all children optional',
  profile: 'http://hl7.org/fhir/StructureDefinition/bp',
};

export function isVitalSign(metric: MetricName): boolean {
  return metric in VITAL_PROFILES;
}

/**
 * Observation.category of each metric (http://terminology.hl7.org/CodeSystem/observation-category):
 * the HL7 Vital Signs profile members are `vital-signs`; capillary glucose and HbA1c are blood
 * analyses, `laboratory` (as US Core files glucose); step counts, distance, energy and gait are
 * `activity`; body composition and the other measurements a simple instrument takes on the body are
 * `exam`. `none`: device state, never a patient Observation. Every metric must be classified.
 */
export const CATEGORY_OF = {
  blood_pressure_systolic: 'vital-signs',
  blood_pressure_diastolic: 'vital-signs',
  blood_pressure_mean: 'vital-signs',
  heart_rate: 'vital-signs',
  body_weight: 'vital-signs',
  body_temperature: 'vital-signs',
  spo2: 'vital-signs',
  height: 'vital-signs',
  bmi: 'vital-signs',
  glucose: 'laboratory',
  hba1c: 'laboratory',
  steps: 'activity',
  distance: 'activity',
  energy_expended: 'activity',
  speed: 'activity',
  cadence: 'activity',
  stride_length: 'activity',
  body_fat: 'exam',
  impedance: 'exam',
  muscle_percentage: 'exam',
  muscle_mass: 'exam',
  fat_free_mass: 'exam',
  soft_lean_mass: 'exam',
  body_water_mass: 'exam',
  basal_metabolism: 'exam',
  pulse_amplitude_index: 'exam',
  rr_interval: 'exam',
  battery_level: 'none',
} as const satisfies Record<MetricName, 'vital-signs' | 'laboratory' | 'activity' | 'exam' | 'none'>;
export type ObservationCategory = Exclude<(typeof CATEGORY_OF)[MetricName], 'none'>;

const CATEGORY_DISPLAY: Record<ObservationCategory, string> = {
  'vital-signs': 'Vital Signs',
  laboratory: 'Laboratory',
  activity: 'Activity',
  exam: 'Exam',
};

export function categoryOf(metric: MetricName): { coding: { system: string; code: string; display: string }[] }[] {
  const c = CATEGORY_OF[metric];
  const code: ObservationCategory = c === 'none' ? 'exam' : c;
  return [{ coding: [{ system: OBS_CATEGORY, code, display: CATEGORY_DISPLAY[code] }] }];
}

/** Metrics that are device state (battery), not a patient's Observation. */
export const NOT_OBSERVATIONS: readonly MetricName[] = (Object.keys(CATEGORY_OF) as MetricName[]).filter(
  (m) => CATEGORY_OF[m] === 'none',
);

export function profileOf(metric: MetricName): string[] {
  const p = VITAL_PROFILES[metric];
  return p ? [...new Set([VITALSIGNS_PROFILE, p])] : [];
}

/** LOINC coding(s) of a metric from the wire contract catalog; SpO2 carries both codes (US Core). */
export function codingsOf(metric: MetricName): { system: string; code: string; display: string }[] {
  const spec = METRICS[metric] as { loinc?: string; description: string };
  const out = spec.loinc
    ? [{ system: LOINC, code: spec.loinc, display: spec.description }]
    : [{ system: SYSTEM.metric, code: metric, display: spec.description }];
  if (metric === 'spo2') out.push({ system: LOINC, code: '2708-6', display: 'Oxygen saturation in Arterial blood' });
  return out;
}

export function quantity(
  metric: MetricName,
  value: number,
): { value: number; unit: string; system: string; code: string } {
  const unit = METRICS[metric].unit;
  return { value, unit, system: UCUM, code: unit };
}

/** A deterministic urn:uuid from a 32-hex id (reading ids are 32 hex chars). */
export function urnUuid(hex32: string): string {
  const h = hex32.padEnd(32, '0').slice(0, 32);
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
