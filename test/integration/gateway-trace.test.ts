import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrace, Pseudonymizer } from '../../gateway';
import { startService, type ServiceProcess } from '../../scripts/lib/processes';
import { replayCaseSchema, runReplay } from '../../simulators/capture-replay/replay';
import { BloodPressureCuff, startVirtualBluez, type VirtualBluezHandle } from '../../simulators/virtual-bluez';
import { freePort } from '../fault/support';
import { until } from '../support/wait';

/**
 * `vigil-gateway trace` as a process on the virtual BlueZ: the real gateway runs its session
 * with a cuff, every BLE exchange lands in the trace file under a pseudonym, and that trace,
 * replayed, gives the same readings: a capture made on a box is a test as it is.
 */
const CUFF = 'A4:C1:38:7A:00:01';

describe('vigil-gateway trace (gateway process on the virtual BlueZ)', () => {
  let vb: VirtualBluezHandle;
  let gateway: ServiceProcess | undefined;
  let dir: string;

  beforeAll(async () => {
    const cuff = new BloodPressureCuff({ address: CUFF, name: 'BP Cuff', rssi: -50, recordIntervalMs: 5 });
    cuff.addReading({ systolic: 132, diastolic: 84, pulse: 71, time: new Date(Date.UTC(2026, 10, 30, 7, 45)) });
    cuff.addReading({ systolic: 128, diastolic: 80, pulse: 69, time: new Date(Date.UTC(2026, 10, 30, 7, 48)) });
    vb = await startVirtualBluez({ peripherals: [cuff], adapter: { advertiseIntervalMs: 150 } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-trace-'));
    writeFileSync(
      join(dir, 'gateway.yaml'),
      JSON.stringify({
        gatewayId: 'gw-trace-01',
        dataDir: join(dir, 'data'),
        timeZone: 'UTC',
        logLevel: 'info',
        // no broker here: readings wait in the buffer, the trace does not need the hub
        mqtt: { url: `mqtt://127.0.0.1:${await freePort()}`, password: 'unused-password' },
        ble: { connectTimeoutMs: 5_000, idleDisconnectMs: 400, settleMs: 20, cooldownMs: 3_600_000 },
        devices: { allow: [CUFF] },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    await vb.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records the session under a pseudonym, and the trace replays to the same readings', async () => {
    const out = join(dir, 'cuff.trace.jsonl');
    gateway = await startService('gateway-trace', 'gateway/cli.ts', {
      args: ['--config', join(dir, 'gateway.yaml'), 'trace', '--out', out, '--note', 'virtual BP cuff'],
      readyEvent: 'trace.started',
      env: vb.env,
    });
    await until(
      'the session over',
      () => Promise.resolve(readFileSync(out, 'utf8').includes('"type":"disconnect"') ? true : undefined),
      30_000,
    );
    expect(await gateway.stop()).toBe(0);
    gateway = undefined;

    const text = readFileSync(out, 'utf8');
    expect(text).not.toContain(CUFF);
    const trace = parseTrace(text);
    expect(trace.header).toMatchObject({ source: 'gateway', note: 'virtual BP cuff' });
    // the box's key: the pseudonym is the same in every trace from this box
    const pseudonym = Pseudonymizer.fromKeyFile(join(dir, 'data', 'trace-pseudonym.key')).address(CUFF);
    expect(new Set(trace.records.map((r) => r.device))).toEqual(new Set([pseudonym]));
    const kinds = trace.records.map((r) => r.type);
    expect(kinds).toContain('advertisement');
    expect(kinds.indexOf('connect')).toBeLessThan(kinds.indexOf('subscribe'));
    expect(trace.records.filter((r) => r.type === 'notify' && r.characteristic === '2a35')).toHaveLength(2);
    expect(trace.records).toContainEqual(
      expect.objectContaining({ type: 'write', service: '1805', characteristic: '2a2b' }),
    );
    expect(kinds.lastIndexOf('notify')).toBeLessThan(kinds.indexOf('disconnect'));

    const report = await runReplay(
      replayCaseSchema.parse({
        trace: out,
        source: 'recorded by vigil-gateway trace from the virtual BlueZ cuff (test)',
        expected: {
          driver: 'sig-blood-pressure',
          readings: [
            { metric: 'blood_pressure_systolic', value: 132, deviceTime: '2026-11-30T07:45:00' },
            { metric: 'blood_pressure_diastolic', value: 84 },
            { metric: 'blood_pressure_mean', value: 100 },
            { metric: 'heart_rate', value: 71 },
            { metric: 'blood_pressure_systolic', value: 128, deviceTime: '2026-11-30T07:48:00' },
            { metric: 'blood_pressure_diastolic', value: 80 },
            { metric: 'blood_pressure_mean', value: 96 },
            { metric: 'heart_rate', value: 69 },
            ...(trace.records.some((r) => r.type === 'read' && r.characteristic === '2a19')
              ? [{ metric: 'battery_level', value: vb.get(CUFF, BloodPressureCuff).battery }]
              : []),
          ],
        },
      }),
      trace,
    );
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    // Vigil replaying its own capture does what it did: no difference but the clock it writes
    expect(report.writes.filter((w) => w.characteristic !== '2a2b')).toEqual([]);
    expect(report.ok).toBe(true);
  }, 90_000);
});
