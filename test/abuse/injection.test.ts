/**
 * Issue 8 abuse tests: SQL and InfluxQL / line-protocol injection attempts in ids, tags and query
 * parameters, over MQTT and HTTP. Each is refused with a clear error and stores nothing.
 * Real parts: the hub (embedded aedes), PostgreSQL, InfluxDB.
 */
import { InfluxDB } from 'influx';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readingId, topicFor } from '../../contract';
import { bindDevice, createCareTeamWithMembers, createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

const GW = 'gw-abuse-0001';
const PATIENT = 'P-ABUSE-1';
const OTHER = 'P-ABUSE-2';
const CUFF = 'A4:C1:38:AB:00:01';

let pg: TestPostgres;
let influxDb: Awaited<ReturnType<typeof createTestInflux>>;
let influx: InfluxDB;
let hub: RunningHub;
let password = '';
let token = '';

const publish = async (payload: string): Promise<void> => {
  const c = await mqtt.connectAsync(hub.mqttUrl, { clientId: GW, username: GW, password, reconnectPeriod: 0 });
  await c.publishAsync(topicFor(GW, 'readings'), payload, { qos: 1 });
  await c.endAsync();
};
const api = (path: string) => fetch(`${hub.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
const points = async (measurement: string, patient: string): Promise<number> =>
  (
    await influx.query<{ count: number }>(`SELECT count("value") FROM "${measurement}" WHERE "patient" = '${patient}'`)
  )[0]?.count ?? 0;

beforeAll(async () => {
  pg = await createTestPostgres('vigil_abuse');
  influxDb = await createTestInflux('vigil_abuse');
  const u = new URL(influxDb.url);
  influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
  await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Abuse 1' });
  await createPatient(pg.pool, { id: OTHER, programId: 'heart_failure', displayName: 'Abuse 2' });
  password = (await createGateway(pg.pool, { id: GW, patientId: PATIENT })).password;
  await bindDevice(pg.pool, { gatewayId: GW, address: CUFF, patientId: PATIENT });
  token = (
    await createCareTeamWithMembers(pg.pool, {
      id: 'team-abuse',
      programId: 'heart_failure',
      name: 'Abuse team',
      patientIds: [PATIENT],
      roles: ['coordinating_nurse'],
    })
  ).coordinating_nurse.token;
  hub = await startHub(
    loadHubConfig({
      env: {},
      overrides: {
        instanceId: 'abuse',
        postgres: { url: pg.url },
        influx: { url: influxDb.url, database: influxDb.database },
        mqtt: { mode: 'embedded', host: '127.0.0.1', port: 0 },
        http: { port: 0 },
        logLevel: 'silent',
      },
    }),
  );
}, 60_000);

afterAll(async () => {
  await hub.stop();
  await pg.drop();
  await influxDb.drop();
});

describe('injection attempts over MQTT', () => {
  it('line-protocol injection in the driver tag or the address is dead-lettered, nothing written for anyone', async () => {
    const t = '2026-01-05T08:00:00';
    const base = {
      gatewayId: GW,
      metric: 'blood_pressure_systolic',
      value: 150,
      unit: 'mm[Hg]',
      measuredAt: `${t}.000Z`,
      deviceTime: t,
      flags: [],
    };
    const evil = [
      {
        ...base,
        id: readingId({ device: { address: CUFF, driver: 'x' }, metric: 'blood_pressure_systolic', deviceTime: t }),
        device: { address: CUFF, driver: `x,patient=${OTHER} value=300` },
      },
      {
        ...base,
        id: readingId({ device: { address: CUFF, driver: 'y' }, metric: 'blood_pressure_systolic', deviceTime: t }),
        device: { address: `${CUFF}' OR '1'='1`, driver: 'sig-blood-pressure' },
      },
      {
        ...base,
        id: readingId({ device: { address: CUFF, driver: 'z' }, metric: 'blood_pressure_systolic', deviceTime: t }),
        device: { address: CUFF, driver: 'sig-blood-pressure' },
        metric: 'blood_pressure_systolic"; DROP MEASUREMENT blood_pressure_systolic; --',
      },
    ];
    await publish(
      JSON.stringify({ v: 1, gatewayId: GW, batchId: 'evil-1', sentAt: new Date().toISOString(), readings: evil }),
    );
    const dead = await until('the dead letters', async () => {
      const { rows } = await pg.pool.query<{ code: string }>(`SELECT code FROM dead_letters WHERE gateway_id = $1`, [
        GW,
      ]);
      return rows.length >= 3 ? rows : undefined;
    });
    expect(dead.map((r) => r.code)).toEqual(['INVALID_READING', 'INVALID_READING', 'INVALID_READING']);
    expect(await points('blood_pressure_systolic', OTHER)).toBe(0);
    expect(await points('blood_pressure_systolic', PATIENT)).toBe(0);
    const { rows } = await pg.pool.query<{ n: number }>(`SELECT count(*)::int n FROM reading_ledger`);
    expect(rows[0]?.n).toBe(0);
  });

  it('SQL in the MQTT username is refused at CONNECT and the gateways table is intact', async () => {
    const evilUser = "gw'; DROP TABLE gateways; --";
    const outcome = await new Promise<string>((resolve) => {
      const c = mqtt.connect(hub.mqttUrl, {
        clientId: evilUser,
        username: evilUser,
        password: 'x',
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      c.once('connect', () => resolve('connected'));
      c.once('error', (e) => resolve(`refused: ${(e as Error & { code?: number }).code ?? e.message}`));
      setTimeout(() => c.end(true), 5000);
    });
    expect(outcome).toBe('refused: 5'); // CONNACK 5, not authorized (MQTT 3.1.1 3.2.2.3)
    const { rows } = await pg.pool.query<{ n: number }>(`SELECT count(*)::int n FROM gateways`);
    expect(rows[0]?.n).toBe(1);
  });

  it('a gateway cannot publish for another gateway id inside its own topic', async () => {
    const t = '2026-01-05T09:00:00';
    const device = { address: CUFF, driver: 'sig-blood-pressure' };
    const reading = {
      id: readingId({ device, metric: 'blood_pressure_systolic', deviceTime: t }),
      gatewayId: 'gw-someone-else',
      device,
      metric: 'blood_pressure_systolic',
      value: 140,
      unit: 'mm[Hg]',
      measuredAt: `${t}.000Z`,
      deviceTime: t,
      flags: [],
    };
    await publish(
      JSON.stringify({
        v: 1,
        gatewayId: 'gw-someone-else',
        batchId: 'mismatch',
        sentAt: new Date().toISOString(),
        readings: [reading],
      }),
    );
    await until('the mismatch dead letter', async () => {
      const { rows } = await pg.pool.query(`SELECT 1 FROM dead_letters WHERE code = 'GATEWAY_MISMATCH'`);
      return rows.length ? true : undefined;
    });
    expect(await points('blood_pressure_systolic', PATIENT)).toBe(0);
  });
});

describe('injection attempts over HTTP', () => {
  it('SQL and InfluxQL in path and query parameters get 400 INVALID_REQUEST', async () => {
    for (const path of [
      `/api/patients/${encodeURIComponent(`${PATIENT}' OR '1'='1`)}/readings`,
      `/api/patients/${encodeURIComponent(`${PATIENT}"; DROP DATABASE x`)}/readings`,
      `/api/patients/${PATIENT}/readings?metric=${encodeURIComponent('blood_pressure_systolic" WHERE 1=1 --')}`,
      `/api/patients/${PATIENT}/readings?from=${encodeURIComponent("now() - 1000d' OR 1=1")}`,
    ]) {
      const res = await api(path);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { code: string }).code, path).toBe('INVALID_REQUEST');
    }
  });

  it("a valid id of another care team's patient is forbidden, not leaked", async () => {
    const res = await api(`/api/patients/${OTHER}/readings`);
    expect([403, 404]).toContain(res.status);
    const body = (await res.json()) as { code: string; readings?: unknown };
    expect(body.readings).toBeUndefined();
  });
});
