import type { MetricName } from '../../contract';

export type Locale = 'en' | 'fr';
/** An episode text in the two languages of the care teams. */
export interface Text {
  en: string;
  fr: string;
}
/** Builds a text from one template written for both locales. */
export const both = (f: (l: Locale) => string): Text => ({ en: f('en'), fr: f('fr') });
/** The fields of an evaluation or follow-up carrying a text. */
export const summaryOf = (t: Text): { summary: string; summaryFr: string } => ({ summary: t.en, summaryFr: t.fr });

/** Names and rounding as clinicians write them (BP, pulse, SpO2 whole numbers; weight, temperature, glucose 1 decimal). */
const STYLE: Partial<Record<MetricName, { en: string; fr: string; unit: string; decimals: number }>> = {
  blood_pressure_systolic: { en: 'systolic', fr: 'systolique', unit: 'mmHg', decimals: 0 },
  blood_pressure_diastolic: { en: 'diastolic', fr: 'diastolique', unit: 'mmHg', decimals: 0 },
  heart_rate: { en: 'pulse', fr: 'pouls', unit: '/min', decimals: 0 },
  spo2: { en: 'SpO2', fr: 'SpO2', unit: '%', decimals: 0 },
  body_weight: { en: 'weight', fr: 'poids', unit: 'kg', decimals: 1 },
  body_temperature: { en: 'temperature', fr: 'température', unit: '°C', decimals: 1 },
  glucose: { en: 'glucose', fr: 'glycémie', unit: 'mmol/L', decimals: 1 },
};

/** The zone the care team reads times in (French programs). */
export const CARE_TIME_ZONE = 'Europe/Paris';

/** A number with `decimals` decimals, decimal comma in French ("38,5"). */
export function num(v: number, decimals: number, l: Locale = 'en'): string {
  const s = (Math.round(v * 10 ** decimals) / 10 ** decimals).toFixed(decimals);
  return l === 'fr' ? s.replace('.', ',') : s;
}

export function round(metric: MetricName, v: number, l: Locale = 'en'): string {
  return num(v, STYLE[metric]?.decimals ?? 1, l);
}

/**
 * Formatters are built once: building an Intl.DateTimeFormat (or calling toLocaleDateString with a
 * time zone, which builds one each time) cost more than the rules themselves when a group of
 * readings was evaluated (bench/README.md, CPU profile of the hub).
 */
const CLINICAL_TIME = {
  en: new Intl.DateTimeFormat('en-GB', {
    timeZone: CARE_TIME_ZONE,
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }),
  fr: new Intl.DateTimeFormat('fr-FR', {
    timeZone: CARE_TIME_ZONE,
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }),
};
const CLOCK_TIME = new Intl.DateTimeFormat('en-GB', {
  timeZone: CARE_TIME_ZONE,
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});
/** what toLocaleDateString('en-CA', { timeZone }) gives: YYYY-MM-DD */
const LOCAL_DATE = new Intl.DateTimeFormat('en-CA', { timeZone: CARE_TIME_ZONE });
const localDates = new WeakMap<Date, string>();

/** The care team's calendar day of an instant, "2026-03-02" (memoised per Date object: history rows are re-read). */
export function careLocalDay(t: Date): string {
  let d = localDates.get(t);
  if (d === undefined) localDates.set(t, (d = LOCAL_DATE.format(t)));
  return d;
}

/** "2 Mar, 03:10" / "2 mars 03:10" in the care team's zone. */
export function clinicalTime(t: Date, l: Locale = 'en'): string {
  return CLINICAL_TIME[l === 'fr' ? 'fr' : 'en'].format(t).replace(' à ', ' ');
}

/** "08:02" in the care team's zone. */
function clockTime(t: Date): string {
  return CLOCK_TIME.format(t);
}
const sameLocalDay = (a: Date, b: Date) => careLocalDay(a) === careLocalDay(b);

/** A reading delivered this late after it was taken says when it arrived (an overnight fever read in the morning). */
const LATE_MS = 15 * 60_000;

/**
 * "temperature 38.5 °C at 2 Mar, 03:10, received 08:02" / "température 38,5 °C le 2 mars 03:10,
 * reçue à 08:02": the measured value with its unit and measurement time.
 */
export function describeReading(
  r: { metric: MetricName; value: number; measuredAt: Date; receivedAt?: Date | undefined },
  l: Locale = 'en',
): string {
  const s = STYLE[r.metric];
  const name = s ? s[l] : r.metric;
  const unit = s?.unit ? ` ${s.unit}` : '';
  const rec = r.receivedAt;
  const late =
    rec && rec.getTime() - r.measuredAt.getTime() > LATE_MS
      ? `, ${say(l, 'received', 'reçue à')} ${sameLocalDay(rec, r.measuredAt) ? clockTime(rec) : clinicalTime(rec, l)}`
      : '';
  return `${name} ${round(r.metric, r.value, l)}${unit} ${l === 'fr' ? 'le' : 'at'} ${clinicalTime(r.measuredAt, l)}${late}`;
}

/** "blood pressure 186/104 mmHg, pulse 88 /min at 2 Mar, 08:02" from a cuff measurement. */
export function describeBloodPressure(
  sys: number | undefined,
  dia: number | undefined,
  at: Date,
  pulse?: number,
  l: Locale = 'en',
): string {
  const bp = `${sys === undefined ? '?' : Math.round(sys)}/${dia === undefined ? '?' : Math.round(dia)} mmHg`;
  const p = pulse === undefined ? '' : `, ${l === 'fr' ? 'pouls' : 'pulse'} ${Math.round(pulse)} /min`;
  return `${l === 'fr' ? 'tension' : 'blood pressure'} ${bp}${p} ${l === 'fr' ? 'le' : 'at'} ${clinicalTime(at, l)}`;
}

/**
 * The summary of a blood-pressure rule's event in both locales: `text` writes it around the
 * measurement described as describeBloodPressure does (systolic/diastolic, pulse, time).
 */
export function bloodPressureSummary(
  values: ReadonlyMap<string, number>,
  at: Date,
  text: (bp: string, l: Locale) => string,
): { summary: string; summaryFr: string } {
  return summaryOf(
    both((l) =>
      text(
        describeBloodPressure(
          values.get('blood_pressure_systolic'),
          values.get('blood_pressure_diastolic'),
          at,
          values.get('heart_rate'),
          l,
        ),
        l,
      ),
    ),
  );
}

/** Device names a nurse uses, by driver profile (never a driver id such as "sig-blood-pressure"). */
const BP_MONITOR: Text = { en: 'blood pressure monitor', fr: 'tensiomètre' };
const SCALE: Text = { en: 'scale', fr: 'balance' };
const OXIMETER: Text = { en: 'pulse oximeter', fr: 'oxymètre' };
const DEVICE_NAMES: Record<string, Text> = {
  'sig-blood-pressure': BP_MONITOR,
  'sig-weight-scale': SCALE,
  'sig-body-composition': SCALE,
  'xiaomi-mi-scale': SCALE,
  'xiaomi-mi-body-composition': SCALE,
  'sig-health-thermometer': { en: 'thermometer', fr: 'thermomètre' },
  'sig-pulse-oximeter': OXIMETER,
  'contec-cms50d-bt': OXIMETER,
  'omron-hem': BP_MONITOR,
  'and-ua-651ble': BP_MONITOR,
  'and-uc-352ble': SCALE,
  'sig-glucose': { en: 'glucose meter', fr: 'lecteur de glycémie' },
  'sig-heart-rate': { en: 'heart rate monitor', fr: 'cardiofréquencemètre' },
  'sig-physical-activity-monitor': { en: 'activity tracker', fr: "bracelet d'activité" },
};

export function deviceName(driver: string | null, l: Locale = 'en'): string {
  const known = driver ? DEVICE_NAMES[driver] : undefined;
  if (known) return known[l];
  if (driver && /bp-?cuff|bpm/.test(driver)) return BP_MONITOR[l];
  return l === 'fr' ? 'appareil' : 'device';
}

/** Picks the sentence of the locale. */
export const say = (l: Locale, en: string, fr: string): string => (l === 'fr' ? fr : en);
