import { describe, expect, it } from 'vitest';
import { buildPeripherals, loadScenario } from '../../../simulators/virtual-bluez/scenario';
import { BloodPressureCuff, GlucoseMeter, bloodPressurePacket } from '../../../simulators/virtual-bluez';

describe('virtual BlueZ scenarios', () => {
  it('loads the default scenario: one device of each kind', async () => {
    const { peripherals } = await loadScenario('simulators/virtual-bluez/scenarios/default.yaml');
    expect(peripherals.map((p) => p.constructor.name)).toEqual([
      'BloodPressureCuff',
      'WeightScale',
      'Thermometer',
      'Oximeter',
      'GlucoseMeter',
      'ActivityTracker',
      'AdvertisingScale',
    ]);
    expect((peripherals[4] as GlucoseMeter).records.map((r) => r.sequence)).toEqual([1, 2]);
    expect(peripherals[6]!.connectable).toBe(false);
  });

  it('rejects a bad scenario with every issue', () => {
    expect(() =>
      buildPeripherals({ devices: [{ kind: 'bp-cuff', address: 'nope', packets: ['zz'] }] } as never),
    ).toThrow(/address[\s\S]*packets|packets[\s\S]*address/);
  });

  it('applies faults and builds the BLS field-notes vector byte-exact', () => {
    const { peripherals } = buildPeripherals({
      devices: [{ kind: 'bp-cuff', address: 'AA:BB:CC:DD:EE:01', faults: { dropLinkAfter: 2 } }],
    });
    expect(peripherals[0]).toBeInstanceOf(BloodPressureCuff);
    expect(peripherals[0]!.faults.dropLinkAfter).toBe(2);
    const bytes = bloodPressurePacket({
      systolic: 124,
      diastolic: 86,
      map: 97,
      pulse: 51,
      status: 0,
      time: new Date(Date.UTC(2024, 5, 15, 17, 17, 27)),
    });
    expect(Buffer.from(bytes).toString('hex')).toBe('167c0056006100e807060f11111b33000000');
  });
});
