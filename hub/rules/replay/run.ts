import { randomBytes } from 'node:crypto';
import pino from 'pino';
import type pg from 'pg';
import { topicFor, WIRE_VERSION, type Reading } from '../../../contract';
import { builtinRegistry } from '../../../drivers/builtin';
import { normalizeUuid } from '../../../drivers/sdk/uuid';
import { toReading } from '../../../gateway/devices/reading-factory';
import { localToUtc } from '../../../gateway/time/local-time';
import { bindDevice, createGateway, createPatient } from '../../admin/provisioning';
import { EpisodeStore } from '../../alerts/episode-store';
import { IngestService } from '../../ingest/ingest-service';
import { PatientMapper } from '../../ingest/patient-mapping';
import { createHubMetrics } from '../../observability/metrics';
import type { TimeSeriesStore } from '../../storage/influx/timeseries';
import { createPool, dropDatabase, ensureDatabase } from '../../storage/postgres/database';
import { migrate } from '../../storage/postgres/migrate';
import { ManualClock, MINUTE } from '../clock';
import { RuleEngine } from '../engine';
import { ProgramStore } from '../../programs/store';
import { deviceClockAt, encodeMeasurement, measuredOffsetMs, PROFILE_GATT } from './devices';
import { resolveTime, scenarioSchema, type Scenario, type ScenarioDevice, type ScenarioEvent } from './scenario';

export interface ReplayEpisode {
  patient: string;
  rule: string;
  severity: 'amber' | 'red';
  status: string;
  openedAt: string;
  escalations: { at: string; reason: string }[];
  summary: string;
  /** the episode text in French */
  summaryFr: string;
}

export interface ReplayResult {
  scenario: string;
  episodes: ReplayEpisode[];
  /** readings the hub filed (stored or duplicate) and refused */
  readings: { stored: number; duplicate: number; quarantined: number; rejected: number };
  /** packets the drivers could not decode: the reason, never silently dropped */
  undecoded: { device: string; code: string; message: string }[];
}

export interface ReplayOptions {
  /** PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432 (a database is created and dropped) */
  pgBase: string;
  /** clone this migrated database instead of migrating a new one (faster for a library) */
  template?: string;
  /**
   * program definitions to install before the scenario runs (docs/programs.md "back-test"): a
   * built-in or existing program gets a new version, another one is created
   */
  programs?: readonly unknown[];
}

/** One delivery to the gateway: packets of one device received at one instant, in order. */
interface Delivery {
  at: Date;
  order: number;
  patient: string;
  device: ScenarioDevice;
  packets: { characteristic: string; bytes: Uint8Array }[];
  readings: Omit<Reading, 'id' | 'gatewayId' | 'device'>[];
}

/**
 * Replays a scenario through the real path: the device's GATT bytes decoded by the drivers, the
 * gateway's reading factory (clock correction, reading ids), the hub's ingest (ledger, patient
 * mapping, rules, receipts) on a PostgreSQL database of its own, with a simulated clock that the
 * scheduler (missing data, re-measure expiry, re-notification) ticks every `tickMinutes`.
 * The time series store is not part of the replay (no rule reads it).
 */
export async function replay(input: unknown, opts: ReplayOptions): Promise<ReplayResult> {
  const s = scenarioSchema.parse(input);
  const start = new Date(s.start);
  const at = (t: string) => resolveTime(t, start, s.timeZone, localToUtc);
  const deliveries = plan(s, at);
  const name = `vigil_replay_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = `${opts.pgBase}/${name}`;
  if (opts.template) await cloneDatabase(opts.pgBase, opts.template, name);
  else await ensureDatabase(url);
  const pool = createPool(url, 4);
  try {
    if (!opts.template) await migrate(pool);
    await installPrograms(pool, opts.programs ?? [], start);
    return await run(s, pool, start, at, deliveries);
  } finally {
    await pool.end();
    await dropDatabase(url);
  }
}

/** A migrated database to clone scenarios from; drop it with dropDatabase when done. */
export async function createTemplate(pgBase: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `vigil_replay_tpl_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const url = `${pgBase}/${name}`;
  await ensureDatabase(url);
  const pool = createPool(url, 1);
  await migrate(pool);
  await pool.end();
  return { name, drop: () => dropDatabase(url) };
}

async function installPrograms(pool: pg.Pool, programs: readonly unknown[], at: Date): Promise<void> {
  const store = new ProgramStore(pool);
  for (const input of programs) {
    const def = store.validate(input);
    const exists = await pool.query('SELECT 1 FROM programs WHERE id = $1 AND current_version IS NOT NULL', [def.id]);
    if (exists.rowCount) await store.update(def.id, def, 'replay', 'back-test definition', at);
    else await store.create(def, 'replay', 'back-test definition', at);
  }
}

async function cloneDatabase(pgBase: string, template: string, name: string): Promise<void> {
  const { default: pgm } = await import('pg');
  const admin = new pgm.Client({ connectionString: `${pgBase}/postgres` });
  await admin.connect();
  try {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(template)) throw new Error(`unsafe template name ${template}`);
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
}

function findDevice(s: Scenario, e: ScenarioEvent, name: string): { patient: string; device: ScenarioDevice } {
  for (const p of s.patients) {
    if (e.patient && p.id !== e.patient) continue;
    const d = p.devices.find((x) => x.name === name);
    if (d) return { patient: p.id, device: d };
  }
  throw new Error(`REPLAY_UNKNOWN_DEVICE: ${name}`);
}

/** Turns the events into gateway deliveries, keeping each device's memory for re-sends. */
function plan(s: Scenario, at: (t: string) => Date): Delivery[] {
  const memory = new Map<string, { characteristic: string; bytes: Uint8Array }[]>();
  const out: Delivery[] = [];
  let order = 0;
  for (const e of s.events) {
    if ('measure' in e) {
      const { patient, device } = findDevice(s, e, e.measure);
      const taken = at(e.at);
      const mem = memory.get(`${patient}|${device.name}`) ?? [];
      const packet = {
        characteristic: PROFILE_GATT[device.profile].characteristic,
        bytes: encodeMeasurement(device, e.values, deviceClockAt(device, taken, s.timeZone), mem.length + 1),
      };
      mem.push(packet);
      memory.set(`${patient}|${device.name}`, mem);
      out.push({
        at: e.receivedAt ? at(e.receivedAt) : taken,
        order: order++,
        patient,
        device,
        packets: [packet],
        readings: [],
      });
    } else if ('gatt' in e) {
      const { patient, device } = findDevice(s, e, e.gatt);
      const packet = { characteristic: e.characteristic, bytes: Uint8Array.from(Buffer.from(e.hex, 'hex')) };
      out.push({ at: at(e.receivedAt), order: order++, patient, device, packets: [packet], readings: [] });
    } else if ('resend' in e) {
      const { patient, device } = findDevice(s, e, e.resend);
      const mem = memory.get(`${patient}|${device.name}`) ?? [];
      out.push({
        at: at(e.receivedAt),
        order: order++,
        patient,
        device,
        packets: e.last ? mem.slice(-e.last) : [...mem],
        readings: [],
      });
    } else {
      const { patient, device } = findDevice(s, e, e.reading);
      const received = at(e.receivedAt);
      const measured = e.measuredAt ? at(e.measuredAt) : undefined;
      out.push({
        at: received,
        order: order++,
        patient,
        device,
        packets: [],
        readings: [
          {
            metric: e.metric as Reading['metric'],
            value: e.value,
            unit: e.unit,
            measuredAt: (measured ?? received).toISOString(),
            flags: [],
            timeTrust: measured ? 'device_synced' : 'receipt',
            ...(e.sequence !== undefined ? { sequence: e.sequence } : {}),
          },
        ],
      });
    }
  }
  return out.sort((a, b) => a.at.getTime() - b.at.getTime() || a.order - b.order);
}

const gatewayOf = (patient: string) => `gw-${patient.toLowerCase().replace(/[^a-z0-9]/g, '')}`.slice(0, 63);

async function run(
  s: Scenario,
  pool: pg.Pool,
  start: Date,
  at: (t: string) => Date,
  deliveries: Delivery[],
): Promise<ReplayResult> {
  const clock = new ManualClock(start);
  const log = pino({ level: process.env.VIGIL_REPLAY_LOG ?? 'silent' });
  const metrics = createHubMetrics();
  const engine = new RuleEngine(new EpisodeStore(pool), metrics, log, {
    pool,
    clock,
    scheduledEveryMs: s.tickMinutes * MINUTE,
  });
  const counts = { stored: 0, duplicate: 0, quarantined: 0, rejected: 0 };
  const ingest = new IngestService({
    pool,
    // replay writes no time series: no rule reads it
    timeseries: { write: () => Promise.resolve() } as unknown as TimeSeriesStore,
    mapper: new PatientMapper(pool),
    rules: engine,
    metrics,
    log,
    maxPayloadBytes: 512 * 1024,
    clock,
    publishReceipt: (_gw, receipt) => {
      for (const r of receipt.results) counts[r.outcome]++;
      return Promise.resolve();
    },
  });
  for (const p of s.patients) {
    const enrolled = p.enrolledAt ? at(p.enrolledAt) : start;
    await createPatient(pool, {
      id: p.id,
      programId: p.program,
      displayName: p.id,
      chronicLungDisease: p.chronicLungDisease,
    });
    await createGateway(pool, { id: gatewayOf(p.id), patientId: p.id });
    for (const d of p.devices)
      await bindDevice(pool, {
        gatewayId: gatewayOf(p.id),
        address: d.address,
        patientId: p.id,
        driver: PROFILE_GATT[d.profile].driver,
      });
    await pool.query('UPDATE patients SET created_at = $2 WHERE id = $1', [p.id, enrolled]);
    await pool.query('UPDATE device_bindings SET created_at = $2 WHERE patient_id = $1', [p.id, enrolled]);
    for (const [ruleId, params] of Object.entries(p.settings))
      await engine.settings.setOverride(
        { patientId: p.id, ruleId, params, actor: 'replay', reason: 'scenario setting' },
        enrolled,
      );
  }
  const registry = builtinRegistry();
  const undecoded: ReplayResult['undecoded'] = [];
  const tickMs = s.tickMinutes * MINUTE;
  let nextTick = start.getTime() + tickMs;
  const tickUntil = async (t: number) => {
    while (nextTick <= t) {
      clock.set(nextTick);
      await engine.tick();
      nextTick += tickMs;
    }
  };
  let batchNo = 0;
  for (const d of deliveries) {
    await tickUntil(d.at.getTime());
    clock.set(d.at);
    const gatewayId = gatewayOf(d.patient);
    const driver = PROFILE_GATT[d.device.profile].driver;
    const readings: Reading[] = [];
    // packets of a memory dump arrive one after the other (indications), a second apart
    d.packets.forEach((p, i) => {
      const receivedAt = new Date(d.at.getTime() + i * 1000);
      const out = registry.decode(driver, normalizeUuid(p.characteristic), p.bytes, d.device.address);
      if (!out.ok) {
        undecoded.push({ device: d.device.name, code: out.code, message: out.message });
        return;
      }
      for (const m of out.result.measurements)
        readings.push(
          toReading(m, {
            gatewayId,
            address: d.device.address,
            driver,
            timeZone: s.timeZone,
            clockOffsetMs: measuredOffsetMs(d.device),
            receivedAt,
            raw: p.bytes,
          }),
        );
    });
    for (const r of d.readings) {
      const device = { address: d.device.address, driver };
      const { readingId } = await import('../../../contract');
      readings.push({
        ...r,
        id: readingId({
          device,
          metric: r.metric,
          sequence: r.sequence,
          deviceTime: r.timeTrust === 'receipt' ? undefined : r.measuredAt,
          captureKey: r.measuredAt,
          value: r.value,
        }),
        gatewayId,
        device,
      });
    }
    if (readings.length === 0) continue;
    const batch = {
      v: WIRE_VERSION,
      gatewayId,
      batchId: `replay-${++batchNo}`,
      sentAt: d.at.toISOString(),
      readings,
    };
    await ingest.handleReadings(gatewayId, topicFor(gatewayId, 'readings'), Buffer.from(JSON.stringify(batch)));
  }
  const last = deliveries.at(-1)?.at.getTime() ?? start.getTime();
  await tickUntil(s.end ? at(s.end).getTime() : last + 2 * 60 * MINUTE);
  return { scenario: s.name, episodes: await episodes(pool), readings: counts, undecoded };
}

async function episodes(pool: pg.Pool): Promise<ReplayEpisode[]> {
  const { rows } = await pool.query<{
    id: string;
    patient_id: string;
    rule_id: string;
    severity: 'amber' | 'red';
    status: string;
    opened_at: Date;
    summary: string;
    summary_fr: string;
  }>(
    'SELECT id, patient_id, rule_id, severity, status, opened_at, summary, summary_fr FROM alert_episodes ORDER BY opened_at, id',
  );
  const esc = await pool.query<{ entity_id: string; at: Date; detail: { reason?: string } }>(
    `SELECT entity_id, at, detail FROM audit_log WHERE action = 'episode.escalated' ORDER BY at, id`,
  );
  return rows.map((r) => ({
    patient: r.patient_id,
    rule: r.rule_id,
    severity: r.severity,
    status: r.status,
    openedAt: r.opened_at.toISOString(),
    escalations: esc.rows
      .filter((e) => e.entity_id === r.id)
      .map((e) => ({ at: e.at.toISOString(), reason: e.detail.reason ?? '' })),
    summary: r.summary,
    summaryFr: r.summary_fr,
  }));
}
