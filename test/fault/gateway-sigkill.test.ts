import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadingBuffer } from '../../gateway/buffer/reading-buffer';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { householdBacklog } from '../../simulators/fleet/backlog';
import { enrollHouseholds } from '../../simulators/fleet/enroll';
import { startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { influxCount, ledgerCounts, sigkill, startHubProcess, waitFor } from './support';

/**
 * Fault: the gateway process is SIGKILLed twice at random moments while it flushes 2 000
 * buffered readings (SQLite outbox) to a real hub process, and restarted on the same data folder.
 * Afterwards the buffer is empty and every reading is stored exactly once.
 */
describe('fault: gateway SIGKILL while flushing its buffer', () => {
  let pg: TestPostgres;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: ServiceProcess | undefined;
  let gateway: ServiceProcess | undefined;
  let vb: VirtualBluezHandle | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-fault-gw-'));

  beforeAll(async () => {
    [pg, influx] = await Promise.all([createTestPostgres('vigil_fault_gw'), createTestInflux('vigil_fault_gw')]);
  });
  afterAll(async () => {
    await gateway?.stop('SIGKILL');
    await hub?.stop();
    await vb?.stop();
    await Promise.all([pg.drop(), influx.drop()]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every buffered reading exactly once and empties the buffer', async () => {
    const N = 2000;
    const household = householdBacklog({
      prefix: 'fault-gw',
      index: 1,
      count: N,
      seed: 5,
      scenario: 'stable-hypertensive',
    });
    const passwords = await enrollHouseholds(pg.pool, [household]);
    const buffer = new ReadingBuffer(join(dataDir, 'buffer.sqlite'));
    buffer.enqueue(household.readings);
    expect(buffer.stats().depth).toBe(N);
    buffer.close();

    hub = await startHubProcess({ pgUrl: pg.url, influxUrl: influx.url, influxDb: influx.database });
    vb = await startVirtualBluez({ peripherals: [] });
    const startGateway = () =>
      startService('gateway', 'gateway/cli.ts', {
        readyEvent: 'gateway.ready',
        env: {
          ...vb!.env,
          VIGIL_GATEWAY_ID: household.gatewayId,
          VIGIL_GATEWAY_DATA_DIR: dataDir,
          VIGIL_GATEWAY_TZ: 'UTC',
          VIGIL_GATEWAY_MQTT_URL: String(hub!.ready.mqttUrl),
          VIGIL_GATEWAY_PASSWORD: passwords.get(household.gatewayId)!,
          VIGIL_GATEWAY_BATCH_SIZE: '20',
          VIGIL_GATEWAY_RECEIPT_TIMEOUT_MS: '2000',
          VIGIL_LOG_LEVEL: 'error',
        },
      });

    for (const fraction of [0.1 + Math.random() * 0.25, 0.45 + Math.random() * 0.3]) {
      gateway = await startGateway();
      await waitFor(
        `${Math.round(fraction * 100)} % stored`,
        async () => (await ledgerCounts(pg.pool)).stored >= fraction * N,
        60_000,
      );
      await sigkill(gateway);
    }
    gateway = await startGateway();
    await waitFor('every reading stored', async () => (await ledgerCounts(pg.pool)).stored >= N, 60_000);
    // the buffer empties once the last receipts are in
    await waitFor(
      'the buffer empty',
      () => {
        const b = new ReadingBuffer(join(dataDir, 'buffer.sqlite'));
        try {
          return b.stats().depth === 0;
        } finally {
          b.close();
        }
      },
      30_000,
    );
    await gateway.stop();

    expect(await ledgerCounts(pg.pool)).toEqual({ rows: N, stored: N });
    expect(await influxCount(influx.url, influx.database)).toBe(N);
    const dead = await pg.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM dead_letters');
    expect(dead.rows[0]!.n).toBe(0);
  }, 110_000);
});
