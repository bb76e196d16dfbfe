import type pg from 'pg';

/** One latest reading, said in plain French with a reference (ui-notes: "128/79, dans vos valeurs habituelles"). */
export interface PlainReading {
  metric: string;
  text: string;
  /** 'usual' | 'high' | 'low' | 'unknown': the page shows a word and an icon, never colour alone */
  status: 'usual' | 'high' | 'low' | 'unknown';
  measuredAt: string;
}

const fr1 = (n: number) => n.toLocaleString('fr-FR', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const when = new Intl.DateTimeFormat('fr-FR', {
  timeZone: 'Europe/Paris',
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  hour: '2-digit',
  minute: '2-digit',
});

interface Row {
  metric: string;
  value: number;
  measured_at: Date;
}

/** The patient's usual range: middle 80 % of her last 30 days (at least 5 readings), else the reference. */
function usual(history: number[], fallback: [number, number]): [number, number] {
  if (history.length < 5) return fallback;
  const s = [...history].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))] ?? 0;
  return [Math.min(q(0.1), fallback[0]), Math.max(q(0.9), fallback[1])];
}

const status = (v: number, [lo, hi]: [number, number]): PlainReading['status'] =>
  v > hi ? 'high' : v < lo ? 'low' : 'usual';
const words: Record<PlainReading['status'], string> = {
  usual: 'dans vos valeurs habituelles',
  high: 'plus haut que d’habitude',
  low: 'plus bas que d’habitude',
  unknown: '',
};

/**
 * Latest reading per kind of measure. References: home blood pressure < 135/85 mmHg (ESH 2021
 * home measurement guidance), temperature 36-37.5 C (UKONS), SpO2 >= 94 % (NEWS2 scale 1),
 * resting heart rate 50-100/min.
 */
export async function latestInPlainWords(
  pool: Pick<pg.Pool, 'query'>,
  patientId: string,
  now: Date,
): Promise<PlainReading[]> {
  const { rows } = await pool.query<Row>(
    `SELECT metric, value, measured_at FROM reading_ledger
      WHERE patient_id = $1 AND measured_at > $2::timestamptz - interval '30 days'
        AND metric IN ('blood_pressure_systolic', 'blood_pressure_diastolic', 'heart_rate', 'body_weight', 'body_temperature', 'spo2', 'glucose')
      ORDER BY measured_at DESC LIMIT 2000`,
    [patientId, now],
  );
  const by = new Map<string, Row[]>();
  for (const r of rows) by.set(r.metric, [...(by.get(r.metric) ?? []), r]);
  const last = (m: string) => by.get(m)?.[0];
  const values = (m: string) => (by.get(m) ?? []).map((r) => r.value);
  const out: PlainReading[] = [];
  const sys = last('blood_pressure_systolic');
  const dia = last('blood_pressure_diastolic');
  if (sys && dia) {
    const s = status(sys.value, usual(values('blood_pressure_systolic'), [90, 135]));
    const d = status(dia.value, usual(values('blood_pressure_diastolic'), [50, 85]));
    const st = s === 'high' || d === 'high' ? 'high' : s === 'low' || d === 'low' ? 'low' : 'usual';
    out.push({
      metric: 'blood_pressure',
      text: `Tension ${Math.round(sys.value)}/${Math.round(dia.value)}, ${words[st]}`,
      status: st,
      measuredAt: when.format(sys.measured_at),
    });
  }
  const hr = last('heart_rate');
  if (hr) {
    const st = status(hr.value, usual(values('heart_rate'), [50, 100]));
    out.push({
      metric: 'heart_rate',
      text: `Pouls ${Math.round(hr.value)} battements par minute, ${words[st]}`,
      status: st,
      measuredAt: when.format(hr.measured_at),
    });
  }
  const t = last('body_temperature');
  if (t) {
    const st = status(t.value, [36, 37.4]);
    out.push({
      metric: 'body_temperature',
      text: `Température ${fr1(t.value)} °C, ${st === 'usual' ? 'normale' : words[st]}`,
      status: st,
      measuredAt: when.format(t.measured_at),
    });
  }
  const o = last('spo2');
  if (o) {
    const st = o.value < 94 ? 'low' : 'usual';
    out.push({
      metric: 'spo2',
      text: `Oxygène dans le sang ${Math.round(o.value)} %, ${st === 'usual' ? 'normal' : words.low}`,
      status: st,
      measuredAt: when.format(o.measured_at),
    });
  }
  const w = last('body_weight');
  if (w) {
    const prev = (by.get('body_weight') ?? []).find(
      (r) => r.measured_at.getTime() <= w.measured_at.getTime() - 2 * 86_400_000,
    );
    const diff = prev ? w.value - prev.value : 0;
    const text =
      prev && Math.abs(diff) >= 0.5
        ? `Poids ${fr1(w.value)} kg (${diff > 0 ? '+' : '−'}${fr1(Math.abs(diff))} kg en quelques jours)`
        : `Poids ${fr1(w.value)} kg, stable`;
    out.push({
      metric: 'body_weight',
      text,
      status: prev && Math.abs(diff) >= 2 ? (diff > 0 ? 'high' : 'low') : 'usual',
      measuredAt: when.format(w.measured_at),
    });
  }
  const g = last('glucose');
  if (g) {
    const st = status(g.value, [3.9, 10]);
    out.push({
      metric: 'glucose',
      text: `Sucre dans le sang ${fr1(g.value)} mmol/L, ${st === 'usual' ? 'dans les valeurs visées' : words[st]}`,
      status: st,
      measuredAt: when.format(g.measured_at),
    });
  }
  return out;
}

/** Pending "please re-measure" requests, in plain words. */
export async function pendingRequests(
  pool: Pick<pg.Pool, 'query'>,
  patientId: string,
): Promise<{ id: number; text: string; requestedAt: string }[]> {
  const { rows } = await pool.query<{ id: string; rule_id: string; requested_at: Date }>(
    `SELECT id, rule_id, requested_at FROM remeasure_requests WHERE patient_id = $1 AND status = 'pending' ORDER BY requested_at DESC`,
    [patientId],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    text: r.rule_id.startsWith('bp-')
      ? 'Reprenez votre tension dans 2 minutes, assis(e) au calme.'
      : r.rule_id.includes('febrile')
        ? 'Reprenez votre température dans une heure.'
        : r.rule_id.includes('spo2')
          ? 'Refaites la mesure de l’oxygène dans 15 minutes, au repos.'
          : 'Refaites votre mesure dans quelques minutes, au calme.',
    requestedAt: when.format(r.requested_at),
  }));
}
