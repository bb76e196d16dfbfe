import { createHash } from 'node:crypto';
import { METRICS, readingId, type MetricName, type Reading } from '../../contract';
import type { Measurement, ScenarioContext, ScenarioDef, ScenarioId, SimulatedScenario } from './model';
import { hashSeed, mulberry32 } from './prng';
import { SCENARIOS } from './scenarios';

export interface GenerateOptions {
  seed?: number;
  /** the household's gateway (pseudonymous box serial) */
  gatewayId?: string;
  /** local date of day 0, YYYY-MM-DD */
  startDate?: string;
  /** zone offset of the household; measuredAt = device local time - offset */
  utcOffsetMinutes?: number;
}

const DAY = 86_400_000;

/**
 * A stable BLE address per (gateway, device): random static address form (two top bits set,
 * Core spec Vol 6 Part B 1.3.2.1). Distinct gateways never share a device, so reading ids never collide.
 */
export function simDeviceAddress(gatewayId: string, deviceKey: string): string {
  const b = createHash('sha256').update(`${gatewayId}/${deviceKey}`).digest().subarray(0, 6);
  b.writeUInt8(b.readUInt8(0) | 0xc0, 0);
  return [...b].map((x) => x.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

export function scenarioContext(seed: number, startDate: string): ScenarioContext {
  const epoch = Date.parse(`${startDate}T00:00:00Z`);
  if (!Number.isFinite(epoch)) throw new Error(`startDate must be YYYY-MM-DD, got ${startDate}`);
  return {
    rng: (stream) => mulberry32(hashSeed(seed, stream)),
    at: (day, hour, minute = 0) => epoch + day * DAY + hour * 3_600_000 + minute * 60_000,
    iso: (ms) => new Date(ms).toISOString().slice(0, 19),
    weekday: (day) => new Date(epoch + day * DAY).getUTCDay(),
  };
}

/** Runs a scenario: deterministic for a given (scenario, seed, gateway, start date, offset). */
export function generateScenario(id: ScenarioId | ScenarioDef, opts: GenerateOptions = {}): SimulatedScenario {
  const def = typeof id === 'string' ? SCENARIOS[id] : id;
  const seed = opts.seed ?? 1;
  const gatewayId = opts.gatewayId ?? `sim-${def.id}`;
  const startDate = opts.startDate ?? '2026-01-05';
  const offset = opts.utcOffsetMinutes ?? 60;
  const ctx = scenarioContext(seed, startDate);
  const devices = def.devices.map((d) => ({
    key: d.key,
    address: simDeviceAddress(gatewayId, d.key),
    driver: d.driver,
  }));
  const deviceByKey = new Map(devices.map((d) => [d.key, d]));
  const dev = (key: string) => {
    const d = deviceByKey.get(key);
    if (!d) throw new Error(`scenario ${def.id}: unknown device ${key}`);
    return d;
  };
  const measurements = def.measure(ctx).sort((a, b) => a.localMs - b.localMs);
  const readings = measurements.flatMap((m) => toReadings(m, gatewayId, dev(m.device), offset, ctx));
  return {
    scenario: def.id,
    title: def.title,
    seed,
    gatewayId,
    startDate,
    utcOffsetMinutes: offset,
    days: def.days,
    devices,
    patients: def.patients.map((p) => ({
      key: p.key,
      program: p.program,
      devices: p.devices.map((s) => ({
        address: dev(s.device).address,
        driver: dev(s.device).driver,
        ...(s.userIndex !== undefined ? { userIndex: s.userIndex } : {}),
      })),
    })),
    readings,
    expectedAlerts: def.expectations(ctx),
  };
}

function toReadings(
  m: Measurement,
  gatewayId: string,
  device: { address: string; driver: string },
  offsetMin: number,
  ctx: ScenarioContext,
): { patient: string; reading: Reading }[] {
  const deviceTime = ctx.iso(m.localMs);
  const measuredAt = new Date(m.localMs - offsetMin * 60_000).toISOString();
  return (Object.entries(m.values) as [MetricName, number][]).map(([metric, value]) => ({
    patient: m.patient,
    reading: {
      id: readingId({
        device: { address: device.address, driver: device.driver },
        metric,
        userIndex: m.userIndex,
        deviceTime,
        value,
      }),
      gatewayId,
      device: { address: device.address, driver: device.driver },
      metric,
      value,
      unit: METRICS[metric].unit,
      measuredAt,
      deviceTime,
      ...(m.userIndex !== undefined ? { userIndex: m.userIndex } : {}),
      flags: [],
      clock: { offsetMs: 0, trusted: true },
    },
  }));
}

/** Local device time (no zone) of a reading as ms, for comparisons with expectation windows. */
export function localMs(r: Reading): number {
  return Date.parse(`${r.deviceTime ?? r.measuredAt.slice(0, 19)}Z`);
}
