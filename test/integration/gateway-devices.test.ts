import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMiScaleServiceData } from '../../drivers/encoders';
import { BluezTransport } from '../../gateway/ble/bluez-transport';
import { gatewayConfigSchema } from '../../gateway/config/schema';
import { startGateway, type RunningGateway } from '../../gateway/main';
import { bindDevice, createGateway, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import {
  ActivityTracker,
  AdvertisingScale,
  BloodPressureCuff,
  GlucoseMeter,
  Oximeter,
  Thermometer,
  WeightScale,
  dateTimeFields,
  startVirtualBluez,
  type VirtualBluezHandle,
} from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';

/**
 * Issue 4 "Done when": the real node-ble backend against the virtual BlueZ, every virtual device
 * through the gateway (in-process, real SQLite buffer, real MQTT) to an in-process hub (embedded
 * broker, PostgreSQL, InfluxDB). Pairing, multi-user quarantine, RACP sync and clocks on one bench.
 */
const GW = 'gw-it-devices-01';
const P1 = 'P-GWD-1';
const P2 = 'P-GWD-2';
const A = {
  cuff: 'A4:C1:38:40:00:01',
  scale: 'A4:C1:38:40:00:02',
  thermo: 'A4:C1:38:40:00:03',
  oxi: 'A4:C1:38:40:00:04',
  glucose: 'A4:C1:38:40:00:05',
  tracker: 'A4:C1:38:40:00:06',
  miScale: 'A4:C1:38:40:00:07',
  unsetCuff: 'A4:C1:38:40:00:08',
  newCuff: 'A4:C1:38:40:00:09',
  neighbour: 'A4:C1:38:40:00:99',
};
const PAIRED = [A.cuff, A.scale, A.thermo, A.oxi, A.glucose, A.tracker, A.miScale, A.unsetCuff];
const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
const T0 = sec(Date.now() - 2 * 3_600_000);

describe('gateway with every virtual device (node-ble on the virtual BlueZ) -> hub -> InfluxDB', () => {
  let pg: TestPostgres;
  let influxDb: Awaited<ReturnType<typeof createTestInflux>>;
  let influx: InfluxDB;
  let hub: RunningHub;
  let vb: VirtualBluezHandle;
  let gw: RunningGateway;
  let dataDir: string;
  let password: string;
  let glucose: GlucoseMeter;

  const points = async (metric: string, device: string) =>
    influx.query<{ time: Date; value: number; patient: string }>(
      `SELECT "value", "patient" FROM "${metric}" WHERE "device" = '${device}' ORDER BY time`,
    );

  beforeAll(async () => {
    [pg, influxDb] = await Promise.all([createTestPostgres('vigil_gwdev'), createTestInflux('vigil_gwdev')]);
    const u = new URL(influxDb.url);
    influx = new InfluxDB({ host: u.hostname, port: Number(u.port), database: influxDb.database });
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influxDb.url, database: influxDb.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
        },
      }),
    );
    await createPatient(pg.pool, { id: P1, programId: 'heart_failure', displayName: 'IT patient 1' });
    await createPatient(pg.pool, { id: P2, programId: 'heart_failure', displayName: 'IT patient 2' });
    password = (await createGateway(pg.pool, { id: GW, patientId: P1 })).password;
    // the household scale: user 1 -> P1, user 2 -> P2; user 3 is nobody's (quarantined by the hub)
    await bindDevice(pg.pool, { gatewayId: GW, address: A.scale, userIndex: 1, patientId: P1 });
    await bindDevice(pg.pool, { gatewayId: GW, address: A.scale, userIndex: 2, patientId: P2 });

    const cuff = new BloodPressureCuff({ address: A.cuff, name: 'BP Cuff', recordIntervalMs: 5 });
    cuff.addReading({ systolic: 132, diastolic: 84, pulse: 70, time: T0 });
    const scale = new WeightScale({ address: A.scale, name: 'Scale', recordIntervalMs: 5 });
    scale.addReading({ weight: 82.4, userId: 1, time: T0 });
    scale.addReading({ weight: 61, userId: 2, time: new Date(T0.getTime() + 60_000) });
    scale.addReading({ weight: 70, userId: 3, time: new Date(T0.getTime() + 120_000) });
    // the thermometer's clock is 3 h fast: its time stamp is corrected by the offset read over CTS
    const thermo = new Thermometer({
      address: A.thermo,
      name: 'Thermometer',
      clockOffsetMs: 3 * 3_600_000,
      recordIntervalMs: 5,
    });
    thermo.addReading({ celsius: 38.4, time: new Date(T0.getTime() + 3 * 3_600_000) });
    const oxi = new Oximeter({ address: A.oxi, name: 'Oximeter', recordIntervalMs: 5 });
    oxi.addReading({ spo2: 96, pulseRate: 72, time: T0 });
    glucose = new GlucoseMeter({ address: A.glucose, name: 'Glucose', recordIntervalMs: 1 });
    for (let i = 0; i < 30; i++)
      glucose.addReading({
        mmolPerL: 5 + i / 10,
        time: new Date(T0.getTime() + i * 60_000),
        ...(i === 29 ? { hba1c: 6.8 } : {}),
      });
    const tracker = new ActivityTracker({ address: A.tracker, name: 'Tracker' });
    tracker.addHeartRate(64);
    const mi = new AdvertisingScale({
      address: A.miScale,
      name: 'MI SCALE2',
      initial: encodeMiScaleServiceData({ weight: 75.3, time: dateTimeFields(T0) }),
    });
    // a cuff whose clock was never set (2000-01-01): the reading is kept, dated on reception, flagged
    const unset = new BloodPressureCuff({ address: A.unsetCuff, name: 'BP Cuff', recordIntervalMs: 5 });
    unset.setDeviceTime(new Date(Date.UTC(2000, 0, 1, 0, 5)));
    unset.addReading({ systolic: 150, diastolic: 95 });
    const newCuff = new BloodPressureCuff({ address: A.newCuff, name: 'BP Cuff', rssi: -50, recordIntervalMs: 5 });
    newCuff.addReading({ systolic: 121, diastolic: 79, time: T0 });
    // heard through the wall: weak signal, never paired, never filed
    const neighbour = new WeightScale({ address: A.neighbour, name: 'Scale', rssi: -92 });
    neighbour.addReading({ weight: 99.9, time: T0 });

    vb = await startVirtualBluez({
      peripherals: [cuff, scale, thermo, oxi, glucose, tracker, mi, unset, newCuff, neighbour],
      adapter: { advertiseIntervalMs: 200 },
    });
    dataDir = mkdtempSync(join(tmpdir(), 'vigil-gwdev-'));
    const config = gatewayConfigSchema.parse({
      gatewayId: GW,
      dataDir,
      timeZone: 'UTC',
      mqtt: { url: hub.mqttUrl, password, batchSize: 50, receiptTimeoutMs: 5_000, heartbeatIntervalMs: 1_000 },
      ble: {
        connectTimeoutMs: 5_000,
        idleDisconnectMs: 400,
        backoffInitialMs: 100,
        backoffMaxMs: 1_000,
        cooldownMs: 500,
      },
      devices: { allow: PAIRED },
      logLevel: 'silent',
    });
    gw = await startGateway(
      config,
      { transport: new BluezTransport({ busAddress: vb.address, connectTimeoutMs: 5_000 }) },
      pino({ level: 'silent' }),
    );
  }, 120_000);

  afterAll(async () => {
    await gw.stop();
    await vb.stop();
    await hub.stop();
    await Promise.all([pg.drop(), influxDb.drop()]);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('files each device reading in InfluxDB with its value, patient and corrected time', async () => {
    const expectOne = async (metric: string, device: string, value: number, time?: Date, patient = P1) => {
      const rows = await until(`${metric} of ${device}`, async () => {
        const r = (await points(metric, device)).filter((p) => p.patient === patient);
        return r.length ? r : undefined;
      });
      expect(rows, `${metric} ${device}`).toHaveLength(1);
      expect(rows[0]!.value).toBeCloseTo(value, 2);
      expect(rows[0]!.patient).toBe(patient);
      if (time) expect(new Date(rows[0]!.time).toISOString()).toBe(time.toISOString());
      return rows[0]!;
    };
    await expectOne('blood_pressure_systolic', A.cuff, 132, T0);
    await expectOne('blood_pressure_diastolic', A.cuff, 84, T0);
    await expectOne('heart_rate', A.cuff, 70, T0);
    await expectOne('body_weight', A.scale, 82.4, T0);
    await expectOne('body_weight', A.scale, 61, new Date(T0.getTime() + 60_000), P2);
    // 3 h fast clock: the device time stamp says T0 + 3 h, the point is at T0
    await expectOne('body_temperature', A.thermo, 38.4, T0);
    await expectOne('spo2', A.oxi, 96, T0);
    await expectOne('heart_rate', A.oxi, 72, T0);
    await expectOne('heart_rate', A.tracker, 64);
    await expectOne('body_weight', A.miScale, 75.3, T0);
    await expectOne('hba1c', A.glucose, 6.8, new Date(T0.getTime() + 29 * 60_000));
    const g = await until('30 glucose points', async () => {
      const r = await points('glucose', A.glucose);
      return r.length >= 30 ? r : undefined;
    });
    expect(g.map((p) => Math.round(p.value * 10) / 10)).toEqual(
      Array.from({ length: 30 }, (_, i) => Math.round((5 + i / 10) * 10) / 10),
    );
    // the unset clock (2000-01-01) is not believed: the point is dated on reception, not in 2000
    const unset = await expectOne('blood_pressure_systolic', A.unsetCuff, 150);
    expect(Math.abs(new Date(unset.time).getTime() - Date.now())).toBeLessThan(120_000);
    // the thermometer's clock was set right after its records were read (CTS write)
    await until('the thermometer clock set', () =>
      Math.abs(vb.get(A.thermo).clockOffsetMs) < 5_000 ? true : undefined,
    );
  }, 60_000);

  it('keeps an unknown user of the household scale out of every record (hub quarantine)', async () => {
    const q = await until('the quarantined reading', async () => {
      // (the shared scale's battery level has no user: it is quarantined too, not filed to anyone)
      const { rows } = await pg.pool.query<{ user_index: number; reason: string; metric: string }>(
        `SELECT user_index, reason, metric FROM quarantined_readings WHERE device_address = $1 AND metric = 'body_weight'`,
        [A.scale],
      );
      return rows.length ? rows : undefined;
    });
    expect(q).toEqual([{ user_index: 3, reason: 'UNKNOWN_USER', metric: 'body_weight' }]);
    const weights = await points('body_weight', A.scale);
    expect(weights.map((w) => [w.value, w.patient])).toEqual([
      [82.4, P1],
      [61, P2],
    ]);
  });

  it('ignores devices outside the allow-list until a pairing window opened by the CLI; a weak neighbour stays out', async () => {
    // the gateway heard the new cuff and turned it away (not merely has not heard it yet)
    await until('the unpaired cuff ignored', () => (gw.devices.counters.ignoredUnpaired > 0 ? true : undefined));
    expect(await points('blood_pressure_systolic', A.newCuff)).toHaveLength(0);
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'gateway/cli.ts', 'pair', '--seconds', '5'], {
      env: {
        ...process.env,
        VIGIL_GATEWAY_ID: GW,
        VIGIL_GATEWAY_DATA_DIR: dataDir,
        VIGIL_GATEWAY_MQTT_URL: hub.mqttUrl,
        VIGIL_GATEWAY_PASSWORD: password,
      },
    }).toString();
    expect(out).toMatch(/"event":"pairing.window"/);
    const rows = await until('the newly paired cuff', async () => {
      const r = await points('blood_pressure_systolic', A.newCuff);
      return r.length ? r : undefined;
    });
    expect(rows[0]!.value).toBe(121);
    expect(gw.pairing.list().find((d) => d.address === A.newCuff)).toMatchObject({
      source: 'window',
      driver: 'sig-blood-pressure',
    });
    expect(gw.pairing.list().some((d) => d.address === A.neighbour)).toBe(false);
    const anywhere = await pg.pool.query<{ n: number }>(
      'SELECT count(*)::int n FROM reading_ledger WHERE device_address = $1',
      [A.neighbour],
    );
    const quarantined = await pg.pool.query<{ n: number }>(
      'SELECT count(*)::int n FROM quarantined_readings WHERE device_address = $1',
      [A.neighbour],
    );
    expect([anywhere.rows[0]?.n, quarantined.rows[0]?.n]).toEqual([0, 0]);
  }, 40_000);

  /**
   * The moment after which a record sent twice would show: a later sync of the meter has begun
   * (so the session before it ended and committed what it read), and the box's buffer is empty
   * (everything committed was filed and receipted by the hub).
   */
  const glucoseSettled = async () => {
    const racpCount = () => vb.get(A.glucose).writes.filter((w) => w.characteristic === '2a52').length;
    const before = racpCount();
    await until(
      'a later sync, and the buffer sent',
      () => (racpCount() > before && gw.buffer.stats().depth === 0 ? true : undefined),
      30_000,
    );
  };

  it('RACP: a second sync pulls nothing; new records after a link drop mid-transfer arrive once; stale transfers and busy adapters recover', async () => {
    const cursorOf = () => gw.buffer.cursor(A.glucose);
    await until('cursor at 30', () => (cursorOf() === 30 ? true : undefined));
    const racpWrites = () =>
      vb
        .get(A.glucose)
        .writes.filter((w) => w.characteristic === '2a52')
        .map((w) => Buffer.from(w.value).toString('hex'));
    // first sync: report all (01 01); later syncs: >= last + 1 (01 03 01 1f00)
    await until('a second sync', () => (racpWrites().includes('0103011f00') ? true : undefined));
    expect(racpWrites()[0]).toBe('0101');
    // the second sync finds nothing after the cursor, and checks the numbering with the last
    // record only (01 06): it is not new, so nothing more reaches the buffer or the hub. Every
    // later sync (sessions run side by side, so there may be several by now) does the same: each
    // numbering check sends exactly one record, nothing else is sent again
    await until('the numbering check', () => {
      const checks = racpWrites().filter((w) => w === '0106').length;
      return checks >= 1 && glucose.sentRecords === 30 + checks ? true : undefined;
    });
    await glucoseSettled();
    expect(await points('glucose', A.glucose)).toHaveLength(30);

    // ten new records; the link drops after 4 notifications; BlueZ is busy twice; then the meter
    // still runs a transfer of the dropped connection (ATT 0xFE until ABORT)
    for (let i = 30; i < 40; i++)
      glucose.addReading({ mmolPerL: 7 + (i - 30) / 10, time: new Date(T0.getTime() + i * 60_000) });
    // set as the dropped link goes down, not after the test sees it: the gateway may reconnect
    // before the next poll, and would then never meet the stale transfer or the busy adapter. The
    // drop is the one disconnect that consumed the fault: counting records would miss it when the
    // countdown also took a notification of the session still ending (its RACP response)
    let dropped = false;
    const onDisconnected = glucose.onDisconnected.bind(glucose);
    glucose.onDisconnected = () => {
      onDisconnected();
      if (glucose.faults.dropLinkAfter !== undefined) return; // a session ending normally
      glucose.onDisconnected = onDisconnected;
      dropped = true;
      glucose.stuckTransfer = true;
      glucose.fault({ refuseConnect: { error: 'InProgress', times: 2 } });
    };
    glucose.fault({ dropLinkAfter: 4 });
    await until('the drop', () => (dropped ? true : undefined));
    await until('cursor at 40', () => (cursorOf() === 40 ? true : undefined), 30_000);
    expect(racpWrites()).toContain('0300'); // abort of the stale transfer
    const g = await until('40 glucose points', async () => {
      const r = await points('glucose', A.glucose);
      return r.length >= 40 ? r : undefined;
    });
    await glucoseSettled();
    expect(await points('glucose', A.glucose)).toHaveLength(40);
    expect(g.slice(30).map((p) => Math.round(p.value * 10) / 10)).toEqual([
      7, 7.1, 7.2, 7.3, 7.4, 7.5, 7.6, 7.7, 7.8, 7.9,
    ]);
    const ledger = await pg.pool.query<{ n: number }>(
      `SELECT count(*)::int n FROM reading_ledger WHERE device_address = $1 AND metric = 'glucose'`,
      [A.glucose],
    );
    expect(ledger.rows[0]?.n).toBe(40);
  }, 60_000);

  it('RACP: a meter that renumbered its records after a reset (sequence 1 again) is read in full, its new records not taken for old ones', async () => {
    const cursorOf = () => gw.buffer.cursor(A.glucose);
    await until('cursor at 40', () => (cursorOf() === 40 ? true : undefined), 30_000);
    // battery change wipes the memory; numbering starts again at 1 with five new measurements
    glucose.records.length = 0;
    for (let i = 0; i < 5; i++)
      glucose.addReading({ mmolPerL: 9 + i / 10, time: new Date(T0.getTime() + (100 + i) * 60_000) });
    expect(glucose.records.map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
    const g = await until(
      '45 glucose points',
      async () => {
        const r = await points('glucose', A.glucose);
        return r.length >= 45 ? r : undefined;
      },
      30_000,
    );
    expect(g.slice(40).map((p) => Math.round(p.value * 10) / 10)).toEqual([9, 9.1, 9.2, 9.3, 9.4]);
    await until('cursor at 5', () => (cursorOf() === 5 ? true : undefined));
    await glucoseSettled();
    expect(await points('glucose', A.glucose)).toHaveLength(45);
  }, 60_000);
});
