import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, createPatient, createProfessional } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/**
 * docs/security.md "HTTP edge": with security.sharedThrottling, two hub instances on one
 * database (multi-hub mode) share the failed-login budget and the block, for API tokens, MQTT
 * logins and the patient space's sign-in code requests; without it (the default) each instance
 * counts alone.
 */
let db: TestPostgres;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
const hubs: RunningHub[] = [];
let token = '';
let gatewayPassword = '';

async function hub(instanceId: string, shared: boolean): Promise<RunningHub> {
  const config = loadHubConfig({
    env: {},
    overrides: {
      instanceId,
      profile: 'development',
      postgres: { url: db.url },
      influx: { url: influx.url, database: influx.database },
      mqtt: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      security: { sharedThrottling: shared },
      logLevel: 'silent',
    },
  });
  const h = await startHub(config, pino({ level: 'silent' }), { schedulers: false });
  hubs.push(h);
  return h;
}

const get = async (h: RunningHub, bearer: string) =>
  (await fetch(`${h.httpUrl}/api/me`, { headers: { authorization: `Bearer ${bearer}` } })).status;

/** "Send me a code" in the patient space, for an address nobody has (the answer is the same). */
const askCode = async (h: RunningHub) =>
  (
    await fetch(`${h.httpUrl}/patient/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ address: 'nobody@example.org' }).toString(),
    })
  ).status;

/** CONNACK outcome of one MQTT login: 'ok' or the refusal. */
async function mqttLogin(h: RunningHub, username: string, password: string): Promise<string> {
  const c = mqtt.connect(h.mqttUrl, {
    username,
    password,
    clientId: username,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  try {
    return await new Promise<string>((resolve) => {
      c.once('connect', () => resolve('ok'));
      c.once('error', (e) => resolve(e.message));
      c.once('close', () => resolve('closed'));
    });
  } finally {
    c.end(true);
  }
}

beforeAll(async () => {
  db = await createTestPostgres('vigil_throttle');
  influx = await createTestInflux('vigil_throttle');
  token = (await createProfessional(db.pool, { id: 'thr-admin', displayName: 'A', role: 'admin' })).token;
  await createPatient(db.pool, { id: 'TH-1', programId: 'heart_failure', displayName: 'P' });
  gatewayPassword = (await createGateway(db.pool, { id: 'gw-th-1', patientId: 'TH-1' })).password;
}, 120_000);

afterAll(async () => {
  for (const h of hubs.reverse()) await h.stop();
  await influx.drop();
  await db.drop();
});

describe('failed-login throttling shared across hub instances', () => {
  it('a block earned on one instance holds on the other (API tokens, MQTT logins, patient sign-in codes)', async () => {
    const [a, b] = [await hub('thr-a', true), await hub('thr-b', true)];
    expect(await get(b, token)).toBe(200);
    // 20 failures per address in 10 min (DEFAULT_FAILURE_LIMIT), all on instance A
    const statuses: number[] = [];
    for (let i = 0; i < 22; i++) statuses.push(await get(a, `wrong-${i}`));
    expect(statuses.at(-1)).toBe(429);
    // instance B refuses even the right token from that address while the block lasts
    expect(await get(b, token)).toBe(429);
    const rows = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM failure_limits WHERE key LIKE 'api-auth:%'`,
    );
    expect(rows.rows[0]!.n).toBeGreaterThan(0);

    // MQTT: 10 wrong passwords for one box on A, then its right password on B
    for (let i = 0; i < 11; i++) expect(await mqttLogin(a, 'gw-th-1', `wrong-${i}`)).not.toBe('ok');
    expect(await mqttLogin(b, 'gw-th-1', gatewayPassword)).not.toBe('ok');

    // patient space: 10 code requests per address in 15 min, spread over the two instances
    const asked: number[] = [];
    for (let i = 0; i < 10; i++) asked.push(await askCode(i % 2 ? a : b));
    expect(asked).toEqual(Array(10).fill(200));
    expect(await askCode(a)).toBe(429);
    expect(await askCode(b)).toBe(429);
    await Promise.all([a.stop(), b.stop()]);
    hubs.length = 0;
  }, 120_000);

  it('without sharing, each instance counts alone', async () => {
    await db.pool.query('DELETE FROM failure_limits');
    const [a, b] = [await hub('thr-c', false), await hub('thr-d', false)];
    for (let i = 0; i < 22; i++) await get(a, `wrong-${i}`);
    expect(await get(a, token)).toBe(429);
    expect(await get(b, token)).toBe(200);
    expect(await mqttLogin(b, 'gw-th-1', gatewayPassword)).toBe('ok');
    for (let i = 0; i < 10; i++) expect(await askCode(a)).toBe(200);
    expect(await askCode(a)).toBe(429);
    expect(await askCode(b)).toBe(200);
    expect((await db.pool.query('SELECT 1 FROM failure_limits')).rows).toEqual([]);
  }, 120_000);
});
