import type { Fmt } from './i18n';

/** French/English words for each default rule (hub/rules/defaults; sources in docs/rules.md). */
const RULE_WORDS: Record<string, { fr: string; en: string }> = {
  'bp-hypertensive-crisis': { fr: 'Crise hypertensive', en: 'Hypertensive crisis' },
  'bp-home-mean-7d': { fr: 'Moyenne tensionnelle à domicile élevée', en: 'High home blood pressure mean' },
  'spo2-low': { fr: 'Saturation basse', en: 'Low oxygen saturation' },
  'sepsis-red-flags': { fr: 'Signes d’alerte de sepsis', en: 'Sepsis red flags' },
  'missing-data': { fr: 'Pas de mesure reçue', en: 'No reading received' },
  'hf-weight-gain-3d': { fr: 'Prise de poids rapide (3 jours)', en: 'Rapid weight gain (3 days)' },
  'hf-weight-gain-day-week': { fr: 'Prise de poids (jour / semaine)', en: 'Weight gain (day / week)' },
  'hf-weight-loss-2d': { fr: 'Perte de poids rapide', en: 'Rapid weight loss' },
  'chemo-fever': { fr: 'Fièvre sous chimiothérapie', en: 'Fever on chemotherapy' },
  'chemo-activity-decline': { fr: 'Baisse d’activité', en: 'Activity decline' },
  'glucose-out-of-range': { fr: 'Glycémie hors cible', en: 'Glucose out of range' },
  'adherence-days-30': { fr: 'Mesures trop rares', en: 'Too few days with readings' },
};

export function ruleWords(ruleId: string, f: Fmt, fallback?: string): string {
  return RULE_WORDS[ruleId]?.[f.locale] ?? fallback ?? ruleId;
}

type Values = Record<string, unknown>;
const n = (v: Values, k: string): number | undefined => (typeof v[k] === 'number' ? v[k] : undefined);

/**
 * The measured values of an episode in clinical writing: "TA 186/124 mmHg", "FC 96/min",
 * "SpO2 88 %", "T 38,5 °C", "Poids 84,0 kg (+3,0 kg)". Unknown keys are left out rather than
 * shown raw.
 */
export function describeValues(value: unknown, f: Fmt): string {
  if (!value || typeof value !== 'object') return '';
  const v = value as Values;
  const fr = f.locale === 'fr';
  const parts: string[] = [];
  const sys = n(v, 'blood_pressure_systolic');
  const dia = n(v, 'blood_pressure_diastolic');
  if (sys !== undefined || dia !== undefined)
    parts.push(
      `${fr ? 'TA' : 'BP'} ${sys !== undefined ? f.num(sys) : '?'}/${dia !== undefined ? f.num(dia) : '?'} mmHg`,
    );
  const ms = n(v, 'meanSystolic');
  const md = n(v, 'meanDiastolic');
  if (ms !== undefined && md !== undefined) {
    const count = n(v, 'readings');
    parts.push(
      `${fr ? 'TA moyenne' : 'mean BP'} ${f.num(ms)}/${f.num(md)} mmHg${count !== undefined ? ` (${count} ${fr ? 'mesures' : 'readings'})` : ''}`,
    );
  }
  const hr = n(v, 'heart_rate');
  if (hr !== undefined) parts.push(`${fr ? 'FC' : 'HR'} ${f.num(hr)}/min`);
  const spo2 = n(v, 'spo2');
  if (spo2 !== undefined) parts.push(`SpO2 ${f.num(spo2)} %`);
  const temp = n(v, 'body_temperature');
  if (temp !== undefined) parts.push(`T ${f.num(temp, 1)} °C`);
  const prev = n(v, 'previous');
  if (prev !== undefined) parts.push(`${fr ? 'précédente' : 'previous'} ${f.num(prev, 1)}`);
  const w = n(v, 'body_weight');
  const dw = n(v, 'deltaKg');
  if (w !== undefined)
    parts.push(
      `${fr ? 'Poids' : 'Weight'} ${f.num(w, 1)} kg${dw !== undefined ? ` (${dw >= 0 ? '+' : '−'}${f.num(Math.abs(dw), 1)} kg)` : ''}`,
    );
  const g = n(v, 'glucose');
  if (g !== undefined) parts.push(`${fr ? 'Glycémie' : 'Glucose'} ${f.num(g, 1)} mmol/L`);
  const steps = n(v, 'steps');
  if (steps !== undefined) parts.push(`${f.num(steps)} ${fr ? 'pas' : 'steps'}`);
  const hours = n(v, 'hoursSinceLastReading');
  if (hours !== undefined) parts.push(`${fr ? 'depuis' : 'for'} ${f.num(hours)} h`);
  const days = n(v, 'daysWithData');
  const period = n(v, 'periodDays');
  if (days !== undefined) parts.push(`${days} ${fr ? 'jours sur' : 'days of'} ${period ?? 30}`);
  return parts.join(', ');
}

export function ageFrom(birthYear: number | null, now: Date): number | undefined {
  return birthYear ? now.getUTCFullYear() - birthYear : undefined;
}
