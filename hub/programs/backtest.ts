import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { z } from 'zod';
import { createTemplate, replay, type ReplayEpisode } from '../rules/replay/run';
import { scenarioSchema, type Scenario, type ScenarioDevice } from '../rules/replay/scenario';
import { ProgramError, type ProgramDefinition } from './definition';

/**
 * Back-test of a program change (docs/programs.md "back-test"): the replay tool (hub/rules/replay)
 * runs the same readings twice on throw-away databases, once under the program's current version
 * and once under the proposed definition, and the episodes that would open are compared. The
 * readings are replay scenarios (the clinical library, or given inline) and/or a patient's recent
 * readings from the ledger; every scenario patient is put in the program under test.
 */

/** Where the clinical scenario library lives in a checkout (absent in a production image). */
export const SCENARIO_DIR = join(import.meta.dirname, '..', '..', 'test', 'clinical', 'scenarios');

export const backtestRequestSchema = z
  .object({
    /** the proposed definition (default: the current version, e.g. to see a patient's episodes under it) */
    definition: z.unknown().optional(),
    /** library scenarios by name (file names of test/clinical/scenarios without .json) */
    scenarios: z
      .array(z.string().regex(/^[a-z0-9-]+$/))
      .max(50)
      .default([]),
    /** scenarios given in full (docs/clinical/replay.md) */
    inline: z.array(z.unknown()).max(20).default([]),
    /** replay this patient's recent readings (the patient's own overrides apply, as live) */
    patientId: z.string().min(1).optional(),
    /** how far back the patient's readings go */
    days: z.number().int().min(1).max(90).default(14),
  })
  .strict();
export type BacktestRequest = z.infer<typeof backtestRequestSchema>;

export interface EpisodeKey {
  scenario: string;
  patient: string;
  rule: string;
  severity: 'amber' | 'red';
  openedAt: string;
}

export interface BacktestResult {
  programId: string;
  currentVersion: number | null;
  scenarios: {
    name: string;
    current: EpisodeKey[];
    proposed: EpisodeKey[];
    /** would open under the proposed definition and not under the current one */
    added: EpisodeKey[];
    /** open under the current version, not under the proposed one */
    removed: EpisodeKey[];
  }[];
  totals: { current: number; proposed: number; added: number; removed: number };
}

const METRIC_PROFILE: Partial<Record<string, ScenarioDevice['profile']>> = {
  blood_pressure_systolic: 'blood_pressure',
  blood_pressure_diastolic: 'blood_pressure',
  blood_pressure_mean: 'blood_pressure',
  heart_rate: 'blood_pressure',
  body_weight: 'weight_scale',
  body_temperature: 'thermometer',
  spo2: 'pulse_oximeter',
  glucose: 'glucose_meter',
};

/** A patient's recent readings from the ledger as a replay scenario (decoded readings, as filed). */
export async function patientScenario(
  pool: pg.Pool,
  patientId: string,
  programId: string,
  days: number,
  now: Date,
): Promise<Scenario> {
  const since = new Date(now.getTime() - days * 86_400_000);
  const [patient, readings, overrides] = await Promise.all([
    pool.query<{ chronic_lung_disease: boolean }>('SELECT chronic_lung_disease FROM patients WHERE id = $1', [
      patientId,
    ]),
    pool.query<{ metric: string; value: number; unit: string; measured_at: Date; received_at: Date }>(
      `SELECT metric, value, unit, measured_at, received_at FROM reading_ledger
       WHERE patient_id = $1 AND measured_at >= $2 AND measured_at <= $3 ORDER BY received_at, reading_id LIMIT 20000`,
      [patientId, since, now],
    ),
    pool.query<{ rule_id: string; params: Record<string, unknown> }>(
      'SELECT rule_id, params FROM rule_overrides WHERE patient_id = $1',
      [patientId],
    ),
  ]);
  if (!patient.rows[0]) throw new ProgramError('PROGRAM_INVALID', 'no such patient for the back-test');
  // raw reading events skip the GATT encoding: the device's profile only names the driver it is bound with
  const devices = new Map<string, ScenarioDevice>();
  const deviceFor = (metric: string): string => {
    const profile = METRIC_PROFILE[metric] ?? 'blood_pressure';
    const name = `${profile}-${METRIC_PROFILE[metric] ? 'device' : 'other'}`;
    if (!devices.has(name))
      devices.set(name, {
        name,
        address: `B0:00:00:00:00:${(devices.size + 1).toString(16).padStart(2, '0').toUpperCase()}`,
        profile,
        clock: 'synced',
      });
    return name;
  };
  const events = readings.rows.map((r) => ({
    reading: deviceFor(r.metric),
    metric: r.metric,
    value: r.value,
    unit: r.unit,
    measuredAt: r.measured_at.toISOString(),
    receivedAt: (r.received_at < r.measured_at ? r.measured_at : r.received_at).toISOString(),
  }));
  const first = readings.rows[0]?.measured_at ?? since;
  return scenarioSchema.parse({
    name: `patient-${patientId}-${String(days)}d`,
    source: 'the patient’s readings as filed in the reading ledger',
    start: new Date(Math.min(first.getTime(), since.getTime()) - 60_000).toISOString(),
    end: now.toISOString(),
    patients: [
      {
        id: patientId,
        program: programId,
        chronicLungDisease: patient.rows[0].chronic_lung_disease,
        devices: devices.size
          ? [...devices.values()]
          : [{ name: 'none', address: 'B0:00:00:00:00:00', profile: 'thermometer' }],
        settings: Object.fromEntries(overrides.rows.map((o) => [o.rule_id, o.params])),
      },
    ],
    events,
  });
}

function loadLibraryScenario(name: string, dir: string): unknown {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) throw new ProgramError('PROGRAM_INVALID', `no scenario ${name} in the library`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

const keyOf = (scenario: string, e: ReplayEpisode): EpisodeKey => ({
  scenario,
  patient: e.patient,
  rule: e.rule,
  severity: e.severity,
  openedAt: e.openedAt,
});
const same = (a: EpisodeKey, b: EpisodeKey) =>
  a.patient === b.patient && a.rule === b.rule && a.severity === b.severity && a.openedAt === b.openedAt;

/**
 * Runs the back-test. `current`: the program's current definition (null for a program not created
 * yet: every proposed episode is new). Each scenario is replayed on its own cloned database.
 */
export async function backtest(o: {
  pgBase: string;
  programId: string;
  current: { version: number; definition: ProgramDefinition } | null;
  proposed: ProgramDefinition;
  scenarios: unknown[];
  /** a migrated database to clone (created and dropped here when absent) */
  template?: string;
}): Promise<BacktestResult> {
  const scenarios = o.scenarios.map((input) => {
    const s = scenarioSchema.safeParse(input);
    if (!s.success)
      throw new ProgramError(
        'PROGRAM_INVALID',
        'a back-test scenario is not valid',
        s.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      );
    // the readings are judged by the program under test
    return { ...s.data, patients: s.data.patients.map((p) => ({ ...p, program: o.programId })) };
  });
  if (scenarios.length === 0) throw new ProgramError('PROGRAM_INVALID', 'a back-test needs scenarios or a patient');
  const template = o.template ? { name: o.template, drop: () => Promise.resolve() } : await createTemplate(o.pgBase);
  try {
    const out: BacktestResult['scenarios'] = [];
    for (const s of scenarios) {
      const cur = o.current
        ? (await replay(s, { pgBase: o.pgBase, template: template.name, programs: [o.current.definition] })).episodes
        : [];
      const prop = (await replay(s, { pgBase: o.pgBase, template: template.name, programs: [o.proposed] })).episodes;
      const current = cur.map((e) => keyOf(s.name, e));
      const proposed = prop.map((e) => keyOf(s.name, e));
      out.push({
        name: s.name,
        current,
        proposed,
        added: proposed.filter((p) => !current.some((c) => same(c, p))),
        removed: current.filter((c) => !proposed.some((p) => same(c, p))),
      });
    }
    const sum = (k: 'current' | 'proposed' | 'added' | 'removed') => out.reduce((n, s) => n + s[k].length, 0);
    return {
      programId: o.programId,
      currentVersion: o.current?.version ?? null,
      scenarios: out,
      totals: { current: sum('current'), proposed: sum('proposed'), added: sum('added'), removed: sum('removed') },
    };
  } finally {
    await template.drop();
  }
}

/** The scenarios of a request: library names, inline ones, and the patient's recent readings. */
export async function requestScenarios(
  pool: pg.Pool,
  req: BacktestRequest,
  programId: string,
  now: Date,
  dir = SCENARIO_DIR,
): Promise<unknown[]> {
  const out: unknown[] = [...req.scenarios.map((n) => loadLibraryScenario(n, dir)), ...req.inline];
  if (req.patientId) out.push(await patientScenario(pool, req.patientId, programId, req.days, now));
  return out;
}

/** The PostgreSQL server of a pool (the back-test's throw-away databases go there). */
export function serverOf(pool: pg.Pool): string {
  const opts = (pool as unknown as { options: { connectionString?: string } }).options;
  const url = new URL(opts.connectionString ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  url.pathname = '';
  url.search = '';
  return url.toString().replace(/\/$/, '');
}
