import { describe, expect, it } from 'vitest';
import { call, ident, influxql, stringLit, tagMatchesVariable } from '../../dashboards/lib/influxql';

describe('InfluxQL builder', () => {
  it('quotes identifiers and string literals', () => {
    expect(ident('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(stringLit("it's")).toBe("'it\\'s'");
    expect(call('moving_average', 'daily', 7)).toBe('moving_average("daily", 7)');
  });

  it('builds a grouped query on a retention policy', () => {
    const q = influxql()
      .select(call('mean', 'value'), 'mean')
      .from('body_weight', { rp: 'daily' })
      .where(tagMatchesVariable('patient', 'patient'))
      .timeFilter()
      .groupByTime('$__interval')
      .groupByTags('device')
      .fill('none')
      .toString();
    expect(q).toBe(
      'SELECT mean("value") AS "mean" FROM "daily"."body_weight" WHERE "patient" =~ /^$patient$/ AND $timeFilter GROUP BY time($__interval), "device" fill(none)',
    );
  });

  it('builds subqueries, regex sources, look-back ranges, order and limit', () => {
    const inner = influxql()
      .select(call('sum', 'value'), 'daily')
      .from('steps')
      .timeFilterWithLookback('14d')
      .groupByTime('1d')
      .fill('0');
    expect(influxql().select('moving_average("daily", 14)').fromSubquery(inner).toString()).toBe(
      'SELECT moving_average("daily", 14) FROM (SELECT sum("value") AS "daily" FROM "steps" WHERE time >= ${__from}ms - 14d AND time <= ${__to}ms GROUP BY time(1d) fill(0))',
    );
    expect(influxql().select('"value"').fromAny(['spo2', 'a.b']).orderByTimeDesc().limit(1).toString()).toBe(
      'SELECT "value" FROM /^(spo2|a\\.b)$/ ORDER BY time DESC LIMIT 1',
    );
  });

  it('rejects incomplete queries with a code', () => {
    expect(() => influxql().from('spo2').toString()).toThrow(/INFLUXQL_NO_FIELDS/);
    expect(() => influxql().select('"value"').toString()).toThrow(/INFLUXQL_NO_SOURCE/);
    expect(() => influxql().select('"value"').from('spo2').fill('0').toString()).toThrow(/INFLUXQL_FILL_WITHOUT_TIME/);
    expect(() => influxql().fromAny([])).toThrow(/INFLUXQL_EMPTY_SOURCE/);
    expect(() => influxql().timeFilterWithLookback('two weeks')).toThrow(/INFLUXQL_BAD_DURATION/);
  });
});
