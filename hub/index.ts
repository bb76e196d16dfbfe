/**
 * The hub's public entry point for the tools around it (simulators, dashboards, benches): start a
 * hub, provision patients, gateways and devices, and manage its PostgreSQL database. Those tools
 * import from here and nowhere else in hub/ (test/unit/structure/imports.test.ts).
 */
export { bindDevice, createGateway, createPatient } from './admin/provisioning';
export { newKeySpec } from './messaging/kms';
export { ConfigError, loadHubConfig } from './config/load';
export type { HubConfig } from './config/schema';
export { startHub } from './main';
export {
  boardProvider,
  GRAFANA_BOARDS_PATH,
  GRAFANA_INFLUX_DS,
  GRAFANA_POSTGRES_DS,
} from './security/grafana-provisioning';
export { refreshCohortAggregates } from './reporting/cohort-refresh';
// the ledger's insert, timed alone with InfluxDB's write by bench/hub-ingest.ts (the stores' ceiling)
export { fileInLedger } from './ingest/ledger';
export { DAILY_RP, HEARTBEAT_MEASUREMENT, SHARD_DURATIONS, TimeSeriesStore } from './storage/influx/timeseries';
// the workspace patient page's trend reads (GET /api/patients/:id/trends), timed by bench/dashboard-queries.ts
export { Trends, WORKSPACE_TREND_METRICS } from './storage/influx/trends';
export { createPool, dropDatabase, ensureDatabase } from './storage/postgres/database';
export { migrate } from './storage/postgres/migrate';
export type { Program, CareRole, Severity } from './vocabulary';
