import type { MetricName } from '../../contract';

/** Names and rounding as clinicians write them (BP, pulse, SpO2 whole numbers; weight, temperature, glucose 1 decimal). */
const STYLE: Partial<Record<MetricName, { name: string; unit: string; decimals: number }>> = {
  blood_pressure_systolic: { name: 'systolic', unit: 'mmHg', decimals: 0 },
  blood_pressure_diastolic: { name: 'diastolic', unit: 'mmHg', decimals: 0 },
  heart_rate: { name: 'pulse', unit: '/min', decimals: 0 },
  spo2: { name: 'SpO2', unit: '%', decimals: 0 },
  body_weight: { name: 'weight', unit: 'kg', decimals: 1 },
  body_temperature: { name: 'temperature', unit: '°C', decimals: 1 },
  glucose: { name: 'glucose', unit: 'mmol/L', decimals: 1 },
};

/** The zone the care team reads times in (French programs). */
export const CARE_TIME_ZONE = 'Europe/Paris';

export function round(metric: MetricName, v: number): string {
  const d = STYLE[metric]?.decimals ?? 1;
  return (Math.round(v * 10 ** d) / 10 ** d).toFixed(d);
}

/** "14 Mar 03:10" in the care team's zone. */
export function clinicalTime(t: Date): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone: CARE_TIME_ZONE,
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(t);
}

/** "temperature 38.5 °C at 14 Mar 03:10": the measured value with its unit and measurement time. */
export function describeReading(r: { metric: MetricName; value: number; measuredAt: Date }): string {
  const s = STYLE[r.metric];
  return `${s?.name ?? r.metric} ${round(r.metric, r.value)} ${s?.unit ?? ''} at ${clinicalTime(r.measuredAt)}`.replace(
    '  ',
    ' ',
  );
}

/** "blood pressure 186/104 mmHg, pulse 88 /min at 14 Mar 08:02" from a cuff measurement. */
export function describeBloodPressure(
  sys: number | undefined,
  dia: number | undefined,
  at: Date,
  pulse?: number,
): string {
  const bp = `${sys === undefined ? '?' : Math.round(sys)}/${dia === undefined ? '?' : Math.round(dia)} mmHg`;
  return `blood pressure ${bp}${pulse === undefined ? '' : `, pulse ${Math.round(pulse)} /min`} at ${clinicalTime(at)}`;
}

/** Device names a nurse uses, by driver profile (never a driver id such as "sig-blood-pressure"). */
const DEVICE_NAMES: Record<string, string> = {
  'sig-blood-pressure': 'blood pressure monitor',
  'sig-weight-scale': 'scale',
  'sig-body-composition': 'scale',
  'xiaomi-mi-scale': 'scale',
  'xiaomi-mi-body-composition': 'scale',
  'sig-health-thermometer': 'thermometer',
  'sig-pulse-oximeter': 'pulse oximeter',
  'contec-cms50d-bt': 'pulse oximeter',
  'sig-glucose': 'glucose meter',
  'sig-heart-rate': 'heart rate monitor',
  'sig-physical-activity-monitor': 'activity tracker',
};

export function deviceName(driver: string | null): string {
  if (!driver) return 'device';
  return (
    DEVICE_NAMES[driver] ?? (driver.includes('bp-cuff') || driver.includes('bpm') ? 'blood pressure monitor' : 'device')
  );
}
