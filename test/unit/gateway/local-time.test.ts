import { describe, expect, it } from 'vitest';
import { localToUtc, utcToLocalIso } from '../../../gateway/time/local-time';

describe('device local time -> UTC in the household zone', () => {
  it('applies summer and winter offsets', () => {
    expect(localToUtc('2024-06-15T17:17:27', 'Europe/Paris').toISOString()).toBe('2024-06-15T15:17:27.000Z');
    expect(localToUtc('2024-01-15T17:17:27', 'Europe/Paris').toISOString()).toBe('2024-01-15T16:17:27.000Z');
    expect(localToUtc('2024-06-15T17:17:27', 'America/New_York').toISOString()).toBe('2024-06-15T21:17:27.000Z');
  });
  it('takes the earlier instant in the autumn overlap and shifts times in the spring gap', () => {
    expect(localToUtc('2024-10-27T02:30:00', 'Europe/Paris').toISOString()).toBe('2024-10-27T00:30:00.000Z');
    expect(localToUtc('2024-03-31T02:30:00', 'Europe/Paris').toISOString()).toBe('2024-03-31T01:30:00.000Z');
  });
  it('round-trips and rejects malformed times', () => {
    expect(utcToLocalIso(new Date('2024-06-15T15:17:27Z'), 'Europe/Paris')).toBe('2024-06-15T17:17:27');
    expect(() => localToUtc('15/06/2024 17:17', 'UTC')).toThrow(/INVALID_LOCAL_TIME/);
  });
});
