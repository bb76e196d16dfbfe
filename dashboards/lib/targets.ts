import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { INFLUX_DS, POSTGRES_DS } from './datasources';
import type { InfluxQuery } from './influxql';

/**
 * Query targets for the two data sources. The foundation SDK ships no InfluxDB or PostgreSQL
 * query model, so these implement its Dataquery variant: the JSON is what Grafana's query
 * editors save in raw (InfluxQL) and code (SQL) mode.
 */
export interface InfluxTargetJson extends cog.Dataquery {
  refId: string;
  datasource: typeof INFLUX_DS;
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table';
  alias?: string;
  hide?: boolean;
}

export interface PostgresTargetJson extends cog.Dataquery {
  refId: string;
  datasource: typeof POSTGRES_DS;
  rawSql: string;
  rawQuery: true;
  editorMode: 'code';
  format: 'time_series' | 'table';
}

export class InfluxTarget implements cog.Builder<cog.Dataquery> {
  constructor(
    private readonly refId: string,
    private readonly query: InfluxQuery | string,
    private readonly opts: { resultFormat?: 'time_series' | 'table'; alias?: string } = {},
  ) {}

  build(): InfluxTargetJson {
    return {
      refId: this.refId,
      datasource: INFLUX_DS,
      query: this.query.toString(),
      rawQuery: true,
      resultFormat: this.opts.resultFormat ?? 'time_series',
      ...(this.opts.alias ? { alias: this.opts.alias } : {}),
      _implementsDataqueryVariant() {},
    };
  }
}

export class PostgresTarget implements cog.Builder<cog.Dataquery> {
  constructor(
    private readonly refId: string,
    private readonly sql: string,
    private readonly format: 'time_series' | 'table' = 'table',
  ) {}

  build(): PostgresTargetJson {
    return {
      refId: this.refId,
      datasource: POSTGRES_DS,
      rawSql: normaliseSql(this.sql),
      rawQuery: true,
      editorMode: 'code',
      format: this.format,
      _implementsDataqueryVariant() {},
    };
  }
}

/** Template literals indent SQL; the saved query is one line per clause, no indentation. */
export function normaliseSql(sql: string): string {
  return sql
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('\n');
}

export const influxTarget = (
  refId: string,
  query: InfluxQuery | string,
  opts?: { resultFormat?: 'time_series' | 'table'; alias?: string },
) => new InfluxTarget(refId, query, opts);
export const postgresTarget = (refId: string, sql: string, format: 'time_series' | 'table' = 'table') =>
  new PostgresTarget(refId, sql, format);
