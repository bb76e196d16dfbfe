import type * as common from '@grafana/grafana-foundation-sdk/common';
import { GRAFANA_INFLUX_DS, GRAFANA_POSTGRES_DS } from '../../hub';

/**
 * The two data sources every board uses. The uids are fixed so the provisioned data sources
 * (dashboards/grafana/provisioning/datasources/vigil.yaml) and the boards agree without lookups.
 */
export const INFLUX_DS = GRAFANA_INFLUX_DS satisfies common.DataSourceRef;
/** Grafana >= 10.4 names its bundled PostgreSQL plugin grafana-postgresql-datasource. */
export const POSTGRES_DS = GRAFANA_POSTGRES_DS satisfies common.DataSourceRef;

/**
 * Group granted SELECT on the grafana views (migration 030); each professional's PostgreSQL login
 * is a member and sees its own rows only (row-level security, migration 210).
 */
export const GRAFANA_PG_ROLE = 'vigil_grafana';

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
