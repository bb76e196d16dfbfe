import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../../drivers';
import {
  DEVICE_QUIRKS,
  QUIRKS,
  applyQuirkEffects,
  deviceQuirksFor,
  quirksFor,
} from '../../../drivers/common/quirk-registry';
import { decodeBloodPressure } from '../../../drivers/standard/blood-pressure';

const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const values = (r: { measurements: { metric: string; value: number }[] }) =>
  Object.fromEntries(r.measurements.map((m) => [m.metric, m.value]));

describe('quirk registry', () => {
  it('every device entry names known quirks and cites its source', () => {
    for (const e of DEVICE_QUIRKS) {
      expect(e.source.length, e.device).toBeGreaterThan(20);
      for (const q of e.quirks) expect(Object.hasOwn(QUIRKS, q), q).toBe(true);
    }
  });

  it('matches a device by advertised name, case-insensitively, and nothing without identity', () => {
    expect(deviceQuirksFor({ localName: 'Beurer BM85' }).map((e) => e.device)).toEqual(['Beurer BM85']);
    expect(deviceQuirksFor({ localName: 'bm 85' })).toHaveLength(1);
    expect(deviceQuirksFor({ localName: 'BM54' })).toEqual([]);
    expect(deviceQuirksFor({})).toEqual([]);
  });

  it('keeps only the quirks that apply to the characteristic, ignoring behavioural names', () => {
    const ctx = { quirks: ['vendor_protocol', 'map_zero_means_absent'], state: new Map(), identity: {} };
    expect(quirksFor('2a35', ctx)).toEqual(['map_zero_means_absent']);
    expect(quirksFor('2a36', ctx)).toEqual([]);
  });

  it('the gateway path: a name heard in the advertisement turns the quirks on for that device only', () => {
    const registry = builtinRegistry();
    const packet = bytes('566a0047000000ea07080b121f00003f000000'); // Beurer BM85 (blood-pressure-monitor-fl tests)
    registry.noteIdentity('AA:00:00:00:00:01', { localName: 'BM85' });
    const known = registry.decode('sig-blood-pressure', '2a35', packet, 'AA:00:00:00:00:01');
    const unknown = registry.decode('sig-blood-pressure', '2a35', packet, 'AA:00:00:00:00:02');
    if (!known.ok || !unknown.ok) throw new Error('decode failed');
    expect(values(known.result)).toEqual({
      blood_pressure_systolic: 106,
      blood_pressure_diastolic: 71,
      heart_rate: 63,
    });
    expect(known.result.measurements[0]?.userIndex).toBe(0);
    expect(unknown.result.measurements.map((m) => m.metric)).not.toContain('heart_rate');
  });

  it('DIS strings read during a session complete the identity', () => {
    const registry = builtinRegistry();
    const address = 'AA:00:00:00:00:03';
    registry.decode('sig-blood-pressure', '2a29', new TextEncoder().encode('A&D Medical'), address);
    registry.decode('sig-blood-pressure', '2a24', new TextEncoder().encode('UA-651BLE'), address);
    registry.noteIdentity(address.toLowerCase(), { localName: 'A&D_UA-651' });
    expect(registry.identityOf(address)).toEqual({
      manufacturer: 'A&D Medical',
      model: 'UA-651BLE',
      localName: 'A&D_UA-651',
    });
  });

  it('length-based effects: an extra octet after the time stamp is removed only when the length shows it', () => {
    const decode = (b: Uint8Array) => decodeBloodPressure(b);
    const effects = [{ kind: 'extra_bytes', after: 'time_stamp', length: 1 } as const];
    // GSS sample with a day-of-week octet (6) inserted after the Date Time
    const withDay = applyQuirkEffects('2a35', bytes('167c0056006100e807060f11111b0633000000'), effects, decode);
    expect(values(withDay).heart_rate).toBe(51);
    expect(withDay.measurements[0]?.deviceTime).toBe('2024-06-15T17:17:27');
    const standard = applyQuirkEffects('2a35', bytes('167c0056006100e807060f11111b33000000'), effects, decode);
    expect(values(standard).heart_rate).toBe(51);
  });

  it('a wrong unit flag is cleared, a MAP 0 is rejected with code QUIRK', () => {
    const decode = (b: Uint8Array) => decodeBloodPressure(b);
    const kpaFlagged = applyQuirkEffects(
      '2a35',
      bytes('017c0056000000'),
      [
        { kind: 'clear_flag', flag: 'units_kpa' },
        { kind: 'raw_means_absent', field: 'mean_arterial_pressure', raw: 0 },
      ],
      decode,
    );
    expect(values(kpaFlagged)).toEqual({ blood_pressure_systolic: 124, blood_pressure_diastolic: 86 });
    expect(kpaFlagged.rejected).toEqual([expect.objectContaining({ field: 'Mean Arterial Pressure', code: 'QUIRK' })]);
  });
});
