import { createHmac } from 'node:crypto';
import { escape, type InfluxDB } from 'influx';
import type pg from 'pg';
import { METRIC_NAMES } from '../../contract';
import { can, PHARMACIST_METRICS, patientScopeSql, type Professional, type Role } from '../api/authz';
import { RAW_RP } from '../storage/influx/timeseries';

/**
 * Grafana never shows what the API would refuse (docs/security.md "Grafana"). InfluxDB 1.x
 * authorises per database only, so each professional gets a projection database holding exactly
 * what the API shows them, and a read-only InfluxDB user granted READ on that database alone:
 * - patients: the API's clinical scope (care team or program, and the patient's consent);
 * - raw readings when the role has readings.read; daily means only when it has just trends.read;
 * - the pharmacist: treatment metrics only (authz.ts PHARMACIST_METRICS);
 * - revoked, expired or non-clinical accounts (admin): no database, no user (fail closed).
 * Each sync rebuilds the projections from the hub's database (the only all-patients credential,
 * never given to Grafana). The user's password is derived from the hub's scope key, so the hub
 * can provision the professional's Grafana organisation data source without storing it.
 */
export interface GrafanaScope {
  professionalId: string;
  role: Professional['role'];
  database: string;
  username: string;
  password: string;
  patients: string[];
  granularity: 'raw' | 'daily';
}

const safe = (id: string) =>
  id
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 48);
export const scopeDatabase = (professionalId: string): string => `vigil_scope_${safe(professionalId)}`;
export const scopeUsername = (professionalId: string): string => `grafana_${safe(professionalId)}`;
export const scopePassword = (key: string, professionalId: string): string =>
  createHmac('sha256', key).update(`grafana-influx:${professionalId}`).digest('base64url');

export class GrafanaInfluxScopes {
  constructor(
    private readonly pool: pg.Pool,
    /** a client with InfluxDB admin rights (creates databases and users) */
    private readonly admin: Pick<InfluxDB, 'queryRaw'>,
    /** the hub's database */
    private readonly source: string,
    private readonly key: string,
  ) {
    if (key.length < 32) throw new Error('GRAFANA_SCOPE_KEY_TOO_SHORT: at least 32 characters');
  }

  private async exec(q: string, database?: string): Promise<{ series?: { values: unknown[][] }[] }[]> {
    const raw = (await this.admin.queryRaw(q, { database: database ?? this.source })) as {
      results: { error?: string; series?: { values: unknown[][] }[] }[];
    };
    const err = raw.results.find((r) => r.error)?.error;
    if (err) throw new Error(`INFLUX_QUERY_FAILED: ${err}`);
    return raw.results;
  }

  /** Rebuilds every professional's projection; returns the scopes (with credentials) now in place. */
  async sync(): Promise<GrafanaScope[]> {
    const { rows } = await this.pool.query<{ id: string; role: Role; active: boolean }>(
      `SELECT id, role, (revoked_at IS NULL AND token_hash IS NOT NULL AND (token_expires_at IS NULL OR token_expires_at > now())) AS active
       FROM professionals ORDER BY id`,
    );
    const users = new Set((await this.exec('SHOW USERS'))[0]?.series?.[0]?.values.map((v) => String(v[0])) ?? []);
    const out: GrafanaScope[] = [];
    for (const r of rows) {
      const p: Professional = { id: r.id, role: r.role };
      const granularity = can(p, 'readings.read') ? 'raw' : can(p, 'trends.read') ? 'daily' : undefined;
      const database = scopeDatabase(p.id);
      const username = scopeUsername(p.id);
      if (!r.active || !granularity) {
        // fail closed: no projection, no user
        await this.exec(`DROP DATABASE ${escape.quoted(database)}`);
        if (users.has(username)) await this.exec(`DROP USER ${escape.quoted(username)}`);
        continue;
      }
      const scope = await this.pool.query<{ id: string }>(
        `SELECT id FROM patients WHERE ${patientScopeSql(p, 'patients.id', '$1', true, granularity === 'raw' ? 'readings.read' : 'trends.read')} ORDER BY id`,
        [p.id],
      );
      const patients = scope.rows.map((x) => x.id);
      await this.exec(`DROP DATABASE ${escape.quoted(database)}`);
      await this.exec(`CREATE DATABASE ${escape.quoted(database)}`);
      const password = scopePassword(this.key, p.id);
      if (users.has(username))
        await this.exec(`SET PASSWORD FOR ${escape.quoted(username)} = ${escape.stringLit(password)}`);
      else await this.exec(`CREATE USER ${escape.quoted(username)} WITH PASSWORD ${escape.stringLit(password)}`);
      await this.exec(`REVOKE ALL PRIVILEGES FROM ${escape.quoted(username)}`).catch(() => undefined);
      await this.exec(`GRANT READ ON ${escape.quoted(database)} TO ${escape.quoted(username)}`);
      if (patients.length) {
        const metrics = p.role === 'pharmacist' ? [...PHARMACIST_METRICS] : METRIC_NAMES;
        const from = metrics
          .map((m) => `${escape.quoted(this.source)}.${escape.quoted(RAW_RP)}.${escape.quoted(m)}`)
          .join(', ');
        const where = patients.map((id) => `"patient" = ${escape.stringLit(id)}`).join(' OR ');
        const into = `${escape.quoted(database)}.${escape.quoted('autogen')}.:MEASUREMENT`;
        await this.exec(
          granularity === 'raw'
            ? `SELECT * INTO ${into} FROM ${from} WHERE (${where}) GROUP BY *`
            : // daily means under the same names: the boards' queries (GROUP BY time(1d)) work unchanged
              `SELECT mean("value") AS "value" INTO ${into} FROM ${from} WHERE (${where}) AND time > 0 AND time < now() + 1d GROUP BY time(1d), "patient"`,
        );
      }
      out.push({ professionalId: p.id, role: p.role, database, username, password, patients, granularity });
    }
    // projections of professionals no longer in the table are dropped too
    const kept = new Set(out.map((x) => x.database));
    const dbs = (await this.exec('SHOW DATABASES'))[0]?.series?.[0]?.values.map((v) => String(v[0])) ?? [];
    for (const db of dbs)
      if (db.startsWith('vigil_scope_') && !kept.has(db)) await this.exec(`DROP DATABASE ${escape.quoted(db)}`);
    return out;
  }
}
