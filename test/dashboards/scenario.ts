import type pg from 'pg';
import type { MetricName } from '../../contract/metrics';
import { bindDevice, createGateway, createPatient, revokeGateway } from '../../hub/admin/provisioning';
import { TimeSeriesStore, type StoredPoint } from '../../hub/storage/influx/timeseries';
import { HEARTBEAT_MEASUREMENT } from '../../dashboards/lib/datasources';

/**
 * The known scenario the board tests run against, relative to "now" (whole UTC days; day k is
 * k days before today, so every reading is in the past).
 *
 * pat-a (heart failure): 30 days of readings on days 1..30, none on days 15 and 16.
 *   BP 128/82 (days 11-30) then 142/88 (days 1-10); a 185/122 crisis reading on day 3 at 20:00.
 *   Heart rate with each BP reading. Weight 80.0, then 81.0 / 82.0 / 82.6 on days 3 / 2 / 1.
 *   Temperature 36.8, 38.1 and 38.2 on day 5 (08:00, 09:30), 38.4 on day 4.
 *   SpO2 96, 90 on day 2. Steps 8000/day, 4000/day on days 1-3.
 *   Episodes: red bp_crisis open (day 3), amber bp_home_mean acknowledged (day 2), amber
 *   weight_gain_3d resolved (day 1), and an old resolved one (day 60, outside the range).
 * pat-b (cardiovascular prevention): BP 200/130 on days 3..7 only (must never show on pat-a's
 *   board); red spo2_low open.
 * pat-c (oral chemotherapy): enrolled, no reading, no episode.
 * Gateways: gw-a online (seen 2 min ago, software 0.1.0), gw-b offline (seen 2 days ago, 0.2.0), gw-c revoked.
 * Heartbeats in the last hour: gw-a queue depth 0, gw-b 12 then 40. Batteries an hour ago:
 * pat-a's cuff 15 %, pat-a's scale 80 %, pat-b's cuff 55 %.
 * Every reading is in the reading ledger, received within the last 6 hours.
 * Care teams (migration 002): team-hf (heart failure) with nurse-1 (coordinating nurse) and
 * cardio-1 (cardiologist), patient pat-a, who consented to both; team-cv (cardiovascular
 * prevention) with gp-1 and patient pat-b, who did not consent. admin-1 is an administrator.
 */
export const DAY_MS = 86_400_000;
export const CUFF_A = 'AA:00:00:00:00:01';
export const SCALE_A = 'AA:00:00:00:00:02';
export const THERMO_A = 'AA:00:00:00:00:03';
export const OXI_A = 'AA:00:00:00:00:04';
export const BAND_A = 'AA:00:00:00:00:05';
export const CUFF_B = 'BB:00:00:00:00:01';

export interface Scenario {
  now: Date;
  today: number;
  at(daysAgo: number, hour: number, minute?: number): Date;
  points: StoredPoint[];
  ledgerCount: number;
}

export function buildScenario(now: Date): Scenario {
  const today = Math.floor(now.getTime() / DAY_MS) * DAY_MS;
  const at = (k: number, h: number, min = 0) => new Date(today - k * DAY_MS + h * 3_600_000 + min * 60_000);
  const points: StoredPoint[] = [];
  let n = 0;
  const add = (
    patientId: string,
    gatewayId: string,
    deviceAddress: string,
    driver: string,
    metric: MetricName,
    value: number,
    measuredAt: Date,
  ) => points.push({ readingId: `r-${++n}`, patientId, gatewayId, deviceAddress, driver, metric, value, measuredAt });

  for (let k = 1; k <= 30; k++) {
    if (k === 15 || k === 16) continue; // missing days
    const recent = k <= 10;
    add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'blood_pressure_systolic', recent ? 142 : 128, at(k, 8));
    add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'blood_pressure_diastolic', recent ? 88 : 82, at(k, 8));
    add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'heart_rate', recent ? 76 : 70, at(k, 8));
    add(
      'pat-a',
      'gw-a',
      SCALE_A,
      'weight-scale',
      'body_weight',
      k === 1 ? 82.6 : k === 2 ? 82 : k === 3 ? 81 : 80,
      at(k, 7),
    );
    add('pat-a', 'gw-a', THERMO_A, 'health-thermometer', 'body_temperature', k === 4 ? 38.4 : 36.8, at(k, 8));
    add('pat-a', 'gw-a', OXI_A, 'pulse-oximeter', 'spo2', k === 2 ? 90 : 96, at(k, 8));
    add('pat-a', 'gw-a', BAND_A, 'physical-activity-monitor', 'steps', k <= 3 ? 4000 : 8000, at(k, 21));
  }
  add('pat-a', 'gw-a', THERMO_A, 'health-thermometer', 'body_temperature', 38.1, at(5, 8, 30));
  add('pat-a', 'gw-a', THERMO_A, 'health-thermometer', 'body_temperature', 38.2, at(5, 9, 30));
  add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'blood_pressure_systolic', 185, at(3, 20));
  add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'blood_pressure_diastolic', 122, at(3, 20));
  add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'heart_rate', 80, at(3, 20));
  for (let k = 3; k <= 7; k++) {
    add('pat-b', 'gw-b', CUFF_B, 'blood-pressure', 'blood_pressure_systolic', 200, at(k, 8));
    add('pat-b', 'gw-b', CUFF_B, 'blood-pressure', 'blood_pressure_diastolic', 130, at(k, 8));
  }
  const anHourAgo = new Date(now.getTime() - 3_600_000);
  add('pat-a', 'gw-a', CUFF_A, 'blood-pressure', 'battery_level', 15, anHourAgo);
  add('pat-a', 'gw-a', SCALE_A, 'weight-scale', 'battery_level', 80, anHourAgo);
  add('pat-b', 'gw-b', CUFF_B, 'blood-pressure', 'battery_level', 55, anHourAgo);
  return { now, today, at, points, ledgerCount: points.length };
}

export async function seedScenario(s: Scenario, pool: pg.Pool, influxUrl: string, database: string): Promise<void> {
  await createPatient(pool, { id: 'pat-a', programId: 'heart_failure', displayName: 'Test Patient A' });
  await createPatient(pool, { id: 'pat-b', programId: 'cardiovascular_prevention', displayName: 'Test Patient B' });
  await createPatient(pool, { id: 'pat-c', programId: 'oral_chemotherapy', displayName: 'Test Patient C' });
  await createGateway(pool, { id: 'gw-a', patientId: 'pat-a' });
  await createGateway(pool, { id: 'gw-b', patientId: 'pat-b' });
  await createGateway(pool, { id: 'gw-c', patientId: 'pat-c' });
  for (const address of [CUFF_A, SCALE_A, THERMO_A, OXI_A, BAND_A])
    await bindDevice(pool, { gatewayId: 'gw-a', address, patientId: 'pat-a' });
  await bindDevice(pool, { gatewayId: 'gw-b', address: CUFF_B, patientId: 'pat-b' });
  // software versions as the heartbeats report them (gw-b on the new release, gw-c revoked: not counted)
  await pool.query(
    `UPDATE gateways SET online = true, last_seen_at = $2, software_version = '0.1.0', software_reported_at = $2 WHERE id = $1`,
    ['gw-a', new Date(s.now.getTime() - 120_000)],
  );
  await pool.query(
    `UPDATE gateways SET online = false, last_seen_at = $2, software_version = '0.2.0', software_reported_at = $2 WHERE id = $1`,
    ['gw-b', new Date(s.now.getTime() - 2 * DAY_MS)],
  );
  await revokeGateway(pool, 'gw-c');

  for (const [id, role] of [
    ['nurse-1', 'coordinating_nurse'],
    ['cardio-1', 'cardiologist'],
    ['gp-1', 'general_practitioner'],
    ['admin-1', 'admin'],
  ]) {
    await pool.query(`INSERT INTO professionals (id, display_name, role) VALUES ($1, $1, $2)`, [id, role]);
  }
  await pool.query(
    `INSERT INTO care_teams (id, program_id, name) VALUES ('team-hf', 'heart_failure', 'HF'), ('team-cv', 'cardiovascular_prevention', 'CV')`,
  );
  await pool.query(
    `INSERT INTO care_team_members (care_team_id, professional_id, role) VALUES
     ('team-hf', 'nurse-1', 'coordinating_nurse'), ('team-hf', 'cardio-1', 'cardiologist'), ('team-cv', 'gp-1', 'general_practitioner')`,
  );
  await pool.query(
    `INSERT INTO care_team_patients (care_team_id, patient_id) VALUES ('team-hf', 'pat-a'), ('team-cv', 'pat-b')`,
  );
  await pool.query(
    `INSERT INTO patient_consents (patient_id, professional_id, recorded_by) VALUES ('pat-a', 'nurse-1', 'nurse-1'), ('pat-a', 'cardio-1', 'nurse-1')`,
  );

  const episode = (
    patient: string,
    rule: string,
    severity: string,
    status: string,
    opened: Date,
    resolved: Date | null,
  ) =>
    pool.query(
      `INSERT INTO alert_episodes (patient_id, rule_id, severity, status, opened_at, acknowledged_at, resolved_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $4 <> 'open' THEN $5::timestamptz + interval '1 hour' END, $6)`,
      [patient, rule, severity, status, opened, resolved],
    );
  await episode('pat-a', 'bp_crisis', 'red', 'open', s.at(3, 20), null);
  await episode('pat-a', 'bp_home_mean', 'amber', 'acknowledged', s.at(2, 9), null);
  await episode('pat-a', 'weight_gain_3d', 'amber', 'resolved', s.at(1, 8), s.at(1, 20));
  await episode('pat-a', 'weight_gain_3d', 'amber', 'resolved', s.at(60, 8), s.at(59, 8));
  await episode('pat-b', 'spo2_low', 'red', 'open', s.at(3, 8), null);

  // the ledger: every reading, received during the last 6 hours (a flush after an outage)
  const rows = s.points.map((p, i) => [
    p.readingId,
    p.patientId,
    p.gatewayId,
    p.deviceAddress,
    p.driver,
    p.metric,
    p.value,
    p.measuredAt,
    new Date(s.now.getTime() - (1 + ((i * 7) % 360)) * 60_000),
  ]);
  const values = rows.map(
    (_, i) =>
      `($${i * 9 + 1}, $${i * 9 + 2}, $${i * 9 + 3}, $${i * 9 + 4}, $${i * 9 + 5}, $${i * 9 + 6}, $${i * 9 + 7}, '1', $${i * 9 + 8}, $${i * 9 + 9})`,
  );
  await pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, received_at) VALUES ${values.join(', ')}`,
    rows.flat(),
  );

  // through the hub's own store: its retention policies (raw points in the default RP), its
  // point schema and its batched writes
  const store = new TimeSeriesStore(influxUrl, database);
  await store.ensureDatabase();
  await store.write(s.points);
  // the rollups the boards read, as the hub's continuous queries compute them each hour
  const times = s.points.map((p) => p.measuredAt.getTime());
  await store.backfillDaily(new Date(Math.min(...times)), new Date(Math.max(...times)));
  const hb = (gateway: string, minutesAgo: number, depth: number) => ({
    measurement: HEARTBEAT_MEASUREMENT,
    tags: { gateway },
    fields: { queue_depth: depth, queue_bytes: depth * 300, uptime_s: 3600 },
    timestamp: new Date(s.now.getTime() - minutesAgo * 60_000),
  });
  await store.writeNow([hb('gw-a', 30, 0), hb('gw-a', 10, 0), hb('gw-b', 30, 12), hb('gw-b', 10, 40)]);
  await store.close();
}
