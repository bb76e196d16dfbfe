import type { InfluxDB } from 'influx';
import type pg from 'pg';
import type { HubConfig } from '../config/schema';
import { createPool } from '../storage/postgres/database';
import { GRAFANA_JWT_PUBLIC_KEY_FILE, grafanaSigningKey } from './grafana-login';
import { GrafanaPostgresScopes } from './grafana-postgres-scopes';
import { GrafanaAdmin, grafanaScopeFiles, writeGrafanaScopeFiles, type GrafanaOrgScope } from './grafana-provisioning';
import { GrafanaInfluxScopes, type GrafanaScope } from './grafana-scopes';

export interface GrafanaSyncReport {
  /** professionals with a Grafana scope (PostgreSQL login, and InfluxDB projection when on) */
  professionals: string[];
  /** professional id -> Grafana organisation id (when grafana.url is set) */
  organisations: Record<string, number>;
  /** organisations removed (professionals no longer in scope) */
  removed: string[];
  /** provisioning files written */
  files: string[];
}

export class GrafanaSyncError extends Error {
  constructor(
    readonly code: 'GRAFANA_SCOPE_KEY_MISSING',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * One pass of the Grafana path (docs/security.md "Grafana"): the PostgreSQL logins and the
 * InfluxDB projections per professional, then (with grafana.url) one Grafana organisation and
 * user per professional and (with grafana.provisioningDir) their data sources. Run by the hub
 * every grafana.syncEveryMs, and by `vigil-hub grafana-provision` (which can rotate passwords).
 */
export async function syncGrafana(
  pool: pg.Pool,
  influxAdmin: Pick<InfluxDB, 'queryRaw'> | undefined,
  config: HubConfig,
  opts: { rotate?: readonly string[] | 'all' } = {},
): Promise<GrafanaSyncReport> {
  const g = config.grafana;
  if (!g.scopeKey)
    throw new GrafanaSyncError('GRAFANA_SCOPE_KEY_MISSING', 'set grafana.scopeKey (VIGIL_GRAFANA_SCOPE_KEY)');
  const roleAdmin = g.postgresRoleAdminUrl ? createPool(g.postgresRoleAdminUrl, 1) : pool;
  try {
    const pgScopes = g.postgresScopes
      ? await new GrafanaPostgresScopes(pool, g.scopeKey, roleAdmin).sync(opts.rotate ? { rotate: opts.rotate } : {})
      : [];
    const influx: GrafanaScope[] =
      g.influxScopes && influxAdmin
        ? await new GrafanaInfluxScopes(pool, influxAdmin, config.influx.database, g.scopeKey).sync()
        : [];
    // a professional has a Grafana scope on either store (both on in compose)
    const professionals = [...new Set([...pgScopes, ...influx].map((s) => s.professionalId))].sort();
    const report: GrafanaSyncReport = {
      professionals,
      organisations: {},
      removed: [],
      files: [],
    };
    if (!g.url || !g.adminPassword) return report;
    const grafana = new GrafanaAdmin({ url: g.url, user: g.adminUser, password: g.adminPassword });
    const existing = await grafana.vigilOrgs();
    const orgs: GrafanaOrgScope[] = [];
    for (const professionalId of professionals) {
      const orgId = await grafana.ensureProfessional(professionalId, existing);
      report.organisations[professionalId] = orgId;
      orgs.push({
        professionalId,
        orgId,
        postgres: pgScopes.find((x) => x.professionalId === professionalId),
        influx: influx.find((x) => x.professionalId === professionalId),
      });
    }
    // fail closed: whoever lost their scope loses their organisation, its data sources and their user
    for (const [professionalId, orgId] of existing)
      if (!(professionalId in report.organisations)) {
        await grafana.removeProfessional(professionalId, orgId);
        report.removed.push(professionalId);
      }
    if (g.provisioningDir) {
      const files = grafanaScopeFiles(orgs, {
        postgresHost: g.postgresHost,
        postgresDatabase: new URL(config.postgres.url).pathname.slice(1),
        postgresSslMode: g.postgresSslMode,
        influxUrl: g.influxUrl,
      });
      // the key Grafana checks the hub's login tokens with ([auth.jwt] key_file)
      files.set(GRAFANA_JWT_PUBLIC_KEY_FILE, grafanaSigningKey(g.scopeKey).publicPem);
      report.files = writeGrafanaScopeFiles(g.provisioningDir, files);
      await grafana.reloadProvisioning();
    }
    return report;
  } finally {
    if (roleAdmin !== pool) await roleAdmin.end();
  }
}
