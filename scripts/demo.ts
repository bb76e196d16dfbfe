/**
 * `npm run demo`: the whole chain on this machine, simulated patients included.
 *   InfluxDB (project influxd on 127.0.0.1:18086) + PostgreSQL database vigil_demo
 *   -> hub process (embedded MQTT broker, API) -> three household gateway processes, each with
 *   its own virtual BlueZ (private D-Bus) and virtual devices -> readings, alerts, API.
 * Ctrl-C (or SIGTERM, SIGHUP) stops everything it started, in order: gateways, buses, hub,
 * influxd; the prompt comes back once they are gone. package.json runs it as `node --import tsx`,
 * not through tsx's command line, which SIGKILLs a child that has not acknowledged a signal within
 * 30 ms: on a busy machine the demo died there and left its own process groups running.
 * VIGIL_DEMO_EXIT_AFTER_ALERT=1 exits once the first alert is open. Overrides: VIGIL_DEMO_HTTP_PORT, VIGIL_DEMO_MQTT_PORT (0 = any free port),
 * VIGIL_DEMO_DATABASE, VIGIL_DEMO_DATA_DIR, VIGIL_INFLUX_PORT, VIGIL_DEMO_PG_BASE.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  bindDevice,
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  type Program,
} from '../hub/admin/provisioning';
import { generateSecret } from '../hub/security/secrets';
import { createPool, dropDatabase, ensureDatabase } from '../hub/storage/postgres/database';
import { setPassword } from '../hub/web/session/credentials';
import { migrate } from '../hub/storage/postgres/migrate';
import { generateScenario, type ScenarioId } from '../simulators/patients';
import {
  BloodPressureCuff,
  Thermometer,
  WeightScale,
  startVirtualBluez,
  type VirtualBluezHandle,
} from '../simulators/virtual-bluez';
import { ensureInfluxd } from './lib/influxd';
import { startService, type ServiceProcess } from './lib/processes';
import { errorMessage } from '../contract/errors';

const PG_BASE = process.env.VIGIL_DEMO_PG_BASE ?? 'postgres://postgres@127.0.0.1:5432';
const DATABASE = process.env.VIGIL_DEMO_DATABASE ?? 'vigil_demo';
const PG_URL = `${PG_BASE}/${DATABASE}`;
const HTTP_PORT = Number(process.env.VIGIL_DEMO_HTTP_PORT ?? 8080);
const MQTT_PORT = Number(process.env.VIGIL_DEMO_MQTT_PORT ?? 18830);
const DATA = process.env.VIGIL_DEMO_DATA_DIR ?? join(process.cwd(), '.data', 'demo');
const say = (s: string) => console.log(`[demo] ${s}`);
/** simulated patients take their next measurement this often (seconds) */
const MEASURE_S = Number(process.env.VIGIL_DEMO_MEASURE_S ?? 20);

/**
 * The values a simulated patient measures next, from a simulators/patients scenario (seeded):
 * one group per measurement (systolic + diastolic + pulse share a device time), in order, cycling.
 */
function scenarioValues(id: ScenarioId, gatewayId: string, metrics: string[]): () => Record<string, number> {
  const sim = generateScenario(id, { seed: 1, gatewayId, startDate: '2026-01-05' });
  const groups = new Map<string, Record<string, number>>();
  for (const { reading: r } of sim.readings) {
    if (!metrics.includes(r.metric)) continue;
    const g = groups.get(r.measuredAt) ?? {};
    g[r.metric] = r.value;
    groups.set(r.measuredAt, g);
  }
  const list = [...groups.values()];
  let i = 0;
  return () => {
    const next = list[i++ % list.length];
    if (!next) throw new Error('the scenario gave no readings to replay');
    return next;
  };
}

interface Household {
  gatewayId: string;
  patient: { id: string; program: Program; name: string };
  devices: (vb: VirtualBluezHandle) => { address: string }[];
  /** the patient's next measurement on the virtual device (sent at the device's next sync) */
  measure?: () => void;
}

const stableBp = scenarioValues('stable-hypertensive', 'gw-demo-0001', [
  'blood_pressure_systolic',
  'blood_pressure_diastolic',
  'heart_rate',
]);
const chemoTemperature = scenarioValues('febrile-neutropenia', 'gw-demo-0003', ['body_temperature']);
let cuff1: BloodPressureCuff | undefined;
let thermo3: Thermometer | undefined;

// Device clocks run in UTC here (utcOffsetMinutes 0) and the gateways use VIGIL_GATEWAY_TZ=UTC.
const households: Household[] = [
  {
    gatewayId: 'gw-demo-0001',
    patient: { id: 'P-0001', program: 'cardiovascular_prevention', name: 'Demo patient 1 (stable hypertension)' },
    devices: (vb) => {
      const cuff = new BloodPressureCuff({ address: 'A4:C1:38:10:01:01', name: 'BP Cuff', recordIntervalMs: 50 });
      cuff.addReading({ systolic: 142, diastolic: 88, pulse: 71, time: new Date(Date.now() - 3_600_000) });
      cuff1 = cuff;
      // the neighbour's scale is heard through the wall: not paired, never filed
      const neighbour = new WeightScale({ address: 'A4:C1:38:10:09:09', name: 'Weight Scale', rssi: -90 });
      neighbour.addReading({ weight: 96.4, userId: 1 });
      vb.add(cuff, neighbour);
      return [cuff];
    },
    measure: () => {
      const v = stableBp();
      cuff1?.addReading({
        systolic: v.blood_pressure_systolic ?? 126,
        diastolic: v.blood_pressure_diastolic ?? 78,
        pulse: v.heart_rate ?? 70,
      });
    },
  },
  {
    gatewayId: 'gw-demo-0002',
    patient: { id: 'P-0002', program: 'heart_failure', name: 'Demo patient 2 (hypertensive crisis)' },
    devices: (vb) => {
      const cuff = new BloodPressureCuff({ address: 'A4:C1:38:10:02:01', name: 'BP Cuff', recordIntervalMs: 50 });
      // clinical-rules.md rule 5: a crisis reading asks for a re-measure after 1-2 min, which confirms it
      cuff.addReading({ systolic: 186, diastolic: 124, pulse: 96, time: new Date(Date.now() - 180_000) });
      cuff.addReading({ systolic: 184, diastolic: 122, pulse: 94, time: new Date(Date.now() - 90_000) });
      vb.add(cuff);
      return [cuff];
    },
  },
  {
    gatewayId: 'gw-demo-0003',
    patient: { id: 'P-0003', program: 'oral_chemotherapy', name: 'Demo patient 3 (oral chemotherapy)' },
    devices: (vb) => {
      const thermo = new Thermometer({ address: 'A4:C1:38:10:03:01', name: 'Thermometer', recordIntervalMs: 50 });
      thermo.addReading({ celsius: 38.4, time: new Date(Date.now() - 120_000) });
      thermo3 = thermo;
      vb.add(thermo);
      return [thermo];
    },
    measure: () => thermo3?.addReading({ celsius: chemoTemperature().body_temperature ?? 36.6 }),
  },
];

/**
 * What the demo started, stopped in stages: gateways (while their hub and buses still answer),
 * then the virtual buses, the hub, the database pool, influxd. Every child runs in its own process
 * group so a terminal Ctrl-C reaches the demo alone and the order holds.
 */
class Started {
  readonly gateways: (() => Promise<unknown>)[] = [];
  readonly buses: (() => Promise<unknown>)[] = [];
  readonly rest: (() => Promise<unknown>)[] = [];
  readonly timers: NodeJS.Timeout[] = [];
  /** every service process, ready or not: killed outright if the demo exits any other way */
  readonly children = new Set<ChildProcess>();
  private stopping = false;

  async stopAll(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    say('stopping');
    this.timers.forEach((t) => clearInterval(t));
    const settle = (fns: (() => Promise<unknown>)[]) => Promise.allSettled(fns.map((f) => f()));
    await settle(this.gateways);
    await settle(this.buses);
    for (const stop of this.rest.reverse()) await settle([stop]);
    say('stopped');
    process.exit(code);
  }

  /** last resort on process exit: nothing the demo started outlives it */
  killLeftovers(): void {
    for (const c of this.children)
      if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
        try {
          process.kill(-c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const run = new Started();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void run.stopAll(0));
  process.on('exit', () => run.killLeftovers());
  const stops = run.rest;
  const own = { ownProcessGroup: true, onSpawn: (c: ChildProcess) => run.children.add(c) };

  try {
    const influx = await ensureInfluxd({ onSpawn: (stop) => stops.push(stop) });
    say(`InfluxDB ${influx.url}`);

    // a fresh demo each run: the previous run's database is dropped and migrated again
    await dropDatabase(PG_URL);
    await ensureDatabase(PG_URL);
    const pool = createPool(PG_URL, 2);
    stops.push(() => pool.end());
    await migrate(pool);
    await fetch(`${influx.url}/query?q=${encodeURIComponent(`DROP DATABASE "${DATABASE}"`)}`, { method: 'POST' });

    const credentials = new Map<string, string>();
    for (const h of households) {
      await createPatient(
        pool,
        { id: h.patient.id, programId: h.patient.program, displayName: h.patient.name, birthYear: 1954 },
        'demo',
      );
      credentials.set(
        h.gatewayId,
        (await createGateway(pool, { id: h.gatewayId, patientId: h.patient.id }, 'demo')).password,
      );
    }
    // one care team per program; each patient consented to its members (the API filters on both)
    const tokens: Record<string, string> = {};
    const nurses: Record<string, string> = {};
    for (const program of ['cardiovascular_prevention', 'heart_failure', 'oral_chemotherapy'] as const) {
      const team = await createCareTeamWithMembers(pool, {
        id: `team-${program.replace(/_/g, '-')}`,
        programId: program,
        name: `Demo ${program} team`,
        patientIds: households.filter((h) => h.patient.program === program).map((h) => h.patient.id),
      });
      tokens[program] = team.coordinating_nurse.token;
      nurses[program] = team.coordinating_nurse.professionalId;
    }
    // the heart-failure coordinating nurse signs in to the web workspace (docs/web.md)
    const webLogin = 'idec.insuffisance-cardiaque';
    const webPassword = generateSecret().slice(0, 20);
    const hfNurse = nurses.heart_failure;
    if (!hfNurse) throw new Error('no heart-failure coordinating nurse');
    await setPassword(pool, hfNurse, webLogin, webPassword, 'demo');
    await pool.query(`UPDATE professionals SET display_name = 'Claire Dubois' WHERE id = $1`, [hfNurse]);
    const token = tokens.heart_failure;
    if (!token) throw new Error('no heart-failure care team was created');

    const hub: ServiceProcess = await startService('hub', 'hub/cli.ts', {
      ...own,
      readyEvent: 'hub.ready',
      env: {
        VIGIL_HUB_INSTANCE_ID: 'demo',
        VIGIL_PG_URL: PG_URL,
        VIGIL_INFLUX_URL: influx.url,
        VIGIL_INFLUX_DATABASE: DATABASE,
        VIGIL_MQTT_HOST: '127.0.0.1',
        VIGIL_MQTT_PORT: String(MQTT_PORT),
        VIGIL_HTTP_PORT: String(HTTP_PORT),
        VIGIL_LOG_LEVEL: 'info',
      },
      echo: (l) => console.log(`[hub] ${l}`),
    });
    stops.push(() => hub.stop());
    const httpUrl = String(hub.ready.httpUrl);
    say(`hub ready: API ${httpUrl}, MQTT ${String(hub.ready.mqttUrl)}`);

    rmSync(DATA, { recursive: true, force: true });
    for (const h of households) {
      const vb = await startVirtualBluez({ adapter: { advertiseIntervalMs: 1000 } });
      run.buses.push(() => vb.stop());
      const devices = h.devices(vb);
      for (const d of devices)
        await bindDevice(pool, { gatewayId: h.gatewayId, address: d.address, patientId: h.patient.id }, 'demo');
      mkdirSync(join(DATA, h.gatewayId), { recursive: true });
      const password = credentials.get(h.gatewayId);
      if (!password) throw new Error(`gateway ${h.gatewayId} was not enrolled`);
      const gw = await startService(h.gatewayId, 'gateway/cli.ts', {
        ...own,
        readyEvent: 'gateway.ready',
        env: {
          ...vb.env,
          VIGIL_GATEWAY_ID: h.gatewayId,
          VIGIL_GATEWAY_DATA_DIR: join(DATA, h.gatewayId),
          VIGIL_GATEWAY_TZ: 'UTC',
          VIGIL_GATEWAY_MQTT_URL: String(hub.ready.mqttUrl),
          VIGIL_GATEWAY_PASSWORD: credentials.get(h.gatewayId) ?? '',
          VIGIL_GATEWAY_DEVICES: devices.map((d) => d.address).join(','),
          VIGIL_LOG_LEVEL: 'info',
        },
        echo: (l) => console.log(`[${h.gatewayId}] ${l}`),
      });
      run.gateways.push(() => gw.stop());
    }

    say('');
    console.log(`web: ${httpUrl}/ user: ${webLogin} password: ${webPassword}`);
    say(`professional token (coordinating nurse, heart-failure team): ${token}`);
    say(
      `other coordinating nurses: cardiovascular ${tokens.cardiovascular_prevention}, oral chemotherapy ${tokens.oral_chemotherapy}`,
    );
    say(`alert worklist:  curl -s -H 'Authorization: Bearer ${token}' ${httpUrl}/api/alerts`);
    say(`readings:        curl -s -H 'Authorization: Bearer ${token}' ${httpUrl}/api/patients/P-0002/readings`);
    say(`health, metrics: curl -s ${httpUrl}/health ; curl -s ${httpUrl}/metrics`);
    say(
      `time series:     influx -port ${influx.port} -database ${DATABASE} -execute 'SELECT * FROM blood_pressure_systolic'`,
    );
    say('');

    let alerted = false;
    const checkAlerts = async () => {
      const res = await fetch(`${httpUrl}/api/alerts`, { headers: { authorization: `Bearer ${token}` } }).catch(
        () => undefined,
      );
      if (!res?.ok) return;
      const { episodes } = (await res.json()) as {
        episodes: { patientId: string; ruleId: string; severity: string; status: string }[];
      };
      if (episodes.length && !alerted) {
        alerted = true;
        say(`first alert after ${((Date.now() - started) / 1000).toFixed(1)} s from demo start:`);
        for (const e of episodes) say(`  ${e.severity.toUpperCase()} ${e.ruleId} patient ${e.patientId} (${e.status})`);
        if (process.env.VIGIL_DEMO_EXIT_AFTER_ALERT === '1') {
          clearInterval(poll);
          await run.stopAll(0);
        }
      }
    };
    const poll = setInterval(() => {
      checkAlerts().catch((e: unknown) => {
        say(`alert check failed: ${errorMessage(e)}`);
      });
    }, 1000);
    run.timers.push(poll);
    // the simulated patients keep measuring on their virtual devices (virtual BlueZ -> gateways)
    const measuring = setInterval(() => households.forEach((h) => h.measure?.()), MEASURE_S * 1000);
    run.timers.push(measuring);
    say(`simulated patients measure every ${MEASURE_S} s (scenarios stable-hypertensive, febrile-neutropenia)`);
    say('running; Ctrl-C to stop');
  } catch (e) {
    console.error(`[demo] DEMO_FAILED: ${(e as Error).message}`);
    await run.stopAll(1);
  }
}

void main();
