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

/**
 * The backlog of gateway `index`: its scenario's readings (scenario = index mod 7 unless one is
 * forced), oldest first, exactly `count` of them; when one run of the scenario has fewer, the next
 * period follows (same devices, later dates), as a box offline for weeks would hold. With `days`,
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
  const readings: Reading[] = [];
  let first: SimulatedScenario | undefined;
  const periodDays = 31;
  for (
    let period = 0;
    readings.length < opts.count && (opts.days === undefined || period * periodDays < opts.days);
    period++
  ) {
    const start = new Date(Date.UTC(2026, 0, 5) + period * periodDays * 86_400_000).toISOString().slice(0, 10);
    const sim = generateScenario(scenario, {
      seed: hashSeed(opts.seed, gatewayId, period),
      gatewayId,
      startDate: start,
    });
    first ??= sim;
    if (sim.readings.length === 0) throw new Error(`scenario ${scenario} produced no readings`);
    for (const r of sim.readings) readings.push(r.reading);
  }
  // `days`: what the box buffered in its first N days offline (e.g. a week), at most `count`
  if (!first) throw new Error(`household ${gatewayId}: no period simulated (count ${opts.count}, days ${opts.days})`);
  const until = opts.days !== undefined ? Date.UTC(2026, 0, 5) + opts.days * 86_400_000 : Infinity;
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
