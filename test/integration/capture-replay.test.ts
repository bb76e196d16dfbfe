import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { newHeader, parseTrace, serializeTrace, type Trace, type TraceRecord } from '../../gateway';
import {
  compareWrites,
  loadReplayCase,
  replayCaseSchema,
  ReplayError,
  runReplay,
} from '../../simulators/capture-replay/replay';

const ROOT = join(import.meta.dirname, '../..');
const CAPTURES = join(import.meta.dirname, '../captures');
const cases = readdirSync(CAPTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => join(CAPTURES, d.name, 'case.yaml'));

/**
 * Every committed capture is replayed: the virtual BlueZ serves the captured device as it
 * answered then, the gateway's BlueZ transport, device manager and drivers run a real session on
 * it, and the readings must be the case's expected ones.
 */
describe('capture replay (virtual BlueZ + the gateway BLE side)', () => {
  it('has captures to replay', () => expect(cases.length).toBeGreaterThan(0));

  for (const file of cases) {
    it(`${file.split('/').at(-2) ?? file}: the gateway produces the expected readings`, async () => {
      const { replayCase, trace, dir } = await loadReplayCase(file);
      const report = await runReplay(replayCase, trace, { dir });
      expect(report.missing).toEqual([]);
      expect(report.unexpected).toEqual([]);
      expect(report.driver).toBe(replayCase.expected.driver ?? report.driver);
      expect(report.ok).toBe(true);
      expect(report.unsentNotifications).toBe(0);
    }, 60_000);
  }

  it("compares Vigil's writes with the captured app's: same subscription, CTS adjust reason differs; missing and changed writes reported", async () => {
    const { replayCase, trace, dir } = await loadReplayCase(join(CAPTURES, 'bls-cuff-constructed/case.yaml'));
    const report = await runReplay(replayCase, trace, { dir });
    // the same subscription as the app; the same Current Time write but for its time and adjust
    // reason: the app said "manual time update" (0x01), Vigil "external reference" (0x02)
    expect(report.writes).toEqual([
      {
        kind: 'value',
        action: 'write',
        service: '1805',
        characteristic: '2a2b',
        captured: 'e807060f111405060001',
        vigil: expect.stringMatching(/^[0-9a-f]{18}02$/) as string,
      },
    ]);
    // the diff itself: a subscription the app made and Vigil did not, a write of other bytes
    const a = { service: '1808', characteristic: '2a52' };
    expect(
      compareWrites(
        [
          { type: 'subscribe', ...a },
          { type: 'write', ...a, value: '0101' },
        ],
        [{ type: 'write', ...a, value: '0103' }],
      ),
    ).toEqual([
      { kind: 'missing', action: 'subscribe', ...a },
      { kind: 'value', action: 'write', ...a, captured: '0101', vigil: '0103' },
    ]);
  }, 60_000);

  it('an expectation the device does not meet fails the case, with what was produced', async () => {
    const { replayCase, trace, dir } = await loadReplayCase(join(CAPTURES, 'bls-cuff-constructed/case.yaml'));
    const wrong = {
      ...replayCase,
      expected: { ...replayCase.expected, readings: [{ metric: 'blood_pressure_systolic', value: 125 }] },
    };
    const report = await runReplay(wrong, trace, { dir });
    expect(report.ok).toBe(false);
    expect(report.missing).toEqual([{ metric: 'blood_pressure_systolic', value: 125 }]);
    expect(report.unexpected.map((r) => r.value)).toContain(124);
  }, 60_000);

  it('an imported capture without discovery names its handles in the case, or is refused with REPLAY_UNNAMED_HANDLES', async () => {
    const { replayCase, trace } = await loadReplayCase(join(CAPTURES, 'bls-cuff-constructed/case.yaml'));
    // the same session as a capture started after discovery (a bonded device with cached handles)
    const stripped: Trace = parseTrace(
      serializeTrace({
        header: trace.header,
        records: trace.records
          .filter((r) => r.type !== 'characteristic')
          .map((r) => {
            if (!('characteristic' in r)) return r;
            const rest: Record<string, unknown> = { ...r };
            delete rest.service;
            delete rest.characteristic;
            return rest as unknown as TraceRecord;
          }),
      }),
    );
    await expect(runReplay(replayCase, stripped)).rejects.toThrow(ReplayError);
    await expect(runReplay(replayCase, stripped)).rejects.toThrow(/REPLAY_UNNAMED_HANDLES/);
    const named = {
      ...replayCase,
      handles: {
        '0x0012': { service: '1810', characteristic: '2a35' },
        '0x0015': { service: '1810', characteristic: '2a49' },
        '0x0022': { service: '1805', characteristic: '2a2b' },
        '0x0032': { service: '180f', characteristic: '2a19' },
      },
    };
    const report = await runReplay(named, stripped);
    expect(report.missing).toEqual([]);
    expect(report.ok).toBe(true);
  }, 60_000);

  it('a broadcast scale: its captured advertisements are played in turn and decoded from the air', async () => {
    // an unstable weight, then the stabilised one (Mi Smart Scale 0x181D layout, drivers/vendors/xiaomi.vectors.json)
    const device = 'D1:22:33:44:55:66';
    const advert = (t: number, data: string) => ({
      type: 'advertisement' as const,
      device,
      t,
      name: 'MI_SCALE',
      serviceUuids: ['181d'],
      serviceData: { '181d': data },
      manufacturerData: {},
    });
    const trace: Trace = {
      header: { ...newHeader('constructed', 'Mi Smart Scale adverts per the published 0x181D layout') },
      records: [advert(0, '023e30e607020e10293a'), advert(800, '223e30e607020e10293a')],
    };
    const report = await runReplay(
      replayCaseSchema.parse({
        trace: 'inline',
        source: 'constructed per the Mi Smart Scale 0x181D service data layout (openScale, Theengs Decoder)',
        expected: {
          driver: 'xiaomi-mi-scale',
          readings: [{ metric: 'body_weight', value: 61.75, deviceTime: '2022-02-14T16:41:58' }],
        },
      }),
      trace,
    );
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.ok).toBe(true);
  }, 60_000);

  it('the command line: import a btsnoop file, replay a case (exit 0), and a failing case exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-capture-cli-'));
    try {
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'simulators/capture-replay/cli.ts', ...args], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
        });
      const out = join(dir, 'trace.jsonl');
      const imported = cli('import', join(CAPTURES, 'bls-cuff-constructed/capture.btsnoop'), '--out', out, '--android');
      expect(imported.status, imported.stderr).toBe(0);
      expect(JSON.parse(imported.stdout)).toMatchObject({
        event: 'capture.imported',
        attPdus: 32,
        unmappedHandles: [],
      });
      const trace = parseTrace(readFileSync(out, 'utf8'));
      expect(trace.header.source).toBe('android-hci');
      expect(trace.records.filter((r) => r.type === 'notify')).toHaveLength(2);
      // never overwrites
      expect(cli('import', join(CAPTURES, 'bls-cuff-constructed/capture.btsnoop'), '--out', out).status).toBe(1);

      const ok = cli('replay', join(CAPTURES, 'bls-cuff-constructed/case.yaml'));
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, missing: [], unexpected: [] });

      const bad = join(dir, 'case.yaml');
      writeFileSync(
        bad,
        stringifyYaml({
          trace: join(CAPTURES, 'bls-cuff-constructed/trace.jsonl'),
          source: 'test: a wrong expectation',
          expected: { readings: [{ metric: 'blood_pressure_systolic', value: 200 }] },
        }),
      );
      const failed = cli('replay', bad);
      expect(failed.status).toBe(1);
      expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, missing: [{ value: 200 }] });
      const invalid = join(dir, 'invalid.yaml');
      writeFileSync(invalid, 'trace: x\n');
      const refused = cli('replay', invalid);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/^REPLAY_CASE_INVALID: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
