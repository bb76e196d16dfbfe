import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../../scripts/lib/processes';
import { buildHouseholds, runFleet } from '../../simulators/fleet/fleet';
import { enrollHouseholds } from '../../simulators/fleet/enroll';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import {
  crisisFleetOptions,
  expectStoredOnceWithOneEpisodeEach,
  faultAtRandomMoment,
  freePort,
  sigkill,
  startHubProcess,
} from './support';

/**
 * Fault: the hub process (and its embedded broker) is SIGKILLed at a random moment while 10
 * gateways flush their backlogs (each holding a confirmed hypertensive crisis), then restarted on
 * the same port. Afterwards every reading is stored exactly once (ledger = InfluxDB = readings)
 * and every patient has exactly one crisis episode: none lost, none doubled.
 */
describe('fault: hub SIGKILL during ingest', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: ServiceProcess | undefined;

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_fault_hub'), createTestInflux('vigil_fault_hub')]);
  });
  afterAll(async () => {
    await hub?.stop('SIGKILL');
    await Promise.all([pg.drop(), influx.drop()]);
  });

  it('loses nothing and doubles nothing', async () => {
    const port = await freePort();
    const env = { pgUrl: pg.url, influxUrl: influx.url, influxDb: influx.database, mqttPort: port };
    hub = await startHubProcess(env);
    const o = crisisFleetOptions(`mqtt://127.0.0.1:${port}`, 'fault-hub');
    const households = buildHouseholds(o);
    const passwords = await enrollHouseholds(pg.pool, households);
    const fault = faultAtRandomMoment(async () => {
      await sigkill(hub!);
      hub = await startHubProcess(env);
    });
    const summary = await runFleet(o, households, passwords, fault.onProgress);
    await fault.fired();
    expect(fault.fired(), 'the hub was killed mid-run').toBeDefined();
    expect(summary.reconnects).toBeGreaterThan(0);
    await expectStoredOnceWithOneEpisodeEach(pg.pool, influx, households, summary);
  }, 110_000);
});
