import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { remoteGatewayConfigSchema, topicFor } from '../../contract';
import { PairingStore } from '../../gateway/pairing/pairing-store';
import { createCareTeamWithMembers, createGateway, createPatient } from '../../hub/admin/provisioning';
import type { RunningHub } from '../../hub/main';
import type { ServiceProcess } from '../../scripts/lib/processes';
import { Thermometer, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';
import { freePort, startGatewayProcess, startTestHub, stopAll, writeGatewayConfig } from './support';

/**
 * The patient's new thermometer arrives by post. Nobody touches the box: the home nurse, on the
 * phone with the patient, opens the box's pairing window from the hub API; the box receives it on
 * its retained config topic, pairs the thermometer measured next to it, and its reading reaches
 * the patient's record. Before the window the thermometer was ignored. A restarted hub (its
 * embedded broker forgets retained messages) publishes the config again from PostgreSQL.
 */
const GW = 'gw-e2e-pairing-01';
const PATIENT = 'P-E2E-PAIRING';
const THERMO = 'A4:C1:38:0B:00:01';

describe('pairing window opened from the hub: a new device paired without touching the box', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub | undefined;
  let vb: VirtualBluezHandle;
  let thermo: Thermometer;
  let gateway: ServiceProcess | undefined;
  let dir: string;
  let mqttPort: number;
  let password: string;
  let nurseToken: string;

  const startTheHub = () => startTestHub({ pg, influx, mqttPort });
  const temperatures = async () =>
    (
      await pg.pool.query<{ value: number }>(
        `SELECT value FROM reading_ledger WHERE patient_id = $1 AND metric = 'body_temperature' AND stored_at IS NOT NULL`,
        [PATIENT],
      )
    ).rows.map((r) => r.value);

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_pairing'), createTestInflux('vigil_pairing')]);
    mqttPort = await freePort();
    hub = await startTheHub();
    await createPatient(pg.pool, { id: PATIENT, programId: 'oral_chemotherapy', displayName: 'Pairing patient' });
    password = (await createGateway(pg.pool, { id: GW, patientId: PATIENT })).password;
    nurseToken = (
      await createCareTeamWithMembers(pg.pool, {
        id: 'team-pairing',
        programId: 'oral_chemotherapy',
        name: 'Pairing team',
        patientIds: [PATIENT],
        roles: ['home_nurse'],
      })
    ).home_nurse.token;
    thermo = new Thermometer({ address: THERMO, name: 'Thermometer', rssi: -55 });
    thermo.addReading({ celsius: 38.4, time: new Date(Date.UTC(2026, 10, 23, 7, 30)) });
    vb = await startVirtualBluez({ peripherals: [thermo], adapter: { advertiseIntervalMs: 150 } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-pairing-'));
    const config = writeGatewayConfig(dir, {
      gatewayId: GW,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      password,
      logLevel: 'info',
      // nothing paired: the box as it left the clinic, before the thermometer arrived
      allow: [],
    });
    gateway = await startGatewayProcess(config, vb);
  }, 120_000);

  afterAll(() => stopAll({ gateway, vb, hub, stores: [pg, influx], dir }));

  it('ignores the unpaired thermometer, then pairs it once the nurse opens the window from the hub', async () => {
    await until('the box online', async () =>
      (await pg.pool.query<{ online: boolean }>('SELECT online FROM gateways WHERE id = $1', [GW])).rows[0]?.online
        ? true
        : undefined,
    );
    // the thermometer advertises next to the box for a while: outside a window nothing is read.
    // The marker: the box's discovery got twenty of its advertising reports, and never connected
    let connections = 0;
    thermo.on('connected', () => connections++);
    const heard = vb.bluez.advertisementsReported(THERMO);
    await until('twenty advertisements heard by the box', () =>
      vb.bluez.advertisementsReported(THERMO) >= heard + 20 ? true : undefined,
    );
    expect(connections).toBe(0);
    expect(await temperatures()).toEqual([]);

    const res = await fetch(`${hub!.httpUrl}/api/patients/${PATIENT}/gateways/${GW}/pairing-window`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nurseToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ seconds: 120 }),
    });
    expect(res.status).toBe(200);
    const window = (await res.json()) as { openUntil: string };
    expect(Date.parse(window.openUntil)).toBeGreaterThan(Date.now());

    expect(
      await until(
        'the temperature in the record',
        async () => ((await temperatures()).length ? temperatures() : undefined),
        30_000,
      ),
    ).toEqual([38.4]);
    await until('the window logged by the box', () =>
      gateway!.lines.some((l) => l.includes('PAIRING_WINDOW_OPEN')) ? true : undefined,
    );
    const store = new PairingStore(join(dir, 'data', 'buffer.sqlite'));
    try {
      expect(store.list().find((d) => d.address === THERMO)).toMatchObject({ source: 'window' });
    } finally {
      store.close();
    }
  });

  it('a restarted hub publishes the box config again (retained messages of the embedded broker are in memory)', async () => {
    await gateway!.stop();
    gateway = undefined;
    await hub!.stop();
    hub = await startTheHub();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      clientId: GW,
      username: GW,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    try {
      const got = new Promise<unknown>((resolve) =>
        client.on('message', (_t, payload) => resolve(JSON.parse(payload.toString('utf8')))),
      );
      await client.subscribeAsync(topicFor(GW, 'config'), { qos: 1 });
      const config = remoteGatewayConfigSchema.parse(await got);
      expect(config.pairing?.openUntil).toBeDefined();
    } finally {
      await client.endAsync();
    }
  });
});
