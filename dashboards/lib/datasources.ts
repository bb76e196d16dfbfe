import type * as common from '@grafana/grafana-foundation-sdk/common';

/**
 * The two data sources every board uses. The uids are fixed so the provisioned data sources
 * (dashboards/grafana/provisioning/datasources/vigil.yaml) and the boards agree without lookups.
 */
export const INFLUX_DS = { type: 'influxdb', uid: 'vigil-influxdb' } as const satisfies common.DataSourceRef;
/** Grafana >= 10.4 names its bundled PostgreSQL plugin grafana-postgresql-datasource. */
export const POSTGRES_DS = {
  type: 'grafana-postgresql-datasource',
  uid: 'vigil-postgres',
} as const satisfies common.DataSourceRef;

/** Role granted SELECT on the grafana schema (migration 030); the data source user is a member. */
export const GRAFANA_PG_ROLE = 'vigil_grafana';
export const GRAFANA_PG_USER = 'grafana_reader';

/**
 * Retention policy of the raw points the boards read. Undefined: the database's default RP, which
 * the hub makes its raw RP (vigil_raw, hub/storage/influx/timeseries.ts). Raw points are read for
 * the readings themselves; daily means, sums, counts and the moving means built on them read the
 * hub's daily rollup (DAILY_ROLLUP_RP), so a year costs 365 points per metric, not every reading.
 */
export const READINGS_RP: string | undefined = undefined;

/**
 * The hub's daily rollup (one point per patient, metric and UTC day: fields mean, min, max, sum,
 * count), kept by InfluxDB continuous queries every hour over the last 3 days and by the hub for
 * later readings: today's bucket can lag by up to an hour (docs/ingest.md "Rollups").
 */
export { DAILY_RP as DAILY_ROLLUP_RP } from '../../hub';

/**
 * Gateway heartbeat telemetry read by the fleet board (contract/messages.ts heartbeatSchema):
 * measurement gateway_heartbeat, tag gateway, fields queue_depth, queue_bytes, uptime_s.
 */
export { HEARTBEAT_MEASUREMENT } from '../../hub';

/**
 * SQL condition "patient <column> is one of the signed-in Grafana user's patients" (views of
 * migration 031; the Grafana login is matched against the professional id). A Grafana user who
 * is not a professional (an administrator, an operator) sees every patient. This narrows lists;
 * it is not access control (Grafana OSS has no per-data-source permissions).
 */
export function inGrafanaUserScope(column: string): string {
  return (
    `(${column} IN (SELECT patient_id FROM grafana.professional_patients WHERE professional_id = '\${__user.login}')` +
    ` OR NOT EXISTS (SELECT 1 FROM grafana.professionals WHERE professional_id = '\${__user.login}'))`
  );
}
