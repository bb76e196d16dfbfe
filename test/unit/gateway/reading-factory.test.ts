import { describe, expect, it } from 'vitest';
import type { Measurement } from '../../../drivers';
import { toReading, type ReadingContext } from '../../../gateway/devices/reading-factory';

const ctx = (over: Partial<ReadingContext> = {}): ReadingContext => ({
  gatewayId: 'gw-unit-1',
  address: 'A4:C1:38:00:00:01',
  driver: 'sig-blood-pressure',
  timeZone: 'UTC',
  receivedAt: new Date('2026-06-10T12:00:00Z'),
  raw: Uint8Array.of(1, 2, 3),
  ...over,
});
const m = (deviceTime?: string): Measurement => ({
  metric: 'blood_pressure_systolic',
  value: 130,
  unit: 'mm[Hg]',
  ...(deviceTime ? { deviceTime } : {}),
});

describe('toReading: device time kept, UTC corrected, implausible clocks flagged', () => {
  it('a right clock: measuredAt is the device time in the household zone, trusted', () => {
    const r = toReading(m('2026-06-10T10:30:00'), ctx({ clockOffsetMs: 0, timeZone: 'Europe/Paris' }));
    expect(r).toMatchObject({
      measuredAt: '2026-06-10T08:30:00.000Z',
      deviceTime: '2026-06-10T10:30:00',
      clock: { offsetMs: 0, trusted: true },
      flags: [],
    });
  });

  it('a clock 3 h fast: corrected by the offset measured at connection', () => {
    const r = toReading(m('2026-06-10T13:30:00'), ctx({ clockOffsetMs: 3 * 3_600_000 }));
    expect(r.measuredAt).toBe('2026-06-10T10:30:00.000Z');
    expect(r.deviceTime).toBe('2026-06-10T13:30:00');
    expect(r.clock).toEqual({ offsetMs: 10_800_000, trusted: true });
  });

  it('an unset clock (2000-01-01) or a year before 2015: dated on reception, flagged clock_unset', () => {
    for (const t of ['2000-01-01T00:07:00', '2010-01-01T03:00:00']) {
      const r = toReading(m(t), ctx({ clockOffsetMs: -1e12 }));
      expect(r.measuredAt).toBe('2026-06-10T12:00:00.000Z');
      expect(r.flags).toContain('clock_unset');
      expect(r.clock?.trusted).toBe(false);
      expect(r.deviceTime).toBe(t);
    }
  });

  it('a clock days off: not trusted', () => {
    const r = toReading(m('2026-06-13T12:00:00'), ctx({ clockOffsetMs: 3 * 86_400_000 }));
    expect(r.flags).toContain('clock_untrusted');
    expect(r.measuredAt).toBe('2026-06-10T12:00:00.000Z');
  });

  it('a stamp later than reception after correction: clock_in_future', () => {
    const r = toReading(m('2026-06-10T15:00:00'), ctx({ clockOffsetMs: 0 }));
    expect(r.flags).toContain('clock_in_future');
    expect(r.measuredAt).toBe('2026-06-10T12:00:00.000Z');
  });

  it('no offset measured (no CTS) and a stamp two years old: not trusted', () => {
    expect(toReading(m('2024-05-01T08:00:00'), ctx()).flags).toContain('clock_untrusted');
    expect(toReading(m('2026-05-01T08:00:00'), ctx()).flags).toEqual([]);
  });

  it('DST: a device that did not change to summer time (offset -1 h) keeps stamps taken before the change right', () => {
    const summer = ctx({
      timeZone: 'Europe/Paris',
      receivedAt: new Date('2026-04-02T10:00:00Z'),
      clockOffsetMs: -3_600_000,
    });
    // taken 20 March 08:00 local winter time (07:00Z): right when taken, must not move by an hour
    const before = toReading(m('2026-03-20T08:00:00'), summer);
    expect(before.measuredAt).toBe('2026-03-20T07:00:00.000Z');
    expect(before.flags).toContain('clock_dst_not_followed');
    // taken 1 April at 09:00 real local time, the device showed 08:00: corrected by the offset
    const after = toReading(m('2026-04-01T08:00:00'), summer);
    expect(after.measuredAt).toBe('2026-04-01T07:00:00.000Z');
    expect(after.flags).toEqual([]);
  });

  it('the same record read twice gets the same id; untimed values get one id per minute of reception', () => {
    expect(toReading(m('2026-06-10T10:30:00'), ctx()).id).toBe(
      toReading(m('2026-06-10T10:30:00'), ctx({ receivedAt: new Date('2026-06-11T00:00:00Z') })).id,
    );
    const a = toReading(m(), ctx());
    expect(a.measuredAt).toBe('2026-06-10T12:00:00.000Z');
    expect(a.clock).toBeUndefined();
    expect(toReading(m(), ctx({ receivedAt: new Date('2026-06-10T12:00:30Z') })).id).toBe(a.id);
    expect(toReading(m(), ctx({ receivedAt: new Date('2026-06-10T12:01:30Z') })).id).not.toBe(a.id);
  });
});

describe('toReading: the reading id names one measurement, whatever re-sends it', () => {
  const z = { clockOffsetMs: 0, timeZone: 'Europe/Paris' };
  it('the same record decoded again (re-sent, re-synchronised) keeps its id', () => {
    expect(toReading(m('2026-06-10T10:30:00'), ctx(z)).id).toBe(
      toReading(m('2026-06-10T10:30:00'), ctx({ ...z, receivedAt: new Date('2026-06-11T09:00:00Z') })).id,
    );
  });
  it('two measurements stamped with the same local second (the hour a DST fall-back repeats) get two ids', () => {
    const first = toReading({ ...m('2026-10-25T02:30:00'), value: 128 }, ctx(z));
    const second = toReading({ ...m('2026-10-25T02:30:00'), value: 141 }, ctx(z));
    expect(first.id).not.toBe(second.id);
  });
  it('a renumbered meter: the same sequence number with another time is another record', () => {
    const old = toReading({ ...m('2026-06-01T08:00:00'), sequence: 1 }, ctx(z));
    const renumbered = toReading({ ...m('2026-06-10T08:00:00'), sequence: 1 }, ctx(z));
    expect(old.id).not.toBe(renumbered.id);
    expect(toReading({ ...m('2026-06-01T08:00:00'), sequence: 1 }, ctx(z)).id).toBe(old.id);
  });
});
