import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, ensureDatabase } from '../../hub/storage/postgres/database';
import { migrate } from '../../hub/storage/postgres/migrate';
import type { ServiceProcess } from '../../scripts/lib/processes';
import { buildHouseholds, runFleet } from '../../simulators/fleet/fleet';
import { enrollHouseholds } from '../../simulators/fleet/enroll';
import { createTestInflux } from '../support/stores';
import {
  crisisFleetOptions,
  expectAlive,
  expectStoredOnceWithOneEpisodeEach,
  faultAtRandomMoment,
  freePort,
  startHubProcess,
} from './support';

/**
 * Fault: PostgreSQL restarted (fast shutdown: every connection of the hub is cut) while 10
 * gateways flush their backlogs. The machine's cluster is shared, so the test runs its own
 * PostgreSQL (initdb into a temporary folder, as the postgres user when run as root).
 * Afterwards every reading is stored exactly once and every patient has one crisis episode.
 */
const bin = (() => {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).sort().at(-1) : undefined;
  return version ? join(root, version, 'bin') : undefined;
})();
const asPostgres = (cmd: string, args: string[]) => {
  const isRoot = process.getuid?.() === 0;
  return isRoot
    ? execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [cmd, ...args].map((a) => `'${a}'`).join(' ')], {
        stdio: 'pipe',
      })
    : execFileSync(cmd, args, { stdio: 'pipe' });
};

describe.runIf(bin)('fault: PostgreSQL restarted during ingest', () => {
  let dir = '';
  let port = 0;
  let influx: Awaited<ReturnType<typeof createTestInflux>>;
  let hub: ServiceProcess | undefined;
  const pgctl = (...args: string[]) => asPostgres(join(bin!, 'pg_ctl'), ['-D', join(dir, 'data'), '-w', ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-pg-fault-'));
    chmodSync(dir, 0o777);
    port = await freePort();
    asPostgres(join(bin!, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    pgctl('-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-l', join(dir, 'log'), 'start');
    influx = await createTestInflux('vigil_fault_pg');
  }, 60_000);

  afterAll(async () => {
    await hub?.stop('SIGKILL');
    try {
      pgctl('-m', 'immediate', 'stop');
    } catch {
      /* already stopped */
    }
    await influx.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing and doubles nothing', async () => {
    const url = `postgres://postgres@127.0.0.1:${port}/vigil_fault_pg`;
    await ensureDatabase(url);
    const pool = createPool(url, 2);
    await migrate(pool);
    const mqttPort = await freePort();
    hub = await startHubProcess({ pgUrl: url, influxUrl: influx.url, influxDb: influx.database, mqttPort });
    const o = crisisFleetOptions(`mqtt://127.0.0.1:${mqttPort}`, 'fault-pg', 90_000);
    const households = buildHouseholds(o);
    const passwords = await enrollHouseholds(pool, households);
    await pool.end();
    const fault = faultAtRandomMoment(async () => {
      pgctl('-m', 'fast', 'stop');
      await new Promise((r) => setTimeout(r, 3000));
      pgctl('-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-l', join(dir, 'log'), 'start');
    });
    const summary = await runFleet(o, households, passwords, fault.onProgress);
    await fault.fired();
    expect(fault.fired(), 'PostgreSQL was restarted mid-run').toBeDefined();
    // the hub rode through the restart (a connection lost mid-transaction once crashed it)
    expectAlive(hub);
    const after = createPool(url, 2);
    try {
      await expectStoredOnceWithOneEpisodeEach(after, influx, households, summary);
    } finally {
      await after.end();
    }
  }, 150_000);
});
