import type { Reading } from '../../contract';
import { SCENARIO_IDS, generateScenario, hashSeed, type ScenarioId, type SimulatedScenario } from '../patients';

/** What one simulated household holds: who to enroll, which device slots to bind, its buffered readings. */
export interface HouseholdBacklog {
  gatewayId: string;
  scenario: ScenarioId;
  patients: {
    id: string;
    program: SimulatedScenario['patients'][number]['program'];
    devices: SimulatedScenario['patients'][number]['devices'];
  }[];
  readings: Reading[];
}

export function fleetGatewayId(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(5, '0')}`;
}

/** Pseudonymous patient id of a simulated household member. */
export function fleetPatientId(gatewayId: string, key: string): string {
  return `${gatewayId}-${key}`;
}

/** where backlogs start unless that would run past today: 2026-01-05, a Monday */
const BACKLOG_ANCHOR_MS = Date.UTC(2026, 0, 5);
/** one run of a patient scenario */
const PERIOD_MS = 31 * 86_400_000;

/** The scenario's runs from `anchorMs`, one after the other, until `count` readings (or `days`). */
function simulatePeriods(
  gatewayId: string,
  scenario: ScenarioId,
  opts: { count: number; seed: number; days?: number | undefined },
  anchorMs: number,
): { first: SimulatedScenario | undefined; readings: Reading[]; newestMs: number; anchorMs: number } {
  const readings: Reading[] = [];
  let first: SimulatedScenario | undefined;
  for (
    let period = 0;
    readings.length < opts.count && (opts.days === undefined || period * (PERIOD_MS / 86_400_000) < opts.days);
    period++
  ) {
    const start = new Date(anchorMs + period * PERIOD_MS).toISOString().slice(0, 10);
    const sim = generateScenario(scenario, {
      seed: hashSeed(opts.seed, gatewayId, period),
      gatewayId,
      startDate: start,
    });
    first ??= sim;
    if (sim.readings.length === 0) throw new Error(`scenario ${scenario} produced no readings`);
    for (const r of sim.readings) readings.push(r.reading);
  }
  let newestMs = -Infinity;
  for (const r of readings.slice(0, opts.count)) newestMs = Math.max(newestMs, Date.parse(r.measuredAt));
  return { first, readings, newestMs, anchorMs };
}

/**
 * The backlog of gateway `index`: its scenario's readings (scenario = index mod 7 unless one is
 * forced), oldest first, exactly `count` of them; when one run of the scenario has fewer, the next
 * period follows (same devices, later dates), as a box offline for weeks would hold, all before today. With `days`,
 * only the readings of the first `days` days (still at most `count`).
 */
export function householdBacklog(opts: {
  prefix: string;
  index: number;
  count: number;
  seed: number;
  scenario?: ScenarioId | undefined;
  days?: number | undefined;
}): HouseholdBacklog {
  const gatewayId = fleetGatewayId(opts.prefix, opts.index);
  const scenario = opts.scenario ?? SCENARIO_IDS[opts.index % SCENARIO_IDS.length] ?? SCENARIO_IDS[0];
  let generated = simulatePeriods(gatewayId, scenario, opts, BACKLOG_ANCHOR_MS);
  // a box holds what was measured while it was offline, never a reading from the future: a long
  // backlog that would run past today starts as many periods earlier (the hub files a future-dated
  // reading in its live lane, so a future backlog measured the wrong path)
  const past = Date.now() - 86_400_000;
  if (generated.newestMs > past) {
    const shift = Math.ceil((generated.newestMs - past) / PERIOD_MS);
    generated = simulatePeriods(gatewayId, scenario, opts, BACKLOG_ANCHOR_MS - shift * PERIOD_MS);
  }
  const { first, readings, anchorMs } = generated;
  if (!first) throw new Error(`household ${gatewayId}: no period simulated (count ${opts.count}, days ${opts.days})`);
  const until = opts.days !== undefined ? anchorMs + opts.days * 86_400_000 : Infinity;
  return {
    gatewayId,
    scenario,
    patients: first.patients.map((p) => ({
      id: fleetPatientId(gatewayId, p.key),
      program: p.program,
      devices: p.devices,
    })),
    readings: readings.filter((r) => Date.parse(`${r.deviceTime}Z`) < until).slice(0, opts.count),
  };
}
