import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildArtifacts, GRAFANA_DASHBOARDS_PATH, PROVISIONING_ENV } from '../../dashboards/artifacts';
import { loadHubConfig } from '../../hub/config/load';
import { GRAFANA_JWT_AUDIENCE, GRAFANA_JWT_PUBLIC_KEY_FILE } from '../../hub/security/grafana-login';

/**
 * docker-compose.yml checked against the code: images, published ports, environment variables
 * known to the config schemas (every exported *_ENV map of the hub, gateway and simulators),
 * mounted paths, the image's entry points and the provisioning files' variables.
 */
const root = join(import.meta.dirname, '../..');
const read = (rel: string) => readFileSync(join(root, rel), 'utf8');

interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  profiles?: string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = YAML.parse(read('docker-compose.yml')) as Compose;
const example = Object.fromEntries(
  read('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
) as Record<string, string>;

/** Compose interpolation (${VAR}, ${VAR:-default}, ${VAR:?error}) with .env.example as the .env file. */
function interpolate(value: string, env: Record<string, string> = example): string {
  return value.replace(/\$\{(\w+)(?:(:-|:\?)([^}]*))?\}/g, (_w, name: string, op?: string, arg?: string) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (op === ':-') return arg ?? '';
    throw new Error(`COMPOSE_VARIABLE_MISSING: ${name} (${arg ?? 'no default'})`);
  });
}

/** a compose port in its short form (`published:target`), whichever form the file uses */
const portText = (p: NonNullable<Service['ports']>[number]): string =>
  typeof p === 'string' ? p : `${p.published ?? ''}:${p.target}`;

function environment(s: Service): Record<string, string> {
  const raw = s.environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((e) => {
        const [k = '', v = ''] = e.split('=', 2);
        return [k, v] as [string, string];
      })
    : Object.entries(raw).map(([k, v]) => [k, v === null ? '' : String(v)] as [string, string]);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v)]));
}

function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) files.push(p);
    }
  };
  for (const d of ['hub', 'gateway', 'simulators', 'bench']) walk(join(root, d));
  return files;
}

/**
 * The variables some config loader reads, found in the code (so new loaders are covered when
 * they land): every exported `X_ENV` map, and every CLI that reads `PREFIX_<OPTION>` for each
 * key of its zod options schema (simulators/fleet/cli.ts: VIGIL_FLEET_<OPTION>).
 */
async function knownEnvMaps(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const file of sourceFiles()) {
    const text = readFileSync(file, 'utf8');
    const names = [...text.matchAll(/export const (\w+_ENV)\b/g)].map((m) => m[1]!);
    if (names.length) {
      const mod = (await import(file)) as Record<string, unknown>;
      for (const n of names) {
        const map = mod[n];
        if (map && typeof map === 'object') out[`${relative(root, file)}:${n}`] = Object.keys(map);
      }
    }
    const prefix = /`(VIGIL_[A-Z_]+_)\$\{key\.toUpperCase\(\)/.exec(text)?.[1];
    const schema = /optionsSchema = z\s*\.object\(\{([\s\S]*?)\n\s*\}\)/.exec(text)?.[1];
    if (prefix && schema) {
      const keys = [...schema.matchAll(/^\s+'?([a-z][a-z0-9-]*)'?:\s/gm)].map((m) => m[1]!);
      out[`${relative(root, file)}:${prefix}*`] = keys.map((k) => prefix + k.toUpperCase().replace(/-/g, '_'));
    }
  }
  return out;
}

let envMaps: Record<string, string[]>;
beforeAll(async () => {
  envMaps = await knownEnvMaps();
});

const services = Object.entries(compose.services);
const builtFromRepo = (s: Service) => s.build !== undefined || s.image === 'vigil:local';

describe('docker-compose.yml against the code', () => {
  it('has the stack the issue asks for', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['fleet', 'grafana', 'hub', 'influxdb', 'init', 'postgres']);
  });

  it('pins every third-party image, with InfluxDB on 1.x for InfluxQL', () => {
    for (const [name, s] of services) {
      if (builtFromRepo(s)) continue;
      expect(s.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(s.image, name).not.toMatch(/:latest$/);
    }
    expect(compose.services.influxdb!.image).toMatch(/^influxdb:1\.\d+/);
    expect(Number(/^postgres:(\d+)/.exec(compose.services.postgres!.image ?? '')?.[1])).toBeGreaterThanOrEqual(14);
    // grafana-postgresql-datasource is the plugin id from Grafana 10.4 on
    expect(
      Number(/^grafana\/grafana(?:-oss)?:(\d+)/.exec(compose.services.grafana!.image ?? '')?.[1]),
    ).toBeGreaterThanOrEqual(11);
  });

  /** the TypeScript entry point scripts/build.ts compiles into `dist/<file>` */
  const builtFrom = (command: string | undefined): string | undefined => {
    const file = /^dist\/([\w-]+\.mjs)$/.exec(command ?? '')?.[1];
    const build = read('scripts/build.ts');
    return [...build.matchAll(/serverBundle\('([^']+)', '([^']+)'\)/g)].find((m) => m[2] === file)?.[1];
  };

  it('builds the hub and the fleet from the repository Dockerfile: compiled, runtime dependencies only, non-root', () => {
    expect(compose.services.hub!.build).toBe('.');
    expect(compose.services.fleet!.image).toBe(compose.services.hub!.image);
    const dockerfile = read('Dockerfile');
    for (const m of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(root, src)), `Dockerfile COPY ${src}`).toBe(true);
    }
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.map((st) => /^node:(\d+)/.exec(st)?.[1])).toEqual(['24', '24', '24']);
    const runtime = stages.at(-1)!;
    // the final stage: production node_modules from `npm ci --omit=dev`, the bundles, no compiler
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).not.toMatch(/npm install/);
    expect(runtime).not.toMatch(/g\+\+|python3|tsx/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK .*\n?.*\/health/m);
    expect(runtime).toMatch(/ENTRYPOINT \["node"\]/);
    // the optional noble backend and esbuild's platform binary are optional packages
    expect(dockerfile).not.toMatch(/--omit=optional|--no-optional/);
    for (const service of [compose.services.hub!, compose.services.fleet!]) {
      const entry = builtFrom(service.command?.[0]);
      expect(entry, `scripts/build.ts compiles ${service.command?.[0]}`).toBeDefined();
      expect(existsSync(join(root, entry!))).toBe(true);
    }
    expect(read('.dockerignore')).toMatch(/^\.env$/m);
  });

  it('sets only VIGIL_* variables that a config schema knows', () => {
    const known = new Set(Object.values(envMaps).flat());
    expect(Object.keys(envMaps)).toContain('hub/config/load.ts:HUB_ENV');
    const fleetCli = builtFrom(compose.services.fleet!.command?.[0]) !== undefined;
    const unknown: string[] = [];
    for (const [name, s] of services) {
      if (name === 'fleet' && !fleetCli) continue; // checked once simulators/fleet/ is in the tree
      for (const k of Object.keys(environment(s)))
        if (k.startsWith('VIGIL_') && !known.has(k)) unknown.push(`${name}: ${k}`);
    }
    expect(unknown, `known maps: ${Object.keys(envMaps).join(', ')}`).toEqual([]);
  });

  it('gives the hub an environment its config schema accepts, and publishes the ports it listens on', () => {
    // the example secrets are refused in production (docs/security.md "Credentials")
    expect(() => loadHubConfig({ env: environment(compose.services.hub!) })).toThrow(/change-me/);
    const real = Object.fromEntries(
      Object.entries(example).map(([k, v]) => [k, v.replace(/^change-me/, 'a-real-secret')]),
    );
    const env = Object.fromEntries(
      Object.entries(compose.services.hub!.environment as Record<string, string>).map(([k, v]) => [
        k,
        interpolate(v, real),
      ]),
    );
    const config = loadHubConfig({ env });
    expect(config.mqtt.mode).toBe('embedded');
    expect(config.profile).toBe('production');
    expect(config.http.host).toBe('0.0.0.0');
    // TLS outside loopback: mqtts only, HTTPS, PostgreSQL verify-full, InfluxDB with a credential
    expect(config.mqtt.plain).toBe(false);
    expect(config.mqtt.tls).toBeDefined();
    expect(config.http.tls).toBeDefined();
    expect(new URL(config.postgres.url).searchParams.get('sslmode')).toBe('verify-full');
    expect(new URL(config.postgres.url).username).toBe('vigil_hub');
    expect(config.influx.username).toBeTruthy();
    expect(new URL(config.postgres.url).hostname).toBe('postgres');
    expect(new URL(config.influx.url).hostname).toBe('influxdb');
    const targets = (compose.services.hub!.ports ?? []).map((p) => Number(interpolate(portText(p)).split(':').at(-1)));
    expect(targets.sort()).toEqual([config.mqtt.tls!.port, config.http.port].sort());
    expect(compose.services.hub!.healthcheck?.test.toString()).toContain(`:${config.http.port}/health`);
  });

  it('publishes Grafana on its port and keeps the databases off the host', () => {
    expect((compose.services.grafana!.ports ?? []).map((p) => interpolate(portText(p)).split(':').at(-1))).toEqual([
      '3000',
    ]);
    expect(compose.services.influxdb!.ports).toBeUndefined();
    expect(compose.services.postgres!.ports).toBeUndefined();
  });

  it('mounts paths that exist, the provisioning where Grafana reads it and the boards where the provider points', () => {
    const mounts: [string, string, string][] = [];
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        const [source, target] = typeof v === 'string' ? (v.split(':') as [string, string]) : [v.source, v.target];
        mounts.push([name, source, target]);
      }
    }
    for (const [name, source] of mounts) {
      if (source.startsWith('.')) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
      else expect(compose.volumes, `${name}: named volume ${source} declared`).toHaveProperty(source);
    }
    const grafana = Object.fromEntries(mounts.filter(([n]) => n === 'grafana').map(([, s, t]) => [t, s]));
    // Grafana reads the provisioning the hub writes (docs/security.md "Grafana"): one volume, the
    // path Grafana is told (GF_PATHS_PROVISIONING) and the directory the hub writes to
    const provisioning = environment(compose.services.grafana!).GF_PATHS_PROVISIONING!;
    const hubDir = environment(compose.services.hub!).VIGIL_GRAFANA_PROVISIONING_DIR!;
    const hubMounts = Object.fromEntries(mounts.filter(([n]) => n === 'hub').map(([, s, t]) => [t, s]));
    expect(grafana[provisioning]).toBe('grafana-provisioning');
    expect(hubMounts[hubDir]).toBe('grafana-provisioning');
    expect(grafana[GRAFANA_DASHBOARDS_PATH]).toBe('./dashboards/grafana/dashboards');
    const home = environment(compose.services.grafana!).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!;
    expect(existsSync(join(root, 'dashboards/grafana/dashboards', relative(GRAFANA_DASHBOARDS_PATH, home)))).toBe(true);
  });

  it('gives Grafana every variable its provisioning files read', () => {
    const env = environment(compose.services.grafana!);
    const used = new Set<string>();
    for (const [rel, content] of buildArtifacts())
      if (rel.endsWith('.yaml')) for (const m of content.matchAll(/\$\{(\w+)\}/g)) used.add(m[1]!);
    expect([...used].sort()).toEqual([...PROVISIONING_ENV].sort());
    for (const v of used) expect(env, `grafana environment ${v}`).toHaveProperty(v);
    // no all-patients credential reachable from Grafana: no store credential in its environment
    expect(Object.keys(env).filter((k) => !k.startsWith('GF_') && /PASSWORD|USERNAME|_PG_|INFLUX/.test(k))).toEqual([]);
  });

  it('takes every secret from the env file, with an example committed and the real one ignored', () => {
    const required = new Set([...read('docker-compose.yml').matchAll(/\$\{(\w+):\?/g)].map((m) => m[1]!));
    expect([...required].sort()).toEqual([
      'GRAFANA_ADMIN_PASSWORD',
      'GRAFANA_PG_ROLE_ADMIN_PASSWORD',
      'GRAFANA_SCOPE_KEY',
      'INFLUX_ADMIN_PASSWORD',
      'POSTGRES_HUB_PASSWORD',
      'POSTGRES_PASSWORD',
      'VIGIL_MQTT_PASSWORD',
      'VIGIL_SECRET_KEY',
    ]);
    for (const v of required) expect(example[v], `.env.example ${v}`).toMatch(/^change-me/);
    expect(() => interpolate('${POSTGRES_PASSWORD:?set it}', {})).toThrow(/COMPOSE_VARIABLE_MISSING/);
    expect(read('.gitignore')).toMatch(/^\.env$/m);
    expect(read('docker-compose.yml')).not.toMatch(/change-me/);
  });

  it('health-checks every service and starts each after the ones it needs are healthy', () => {
    for (const [name, s] of services) {
      if (name !== 'fleet' && name !== 'init') expect(s.healthcheck, name).toBeDefined();
      const deps = s.depends_on ?? {};
      for (const [dep, cond] of Object.entries(deps)) {
        expect(compose.services, `${name} depends on ${dep}`).toHaveProperty(dep);
        // the one-shot init (secrets check, certificates) must have finished successfully
        expect((cond as { condition: string }).condition).toBe(
          dep === 'init' ? 'service_completed_successfully' : 'service_healthy',
        );
      }
    }
    expect(Object.keys(compose.services.postgres!.depends_on ?? {})).toContain('init');
    expect(Object.keys(compose.services.grafana!.depends_on ?? {})).toContain('hub'); // migration 030 creates the views
    expect(compose.services.fleet!.profiles).toEqual(['demo']);
  });

  it('creates no shared Grafana login: the group the views are granted to, and the role manager the hub uses', () => {
    const init = read('docker/postgres/10-grafana-roles.sh');
    const migration = read('hub/storage/postgres/migrations/210_grafana_row_security.sql');
    expect(init).toMatch(/CREATE ROLE vigil_grafana NOLOGIN/);
    expect(init).toMatch(/CREATE ROLE vigil_grafana_admin LOGIN CREATEROLE/);
    expect(init).toMatch(/GRANT vigil_grafana TO vigil_grafana_admin WITH ADMIN OPTION/);
    expect(init).not.toMatch(/grafana_reader/);
    expect(migration).toMatch(/ENABLE ROW LEVEL SECURITY/);
    expect(statSync(join(root, 'docker/postgres/10-grafana-roles.sh')).mode & 0o111).not.toBe(0);
    // the hub manages the logins through that role, and the Grafana organisations as Grafana's administrator
    const hub = environment(compose.services.hub!);
    expect(new URL(hub.VIGIL_GRAFANA_PG_ROLE_ADMIN_URL!).username).toBe('vigil_grafana_admin');
    expect(hub.VIGIL_GRAFANA_PG_SCOPES).toBe('true');
    expect(hub.VIGIL_GRAFANA_URL).toBe('http://grafana:3000');
    // professionals sign in with the hub's JWT, checked with the key the hub writes where Grafana reads
    const grafana = environment(compose.services.grafana!);
    expect(grafana.GF_AUTH_JWT_ENABLED).toBe('true');
    expect(grafana.GF_AUTH_JWT_AUTO_SIGN_UP).toBe('false');
    expect(grafana.GF_AUTH_JWT_KEY_FILE).toBe(`${hub.VIGIL_GRAFANA_PROVISIONING_DIR!}/${GRAFANA_JWT_PUBLIC_KEY_FILE}`);
    expect(JSON.parse(grafana.GF_AUTH_JWT_EXPECT_CLAIMS!)).toEqual({ aud: GRAFANA_JWT_AUDIENCE });
  });

  it('init refuses the example secrets and makes certificates PostgreSQL verify-full and the gateways accept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-init-'));
    const script = read('docker/init/init.sh')
      .replace(/^dir=\/certs$/m, `dir=${dir}`)
      .replace(/^chown .*$/gm, ':');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TLS_HOSTNAMES: 'hub.example.org' };
    const run = (e: Record<string, string>) =>
      spawnSync('sh', ['-c', script], { env: { ...e, ...env }, encoding: 'utf8' });
    const refused = run(example);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/SECRET_NOT_SET: POSTGRES_PASSWORD/);
    const real = Object.fromEntries(Object.entries(example).map(([k, v]) => [k, v.replace(/^change-me/, 'real')]));
    const ok = run(real);
    expect(ok.stderr + ok.stdout).toMatch(/init: secrets set/);
    expect(ok.status, ok.stderr).toBe(0);
    const verify = (cert: string, name: string) =>
      spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-verify_hostname', name, join(dir, cert)], {
        encoding: 'utf8',
      });
    const ok2 = (cert: string, name: string) => {
      const r = verify(cert, name);
      return r.status === 0 ? 'ok' : `${r.stdout}${r.stderr}`;
    };
    expect(ok2('hub.pem', 'hub')).toBe('ok');
    expect(ok2('hub.pem', 'hub.example.org')).toBe('ok');
    expect(ok2('postgres.pem', 'postgres')).toBe('ok');
    expect(ok2('postgres.pem', 'hub')).not.toBe('ok');
    rmSync(dir, { recursive: true, force: true });
  });
});
