import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { GrafanaPostgresScope } from './grafana-postgres-scopes';
import type { GrafanaScope } from './grafana-scopes';

/**
 * Grafana's side of "Grafana never shows what the API would refuse" (docs/security.md "Grafana").
 * Grafana OSS has no per-data-source permissions: every member of an organisation can query its
 * data sources. So each professional with a Grafana scope gets an organisation of their own,
 * `Vigil <professional id>`, whose two data sources hold that professional's credentials (the
 * InfluxDB projection user and the PostgreSQL login), and a Grafana user whose login is the
 * professional id (so ${__user.login} is always a hub professional), Viewer of that organisation
 * only. The main organisation (the Grafana administrator's) holds no data source at all.
 * The organisations and users are made through Grafana's HTTP API (Organization API, Admin API);
 * the data sources and board providers through provisioning files (Grafana docs, "Provision
 * Grafana": datasources and dashboards providers carry an orgId), then reloaded.
 */

/** The uids the boards reference (dashboards/lib/datasources.ts re-exports them). */
export const GRAFANA_INFLUX_DS = { type: 'influxdb', uid: 'vigil-influxdb' } as const;
/** Grafana >= 10.4 names its bundled PostgreSQL plugin grafana-postgresql-datasource. */
export const GRAFANA_POSTGRES_DS = { type: 'grafana-postgresql-datasource', uid: 'vigil-postgres' } as const;
/** Where the board JSON is mounted in the Grafana container (compose). */
export const GRAFANA_BOARDS_PATH = '/var/lib/grafana/dashboards/vigil';

export interface GrafanaTargets {
  /** host:port of PostgreSQL as Grafana reaches it */
  postgresHost: string;
  postgresDatabase: string;
  /** disable | require | verify-ca | verify-full */
  postgresSslMode: string;
  /** InfluxDB as Grafana reaches it */
  influxUrl: string;
}

/** One professional's organisation and credentials. */
export interface GrafanaOrgScope {
  professionalId: string;
  orgId: number;
  postgres?: Pick<GrafanaPostgresScope, 'roleName' | 'password'> | undefined;
  influx?: Pick<GrafanaScope, 'database' | 'username' | 'password'> | undefined;
}

/** The data sources of one organisation, under the uids the boards use. */
export function scopeDatasources(o: GrafanaOrgScope, t: GrafanaTargets): Record<string, unknown>[] {
  return [
    ...(o.influx
      ? [
          {
            orgId: o.orgId,
            name: 'Vigil InfluxDB',
            uid: GRAFANA_INFLUX_DS.uid,
            type: GRAFANA_INFLUX_DS.type,
            access: 'proxy',
            url: t.influxUrl,
            user: o.influx.username,
            isDefault: true,
            editable: false,
            jsonData: { version: 'InfluxQL', dbName: o.influx.database, httpMode: 'POST', timeInterval: '1m' },
            secureJsonData: { password: o.influx.password },
          },
        ]
      : []),
    ...(o.postgres
      ? [
          {
            orgId: o.orgId,
            name: 'Vigil PostgreSQL',
            uid: GRAFANA_POSTGRES_DS.uid,
            type: GRAFANA_POSTGRES_DS.type,
            access: 'proxy',
            url: t.postgresHost,
            user: o.postgres.roleName,
            editable: false,
            jsonData: {
              database: t.postgresDatabase,
              sslmode: t.postgresSslMode,
              postgresVersion: 1600,
              timescaledb: false,
              maxOpenConns: 5,
            },
            secureJsonData: { password: o.postgres.password },
          },
        ]
      : []),
  ];
}

/** The board provider of one organisation (1: the main one). */
export function boardProvider(orgId: number): Record<string, unknown> {
  return {
    name: orgId === 1 ? 'vigil' : `vigil-org-${orgId}`,
    orgId,
    folder: 'Vigil',
    type: 'file',
    disableDeletion: true,
    allowUiUpdates: false,
    updateIntervalSeconds: 60,
    options: { path: GRAFANA_BOARDS_PATH, foldersFromFilesStructure: false },
  };
}

const HEADER = '# Written by vigil-hub grafana-provision (hub/security/grafana-provisioning.ts): do not edit.\n';

/** The provisioning files for every professional's organisation, as relative path -> content. */
export function grafanaScopeFiles(orgs: readonly GrafanaOrgScope[], t: GrafanaTargets): Map<string, string> {
  const datasources = { apiVersion: 1, datasources: orgs.flatMap((o) => scopeDatasources(o, t)) };
  const providers = { apiVersion: 1, providers: [boardProvider(1), ...orgs.map((o) => boardProvider(o.orgId))] };
  return new Map([
    ['datasources/vigil-scopes.yaml', HEADER + YAML.stringify(datasources)],
    ['dashboards/vigil-scopes.yaml', HEADER + YAML.stringify(providers)],
  ]);
}

/**
 * Writes the files atomically (rename), readable by their owner and group only: they hold
 * credentials (compose: the hub writes, Grafana reads through group 0).
 */
export function writeGrafanaScopeFiles(dir: string, files: Map<string, string>): string[] {
  const written: string[] = [];
  for (const [rel, content] of files) {
    const path = join(dir, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, content, { mode: 0o640 });
    renameSync(tmp, path);
    written.push(path);
  }
  return written;
}

export const GRAFANA_ORG_PREFIX = 'Vigil ';

export class GrafanaAdminError extends Error {
  constructor(
    readonly code: 'GRAFANA_UNREACHABLE' | 'GRAFANA_REJECTED',
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

const orgSchema = z.object({ id: z.number().int(), name: z.string() });
const userSchema = z.object({ id: z.number().int(), login: z.string() });

/** Grafana's HTTP API as its server administrator (basic auth): organisations and users. */
export class GrafanaAdmin {
  constructor(private readonly t: { url: string; user: string; password: string }) {}

  private async call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.t.url), {
        method,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Basic ${Buffer.from(`${this.t.user}:${this.t.password}`).toString('base64')}`,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new GrafanaAdminError('GRAFANA_UNREACHABLE', `${method} ${path}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }

  private async ok(method: string, path: string, body?: unknown, accept: number[] = [200]): Promise<unknown> {
    const r = await this.call(method, path, body);
    if (!accept.includes(r.status))
      throw new GrafanaAdminError('GRAFANA_REJECTED', `${method} ${path}: HTTP ${r.status}`);
    return r.json;
  }

  /** Organisations named `Vigil <professional id>`. */
  async vigilOrgs(): Promise<Map<string, number>> {
    const all = z.array(orgSchema).parse(await this.ok('GET', '/api/orgs?perpage=5000'));
    return new Map(
      all
        .filter((o) => o.name.startsWith(GRAFANA_ORG_PREFIX))
        .map((o) => [o.name.slice(GRAFANA_ORG_PREFIX.length), o.id]),
    );
  }

  /** The professional's organisation and Viewer user (login = professional id); returns the org id. */
  async ensureProfessional(professionalId: string, existing: Map<string, number>): Promise<number> {
    let orgId = existing.get(professionalId);
    if (orgId === undefined) {
      const created = z
        .object({ orgId: z.number().int() })
        .parse(await this.ok('POST', '/api/orgs', { name: `${GRAFANA_ORG_PREFIX}${professionalId}` }));
      orgId = created.orgId;
    }
    const found = await this.call('GET', `/api/users/lookup?loginOrEmail=${encodeURIComponent(professionalId)}`);
    let userId: number;
    if (found.status === 200) userId = userSchema.parse(found.json).id;
    else {
      // the password is never used: professionals sign in through the hub (auth proxy or JWT)
      const made = z.object({ id: z.number().int() }).parse(
        await this.ok('POST', '/api/admin/users', {
          name: professionalId,
          login: professionalId,
          email: `${professionalId}@vigil.invalid`,
          password: randomBytes(24).toString('base64url'),
          OrgId: orgId,
        }),
      );
      userId = made.id;
    }
    // Viewer of their organisation (409: already a member), and of no other one
    await this.ok('POST', `/api/orgs/${orgId}/users`, { loginOrEmail: professionalId, role: 'Viewer' }, [200, 409]);
    const orgs = z
      .array(z.object({ orgId: z.number().int() }))
      .parse(await this.ok('GET', `/api/users/${userId}/orgs`));
    for (const o of orgs)
      if (o.orgId !== orgId) await this.ok('DELETE', `/api/orgs/${o.orgId}/users/${userId}`, undefined, [200, 404]);
    return orgId;
  }

  /** Removes a professional's organisation (with its data sources) and Grafana user. */
  async removeProfessional(professionalId: string, orgId: number): Promise<void> {
    const found = await this.call('GET', `/api/users/lookup?loginOrEmail=${encodeURIComponent(professionalId)}`);
    if (found.status === 200)
      await this.ok('DELETE', `/api/admin/users/${userSchema.parse(found.json).id}`, undefined, [200, 404]);
    await this.ok('DELETE', `/api/orgs/${orgId}`, undefined, [200, 404]);
  }

  async reloadProvisioning(): Promise<void> {
    await this.ok('POST', '/api/admin/provisioning/datasources/reload');
    await this.ok('POST', '/api/admin/provisioning/dashboards/reload');
  }
}
