import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dbus from 'dbus-next';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createGateway, createPatient } from '../../hub/admin/provisioning';
import type { RunningHub } from '../../hub/main';
import type { ServiceProcess } from '../../scripts/lib/processes';
import {
  BloodPressureCuff,
  Thermometer,
  startVirtualBluez,
  type VirtualBluezHandle,
} from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';
import { freePort, startGatewayProcess, startTestHub, stopAll, writeGatewayConfig } from './support';

/**
 * A real gateway process on the virtual BlueZ, a real hub. The box registers its pairing agent:
 * outside a pairing window it refuses to pair; a cuff that shows a passkey on its screen is
 * bonded with the code the nurse types in the workspace (hub API -> retained config -> agent).
 * Then bluetoothd is killed in the middle of a session and comes back: the gateway registers its
 * agent again, restarts discovery and the next reading arrives. Killed for good, the gateway
 * exits non-zero so that systemd restarts it.
 */
const GW = 'gw-e2e-radio-01';
const PATIENT = 'P-E2E-RADIO';
const CUFF = 'A4:C1:38:0C:00:01';
const THERMO = 'A4:C1:38:0C:00:02';
const PASSKEY = 482913;

describe('pairing agent and radio recovery (gateway process on the virtual BlueZ)', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: RunningHub | undefined;
  let vb: VirtualBluezHandle;
  let gateway: ServiceProcess | undefined;
  let dir: string;
  let nurseToken: string;

  const values = async (metric: string, device: string) =>
    (
      await pg.pool.query<{ value: string }>(
        `SELECT value FROM reading_ledger WHERE device_address = $1 AND metric = $2 AND stored_at IS NOT NULL ORDER BY value`,
        [device, metric],
      )
    ).rows.map((r) => Number(r.value));
  const logged = (code: string) => gateway?.lines.filter((l) => l.includes(`"code":"${code}"`)) ?? [];
  const api = (path: string, body: unknown) =>
    fetch(`${hub!.httpUrl}/api/patients/${PATIENT}/gateways/${GW}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nurseToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_radio'), createTestInflux('vigil_radio')]);
    const mqttPort = await freePort();
    hub = await startTestHub({ pg, influx, mqttPort });
    await createPatient(pg.pool, { id: PATIENT, programId: 'heart_failure', displayName: 'Radio patient' });
    const { password } = await createGateway(pg.pool, { id: GW, patientId: PATIENT });
    nurseToken = (
      await createCareTeamWithMembers(pg.pool, {
        id: 'team-radio',
        programId: 'heart_failure',
        name: 'Radio team',
        patientIds: [PATIENT],
        roles: ['home_nurse'],
      })
    ).home_nurse.token;
    // a cuff that serves its measurements only over an encrypted link and pairs by passkey entry
    const cuff = new BloodPressureCuff({
      address: CUFF,
      name: 'BP Cuff',
      rssi: -50,
      requiresBonding: true,
      pairingMethod: 'passkey',
      passkey: PASSKEY,
      recordIntervalMs: 5,
    });
    cuff.addReading({ systolic: 141, diastolic: 88, time: new Date(Date.UTC(2026, 10, 30, 8, 0)) });
    const thermo = new Thermometer({ address: THERMO, name: 'Thermometer', rssi: -55, recordIntervalMs: 5 });
    thermo.addReading({ celsius: 37.1, time: new Date(Date.UTC(2026, 10, 30, 8, 5)) });
    vb = await startVirtualBluez({ peripherals: [cuff, thermo], adapter: { advertiseIntervalMs: 150 } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-radio-'));
    const config = writeGatewayConfig(dir, {
      gatewayId: GW,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      password,
      logLevel: 'info',
      ble: { settleMs: 20, radioRecoveryDeadlineMs: 8_000, passkeyTimeoutMs: 20_000 },
      allow: [THERMO],
    });
    gateway = await startGatewayProcess(config, vb);
  }, 120_000);

  afterAll(() => stopAll({ gateway, vb, hub, stores: [pg, influx], dir }));

  it('registers its agent; outside a pairing window the agent refuses a pairing', async () => {
    await until('the agent registered', () => Promise.resolve(vb.bluez.agents.length === 1 ? true : undefined));
    expect(vb.bluez.agents[0]?.capability).toBe('KeyboardDisplay');
    // someone asks bluetoothd to pair the cuff (another client, the cuff itself): the agent is asked, says no
    await until('the cuff discovered', () =>
      Promise.resolve(vb.bluez.peripherals().some((p) => p.address === CUFF) ? true : undefined),
    );
    const bus = dbus.sessionBus({ busAddress: vb.address });
    try {
      const path = `/org/bluez/hci0/dev_${CUFF.replace(/:/g, '_')}`;
      const device = await until('the cuff object', async () =>
        (await bus.getProxyObject('org.bluez', path).catch(() => undefined))?.getInterface('org.bluez.Device1'),
      );
      const err = await (device as unknown as { Pair(): Promise<void> }).Pair().catch((e: unknown) => e);
      expect((err as dbus.DBusError).type).toBe('org.bluez.Error.AuthenticationRejected');
    } finally {
      bus.disconnect();
    }
    expect(vb.bluez.agentCalls).toContainEqual({ method: 'RequestPasskey', address: CUFF });
    expect(vb.get(CUFF).paired).toBe(false);
    await until('PAIRING_REFUSED logged', () => Promise.resolve(logged('PAIRING_REFUSED').length ? true : undefined));
    expect(await values('blood_pressure_systolic', CUFF)).toEqual([]);
  });

  it('pairs the passkey cuff with the code the nurse types in the workspace', async () => {
    const calls = () => vb.bluez.agentCalls.filter((c) => c.method === 'RequestPasskey' && c.address === CUFF).length;
    const before = calls();
    const opened = await api('/pairing-window', { seconds: 120 });
    expect(opened.status).toBe(200);
    // the box pairs the cuff, meets its encrypted characteristics, bonds: the cuff shows its code
    await until('the passkey asked', () => Promise.resolve(calls() > before ? true : undefined), 30_000);
    expect(vb.get(CUFF).paired).toBe(false);
    const relayed = await api('/pairing-window/passkey', { address: CUFF, passkey: String(PASSKEY) });
    expect(relayed.status).toBe(200);
    expect(
      await until(
        'the cuff reading in the record',
        async () =>
          (await values('blood_pressure_systolic', CUFF)).length ? values('blood_pressure_systolic', CUFF) : undefined,
        30_000,
      ),
    ).toEqual([141]);
    expect(vb.get(CUFF).paired).toBe(true);
    expect(logged('PASSKEY_ENTERED').length).toBeGreaterThan(0);
    // the code is a credential: neither in the audit trail nor in the box's log
    const audit = await pg.pool.query<{ detail: unknown }>(
      `SELECT detail FROM audit_log WHERE action = 'gateway.pairing_passkey_relayed'`,
    );
    expect(audit.rows).toHaveLength(1);
    expect(JSON.stringify(audit.rows)).not.toContain(String(PASSKEY));
    expect(gateway!.lines.join('\n')).not.toContain(String(PASSKEY));
  }, 90_000);

  it('bluetoothd killed mid-session and restarted: the agent is registered again and the next reading arrives', async () => {
    await until('the first temperature', async () =>
      (await values('body_temperature', THERMO)).length ? true : undefined,
    );
    const thermo = vb.get(THERMO, Thermometer);
    thermo.addReading({ celsius: 37.6, time: new Date(Date.UTC(2026, 10, 30, 9, 0)) });
    // kill it while the gateway holds a link
    await new Promise<void>((resolve) => thermo.once('connected', () => resolve()));
    await vb.killBluetoothd();
    await until('the loss noticed', () => Promise.resolve(logged('RADIO_BLUETOOTHD_GONE').length ? true : undefined));
    // bluetoothd stays away until the gateway tried to recover and failed once
    await until('a failed recovery attempt', () =>
      Promise.resolve(logged('RADIO_RECOVERY_RETRY').length ? true : undefined),
    );
    await vb.startBluetoothd();
    await until('recovered', () => Promise.resolve(logged('RADIO_RECOVERED').length ? true : undefined), 15_000);
    expect(vb.bluez.agents).toHaveLength(1);
    // discovery runs again (a connect to a device that advertised meanwhile may pause it a moment)
    await until('discovery running', () => (vb.bluez.adapter.discovering ? true : undefined), 10_000, 20);
    // LE only, every report (broadcast scales): the filter is set again on the new bluetoothd
    expect(vb.bluez.adapter.filter).toMatchObject({ Transport: 'le', DuplicateData: true });
    thermo.addReading({ celsius: 38.2, time: new Date(Date.UTC(2026, 10, 30, 9, 30)) });
    await until(
      'the next reading',
      async () => ((await values('body_temperature', THERMO)).includes(38.2) ? true : undefined),
      30_000,
    );
    expect(gateway!.child.exitCode).toBeNull();
  }, 90_000);

  it('bluetoothd gone for good: RADIO_RECOVERY_FAILED and a non-zero exit for systemd', async () => {
    await vb.killBluetoothd();
    const code = await new Promise<number | null>((resolve) =>
      gateway!.child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : null))),
    );
    expect(code).toBe(3);
    expect(logged('RADIO_RECOVERY_FAILED')).toHaveLength(1);
    gateway = undefined;
  }, 60_000);
});
