import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../../scripts/lib/processes';
import { buildHouseholds, runFleet } from '../../simulators/fleet/fleet';
import { enrollHouseholds } from '../../simulators/fleet/enroll';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import {
  crisisFleetOptions,
  expectAlive,
  expectStoredOnceWithOneEpisodeEach,
  faultAtRandomMoment,
  freePort,
  startHubProcess,
  waitFor,
} from './support';

/**
 * Fault: the external broker (our own Mosquitto on a free port, never the machine's) is
 * SIGKILLed while 10 gateways flush, and restarted 1 s later on the same port; the hub
 * (external mode) and the gateways reconnect. Every reading stored once, one crisis episode each.
 */
describe('fault: external broker killed and restarted during ingest', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: ServiceProcess | undefined;
  let broker: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fault-mosq-'));

  const startBroker = async (port: number): Promise<ChildProcess> => {
    const conf = join(dir, 'mosquitto.conf');
    // no persistence: whatever was queued in the broker is gone, as after a crash without a disk
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    await waitFor(
      'mosquitto listening',
      () =>
        new Promise<boolean>((r) => {
          const s = createConnection(port, '127.0.0.1', () => {
            s.destroy();
            r(true);
          });
          s.once('error', () => r(false));
        }),
      10_000,
    );
    return child;
  };

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_fault_mq'), createTestInflux('vigil_fault_mq')]);
  });
  afterAll(async () => {
    broker?.kill('SIGKILL');
    await hub?.stop();
    await Promise.all([pg.drop(), influx.drop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing and doubles nothing', async () => {
    const port = await freePort();
    broker = await startBroker(port);
    const url = `mqtt://127.0.0.1:${port}`;
    hub = await startHubProcess({
      pgUrl: pg.url,
      influxUrl: influx.url,
      influxDb: influx.database,
      extra: { VIGIL_MQTT_MODE: 'external', VIGIL_MQTT_URL: url },
    });
    const o = crisisFleetOptions(url, 'fault-mq');
    const households = buildHouseholds(o);
    const passwords = await enrollHouseholds(pg.pool, households);
    const fault = faultAtRandomMoment(async () => {
      const exited = new Promise((r) => broker!.once('exit', r));
      broker!.kill('SIGKILL');
      await exited;
      await new Promise((r) => setTimeout(r, 1000));
      broker = await startBroker(port);
    });
    const summary = await runFleet(o, households, passwords, fault.onProgress);
    await fault.fired();
    expect(fault.fired(), 'the broker was killed mid-run').toBeDefined();
    expect(summary.reconnects).toBeGreaterThan(0);
    expectAlive(hub);
    await expectStoredOnceWithOneEpisodeEach(pg.pool, influx, households, summary);
  }, 110_000);
});
