import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadingBuffer } from '../../gateway/buffer/reading-buffer';
import { createGateway, createPatient } from '../../hub/admin/provisioning';
import type { RunningHub } from '../../hub/main';
import type { ServiceProcess } from '../../scripts/lib/processes';
import {
  BloodPressureCuff,
  GlucoseMeter,
  startVirtualBluez,
  type VirtualBluezHandle,
} from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until as waitUntil } from '../support/wait';
import { freePort, startGatewayProcess, startTestHub, stopAll, writeGatewayConfig } from './support';

/**
 * Issue 4 "Done when", outage test: the hub goes away while the patient keeps measuring (a glucose
 * meter with RACP records and a cuff); the gateway process queues the readings in its buffer; when
 * the hub comes back on the same address they all arrive, in order per device, none twice.
 */
const GW = 'gw-e2e-outage-01';
const PATIENT = 'P-E2E-OUTAGE';
const METER = 'A4:C1:38:0A:00:01';
const CUFF = 'A4:C1:38:0A:00:02';
const T0 = Date.UTC(2026, 2, 1, 6, 0, 0);
const minute = (i: number) => new Date(T0 + i * 60_000);

const until = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000) =>
  waitUntil(what, fn, timeoutMs);

describe('outage: the hub is away, readings queue on the box, then all arrive once and in order', () => {
  let pg: TestPostgres;
  let influxDb: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub | undefined;
  let vb: VirtualBluezHandle;
  let meter: GlucoseMeter;
  let cuff: BloodPressureCuff;
  let gateway: ServiceProcess | undefined;
  let dir: string;
  let mqttPort: number;

  const startTheHub = () => startTestHub({ pg, influx: influxDb, mqttPort });
  const ledger = async (metric: string) =>
    (
      await pg.pool.query<{ measured_at: Date; received_at: Date; reading_id: string }>(
        `SELECT measured_at, received_at, reading_id FROM reading_ledger WHERE gateway_id = $1 AND metric = $2 AND stored_at IS NOT NULL ORDER BY measured_at`,
        [GW, metric],
      )
    ).rows;
  const bufferDepth = () => {
    const b = new ReadingBuffer(join(dir, 'data', 'buffer.sqlite'));
    const s = b.stats();
    b.close();
    return s.depth;
  };

  beforeAll(async () => {
    [pg, influxDb] = await Promise.all([createTestPostgres('vigil_outage'), createTestInflux('vigil_outage')]);
    mqttPort = await freePort();
    hub = await startTheHub();
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Outage patient' });
    const password = (await createGateway(pg.pool, { id: GW, patientId: PATIENT })).password;
    meter = new GlucoseMeter({ address: METER, name: 'Glucose', recordIntervalMs: 1 });
    for (let i = 1; i <= 50; i++) meter.addReading({ mmolPerL: 5 + i / 100, time: minute(i) });
    cuff = new BloodPressureCuff({ address: CUFF, name: 'BP Cuff', recordIntervalMs: 5 });
    cuff.addReading({ systolic: 120, diastolic: 80, time: minute(0) });
    vb = await startVirtualBluez({ peripherals: [meter, cuff], adapter: { advertiseIntervalMs: 150 } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-outage-'));
    const config = writeGatewayConfig(dir, {
      gatewayId: GW,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      password,
      allow: [METER, CUFF],
      mqtt: { batchSize: 50, receiptTimeoutMs: 3_000 },
    });
    gateway = await startGatewayProcess(config, vb);
  }, 120_000);

  afterAll(() => stopAll({ gateway, vb, hub, stores: [pg, influxDb], dir }));

  it('queues while the hub is stopped and delivers everything once, in order per device, when it returns', async () => {
    await until('the first 50 records', async () => ((await ledger('glucose')).length === 50 ? true : undefined));
    await hub!.stop();
    hub = undefined;

    // the patient keeps measuring during the outage
    for (let i = 51; i <= 350; i++) meter.addReading({ mmolPerL: 5 + i / 100, time: minute(i) });
    for (let k = 1; k <= 6; k++) cuff.addReading({ systolic: 120 + k, diastolic: 80 + k, time: minute(k * 50) });
    // everything is pulled from the devices and committed on the box while the hub is away
    // (the marker that the outage lasted long enough: every new record is committed on the box)
    await until('the queue on the box', () => (bufferDepth() >= 300 + 6 * 3 ? true : undefined));
    expect((await ledger('glucose')).length).toBe(50);

    hub = await startTheHub();
    const glucose = await until('all 350 records', async () => {
      const rows = await ledger('glucose');
      return rows.length >= 350 ? rows : undefined;
    });
    await until('the cuff readings', async () =>
      (await ledger('blood_pressure_systolic')).length >= 7 ? true : undefined,
    );
    await until('the buffer empty', () => (bufferDepth() === 0 ? true : undefined), 20_000);

    // all, once
    expect(glucose.map((r) => new Date(r.measured_at).getTime())).toEqual(
      Array.from({ length: 350 }, (_, i) => minute(i + 1).getTime()),
    );
    expect(new Set(glucose.map((r) => r.reading_id)).size).toBe(350);
    const systolic = await ledger('blood_pressure_systolic');
    expect(systolic).toHaveLength(7);
    // in order per device: a later measurement was never filed before an earlier one
    for (const rows of [glucose, systolic]) {
      for (let k = 1; k < rows.length; k++)
        expect(new Date(rows[k]!.received_at).getTime()).toBeGreaterThanOrEqual(
          new Date(rows[k - 1]!.received_at).getTime(),
        );
    }
    const u = new URL(influxDb.url);
    const influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
    const [g] = await influx.query<{ count: number }>(
      `SELECT count("value") FROM "glucose" WHERE "patient" = '${PATIENT}'`,
    );
    const [s] = await influx.query<{ count: number }>(
      `SELECT count("value") FROM "blood_pressure_systolic" WHERE "patient" = '${PATIENT}'`,
    );
    expect([g?.count, s?.count]).toEqual([350, 7]);
  }, 150_000);
});
