import { describe, expect, it } from 'vitest';
import { isPlausible, readingId, readingSchema } from '../../../contract';
import {
  AcceleratedClock,
  SCENARIO_IDS,
  SCENARIOS,
  firstBreaches,
  generateScenario,
  localMs,
  mulberry32,
  replay,
} from '../../../simulators/patients';

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);
const at = (iso: string) => Date.parse(`${iso}Z`);

describe('patient simulator', () => {
  it('mulberry32 is deterministic and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(mulberry32(43).next()).not.toBe(mulberry32(42).next());
  });

  it.each(SCENARIO_IDS)('%s: the same seed gives the same readings, another seed different values', (id) => {
    const one = generateScenario(id, { seed: 7 });
    expect(generateScenario(id, { seed: 7 })).toEqual(one);
    const other = generateScenario(id, { seed: 8 });
    expect(other.readings.map((r) => r.reading.value)).not.toEqual(one.readings.map((r) => r.reading.value));
  });

  it.each(SCENARIO_IDS)(
    '%s: every reading is a valid, plausible wire-contract reading with its deterministic id',
    (id) => {
      const sim = generateScenario(id, { seed: 3, gatewayId: 'gw-test-0001' });
      expect(sim.readings.length).toBeGreaterThan(20);
      const ids = new Set<string>();
      let last = -Infinity;
      for (const { reading } of sim.readings) {
        const parsed = readingSchema.parse(reading);
        expect(parsed.gatewayId).toBe('gw-test-0001');
        expect(isPlausible(parsed.metric, parsed.value), `${parsed.metric}=${parsed.value}`).toBe(true);
        expect(parsed.id).toBe(
          readingId({
            device: parsed.device,
            metric: parsed.metric,
            userIndex: parsed.userIndex,
            deviceTime: parsed.deviceTime,
            value: parsed.value,
          }),
        );
        ids.add(parsed.id);
        expect(localMs(parsed)).toBeGreaterThanOrEqual(last);
        last = localMs(parsed);
        // measuredAt is the device's local time shifted by the household's zone offset (UTC+1)
        expect(Date.parse(parsed.measuredAt)).toBe(localMs(parsed) - 60 * 60_000);
      }
      expect(ids.size).toBe(sim.readings.length);
    },
  );

  it.each(SCENARIO_IDS)('%s: each expected alert is really in the data (reference rules, 40 seeds)', (id) => {
    for (const seed of SEEDS) {
      const sim = generateScenario(id, { seed });
      const breaches = firstBreaches(sim);
      expect(sim.expectedAlerts.length).toBeGreaterThan(0);
      for (const e of sim.expectedAlerts) {
        const t = breaches[e.patient]?.[e.rule];
        const label = `${id} seed ${seed} ${e.patient} rule ${e.rule} (${e.ruleId})`;
        if (e.expect === 'silent') {
          expect(t, label).toBeNull();
        } else {
          expect(t, `${label} never breached`).not.toBeNull();
          expect(t!, `${label} breached too early`).toBeGreaterThanOrEqual(at(e.notBefore!));
          expect(t!, `${label} breached too late`).toBeLessThanOrEqual(at(e.by!));
        }
      }
    }
  });

  it('declares rule ids for every expectation and a story for every scenario', () => {
    for (const id of SCENARIO_IDS) {
      expect(SCENARIOS[id].story.length).toBeGreaterThan(20);
      for (const e of generateScenario(id).expectedAlerts) expect(e.ruleId).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    }
  });

  it('has circadian patterns: morning BP above evening BP, afternoon temperature above morning', () => {
    const bp = generateScenario('stable-hypertensive', { seed: 5 })
      .readings.map((r) => r.reading)
      .filter((r) => r.metric === 'blood_pressure_systolic');
    const hourOf = (r: { deviceTime?: string | undefined }) => Number(r.deviceTime!.slice(11, 13));
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(avg(bp.filter((r) => hourOf(r) < 12).map((r) => r.value))).toBeGreaterThan(
      avg(bp.filter((r) => hourOf(r) >= 12).map((r) => r.value)) + 5,
    );
    const temps = SEEDS.flatMap((seed) =>
      generateScenario('febrile-neutropenia', { seed }).readings.map((r) => r.reading),
    ).filter((r) => r.metric === 'body_temperature' && r.value < 37.5);
    expect(avg(temps.filter((r) => hourOf(r) === 19).map((r) => r.value))).toBeGreaterThan(
      avg(temps.filter((r) => hourOf(r) === 8).map((r) => r.value)) + 0.2,
    );
    // measurement noise: no two consecutive systolic readings of a session are always equal
    expect(new Set(bp.map((r) => r.value)).size).toBeGreaterThan(10);
  });

  it('household scale: two users on one device, told apart only by the user index', () => {
    const sim = generateScenario('household-scale', { seed: 2 });
    expect(sim.devices).toHaveLength(1);
    const [u1, u2] = sim.patients;
    expect(u1!.devices[0]).toMatchObject({ address: sim.devices[0]!.address, userIndex: 1 });
    expect(u2!.devices[0]).toMatchObject({ address: sim.devices[0]!.address, userIndex: 2 });
    for (const { patient, reading } of sim.readings) expect(reading.userIndex).toBe(patient === 'user1' ? 1 : 2);
    const w2 = sim.readings.filter((r) => r.patient === 'user2').map((r) => r.reading.value);
    expect(Math.max(...w2) - Math.min(...w2)).toBeLessThan(1.5);
  });

  it('non-adherent: missing days, and the only gap of 48 h or more is the declared one', () => {
    const sim = generateScenario('non-adherent', { seed: 9 });
    const days = new Set(sim.readings.map((r) => r.reading.deviceTime!.slice(0, 10)));
    expect(days.size).toBeLessThan(24);
    expect(days.size).toBeGreaterThan(10);
    const ts = [...new Set(sim.readings.map((r) => localMs(r.reading)))];
    const gaps = ts
      .slice(1)
      .map((t, i) => t - ts[i]!)
      .filter((g) => g >= 48 * 3_600_000);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!).toBeGreaterThan(4 * 86_400_000);
  });

  it('different gateways get different device addresses, hence different reading ids', () => {
    const a = generateScenario('stable-hypertensive', { gatewayId: 'gw-a-001' });
    const b = generateScenario('stable-hypertensive', { gatewayId: 'gw-b-001' });
    expect(a.devices[0]!.address).not.toBe(b.devices[0]!.address);
    expect(a.devices[0]!.address).toMatch(/^[C-F][0-9A-F]:/); // random static address
    const idsA = new Set(a.readings.map((r) => r.reading.id));
    expect(b.readings.some((r) => idsA.has(r.reading.id))).toBe(false);
  });

  it('replays readings at the accelerated clock (one simulated hour per wall second)', async () => {
    const sim = generateScenario('febrile-neutropenia');
    const first = localMs(sim.readings[0]!.reading);
    let wall = 1_000_000;
    const clock = new AcceleratedClock(first, 3600, wall, () => wall);
    const waits: number[] = [];
    const emitted: string[] = [];
    const items = sim.readings.slice(0, 6);
    await replay(
      items,
      (r) => localMs(r.reading),
      clock,
      (r) => void emitted.push(r.reading.id),
      (ms) => {
        waits.push(ms);
        wall += ms;
        return Promise.resolve();
      },
      () => wall,
    );
    expect(emitted).toEqual(items.map((r) => r.reading.id));
    const simSpan = localMs(items[5]!.reading) - first;
    expect(waits.reduce((a, b) => a + b, 0)).toBeCloseTo(simSpan / 3600, 6);
    expect(clock.now()).toBe(localMs(items[5]!.reading));
  });
});
