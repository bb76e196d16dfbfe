import { describe, expect, it } from 'vitest';
import { durationMs, interpolateInfluxQL, interpolatePostgres, type QueryContext } from './grafana-interpolate';

const ctx = (variables: QueryContext['variables'] = {}): QueryContext => ({
  from: new Date('2026-01-01T00:00:00.000Z'),
  to: new Date('2026-01-02T12:30:15.500Z'),
  interval: '5m',
  variables,
});

describe('Grafana interpolation stand-in (InfluxQL)', () => {
  it('expands $timeFilter into an epoch-ms range', () => {
    expect(interpolateInfluxQL('SELECT "value" FROM "spo2" WHERE $timeFilter', ctx())).toBe(
      'SELECT "value" FROM "spo2" WHERE time >= 1767225600000ms and time <= 1767357015500ms',
    );
  });

  it('expands $__interval, ${__from} and ${__to}', () => {
    expect(
      interpolateInfluxQL('time >= ${__from}ms - 14d AND time <= ${__to}ms GROUP BY time($__interval)', ctx()),
    ).toBe('time >= 1767225600000ms - 14d AND time <= 1767357015500ms GROUP BY time(5m)');
  });

  it('turns a multi-value variable into an escaped regex group', () => {
    const q = interpolateInfluxQL(
      'WHERE "patient" =~ /^$patient$/',
      ctx({ patient: { value: ['a.1', 'b/2'], multi: true } }),
    );
    expect(q).toBe('WHERE "patient" =~ /^(a\\.1|b\\/2)$/');
  });

  it('escapes a single value inside a regex literal and inserts it raw elsewhere', () => {
    const c = ctx({ patient: { value: 'p.1' } });
    expect(interpolateInfluxQL(`WHERE "patient" =~ /^$patient$/`, c)).toBe('WHERE "patient" =~ /^p\\.1$/');
    expect(interpolateInfluxQL(`WHERE "patient" = '$patient'`, c)).toBe(`WHERE "patient" = 'p.1'`);
    expect(interpolateInfluxQL(`WHERE "patient" = '[[patient]]' OR x = '\${patient}'`, c)).toBe(
      `WHERE "patient" = 'p.1' OR x = 'p.1'`,
    );
  });

  it('leaves unknown variables untouched', () => {
    expect(interpolateInfluxQL('SELECT $nope', ctx())).toBe('SELECT $nope');
  });
});

describe('Grafana interpolation stand-in (PostgreSQL)', () => {
  it('expands the time macros with RFC 3339 second timestamps', () => {
    expect(
      interpolatePostgres('WHERE $__timeFilter(opened_at) AND a <= $__timeTo() AND b >= $__timeFrom()', ctx()),
    ).toBe(
      "WHERE opened_at BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-02T12:30:15Z' AND a <= '2026-01-02T12:30:15Z' AND b >= '2026-01-01T00:00:00Z'",
    );
  });

  it('expands $__timeGroupAlias after $__interval, and $__interval_ms', () => {
    expect(
      interpolatePostgres(
        'SELECT $__timeGroupAlias(received_at, $__interval), count(*) / ($__interval_ms / 1000.0)',
        ctx(),
      ),
    ).toBe('SELECT floor(extract(epoch from received_at)/300)*300 AS "time", count(*) / (300000 / 1000.0)');
  });

  it('quotes multi-value variables as a list and doubles quotes in single values', () => {
    expect(
      interpolatePostgres('program_id IN ($program)', ctx({ program: { value: ['a', "b'c"], multi: true } })),
    ).toBe("program_id IN ('a','b''c')");
    expect(interpolatePostgres("patient_id = '$patient'", ctx({ patient: { value: "x'y" } }))).toBe(
      "patient_id = 'x''y'",
    );
  });

  it('expands the signed-in user login, quotes doubled', () => {
    expect(
      interpolatePostgres("WHERE professional_id = '${__user.login}'", { ...ctx(), user: { login: "o'neil" } }),
    ).toBe("WHERE professional_id = 'o''neil'");
  });

  it('rejects an interval it cannot read', () => {
    expect(() => durationMs('soon')).toThrow(/GRAFANA_BAD_INTERVAL/);
    expect(durationMs('1d')).toBe(86_400_000);
  });
});
