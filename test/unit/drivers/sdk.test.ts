import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_DRIVERS, builtinRegistry } from '../../../drivers/builtin';
import { runDecode } from '../../../drivers/cli/decode';
import type { Driver } from '../../../drivers/sdk/definition';
import { DecodeError } from '../../../drivers/sdk/errors';
import { loadDriversFromFolder } from '../../../drivers/sdk/loader';
import { DriverLoadError, DriverRegistry } from '../../../drivers/sdk/registry';

const SDK = JSON.stringify(join(import.meta.dirname, '../../../drivers/sdk/index.ts'));
const tmp = mkdtempSync(join(tmpdir(), 'vigil-drivers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const minimal = (id: string, extra: Partial<Driver['definition']> = {}): Driver => ({
  definition: {
    id,
    vendor: 'Test',
    models: ['T'],
    description: 'test driver',
    match: { namePattern: `^${id}$` },
    linkMode: 'connect',
    capabilities: {},
    metrics: ['heart_rate'],
    characteristics: [{ service: 'ffe0', characteristic: 'ffe1', access: 'notify' }],
    ...extra,
  },
  decoders: {
    ffe1: (b) => ({ measurements: [{ metric: 'heart_rate', value: b[0] ?? 0, unit: '/min' }], rejected: [] }),
  },
});

describe('DriverRegistry', () => {
  it('registers every built-in driver, and the list matches the driver folders', () => {
    expect(builtinRegistry().drivers).toHaveLength(BUILTIN_DRIVERS.length);
  });

  it('rejects an invalid definition with INVALID_DRIVER naming the field', () => {
    const r = new DriverRegistry();
    const bad = minimal('bad-one', { metrics: ['not_a_metric' as 'heart_rate'] });
    expect(() => r.register(bad)).toThrow(/INVALID_DRIVER: driver bad-one .*metrics/);
  });

  it('rejects a declared characteristic without decoder, and a decoder without declaration', () => {
    const r = new DriverRegistry();
    expect(() => r.register({ ...minimal('no-decoder'), decoders: {} })).toThrow(
      /no decoder for declared characteristic ffe1/,
    );
    expect(() =>
      r.register({
        ...minimal('extra-decoder'),
        decoders: { ...minimal('x').decoders, ffe2: () => ({ measurements: [], rejected: [] }) },
      }),
    ).toThrow(/undeclared characteristic ffe2/);
  });

  it('rejects colliding ids and identical matches', () => {
    const r = new DriverRegistry();
    r.register(minimal('one'));
    expect(() => r.register(minimal('one'))).toThrow(DriverLoadError);
    expect(() => r.register(minimal('two', { match: { namePattern: '^one$' } }))).toThrow(/DRIVER_COLLISION/);
  });

  it('isolates a decoder that throws: DRIVER_FAILURE, counted, never propagated', () => {
    const r = new DriverRegistry();
    r.register({
      ...minimal('thrower'),
      decoders: {
        ffe1: () => {
          throw new TypeError('boom');
        },
      },
    });
    const out = r.decode('thrower', 'ffe1', Uint8Array.of(1));
    expect(out).toMatchObject({ ok: false, code: 'DRIVER_FAILURE' });
    expect(r.counters.driverFailures).toBe(1);
  });

  it('counts decode errors and rejected fields; rejects unknown metrics', () => {
    const r = new DriverRegistry();
    r.register({
      ...minimal('errs'),
      decoders: {
        ffe1: (b) => {
          if (!b.length) throw new DecodeError('EMPTY', 'empty');
          return {
            measurements: [
              { metric: 'nope' as 'heart_rate', value: 1, unit: '' },
              { metric: 'heart_rate', value: 999, unit: '/min' },
            ],
            rejected: [],
          };
        },
      },
    });
    expect(r.decode('errs', 'ffe1', new Uint8Array())).toMatchObject({ ok: false, code: 'EMPTY' });
    const out = r.decode('errs', 'ffe1', Uint8Array.of(1));
    expect(out.ok && out.result.rejected.map((x) => x.code)).toEqual(['RESERVED', 'IMPLAUSIBLE']);
    expect(r.counters).toMatchObject({ decodeErrors: 1, rejectedFields: 2 });
  });

  it('prefers the vendor driver (priority) over the standard profile', () => {
    const r = builtinRegistry();
    const adv = {
      address: 'A',
      serviceUuids: ['00001810-0000-1000-8000-00805f9b34fb'],
      serviceData: {},
      manufacturerData: {},
    };
    expect(r.match(adv)?.definition.id).toBe('sig-blood-pressure');
    expect(r.match({ ...adv, name: 'BPM-7' })?.definition.id).toBe('oem-bpm-cuff');
  });

  it('forCharacteristic picks the standard driver declaring it', () => {
    const r = builtinRegistry();
    expect(r.forCharacteristic('0x2A1C')?.definition.id).toBe('sig-health-thermometer');
    expect(r.forCharacteristic('2a35')?.definition.id).toBe('sig-blood-pressure');
    expect(r.forCharacteristic('ff02')?.definition.id).toBe('contec-cms50d-bt');
  });

  it('declares quirks on vendor drivers, none on standard ones', () => {
    for (const d of builtinRegistry().drivers) {
      if (d.definition.vendor === 'Bluetooth SIG') expect(d.definition.quirks, d.definition.id).toEqual([]);
      else expect(d.definition.quirks.length, d.definition.id).toBeGreaterThan(0);
    }
  });
});

describe('loadDriversFromFolder', () => {
  it('loads good drivers and reports bad, colliding and broken modules without throwing', async () => {
    const dir = join(tmp, 'mixed');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const good = (id: string) =>
      `import type { Driver } from ${SDK};\nconst d: Driver = { definition: { id: '${id}', vendor: 'X', models: ['m'], description: 'd', match: { namePattern: '^${id}' }, linkMode: 'connect', capabilities: {}, metrics: ['spo2'], characteristics: [{ service: 'ffe0', characteristic: 'ffe1', access: 'notify' }] }, decoders: { ffe1: () => ({ measurements: [], rejected: [] }) } };\n`;
    writeFileSync(join(dir, 'a-good.ts'), `${good('good-one')}export default [d];\n`);
    writeFileSync(join(dir, 'b-collides.ts'), `${good('sig-heart-rate')}export default d;\n`);
    writeFileSync(join(dir, 'c-invalid.js'), `export default { definition: { id: 'Bad Id' } };\n`);
    writeFileSync(join(dir, 'd-throws.js'), `throw new Error('module exploded');\n`);
    writeFileSync(join(dir, 'e-nodefault.js'), `export const x = 1;\n`);
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const { loaded, errors, registry } = await loadDriversFromFolder(dir);
    expect(loaded.map((l) => l.definition.id)).toEqual(['good-one']);
    expect(errors.map((e) => e.code)).toEqual(['DRIVER_COLLISION', 'INVALID_DRIVER', 'LOAD_FAILED', 'INVALID_DRIVER']);
    expect(errors[2]?.message).toMatch(/d-throws\.js: import failed: module exploded/);
    expect(registry.get('sig-heart-rate')).toBeDefined();
  });

  it('reports a missing folder', async () => {
    const { errors, loaded } = await loadDriversFromFolder(join(tmp, 'missing'));
    expect(loaded).toEqual([]);
    expect(errors[0]?.code).toBe('LOAD_FAILED');
  });
});

describe('decode CLI', () => {
  it('prints one JSON object for the field-notes BP sample', () => {
    const r = runDecode(['2a35', '167c0056006100e807060f11111b33000000']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout ?? '') as { measurements: { metric: string; value: number; unit: string }[] };
    expect(out).toMatchObject({ characteristic: '2a35', deviceTime: '2024-06-15T17:17:27', rejected: [] });
    expect(out.measurements.map((m) => [m.metric, m.value, m.unit])).toEqual([
      ['blood_pressure_systolic', 124, 'mm[Hg]'],
      ['blood_pressure_diastolic', 86, 'mm[Hg]'],
      ['blood_pressure_mean', 97, 'mm[Hg]'],
      ['heart_rate', 51, '/min'],
    ]);
  });

  it('accepts 0x2A1C and upper-case hex; lists rejected fields', () => {
    expect(
      (JSON.parse(runDecode(['0x2A1C', '006C0100FF']).stdout ?? '') as { measurements: unknown[] }).measurements[0],
    ).toMatchObject({
      metric: 'body_temperature',
      value: 36.4,
      unit: 'Cel',
    });
    expect(
      (JSON.parse(runDecode(['2a1c', '00ffff7f00']).stdout ?? '') as { rejected: unknown[] }).rejected[0],
    ).toMatchObject({
      code: 'SPECIAL_VALUE',
    });
  });

  it('exits non-zero with a one-line reason on undecodable input', () => {
    for (const args of [['2a35', '027c00'], ['2a35', 'zz'], ['9999', '00'], ['2a35']]) {
      const r = runDecode(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(/^[^\n]+$/);
    }
  });
});
