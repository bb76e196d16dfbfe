import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readingSchema } from '../../../contract';
import { fleetGatewayId, householdBacklog } from '../../../simulators/fleet/backlog';
import { buildHouseholds, percentile } from '../../../simulators/fleet/fleet';
import { SimGateway } from '../../../simulators/fleet/gateway';

const run = promisify(execFile);

describe('fleet simulator (no hub)', () => {
  it('gives each gateway exactly the requested backlog, valid, deterministic and disjoint from the others', () => {
    const hh = buildHouseholds({ gateways: 14, readingsPerGateway: 300, prefix: 'fl', seed: 4 });
    expect(hh.map((h) => h.gatewayId).slice(0, 2)).toEqual(['fl-00001', 'fl-00002']);
    const ids = new Set<string>();
    for (const h of hh) {
      // 300 is more than one run of most scenarios: later periods follow
      expect(h.readings).toHaveLength(300);
      for (const r of h.readings) {
        expect(readingSchema.parse(r).gatewayId).toBe(h.gatewayId);
        ids.add(r.id);
      }
      expect(h.patients[0]!.id.startsWith(`${h.gatewayId}-`)).toBe(true);
    }
    expect(ids.size).toBe(14 * 300);
    expect(householdBacklog({ prefix: 'fl', index: 3, count: 300, seed: 4 })).toEqual(hh[2]);
    expect(householdBacklog({ prefix: 'fl', index: 3, count: 300, seed: 5 }).readings).not.toEqual(hh[2]!.readings);
  });

  it('household scale backlogs bind both user slots of the one scale', () => {
    const h = householdBacklog({ prefix: 'fl', index: 1, count: 40, seed: 1, scenario: 'household-scale' });
    expect(h.patients.map((p) => p.devices[0]!.userIndex)).toEqual([1, 2]);
    expect(new Set(h.readings.map((r) => r.userIndex))).toEqual(new Set([1, 2]));
  });

  it('computes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([], 99)).toBe(0);
    expect(fleetGatewayId('x', 42)).toBe('x-00042');
  });

  it('refuses a batch size outside the wire contract', () => {
    expect(
      () =>
        new SimGateway({
          url: 'mqtt://127.0.0.1:1',
          gatewayId: 'gw-001',
          password: 'p',
          readings: [],
          batchSize: 501,
          maxInFlightBatches: 1,
          receiptTimeoutMs: 1000,
          receiptBackoff: false,
          connectTimeoutMs: 1000,
          keepaliveS: 60,
        }),
    ).toThrow(/batchSize/);
  });

  it('CLI: invalid options fail with ARGS_INVALID and exit code 2, naming each problem', async () => {
    const err = await run('npx', ['tsx', 'simulators/fleet/cli.ts', '--url', 'http://x', '--gateways', '20000'], {
      env: { ...process.env, VIGIL_FLEET_PG: 'postgres://postgres@127.0.0.1:5432/none' },
    }).catch((e: unknown) => e);
    expect((err as { code: number }).code).toBe(2);
    const stderr = (err as { stderr: string }).stderr;
    expect(stderr).toContain('ARGS_INVALID');
    expect(stderr).toContain('--url');
    expect(stderr).toContain('--gateways');
  }, 30_000);
});
