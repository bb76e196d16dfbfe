import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readingId, topicFor, type Reading } from '../../contract';
import { bindDevice, createCareTeamWithMembers, createGateway, createPatient } from '../../hub/admin/provisioning';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { BloodPressureCuff, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';
import { gatewayProcessEnv, hubProcessEnv } from './support';

/**
 * Foundation end to end, real processes: virtual cuff (virtual BlueZ on a private D-Bus) ->
 * gateway process (node-ble, SQLite buffer, MQTT) -> hub process (embedded aedes, PostgreSQL,
 * InfluxDB, rules, API).
 */
const GW = 'gw-e2e-0001';
const PATIENT = 'P-E2E-1';
const CUFF = 'A4:C1:38:E2:E2:01';
// the cuff's clock keeps UTC (utcOffsetMinutes 0); the gateway runs with VIGIL_GATEWAY_TZ=UTC
const MEASURED = new Date(Math.floor((Date.now() - 3_600_000) / 1000) * 1000);
// clinical-rules.md rule 5: a crisis reading asks for a re-measure after 1-2 min; the second confirms it
const REMEASURED = new Date(MEASURED.getTime() + 90_000);

describe('a confirmed crisis reading from a virtual cuff becomes one red alert episode', () => {
  let pg: TestPostgres;
  let influxDb: { url: string; database: string; drop(): Promise<void> };
  let influx: InfluxDB;
  let vb: VirtualBluezHandle;
  let hub: ServiceProcess;
  let gateway: ServiceProcess | undefined;
  let gatewayPassword = '';
  let token = '';
  let dataDir = '';

  const count = async (measurement: string): Promise<number> => {
    const rows = await influx.query<{ count: number }>(
      `SELECT count("value") FROM "${measurement}" WHERE "patient" = '${PATIENT}'`,
    );
    return rows[0]?.count ?? 0;
  };
  const publishAsGateway = async (payload: string): Promise<void> => {
    const c = await mqtt.connectAsync(String(hub.ready.mqttUrl), {
      clientId: GW,
      username: GW,
      password: gatewayPassword,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await c.publishAsync(topicFor(GW, 'readings'), payload, { qos: 1 });
    await c.endAsync();
  };

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_e2e');
    influxDb = await createTestInflux('vigil_e2e');
    const u = new URL(influxDb.url);
    influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'E2E patient' });
    gatewayPassword = (await createGateway(pg.pool, { id: GW, patientId: PATIENT })).password;
    await bindDevice(pg.pool, { gatewayId: GW, address: CUFF, patientId: PATIENT });
    // the nurse sees the patient's alerts only as a care-team member the patient consented to
    const team = await createCareTeamWithMembers(pg.pool, {
      id: 'team-e2e',
      programId: 'heart_failure',
      name: 'E2E team',
      patientIds: [PATIENT],
      roles: ['coordinating_nurse'],
    });
    token = team.coordinating_nurse.token;

    hub = await startService('hub', 'hub/cli.ts', {
      readyEvent: 'hub.ready',
      env: hubProcessEnv('e2e', { pg, influx: influxDb }),
    });

    const cuff = new BloodPressureCuff({ address: CUFF, name: 'BP Cuff', recordIntervalMs: 20 });
    cuff.addReading({ systolic: 186, diastolic: 124, pulse: 96, time: MEASURED });
    cuff.addReading({ systolic: 184, diastolic: 122, pulse: 94, time: REMEASURED });
    vb = await startVirtualBluez({ peripherals: [cuff], adapter: { advertiseIntervalMs: 300 } });
    dataDir = mkdtempSync(join(tmpdir(), 'vigil-e2e-gw-'));
    gateway = await startService('gateway', 'gateway/cli.ts', {
      readyEvent: 'gateway.ready',
      env: gatewayProcessEnv({
        vb,
        gatewayId: GW,
        dataDir,
        mqttUrl: String(hub.ready.mqttUrl),
        password: gatewayPassword,
        devices: CUFF,
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await hub.stop();
    await vb.stop();
    await pg.drop();
    await influxDb.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores the reading in InfluxDB with its value, tags and device time', async () => {
    const rows = await until('the systolic point', async () => {
      const r = await influx.query<{
        time: Date;
        value: number;
        patient: string;
        gateway: string;
        device: string;
        driver: string;
        reading_id: string;
      }>(
        `SELECT "value", "reading_id", "patient", "gateway", "device", "driver" FROM "blood_pressure_systolic" WHERE "patient" = '${PATIENT}'`,
      );
      return r.length === 2 ? r : undefined;
    });
    expect(rows.map((r) => r.value)).toEqual([186, 184]);
    const p = rows[0]!;
    expect(p.value).toBe(186);
    expect([p.patient, p.gateway, p.device, p.driver]).toEqual([PATIENT, GW, CUFF, 'sig-blood-pressure']);
    expect(new Date(p.time).toISOString()).toBe(MEASURED.toISOString());
    expect(p.reading_id).toBe(
      readingId({
        device: { address: CUFF, driver: 'sig-blood-pressure' },
        metric: 'blood_pressure_systolic',
        deviceTime: MEASURED.toISOString().slice(0, 19),
        value: 186,
      }),
    );
    expect(await count('blood_pressure_diastolic')).toBe(2);
  });

  it('opens exactly one red episode, visible in the worklist API', async () => {
    const episodes = await until('the episode', async () => {
      const { rows } = await pg.pool.query(
        `SELECT rule_id, severity, status FROM alert_episodes WHERE patient_id = $1`,
        [PATIENT],
      );
      return rows.length ? rows : undefined;
    });
    expect(episodes).toEqual([{ rule_id: 'bp-hypertensive-crisis', severity: 'red', status: 'open' }]);
    const res = await fetch(`${String(hub.ready.httpUrl)}/api/alerts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { episodes: { patientId: string; severity: string }[] };
    expect(body.episodes.filter((e) => e.patientId === PATIENT).map((e) => e.severity)).toEqual(['red']);
    const anonymous = await fetch(`${String(hub.ready.httpUrl)}/api/alerts`);
    expect(anonymous.status).toBe(401);
  });

  it('files the gateway heartbeat for the fleet board', async () => {
    const hb = await until('a heartbeat point', async () => {
      const r = await influx.query<{ queue_depth: number; uptime_s: number }>(
        `SELECT "queue_depth", "uptime_s" FROM "gateway_heartbeat" WHERE "gateway" = '${GW}'`,
      );
      return r.length ? r : undefined;
    });
    expect(hb[0]!.queue_depth).toBeGreaterThanOrEqual(0);
    const { rows } = await pg.pool.query<{ last_seen_at: Date; online: boolean }>(
      `SELECT last_seen_at, online FROM gateways WHERE id = $1`,
      [GW],
    );
    expect(rows[0]?.online).toBe(true);
    expect(Date.now() - (rows[0]?.last_seen_at.getTime() ?? 0)).toBeLessThan(60_000);
  });

  it('empties the gateway buffer only after the hub receipts', async () => {
    await until('receipts', async () => {
      const { rows } = await pg.pool.query<{ n: number }>(
        `SELECT count(*)::int n FROM reading_ledger WHERE patient_id = $1 AND stored_at IS NOT NULL`,
        [PATIENT],
      );
      return (rows[0]?.n ?? 0) >= 8 ? true : undefined; // 2 x (systolic, diastolic, mean, pulse) (+ battery)
    });
    await gateway!.stop();
    gateway = undefined;
    const status = execFileSync(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', 'status'], {
      env: {
        ...process.env,
        VIGIL_GATEWAY_ID: GW,
        VIGIL_GATEWAY_DATA_DIR: dataDir,
        VIGIL_GATEWAY_MQTT_URL: 'mqtt://127.0.0.1:1',
        VIGIL_GATEWAY_PASSWORD: 'unused',
      },
    }).toString();
    // the status command prints the buffer state of the stopped gateway
    expect(status).toMatch(/"depth":0/);
  });

  it('a re-sent reading adds no point and no episode', async () => {
    const { rows } = await pg.pool.query<{ reading_id: string }>(
      `SELECT reading_id FROM reading_ledger WHERE patient_id = $1 AND metric = 'blood_pressure_systolic' ORDER BY measured_at LIMIT 1`,
      [PATIENT],
    );
    const id = rows[0]!.reading_id;
    const again: Reading = {
      id,
      gatewayId: GW,
      device: { address: CUFF, driver: 'sig-blood-pressure' },
      metric: 'blood_pressure_systolic',
      value: 186,
      unit: 'mm[Hg]',
      measuredAt: MEASURED.toISOString(),
      deviceTime: MEASURED.toISOString().slice(0, 19),
      flags: [],
    };
    await publishAsGateway(
      JSON.stringify({ v: 1, gatewayId: GW, batchId: 'resend-1', sentAt: new Date().toISOString(), readings: [again] }),
    );
    await until('the duplicate to be filed', async () => {
      const m = await (await fetch(`${String(hub.ready.httpUrl)}/metrics`)).text();
      return /vigil_ingest_readings_total\{outcome="duplicate"\} [1-9]/.test(m) ? true : undefined;
    });
    expect(await count('blood_pressure_systolic')).toBe(2);
    const { rows: eps } = await pg.pool.query<{ n: number }>(
      `SELECT count(*)::int n FROM alert_episodes WHERE patient_id = $1`,
      [PATIENT],
    );
    expect(eps[0]?.n).toBe(1);
  });

  it('a malformed payload goes to the dead letters, is counted, and the next valid reading is stored', async () => {
    await publishAsGateway('{"v":1, this is not json');
    const dead = await until('the dead letter', async () => {
      const { rows } = await pg.pool.query<{ code: string }>(`SELECT code FROM dead_letters WHERE gateway_id = $1`, [
        GW,
      ]);
      return rows.length ? rows : undefined;
    });
    expect(dead.map((r) => r.code)).toContain('MALFORMED_JSON');
    const metrics = await (await fetch(`${String(hub.ready.httpUrl)}/metrics`)).text();
    expect(metrics).toMatch(/vigil_ingest_rejected_payloads_total\{code="MALFORMED_JSON"\} 1/);

    const t = new Date(MEASURED.getTime() + 600_000);
    const device = { address: CUFF, driver: 'sig-blood-pressure' };
    const next: Reading = {
      id: readingId({
        device,
        metric: 'blood_pressure_systolic',
        deviceTime: t.toISOString().slice(0, 19),
        value: 150,
      }),
      gatewayId: GW,
      device,
      metric: 'blood_pressure_systolic',
      value: 150,
      unit: 'mm[Hg]',
      measuredAt: t.toISOString(),
      deviceTime: t.toISOString().slice(0, 19),
      flags: [],
    };
    await publishAsGateway(
      JSON.stringify({ v: 1, gatewayId: GW, batchId: 'after-bad', sentAt: new Date().toISOString(), readings: [next] }),
    );
    await until('the valid reading', async () => ((await count('blood_pressure_systolic')) === 3 ? true : undefined));
  });
});
