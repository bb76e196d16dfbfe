import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../../drivers/builtin';
import * as E from '../../../drivers/encoders';
import {
  decodeRacpRequest,
  encodeRacpRequest,
  parseRacpResponse,
  racpAbort,
  racpReportNumberOfRecords,
  racpReportRecordsAfter,
} from '../../../drivers/common/racp';
import { decodeCurrentTime, encodeCurrentTime, localTimeOf } from '../../../drivers/common/current-time';

const reg = builtinRegistry();
const T = { year: 2025, month: 12, day: 31, hours: 23, minutes: 59, seconds: 58 };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
function values(driver: string, uuid: string, bytes: Uint8Array) {
  const out = reg.decode(driver, uuid, bytes, `enc/${driver}/${uuid}/${hex(bytes)}`);
  if (!out.ok) throw new Error(out.message);
  return Object.fromEntries(out.result.measurements.map((m) => [m.metric, m.value]));
}

describe('encoders round-trip through the decoders', () => {
  it('blood pressure (mmHg, kPa) and intermediate cuff pressure', () => {
    expect(
      hex(
        E.encodeBloodPressureMeasurement({
          systolic: 124,
          diastolic: 86,
          map: 97,
          timeStamp: { year: 2024, month: 6, day: 15, hours: 17, minutes: 17, seconds: 27 },
          pulseRate: 51,
          status: 0,
        }),
      ),
    ).toBe('167c0056006100e807060f11111b33000000');
    expect(
      values(
        'sig-blood-pressure',
        '2a35',
        E.encodeBloodPressureMeasurement({ systolic: 16, diastolic: 10.7, map: 12.5, unit: 'kPa' }),
      ),
    ).toEqual({ blood_pressure_systolic: 120, blood_pressure_diastolic: 80.3, blood_pressure_mean: 93.8 });
    expect(values('sig-blood-pressure', '2a36', E.encodeIntermediateCuffPressure(142))).toEqual({
      blood_pressure_systolic: 142,
    });
  });

  it('weight scale and body composition', () => {
    expect(
      values('sig-weight-scale', '2a9d', E.encodeWeightMeasurement({ weight: 81.35, bmi: 26.1, height: 1.765 })),
    ).toEqual({ body_weight: 81.35, bmi: 26.1, height: 176.5 });
    expect(
      values(
        'sig-body-composition',
        '2a9c',
        E.encodeBodyComposition({ bodyFat: 24.4, weight: 81.35, impedance: 512.3 }),
      ),
    ).toEqual({ body_fat: 24.4, body_weight: 81.35, impedance: 512.3 });
  });

  it('thermometer (C and F), pulse oximeter, heart rate', () => {
    expect(
      values('sig-health-thermometer', '2a1c', E.encodeTemperatureMeasurement({ value: 38.25, timeStamp: T })),
    ).toEqual({ body_temperature: 38.25 });
    expect(
      values(
        'sig-health-thermometer',
        '2a1c',
        E.encodeTemperatureMeasurement({ value: 100.4, fahrenheit: true, exponent: -1 }),
      ),
    ).toEqual({ body_temperature: 38 });
    expect(values('sig-pulse-oximeter', '2a5e', E.encodePlxSpotCheck({ spo2: 98, pulseRate: 61, pai: 4.75 }))).toEqual({
      spo2: 98,
      heart_rate: 61,
      pulse_amplitude_index: 4.75,
    });
    expect(values('sig-heart-rate', '2a37', E.encodeHeartRate({ heartRate: 300, rrMs: [] }))).toEqual({
      heart_rate: 300,
    });
  });

  it('glucose in mmol/L and mg/dL, with a time offset', () => {
    const out = reg.decode(
      'sig-glucose',
      '2a18',
      E.encodeGlucoseMeasurement({
        sequence: 9,
        baseTime: T,
        timeOffsetMinutes: 2,
        concentration: { value: 28.3, unit: 'mmol/L' },
      }),
    );
    expect(out.ok && out.result.measurements[0]).toMatchObject({
      metric: 'glucose',
      value: 28.3,
      sequence: 9,
      deviceTime: '2026-01-01T00:01:58',
    });
    expect(
      values(
        'sig-glucose',
        '2a18',
        E.encodeGlucoseMeasurement({ sequence: 10, baseTime: T, concentration: { value: 180, unit: 'mg/dL' } }),
      ),
    ).toEqual({ glucose: 9.99 });
  });

  it('activity: RSC and segmented PAMS step counter', () => {
    expect(
      values(
        'sig-running-speed-cadence',
        '2a53',
        E.encodeRscMeasurement({ speed: 2.5, cadence: 160, totalDistance: 1234.5 }),
      ),
    ).toEqual({ speed: 2.5, cadence: 160, distance: 1234.5 });
    const segments = E.segmentPams(
      E.encodeStepCounterSummary({ sequence: 5, normalWalkingSteps: 9000, intensitySteps: 1000, distance: 7000 }),
      8,
    );
    expect(segments.length).toBeGreaterThan(2);
    let last;
    for (const s of segments) last = reg.decode('sig-physical-activity-monitor', '2b40', s, 'pams-roundtrip');
    expect(last?.ok && last.result.measurements.map((m) => [m.metric, m.value])).toEqual([
      ['steps', 10000],
      ['distance', 7000],
    ]);
  });

  it('vendor frames', () => {
    expect(hex(E.encodeContecRealtime({ pulseRate: 83, spo2: 99 }))).toBe('eb010453637f0025');
    expect(
      hex(
        E.encodeMiScaleServiceData({
          weight: 61.75,
          time: { year: 2022, month: 2, day: 14, hours: 16, minutes: 41, seconds: 58 },
        }),
      ),
    ).toBe('223e30e607020e10293a');
    expect(
      hex(
        E.encodeMiBodyCompositionServiceData({
          weight: 72.45,
          impedance: 503,
          time: { year: 2022, month: 2, day: 14, hours: 16, minutes: 41, seconds: 58 },
        }),
      ),
    ).toBe('0226e607020e10293af7019a38');
  });
});

describe('RACP (GSS 3.187)', () => {
  it('encodes the requests the gateway needs', () => {
    expect(hex(racpReportRecordsAfter(41) ?? new Uint8Array())).toBe('0103012a00');
    expect(racpReportRecordsAfter(0xffff)).toBeUndefined();
    expect(hex(racpReportNumberOfRecords())).toBe('0401');
    expect(hex(racpAbort())).toBe('0300');
  });

  it('decodes requests (simulator side) and responses (gateway side)', () => {
    expect(decodeRacpRequest(encodeRacpRequest({ op: 'report', filter: 'sequence_range', from: 3, to: 9 }))).toEqual({
      op: 'report',
      filter: 'sequence_range',
      from: 3,
      to: 9,
    });
    expect(decodeRacpRequest(racpAbort())).toEqual({ op: 'abort' });
    expect(() => decodeRacpRequest(Uint8Array.of(1, 3, 2, 0, 0))).toThrow(/UNSUPPORTED/);
    expect(parseRacpResponse(E.encodeRacpResponse({ type: 'response_code', requestOpCode: 3, code: 7 }))).toEqual({
      type: 'response_code',
      requestOpCode: 3,
      code: 7,
      status: 'abort_unsuccessful',
    });
    expect(parseRacpResponse(E.encodeRacpResponse({ type: 'number_of_records', count: 300 }))).toEqual({
      type: 'number_of_records',
      count: 300,
    });
  });
});

describe('Current Time 0x2A2B', () => {
  it('decodes the field-notes example and round-trips writes', () => {
    expect(decodeCurrentTime(Buffer.from('DA070C120F170600C000', 'hex')).info).toEqual({
      currentTime: { deviceTime: '2010-12-18T15:23:06', dayOfWeek: 0, fractions256: 192, adjustReason: [] },
    });
    const bytes = encodeCurrentTime({
      ...T,
      dayOfWeek: 3,
      fractions256: 128,
      adjustReason: ['manual_time_update', 'change_of_dst'],
    });
    expect(hex(bytes)).toBe('e9070c1f173b3a038009');
    expect(decodeCurrentTime(bytes).info).toEqual({
      currentTime: {
        deviceTime: '2025-12-31T23:59:58',
        dayOfWeek: 3,
        fractions256: 128,
        adjustReason: ['manual_time_update', 'change_of_dst'],
      },
    });
  });

  it('gives local wall-clock fields in a time zone', () => {
    expect(localTimeOf(new Date('2024-03-31T01:30:00.500Z'), 'Europe/Paris')).toEqual({
      year: 2024,
      month: 3,
      day: 31,
      hours: 3,
      minutes: 30,
      seconds: 0,
      dayOfWeek: 7,
      fractions256: 128,
    });
  });
});
