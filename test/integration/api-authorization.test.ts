import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../contract';
import {
  addCareTeamMember,
  addPatientToCareTeam,
  bindDevice,
  createCareTeam,
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
  recordConsent,
  revokeConsent,
  type CareRole,
} from '../../hub/admin/provisioning';
import { loadLibrary } from '../../hub/content/library';
import { buildApi } from '../../hub/api/app';
import { routeTable } from '../../hub/api/route-table';
import { GatewayRemoteConfig } from '../../hub/gateways/remote-config';
import { HOUR, MINUTE } from '../../hub/rules/clock';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { createTestInflux } from '../support/stores';
import pino from 'pino';
import { EnvKeyring, newKeySpec } from '../../hub/messaging/kms';
import { NotifyService } from '../../hub/notify/service';
import { createPatientSide, type PatientSide } from '../../hub/patient/side';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * The authorization matrix of docs/api.md, cell by cell: every endpoint x every role, allowed and
 * denied, plus the scope cells (care team, program, consent) and the pharmacist's filtered view.
 * The expected table is written here independently of hub/api/authz.ts.
 */
type R = 'CN' | 'ON' | 'CA' | 'GP' | 'PH' | 'HN' | 'NC' | 'DT' | 'PS' | 'TS' | 'PA' | 'AD';
const ROLE: Record<R, CareRole | 'admin'> = {
  CN: 'coordinating_nurse',
  ON: 'oncologist',
  CA: 'cardiologist',
  GP: 'general_practitioner',
  PH: 'pharmacist',
  HN: 'home_nurse',
  NC: 'coaching_nurse',
  DT: 'dietitian',
  PS: 'psychologist',
  TS: 'tobacco_specialist',
  PA: 'physical_activity_coach',
  AD: 'admin',
};
/** the coaching team (hub/coaching): patients and coaching, nothing clinical */
const COACHES: R[] = ['NC', 'DT', 'PS', 'TS', 'PA'];
const ALL: R[] = ['CN', 'ON', 'CA', 'GP', 'PH', 'HN', ...COACHES, 'AD'];

let f: RulesFixture;
let api: FastifyInstance;
/** the patient side with a message key, so the messaging rows answer (hub/patient/side.ts) */
let side: PatientSide;
let influx: Awaited<ReturnType<typeof createTestInflux>>;
const token = {} as Record<R, string>;
const ids = {} as Record<R, string>;
let feverEpisode = 0;
/** the heart-failure team's coordinating nurse: the attacker of the cross-team write cases */
let hfToken = '';
let sepsisEpisode = 0;
let n = 0;
const PA = 'AZ-A';

/** An API answer as these assertions read it: a JSON object whose fields each test narrows. */
type Answer = Omit<Awaited<ReturnType<FastifyInstance['inject']>>, 'json'> & { json(): Record<string, unknown> };

interface FhirObservation {
  valueQuantity: { value: number };
  identifier: { system: string }[];
  interpretation: { coding: { code: string }[] }[];
}
interface FhirTask {
  status: string;
  code: { coding: { code: string }[] };
  focus: { reference: string };
}
interface Searchset<T> {
  entry: { resource: T }[];
}

async function call(r: R | null, method: string, url: string, payload?: object): Promise<Answer> {
  return api.inject({
    method: method as 'GET',
    url,
    ...(payload ? { payload } : {}),
    headers: r ? { authorization: `Bearer ${token[r]}` } : {},
  });
}

/** A new patient of team A, consented to every member, with an open red fever episode. */
async function freshEpisode(): Promise<number> {
  const p = `AZ-F${++n}`;
  await f.enroll(p, 'oral_chemotherapy');
  await addPatientToCareTeam(f.pool, { careTeamId: 'team-a', patientId: p });
  await f.pool.query(
    `INSERT INTO patient_consents (patient_id, professional_id, recorded_by) SELECT $1, unnest($2::text[]), 'test'`,
    [p, ALL.filter((x) => x !== 'AD').map((r) => ids[r])],
  );
  await f.measure(p, new Date(f.clock.now().getTime() + MINUTE), { body_temperature: 39 });
  return Number((await f.episodeRows(p))[0]!.id);
}

async function quarantined(): Promise<string> {
  const id = (++n).toString(16).padStart(32, 'a');
  const gw = `gw-${PA.toLowerCase().replace(/[^a-z0-9]/g, '')}`;
  const reading = {
    id,
    gatewayId: gw,
    device: { address: 'C0:00:00:00:00:09', driver: 'sim-device' },
    metric: 'body_weight',
    value: 71,
    unit: METRICS.body_weight.unit,
    measuredAt: f.clock.now().toISOString(),
    flags: [],
  };
  await f.pool.query(
    `INSERT INTO quarantined_readings (reading_id, gateway_id, device_address, driver, metric, reading, reason) VALUES ($1, $2, 'C0:00:00:00:00:09', 'sim-device', 'body_weight', $3, 'UNBOUND_DEVICE')`,
    [id, gw, JSON.stringify(reading)],
  );
  return id;
}

/** retained gateway configs the API asked the MQTT side to publish */
const published: { gatewayId: string; config: { pairing?: { openUntil?: string; minRssi?: number } } }[] = [];

beforeAll(async () => {
  f = await rulesFixture();
  influx = await createTestInflux('vigil_authz');
  const ts = new TimeSeriesStore(influx.url, influx.database);
  // the rollup retention policies the trends route reads, as the hub creates them at start-up
  await ts.ensureDatabase();
  side = createPatientSide({
    pool: f.pool,
    clock: f.clock,
    episodes: f.episodes,
    notify: new NotifyService(f.pool, {}, pino({ level: 'silent' }), f.clock),
    keyring: new EnvKeyring(newKeySpec('k1')),
    publicUrl: 'http://127.0.0.1:8080',
    secureCookies: false,
  });
  api = await buildApi({
    grafanaLogin: { scopeKey: 'g'.repeat(40), publicUrl: 'https://grafana.example.org/' },
    patientSide: side,
    pool: f.pool,
    timeseries: ts,
    metrics: f.metrics,
    logLevel: 'silent',
    clock: f.clock,
    episodes: f.episodes,
    rules: f.engine,
    gatewayConfig: new GatewayRemoteConfig(
      f.pool,
      (gatewayId, payload) => {
        published.push({ gatewayId, config: JSON.parse(payload) as (typeof published)[number]['config'] });
        return Promise.resolve();
      },
      f.clock,
    ),
  });
  await f.enroll(PA, 'oral_chemotherapy');
  const team = await createCareTeamWithMembers(f.pool, {
    id: 'team-a',
    programId: 'oral_chemotherapy',
    name: 'Team A',
    patientIds: [PA],
    // FHIR access needs a SMART scope on the token (hub/fhir/scopes.ts); the role matrix applies on top
    scopes: ['user/*.read'],
  });
  for (const r of ALL.filter((x) => x !== 'AD')) {
    token[r] = team[ROLE[r] as CareRole].token;
    ids[r] = team[ROLE[r] as CareRole].professionalId;
  }
  const admin = await createProfessional(f.pool, {
    id: 'admin-1',
    displayName: 'Admin',
    role: 'admin',
    scopes: ['user/*.read'],
  });
  token.AD = admin.token;
  ids.AD = 'admin-1';
  const t = f.clock.now().getTime();
  await f.measure(PA, new Date(t), { body_temperature: 38.8, heart_rate: 140 });
  const eps = await f.episodeRows(PA);
  feverEpisode = Number(eps.find((e) => e.rule_id === 'chemo-fever')!.id);
  sepsisEpisode = Number(eps.find((e) => e.rule_id === 'sepsis-red-flags')!.id);

  // PB: another team of the same program (the coordinating nurse's program worklist)
  await createPatient(f.pool, { id: 'AZ-B', programId: 'oral_chemotherapy', displayName: 'B' });
  await createCareTeamWithMembers(f.pool, {
    id: 'team-b',
    programId: 'oral_chemotherapy',
    name: 'Team B',
    patientIds: ['AZ-B'],
    roles: ['oncologist'],
  });
  for (const r of ['CN', 'ON'] as R[]) await recordConsent(f.pool, { patientId: 'AZ-B', professionalId: ids[r] });
  // PC: team A, consent to the oncologist revoked
  await createPatient(f.pool, { id: 'AZ-C', programId: 'oral_chemotherapy', displayName: 'C' });
  await addPatientToCareTeam(f.pool, { careTeamId: 'team-a', patientId: 'AZ-C' });
  for (const r of ['CN', 'ON'] as R[]) await recordConsent(f.pool, { patientId: 'AZ-C', professionalId: ids[r] });
  await revokeConsent(f.pool, { patientId: 'AZ-C', professionalId: ids.ON });
  // PD: another program, consent given to team A's nurse, who is not in any heart-failure team
  await createPatient(f.pool, { id: 'AZ-D', programId: 'heart_failure', displayName: 'D' });
  await createCareTeam(f.pool, { id: 'team-hf', programId: 'heart_failure', name: 'HF' });
  hfToken = (await createProfessional(f.pool, { id: 'hf-nurse', displayName: 'HF nurse', role: 'coordinating_nurse' }))
    .token;
  await addCareTeamMember(f.pool, { careTeamId: 'team-hf', professionalId: 'hf-nurse' });
  await addPatientToCareTeam(f.pool, { careTeamId: 'team-hf', patientId: 'AZ-D' });
  await recordConsent(f.pool, { patientId: 'AZ-D', professionalId: ids.CN });
  f.clock.advance(HOUR);
});
afterAll(async () => {
  await api.close();
  await influx.drop();
  await f.pg.drop();
});

interface Cell {
  name: string;
  /** the route-table entry this cell covers: `METHOD url` exactly as registered */
  route: string;
  allowed: R[];
  req: (r: R) => [method: string, url: string, body?: object] | Promise<[method: string, url: string, body?: object]>;
  /** success statuses (default 200) */
  ok?: number[];
}

/** A small program definition of the matrix's own (docs/programs.md). */
function testProgram(id: string, name = 'v1') {
  return {
    id,
    name: `Matrix program ${name}`,
    metrics: ['heart_rate', 'blood_pressure_systolic'],
    rules: { 'sepsis-red-flags': {} },
    roles: [{ id: 'coordinating_nurse', kind: 'clinical', label: 'Nurse', sees: ['alerts'] }],
  };
}
/** A fresh program for one write cell (created straight in the store, as by another admin). */
async function matrixProgram(): Promise<string> {
  const id = `matrix_prog_${++n}`;
  await f.engine.settings.programStore.create(testProgram(id), 'matrix', 'matrix test', new Date());
  return id;
}

const CELLS: Cell[] = [
  { name: 'GET /api/patients', route: 'GET /api/patients', allowed: ALL, req: () => ['GET', '/api/patients'] },
  {
    name: 'GET /api/patients/:id',
    route: 'GET /api/patients/:id',
    allowed: ALL,
    req: () => ['GET', `/api/patients/${PA}`],
  },
  {
    name: 'POST /api/patients (enroll)',
    route: 'POST /api/patients',
    allowed: ['CN', 'AD'],
    ok: [201],
    req: () => [
      'POST',
      '/api/patients',
      { id: `AZ-N${++n}`, programId: 'oral_chemotherapy', displayName: 'New', careTeamId: 'team-a' },
    ],
  },
  {
    name: 'POST /api/patients/:id/consents',
    route: 'POST /api/patients/:id/consents',
    allowed: ['CN', 'AD'],
    ok: [204],
    req: () => ['POST', `/api/patients/${PA}/consents`, { professionalId: 'hf-nurse' }],
  },
  {
    name: 'POST /api/patients/:id/gateways',
    route: 'POST /api/patients/:id/gateways',
    allowed: ['CN', 'AD'],
    ok: [201],
    req: () => ['POST', `/api/patients/${PA}/gateways`, { gatewayId: `gw-az-${++n}` }],
  },
  {
    name: 'POST /api/patients/:id/devices',
    route: 'POST /api/patients/:id/devices',
    allowed: ['CN', 'AD'],
    ok: [204],
    req: () => [
      'POST',
      `/api/patients/${PA}/devices`,
      { gatewayId: 'gw-aza', address: 'C0:00:00:00:00:02', driver: 'sim-device' },
    ],
  },
  {
    name: 'POST /api/patients/:id/gateways/:gw/pairing-window',
    route: 'POST /api/patients/:id/gateways/:gatewayId/pairing-window',
    allowed: ['CN', 'HN', 'AD'],
    req: () => ['POST', `/api/patients/${PA}/gateways/gw-aza/pairing-window`, { seconds: 120 }],
  },
  {
    // relaying a passkey needs an open window: 409 when the matrix order closed it, never 403 for these roles
    name: 'POST /api/patients/:id/gateways/:gw/pairing-window/passkey',
    route: 'POST /api/patients/:id/gateways/:gatewayId/pairing-window/passkey',
    allowed: ['CN', 'HN', 'AD'],
    ok: [200, 409],
    req: () => [
      'POST',
      `/api/patients/${PA}/gateways/gw-aza/pairing-window/passkey`,
      { address: 'C0:00:00:00:00:02', passkey: '123456' },
    ],
  },
  {
    name: 'DELETE /api/patients/:id/gateways/:gw/pairing-window',
    route: 'DELETE /api/patients/:id/gateways/:gatewayId/pairing-window',
    allowed: ['CN', 'HN', 'AD'],
    req: () => ['DELETE', `/api/patients/${PA}/gateways/gw-aza/pairing-window`],
  },
  {
    name: 'GET /api/patients/:id/devices',
    route: 'GET /api/patients/:id/devices',
    allowed: ['CN', 'HN', 'AD'],
    req: () => ['GET', `/api/patients/${PA}/devices`],
  },
  {
    name: 'GET /api/patients/:id/readings',
    route: 'GET /api/patients/:id/readings',
    allowed: ['CN', 'ON', 'CA', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/readings`],
  },
  {
    name: 'GET /fhir/Observation',
    route: 'GET /fhir/Observation',
    allowed: ['CN', 'ON', 'CA', 'HN'],
    req: () => ['GET', `/fhir/Observation?patient=${PA}`],
  },
  {
    name: 'GET /api/patients/:id/trends (temperature)',
    route: 'GET /api/patients/:id/trends',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/trends?metric=body_temperature`],
  },
  {
    name: 'GET /api/patients/:id/adherence',
    route: 'GET /api/patients/:id/adherence',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/adherence`],
  },
  {
    name: 'GET /api/alerts',
    route: 'GET /api/alerts',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', '/api/alerts'],
  },
  {
    name: 'GET /api/alerts/:id',
    route: 'GET /api/alerts/:id',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/alerts/${feverEpisode}`],
  },
  {
    name: 'GET /fhir/Task',
    route: 'GET /fhir/Task',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/fhir/Task?patient=${PA}`],
  },
  {
    name: 'POST /api/alerts/:id/acknowledge',
    route: 'POST /api/alerts/:id/acknowledge',
    allowed: ['CN', 'ON', 'CA'],
    req: async () => ['POST', `/api/alerts/${await freshEpisode()}/acknowledge`],
  },
  {
    name: 'POST /api/alerts/:id/assign',
    route: 'POST /api/alerts/:id/assign',
    allowed: ['CN', 'ON', 'CA'],
    req: async () => ['POST', `/api/alerts/${await freshEpisode()}/assign`, { assignee: ids.HN }],
  },
  {
    name: 'POST /api/alerts/:id/resolve',
    route: 'POST /api/alerts/:id/resolve',
    allowed: ['CN', 'ON', 'CA'],
    req: async () => ['POST', `/api/alerts/${await freshEpisode()}/resolve`, { reason: 'called the patient' }],
  },
  {
    name: 'POST /api/patients/:id/silences',
    route: 'POST /api/patients/:id/silences',
    allowed: ['CN', 'ON', 'CA'],
    ok: [201],
    req: () => [
      'POST',
      `/api/patients/${PA}/silences`,
      { until: new Date(f.clock.now().getTime() + HOUR).toISOString(), reason: 'hospital stay' },
    ],
  },
  {
    name: 'GET /api/patients/:id/silences',
    route: 'GET /api/patients/:id/silences',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/silences`],
  },
  {
    name: 'GET /api/patients/:id/rules',
    route: 'GET /api/patients/:id/rules',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/rules`],
  },
  {
    name: 'GET /api/patients/:id/rules/changes',
    route: 'GET /api/patients/:id/rules/changes',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/rules/changes`],
  },
  {
    name: 'PUT /api/patients/:id/rules/:ruleId (override)',
    route: 'PUT /api/patients/:id/rules/:ruleId',
    allowed: ['ON', 'CA', 'GP'],
    req: () => [
      'PUT',
      `/api/patients/${PA}/rules/chemo-fever`,
      { params: { once: 38.5 }, reason: 'baseline temperature high' },
    ],
  },
  {
    name: 'PUT /api/programs/:p/rules/:ruleId',
    route: 'PUT /api/programs/:programId/rules/:ruleId',
    allowed: ['AD'],
    ok: [204],
    req: () => [
      'PUT',
      '/api/programs/oral_chemotherapy/rules/glucose-out-of-range',
      { params: { lowAmber: 4.0 }, reason: 'program protocol' },
    ],
  },
  { name: 'GET /api/programs', route: 'GET /api/programs', allowed: ['CN', 'AD'], req: () => ['GET', '/api/programs'] },
  {
    name: 'POST /api/programs',
    route: 'POST /api/programs',
    allowed: ['AD'],
    ok: [201],
    req: () => ['POST', '/api/programs', { definition: testProgram(`matrix_new_${++n}`), reason: 'matrix test' }],
  },
  {
    name: 'GET /api/programs/:programId',
    route: 'GET /api/programs/:programId',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/programs/heart_failure?version=1'],
  },
  {
    name: 'GET /api/programs/:programId/versions',
    route: 'GET /api/programs/:programId/versions',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/programs/heart_failure/versions'],
  },
  {
    name: 'PUT /api/programs/:programId',
    route: 'PUT /api/programs/:programId',
    allowed: ['AD'],
    req: async () => {
      const id = await matrixProgram();
      return ['PUT', `/api/programs/${id}`, { definition: testProgram(id, 'v2'), reason: 'matrix test' }];
    },
  },
  {
    name: 'POST /api/programs/:programId/retire',
    route: 'POST /api/programs/:programId/retire',
    allowed: ['AD'],
    ok: [204],
    req: async () => ['POST', `/api/programs/${await matrixProgram()}/retire`, { reason: 'matrix test' }],
  },
  {
    // authorized callers get past the role check to the request's own validation (no scenario given:
    // PROGRAM_INVALID), so the matrix does not run the replay 24 times; test/integration/programs.test.ts runs it
    name: 'POST /api/programs/:programId/backtest',
    route: 'POST /api/programs/:programId/backtest',
    allowed: ['CN', 'AD'],
    ok: [400],
    req: () => ['POST', '/api/programs/heart_failure/backtest', {}],
  },
  {
    name: 'GET /api/quarantine',
    route: 'GET /api/quarantine',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/quarantine'],
  },
  {
    name: 'POST /api/quarantine/:id/assign',
    route: 'POST /api/quarantine/:readingId/assign',
    allowed: ['CN', 'AD'],
    req: async () => ['POST', `/api/quarantine/${await quarantined()}/assign`, { patientId: PA }],
  },
  {
    name: 'POST /api/care-teams',
    route: 'POST /api/care-teams',
    allowed: ['AD'],
    ok: [201],
    req: () => ['POST', '/api/care-teams', { id: `team-x${++n}`, programId: 'heart_failure', name: 'X' }],
  },
  {
    name: 'POST /api/care-teams/:id/members',
    route: 'POST /api/care-teams/:id/members',
    allowed: ['AD'],
    ok: [204],
    req: async () => {
      const id = `extra-${++n}`;
      await createProfessional(f.pool, { id, displayName: 'Extra', role: 'home_nurse' });
      return ['POST', '/api/care-teams/team-a/members', { professionalId: id }];
    },
  },
  {
    name: 'POST /api/care-teams/:id/webhooks',
    route: 'POST /api/care-teams/:id/webhooks',
    allowed: ['AD'],
    ok: [201],
    req: () => ['POST', '/api/care-teams/team-b/webhooks', { url: 'http://127.0.0.1:9/none' }],
  },
  {
    name: 'GET /api/care-teams/:id/deliveries',
    route: 'GET /api/care-teams/:id/deliveries',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/care-teams/team-a/deliveries'],
  },
  { name: 'GET /api/audit', route: 'GET /api/audit', allowed: ['AD'], req: () => ['GET', '/api/audit?limit=5'] },
  { name: 'GET /api/rules (catalog)', route: 'GET /api/rules', allowed: ALL, req: () => ['GET', '/api/rules'] },
  { name: 'GET /api/me', route: 'GET /api/me', allowed: ALL, req: () => ['GET', '/api/me'] },
  {
    // a Grafana login link for oneself: the roles with a board capability (no admin, no coach)
    name: 'POST /api/grafana/session',
    route: 'POST /api/grafana/session',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['POST', '/api/grafana/session'],
  },
  {
    name: 'DELETE /api/patients/:id/consents/:professionalId',
    route: 'DELETE /api/patients/:id/consents/:professionalId',
    allowed: ['CN', 'AD'],
    ok: [204],
    req: () => ['DELETE', `/api/patients/${PA}/consents/hf-nurse`],
  },
  {
    name: 'DELETE /api/patients/:id/devices/:gatewayId/:address',
    route: 'DELETE /api/patients/:id/devices/:gatewayId/:address',
    allowed: ['CN', 'AD'],
    ok: [204],
    req: async () => {
      const address = `C0:00:00:00:01:${(++n % 256).toString(16).padStart(2, '0').toUpperCase()}`;
      await bindDevice(f.pool, { gatewayId: 'gw-aza', address, patientId: PA });
      return ['DELETE', `/api/patients/${PA}/devices/gw-aza/${address}`];
    },
  },
  {
    name: 'DELETE /api/silences/:id',
    route: 'DELETE /api/silences/:id',
    allowed: ['CN', 'ON', 'CA'],
    ok: [204],
    req: async () => {
      const { rows } = await f.pool.query<{ id: string }>(
        `INSERT INTO alert_silences (patient_id, starts_at, ends_at, reason, created_by)
         VALUES ($1, now(), now() + interval '1 hour', 'test silence', 'test') RETURNING id`,
        [PA],
      );
      return ['DELETE', `/api/silences/${rows[0]!.id}`];
    },
  },
  {
    name: 'GET /fhir/Patient/:id',
    route: 'GET /fhir/Patient/:id',
    allowed: ALL,
    req: () => ['GET', `/fhir/Patient/${PA}`],
  },
  { name: 'GET /fhir/Patient', route: 'GET /fhir/Patient', allowed: ALL, req: () => ['GET', '/fhir/Patient'] },
  {
    name: 'GET /fhir/Device',
    route: 'GET /fhir/Device',
    allowed: ['CN', 'HN', 'AD'],
    req: () => ['GET', `/fhir/Device?patient=${PA}`],
  },
  {
    name: 'GET /fhir/Flag',
    route: 'GET /fhir/Flag',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/fhir/Flag?patient=${PA}`],
  },
  {
    name: 'GET /fhir/Questionnaire',
    route: 'GET /fhir/Questionnaire',
    allowed: ALL,
    req: () => ['GET', '/fhir/Questionnaire'],
  },
  {
    name: 'GET /fhir/Questionnaire/:id',
    route: 'GET /fhir/Questionnaire/:id',
    allowed: ALL,
    req: () => ['GET', '/fhir/Questionnaire/oral-chemo-weekly'],
  },
  {
    name: 'GET /fhir/QuestionnaireResponse (trends or coaching)',
    route: 'GET /fhir/QuestionnaireResponse',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: () => ['GET', `/fhir/QuestionnaireResponse?patient=${PA}`],
  },
  {
    name: 'GET /fhir/Communication (messaging roles, consent)',
    route: 'GET /fhir/Communication',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: () => ['GET', `/fhir/Communication?patient=${PA}`],
  },
  {
    name: 'GET /api/patients/:id/dmp-document (readings and alerts)',
    route: 'GET /api/patients/:id/dmp-document',
    allowed: ['CN', 'ON', 'CA', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/dmp-document`],
  },
  {
    name: 'GET /api/professionals/:id/token',
    route: 'GET /api/professionals/:id/token',
    allowed: ['AD'],
    req: () => ['GET', `/api/professionals/${ids.CN}/token`],
  },
  {
    name: 'GET /api/reports/programs/:programId',
    route: 'GET /api/reports/programs/:programId',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/reports/programs/oral_chemotherapy'],
  },
  {
    name: 'GET /api/patients/:id/coaching',
    route: 'GET /api/patients/:id/coaching',
    allowed: ['CN', 'CA', 'GP', ...COACHES],
    req: () => ['GET', `/api/patients/${PA}/coaching`],
  },
  {
    name: 'POST /api/patients/:id/coaching/goals',
    route: 'POST /api/patients/:id/coaching/goals',
    allowed: ['CN', ...COACHES],
    ok: [201],
    req: () => [
      'POST',
      `/api/patients/${PA}/coaching/goals`,
      { kind: 'body_weight', baseline: 80, target: 76, dueOn: '2099-01-01' },
    ],
  },
  {
    name: 'POST /api/coaching/goals/:id/close',
    route: 'POST /api/coaching/goals/:id/close',
    allowed: ['CN', ...COACHES],
    ok: [204],
    req: async () => {
      const { rows } = await f.pool.query<{ id: string }>(
        `INSERT INTO coaching_goals (patient_id, kind, baseline, target, due_on, set_by)
         VALUES ($1, 'steps_per_day', 4000, 6000, '2099-01-01', 'test') RETURNING id`,
        [PA],
      );
      return ['POST', `/api/coaching/goals/${rows[0]!.id}/close`, { status: 'achieved' }];
    },
  },
  {
    name: 'POST /api/patients/:id/coaching/calls',
    route: 'POST /api/patients/:id/coaching/calls',
    allowed: ['CN', ...COACHES],
    ok: [201],
    req: () => ['POST', `/api/patients/${PA}/coaching/calls`, { scheduledAt: '2099-01-01T09:00:00Z' }],
  },
  {
    name: 'POST /api/coaching/calls/:id/complete',
    route: 'POST /api/coaching/calls/:id/complete',
    allowed: ['CN', ...COACHES],
    req: async () => {
      const { rows } = await f.pool.query<{ id: string }>(
        `INSERT INTO coaching_calls (patient_id, coach_id, channel, scheduled_at, created_by)
         VALUES ($1, $2, 'phone', now(), 'test') RETURNING id`,
        [PA, ids.CN],
      );
      return ['POST', `/api/coaching/calls/${rows[0]!.id}/complete`, { status: 'done', note: 'ok' }];
    },
  },
  {
    name: 'GET /api/coaching/calls',
    route: 'GET /api/coaching/calls',
    allowed: ['CN', ...COACHES],
    req: () => ['GET', '/api/coaching/calls'],
  },
  {
    name: 'POST /api/enrollment-codes',
    route: 'POST /api/enrollment-codes',
    // enrollment.write: the coordinating nurse hands the box over (docs/web.md)
    allowed: ['CN', 'AD'],
    ok: [201],
    req: () => ['POST', '/api/enrollment-codes', { gatewayId: `gw-code-${++n}`, patientId: PA }],
  },
  // ---- patient side (docs/patient.md, docs/messaging.md) ----
  {
    name: 'PUT /api/patients/:id/portal-contact',
    route: 'PUT /api/patients/:id/portal-contact',
    allowed: ['CN', 'AD'],
    req: () => ['PUT', `/api/patients/${PA}/portal-contact`, { email: 'az-a@example.org', phone: null }],
  },
  {
    name: 'POST /api/patients/:id/signin-qr',
    route: 'POST /api/patients/:id/signin-qr',
    allowed: ['CN', 'AD'],
    req: () => ['POST', `/api/patients/${PA}/signin-qr`],
  },
  {
    name: 'GET /api/patients/:id/threads',
    route: 'GET /api/patients/:id/threads',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: () => ['GET', `/api/patients/${PA}/threads`],
  },
  {
    name: 'POST /api/patients/:id/threads',
    route: 'POST /api/patients/:id/threads',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: () => ['POST', `/api/patients/${PA}/threads`, { kind: 'team', subject: 'Suivi', body: 'Point de suivi.' }],
  },
  {
    name: 'GET /api/threads/:id',
    route: 'GET /api/threads/:id',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: async () => ['GET', `/api/threads/${await newThread()}`],
  },
  {
    name: 'POST /api/threads/:id/messages',
    route: 'POST /api/threads/:id/messages',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: async () => ['POST', `/api/threads/${await newThread()}/messages`, { body: 'Réponse.' }],
  },
  {
    name: 'GET /api/attachments/:id',
    route: 'GET /api/attachments/:id',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: async () => ['GET', `/api/attachments/${await newAttachment()}`],
  },
  {
    name: 'GET /api/questionnaires',
    route: 'GET /api/questionnaires',
    allowed: ALL,
    req: () => ['GET', '/api/questionnaires'],
  },
  {
    name: 'POST /api/patients/:id/questionnaires',
    route: 'POST /api/patients/:id/questionnaires',
    allowed: ['CN', 'AD'],
    req: () => ['POST', `/api/patients/${PA}/questionnaires`, { questionnaireId: 'oral-chemo-weekly' }],
  },
  {
    name: 'GET /api/patients/:id/questionnaire-responses (care and coaching teams)',
    route: 'GET /api/patients/:id/questionnaire-responses',
    allowed: ALL.filter((r) => r !== 'AD'),
    req: () => ['GET', `/api/patients/${PA}/questionnaire-responses`],
  },
  {
    name: 'GET /api/questionnaires/adherence',
    route: 'GET /api/questionnaires/adherence',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', '/api/questionnaires/adherence'],
  },
  {
    name: 'GET /api/content (by role)',
    route: 'GET /api/content',
    allowed: ALL,
    req: () => ['GET', '/api/content?program=oral_chemotherapy'],
  },
  {
    // oral chemotherapy content: its oncologist and pharmacist (hub/content/reviews.ts)
    name: 'POST /api/content/:id/review',
    route: 'POST /api/content/:id/review',
    allowed: ['ON', 'PH'],
    req: () => [
      'POST',
      '/api/content/chimio-orale-effets-indesirables/review',
      { contentHash: loadLibrary().find((a) => a.id === 'chimio-orale-effets-indesirables')?.contentHash },
    ],
  },
  {
    name: 'GET /api/notify/templates',
    route: 'GET /api/notify/templates',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/notify/templates'],
  },
  {
    name: 'PUT /api/notify/templates/:key/:locale',
    route: 'PUT /api/notify/templates/:key/:locale',
    allowed: ['CN', 'AD'],
    req: () => [
      'PUT',
      '/api/notify/templates/new_message/fr',
      { subject: 'Nouveau message', body: 'Ouvrez votre espace.' },
    ],
  },
  {
    name: 'PUT /api/professionals/:id/contact (self)',
    route: 'PUT /api/professionals/:id/contact',
    allowed: ALL,
    req: (r) => [
      'PUT',
      `/api/professionals/${ids[r]}/contact`,
      { email: `${r.toLowerCase()}@example.org`, phone: null },
    ],
  },
  {
    name: 'POST /api/care-teams/:id/oncall',
    route: 'POST /api/care-teams/:id/oncall',
    allowed: ['CN', 'AD'],
    req: () => [
      'POST',
      '/api/care-teams/team-a/oncall',
      { professionalId: ids.ON, startsAt: '2026-12-01T08:00:00Z', endsAt: '2026-12-01T20:00:00Z' },
    ],
  },
  {
    name: 'GET /api/care-teams/:id/oncall',
    route: 'GET /api/care-teams/:id/oncall',
    allowed: ['CN', 'AD'],
    req: () => ['GET', '/api/care-teams/team-a/oncall'],
  },
  {
    name: 'GET /api/patients/:id/notify-deliveries',
    route: 'GET /api/patients/:id/notify-deliveries',
    allowed: ['CN', 'AD'],
    req: () => ['GET', `/api/patients/${PA}/notify-deliveries`],
  },
  // the care team's web workspace (hub/web/api/routes.ts, docs/web.md)
  {
    name: 'GET /api/worklist',
    route: 'GET /api/worklist',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', '/api/worklist'],
  },
  {
    name: 'GET /api/patients/:id/episodes',
    route: 'GET /api/patients/:id/episodes',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/episodes`],
  },
  {
    name: 'GET /api/patients/:id/contact',
    route: 'GET /api/patients/:id/contact',
    allowed: ALL,
    req: () => ['GET', `/api/patients/${PA}/contact`],
  },
  {
    name: 'PUT /api/patients/:id/contact',
    route: 'PUT /api/patients/:id/contact',
    allowed: ['CN', 'AD'],
    ok: [204],
    req: () => ['PUT', `/api/patients/${PA}/contact`, { phone: '01 02 03 04 05' }],
  },
  {
    name: 'GET /api/patients/:id/notes',
    route: 'GET /api/patients/:id/notes',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/notes`],
  },
  {
    name: 'POST /api/patients/:id/notes',
    route: 'POST /api/patients/:id/notes',
    allowed: ['CN', 'ON', 'CA'],
    ok: [201],
    req: () => ['POST', `/api/patients/${PA}/notes`, { body: 'called the patient' }],
  },
  {
    name: 'GET /api/patients/:id/care-team',
    route: 'GET /api/patients/:id/care-team',
    allowed: ALL,
    req: () => ['GET', `/api/patients/${PA}/care-team`],
  },
  {
    name: 'GET /api/patients/:id/reading-log',
    route: 'GET /api/patients/:id/reading-log',
    allowed: ['CN', 'ON', 'CA', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/reading-log`],
  },
  {
    name: 'GET /api/patients/:id/device-health',
    route: 'GET /api/patients/:id/device-health',
    allowed: ['CN', 'HN', 'AD'],
    req: () => ['GET', `/api/patients/${PA}/device-health`],
  },
  {
    name: 'GET /api/patients/:id/dry-weight',
    route: 'GET /api/patients/:id/dry-weight',
    allowed: ['CN', 'ON', 'CA', 'GP', 'PH', 'HN'],
    req: () => ['GET', `/api/patients/${PA}/dry-weight`],
  },
  {
    name: 'PUT /api/patients/:id/dry-weight',
    route: 'PUT /api/patients/:id/dry-weight',
    allowed: ['CN', 'ON', 'CA'],
    ok: [204],
    req: () => ['PUT', `/api/patients/${PA}/dry-weight`, { dryWeightKg: 70.5 }],
  },
  {
    name: 'GET /api/my-care-teams',
    route: 'GET /api/my-care-teams',
    allowed: ALL,
    req: () => ['GET', '/api/my-care-teams'],
  },
  // credential lifecycle and the patient's rights (docs/security.md, docs/privacy.md)
  {
    name: 'POST /api/professionals/:id/token',
    route: 'POST /api/professionals/:id/token',
    allowed: ['AD'],
    ok: [201],
    req: async () => {
      const id = `throwaway-${++n}`;
      await createProfessional(f.pool, { id, displayName: 'T', role: 'home_nurse' });
      return ['POST', `/api/professionals/${id}/token`, {}];
    },
  },
  {
    name: 'POST /api/professionals/:id/revoke',
    route: 'POST /api/professionals/:id/revoke',
    allowed: ['AD'],
    req: async () => {
      const id = `throwaway-${++n}`;
      await createProfessional(f.pool, { id, displayName: 'T', role: 'home_nurse' });
      return ['POST', `/api/professionals/${id}/revoke`];
    },
  },
  {
    name: 'POST /api/gateways/:id/revoke',
    route: 'POST /api/gateways/:id/revoke',
    allowed: ['AD'],
    req: async () => {
      const id = `gw-revoke-${++n}`;
      await createGateway(f.pool, { id, patientId: PA });
      return ['POST', `/api/gateways/${id}/revoke`];
    },
  },
  {
    name: 'POST /api/patients/:id/processing/withdraw',
    route: 'POST /api/patients/:id/processing/withdraw',
    allowed: ['CN', 'AD'],
    req: () => ['POST', '/api/patients/AZ-B/processing/withdraw'],
  },
  {
    name: 'POST /api/patients/:id/processing/resume',
    route: 'POST /api/patients/:id/processing/resume',
    allowed: ['CN', 'AD'],
    req: () => ['POST', '/api/patients/AZ-B/processing/resume'],
  },
  {
    name: 'GET /api/patients/:id/export',
    route: 'GET /api/patients/:id/export',
    allowed: ['AD'],
    req: () => ['GET', `/api/patients/${PA}/export`],
  },
  {
    name: 'POST /api/patients/:id/erasure',
    route: 'POST /api/patients/:id/erasure',
    allowed: ['AD'],
    req: async () => {
      const id = `AZ-E${++n}`;
      await createPatient(f.pool, { id, programId: 'oral_chemotherapy', displayName: 'E' });
      await addPatientToCareTeam(f.pool, { careTeamId: 'team-a', patientId: id });
      return ['POST', `/api/patients/${id}/erasure`, { confirm: id }];
    },
  },
];

/** Routes that answer without a professional's token: each says why. */
const PUBLIC_ROUTES: Record<string, string> = {
  'GET /health': 'liveness probe, no patient data',
  'GET /metrics': 'Prometheus scrape, aggregate counts only',
  'POST /enrollment/exchange': 'the printed one-time code is the credential (hub/api/enrollment.ts)',
  'GET /fhir/metadata': 'the CapabilityStatement is public by the FHIR RESTful API',
  'GET /gateway/releases/:version/:file':
    "a box's own credential (HTTP Basic), only for a release offered to it (hub/fleet/release-routes.ts; test/e2e/ota.test.ts)",
};
const isDocs = (route: string) => / \/docs(\/|$)/.test(route);
/** The patient space authenticates the patient or her caregiver by its own session cookie, never a
 * professional's token; its access rules are tested in test/patient/patient-side.test.ts. */
const isPatientSpace = (route: string) => / \/patient(\/|$)/.test(route);

/** A patient-team thread about PA, created by the coordinating nurse. */
async function newThread(): Promise<number> {
  const r = await call('CN', 'POST', `/api/patients/${PA}/threads`, {
    kind: 'patient',
    subject: 'Suivi',
    body: 'Bonjour.',
  });
  return (r.json() as { threadId: number }).threadId;
}
/** A PDF attached to a new message of a new thread. */
async function newAttachment(): Promise<number> {
  const threadId = await newThread();
  const nurse = { kind: 'professional' as const, professional: { id: ids.CN, role: 'coordinating_nurse' as const } };
  const { messageId } = await side.messages!.post(nurse, threadId, {
    body: 'Compte rendu joint.',
    attachments: [{ filename: 'cr.pdf', bytes: Buffer.from('%PDF-1.4\n%%EOF\n') }],
  });
  const { rows } = await f.pool.query<{ id: string }>('SELECT id FROM message_attachments WHERE message_id = $1', [
    messageId,
  ]);
  return Number(rows[0]!.id);
}
/** the web workspace's pages and assets: a cookie session, and every datum they show comes from the rows above */
const isWeb = (route: string) => / \/web(\/|$)/.test(route) || route === 'GET /';

describe('the matrix covers the whole route table', () => {
  it('every registered route has a matrix row or is a declared public route', () => {
    const covered = new Set(CELLS.map((c) => c.route));
    const missing = routeTable(api)
      .map((r) => `${r.method} ${r.url}`)
      .filter((r) => !covered.has(r) && !(r in PUBLIC_ROUTES) && !isDocs(r) && !isWeb(r) && !isPatientSpace(r));
    expect(missing).toEqual([]);
    // and no row names a route that does not exist
    const registered = new Set(routeTable(api).map((r) => `${r.method} ${r.url}`));
    expect(CELLS.map((c) => c.route).filter((r) => !registered.has(r))).toEqual([]);
  });
});

describe('authorization matrix: every endpoint x every role', () => {
  for (const cell of CELLS) {
    for (const r of ALL) {
      const allowed = cell.allowed.includes(r);
      it(`${cell.name} as ${ROLE[r]}: ${allowed ? 'allowed' : 'denied'}`, async () => {
        const [method, url, body] = await cell.req(r);
        const res = await call(r, method, url, body);
        if (allowed)
          expect([res.statusCode, res.body]).toEqual([
            expect.toSatisfy((s: number) => (cell.ok ?? [200]).includes(s)),
            expect.anything(),
          ]);
        else
          expect([
            res.statusCode,
            res.json().code ??
              (res.json() as { issue?: { details?: { coding?: { code: string }[] } }[] }).issue?.[0]?.details
                ?.coding?.[0]?.code,
          ]).toEqual([403, 'FORBIDDEN']);
      });
    }
  }
});

describe('authentication', () => {
  it('no token or an unknown token: 401 UNAUTHENTICATED, on the API and on FHIR', async () => {
    expect((await call(null, 'GET', '/api/alerts')).json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    const bad = await api.inject({ method: 'GET', url: `/fhir/Task`, headers: { authorization: 'Bearer nope' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json<{ resourceType: string }>().resourceType).toBe('OperationOutcome');
  });
});

describe('scope: care team, program and consent', () => {
  it('the coordinating nurse sees every patient of her program; the oncologist only her team', async () => {
    expect((await call('CN', 'GET', '/api/patients/AZ-B/readings')).statusCode).toBe(200);
    expect((await call('ON', 'GET', '/api/patients/AZ-B/readings')).statusCode).toBe(404);
    const list = async (r: R) =>
      ((await call(r, 'GET', '/api/patients')).json().patients as { id: string }[]).map((p) => p.id);
    expect(await list('CN')).toEqual(expect.arrayContaining([PA, 'AZ-B', 'AZ-C']));
    expect(await list('CN')).not.toContain('AZ-D');
    expect(await list('ON')).not.toContain('AZ-B');
  });
  it("the patient's consent scope narrows raw readings and trends, never the alerts", async () => {
    await f.pool.query(
      `UPDATE patient_consents SET patient_scope = '{messages,questionnaires}' WHERE patient_id = $1 AND professional_id = $2`,
      [PA, ids.CA],
    );
    try {
      expect((await call('CA', 'GET', `/api/patients/${PA}/readings`)).statusCode).toBe(403);
      expect((await call('CA', 'GET', `/fhir/Observation?patient=${PA}`)).statusCode).toBe(403);
      expect((await call('CA', 'GET', `/api/patients/${PA}/trends?metric=body_temperature`)).statusCode).toBe(403);
      expect((await call('CA', 'GET', `/api/alerts/${feverEpisode}`)).statusCode).toBe(200);
      // the others keep what they had
      expect((await call('ON', 'GET', `/api/patients/${PA}/readings`)).statusCode).toBe(200);
    } finally {
      await f.pool.query(
        `UPDATE patient_consents SET patient_scope = NULL WHERE patient_id = $1 AND professional_id = $2`,
        [PA, ids.CA],
      );
    }
    expect((await call('CA', 'GET', `/api/patients/${PA}/readings`)).statusCode).toBe(200);
  });
  it("the patient's consent scope narrows her questionnaires: answers and the adherence worklist", async () => {
    const adherent = async (r: R) =>
      ((await call(r, 'GET', '/api/questionnaires/adherence')).json().adherence as { patientId: string }[]).map(
        (a) => a.patientId,
      );
    await f.pool.query(
      `INSERT INTO questionnaire_assignments (patient_id, questionnaire_id, every_days, next_due_at, assigned_by)
       VALUES ($1, 'oral-chemo-weekly', 7, now(), 'test') ON CONFLICT (patient_id, questionnaire_id) DO NOTHING`,
      [PA],
    );
    expect(await adherent('CA')).toContain(PA);
    // the readings box alone does not hide the questionnaires any more, and the other way round
    await f.pool.query(
      `UPDATE patient_consents SET patient_scope = '{messages,questionnaires}' WHERE patient_id = $1 AND professional_id = $2`,
      [PA, ids.CA],
    );
    try {
      expect((await call('CA', 'GET', `/api/patients/${PA}/questionnaire-responses`)).statusCode).toBe(200);
      await f.pool.query(
        `UPDATE patient_consents SET patient_scope = '{readings,messages}' WHERE patient_id = $1 AND professional_id = $2`,
        [PA, ids.CA],
      );
      const denied = await call('CA', 'GET', `/api/patients/${PA}/questionnaire-responses`);
      // the same answer as a revoked consent: the patient is known to her care team, not her answers
      expect(denied.statusCode).toBe(403);
      expect(denied.json()).toMatchObject({ code: 'FORBIDDEN' });
      expect(await adherent('CA')).not.toContain(PA);
      expect((await call('CA', 'GET', `/api/patients/${PA}/readings`)).statusCode).toBe(200);
      // the others keep what they had
      expect((await call('ON', 'GET', `/api/patients/${PA}/questionnaire-responses`)).statusCode).toBe(200);
      expect(await adherent('ON')).toContain(PA);
    } finally {
      await f.pool.query(
        `UPDATE patient_consents SET patient_scope = NULL WHERE patient_id = $1 AND professional_id = $2`,
        [PA, ids.CA],
      );
    }
    expect((await call('CA', 'GET', `/api/patients/${PA}/questionnaire-responses`)).statusCode).toBe(200);
    expect(await adherent('CA')).toContain(PA);
  });

  it('a revoked consent denies clinical data but not the administrative record', async () => {
    expect((await call('ON', 'GET', '/api/patients/AZ-C/readings')).statusCode).toBe(403);
    expect((await call('ON', 'GET', '/fhir/Observation?patient=AZ-C')).statusCode).toBe(403);
    expect((await call('CN', 'GET', '/api/patients/AZ-C/readings')).statusCode).toBe(200);
    expect((await call('ON', 'GET', '/api/patients/AZ-C')).statusCode).toBe(200);
  });
  it('consent alone is not enough: another program stays out of scope', async () => {
    expect((await call('CN', 'GET', '/api/patients/AZ-D/readings')).statusCode).toBe(404);
    expect((await call('CN', 'GET', '/api/alerts?patientId=AZ-D')).json().episodes).toEqual([]);
  });
  it('the pharmacist sees treatment and toxicity alerts only, and treatment metrics only', async () => {
    const worklist = async (r: R) =>
      ((await call(r, 'GET', `/api/alerts?patientId=${PA}`)).json().episodes as { ruleId: string }[])
        .map((e) => e.ruleId)
        .sort();
    expect(await worklist('PH')).toEqual(['chemo-fever']);
    expect(await worklist('GP')).toEqual(['chemo-fever', 'sepsis-red-flags']);
    expect((await call('PH', 'GET', `/api/alerts/${sepsisEpisode}`)).statusCode).toBe(403);
    expect((await call('PH', 'GET', `/api/patients/${PA}/trends?metric=heart_rate`)).statusCode).toBe(403);
    expect((await call('GP', 'GET', `/api/patients/${PA}/trends?metric=heart_rate`)).statusCode).toBe(200);
  });
  it('the admin administers but sees no clinical data', async () => {
    expect((await call('AD', 'GET', '/api/alerts')).statusCode).toBe(403);
    expect((await call('AD', 'GET', `/api/patients/${PA}`)).statusCode).toBe(200);
  });
});

describe('pairing window opened from the hub', () => {
  it('publishes the window in the box config, audits it, and refuses other households and bad durations', async () => {
    published.length = 0;
    const res = await call('HN', 'POST', `/api/patients/${PA}/gateways/gw-aza/pairing-window`, {
      seconds: 300,
      minRssi: -70,
    });
    const until = new Date(f.clock.now().getTime() + 300_000).toISOString();
    expect([res.statusCode, res.json()]).toEqual([200, { gatewayId: 'gw-aza', openUntil: until, minRssi: -70 }]);
    expect(published).toEqual([{ gatewayId: 'gw-aza', config: { pairing: { openUntil: until, minRssi: -70 } } }]);
    // closing keeps the RSSI threshold and moves the end to now
    await call('CN', 'DELETE', `/api/patients/${PA}/gateways/gw-aza/pairing-window`);
    expect(published[1]).toEqual({
      gatewayId: 'gw-aza',
      config: { pairing: { openUntil: f.clock.now().toISOString(), minRssi: -70 } },
    });
    const audit = (await call('AD', 'GET', '/api/audit?entity=gateway&entityId=gw-aza')).json().entries as {
      action: string;
      actor: string;
    }[];
    expect(
      audit
        .map((a) => [a.action, a.actor])
        .slice(0, 2)
        .reverse(),
    ).toEqual([
      ['gateway.pairing_window_opened', ids.HN],
      ['gateway.pairing_window_closed', ids.CN],
    ]);
    const other = await call('CN', 'POST', `/api/patients/AZ-B/gateways/gw-aza/pairing-window`, { seconds: 60 });
    expect([other.statusCode, other.json().code]).toEqual([404, 'NOT_FOUND']);
    const tooLong = await call('CN', 'POST', `/api/patients/${PA}/gateways/gw-aza/pairing-window`, { seconds: 3600 });
    expect([tooLong.statusCode, tooLong.json().code]).toEqual([400, 'INVALID_REQUEST']);
    expect(published).toHaveLength(2);
  });
});

describe('quarantine assignment', () => {
  it("lists the reading, files it into the patient's series on assignment (InfluxDB and ledger), and refuses a second assignment", async () => {
    const id = await quarantined();
    const listed = (await call('CN', 'GET', '/api/quarantine')).json().readings as {
      readingId: string;
      reason: string;
    }[];
    expect(listed.find((q) => q.readingId === id)).toMatchObject({ reason: 'UNBOUND_DEVICE' });
    const res = await call('CN', 'POST', `/api/quarantine/${id}/assign`, { patientId: PA });
    expect(res.json()).toEqual({ readingId: id, patientId: PA, outcome: 'stored' });
    const series = (await call('CN', 'GET', `/api/patients/${PA}/readings?metric=body_weight`)).json().readings as {
      readingId: string;
      value: number;
    }[];
    expect(series.filter((r) => r.readingId === id)).toEqual([expect.objectContaining({ value: 71 })]);
    const again = await call('AD', 'POST', `/api/quarantine/${id}/assign`, { patientId: PA });
    expect([again.statusCode, again.json().code]).toEqual([409, 'CONFLICT']);
    expect(
      ((await call('CN', 'GET', '/api/quarantine')).json().readings as { readingId: string }[]).map((q) => q.readingId),
    ).not.toContain(id);
    const audit = (await call('AD', 'GET', `/api/audit?entity=reading&entityId=${id}`)).json().entries as {
      action: string;
      actor: string;
    }[];
    expect(audit.map((a) => [a.action, a.actor])).toEqual([['quarantine.assigned', ids.CN]]);
  });
});

describe('rule overrides are recorded with who, when, old, new and reason', () => {
  it('changes the effective threshold and keeps the history; invalid params get a stable error', async () => {
    const set = (params: object, reason: string) =>
      call('ON', 'PUT', `/api/patients/${PA}/rules/spo2-low`, { params, reason });
    expect((await set({ below: 90 }, 'known COPD, baseline 91 %')).statusCode).toBe(200);
    expect((await set({ below: 89 }, 'pulmonologist advice')).statusCode).toBe(200);
    const rules = (await call('GP', 'GET', `/api/patients/${PA}/rules`)).json().rules as {
      ruleId: string;
      params: Record<string, number>;
      source: string;
    }[];
    const spo2 = rules.find((r) => r.ruleId === 'spo2-low')!;
    expect(spo2.params).toMatchObject({ below: 89, minGapMinutes: 15 });
    expect(spo2.source).toMatch(/Sepsis Trust/);
    const changes = (await call('GP', 'GET', `/api/patients/${PA}/rules/changes`)).json().changes as {
      ruleId: string;
      actor: string;
      oldValue: unknown;
      newValue: unknown;
      reason: string;
      at: string;
    }[];
    const mine = changes.filter((c) => c.ruleId === 'spo2-low');
    expect(mine.map((c) => [c.actor, c.oldValue, c.newValue, c.reason])).toEqual([
      [ids.ON, null, { enabled: null, params: { below: 90 } }, 'known COPD, baseline 91 %'],
      [
        ids.ON,
        { enabled: null, params: { below: 90 } },
        { enabled: null, params: { below: 89 } },
        'pulmonologist advice',
      ],
    ]);
    expect(mine.every((c) => !Number.isNaN(Date.parse(c.at)))).toBe(true);
    const bad = await set({ below: 'low' }, 'typo');
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'INVALID_REQUEST']);
    const unknown = await call('ON', 'PUT', `/api/patients/${PA}/rules/no-such-rule`, {
      params: {},
      enabled: false,
      reason: 'x-test',
    });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('OpenAPI', () => {
  it('serves the OpenAPI document and the UI at /docs', async () => {
    const doc = await api.inject({ method: 'GET', url: '/docs/json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json<{ paths: object }>().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/alerts',
        '/api/alerts/{id}/acknowledge',
        '/api/quarantine/{readingId}/assign',
        '/fhir/Observation',
        '/fhir/Task',
      ]),
    );
    expect((await api.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});

describe('FHIR scopes: deny by default on every /fhir route', () => {
  it('a token of the same nurse without a FHIR scope is refused on every /fhir route but metadata', async () => {
    // same role, team and consent as CN: only the token's scopes differ
    const { token: unscoped } = await createProfessional(f.pool, {
      id: 'cn-unscoped',
      displayName: 'CN',
      role: 'coordinating_nurse',
    });
    await addCareTeamMember(f.pool, { careTeamId: 'team-a', professionalId: 'cn-unscoped' });
    await recordConsent(f.pool, { patientId: PA, professionalId: 'cn-unscoped' });
    const fhirRoutes = routeTable(api).filter((r) => r.url.startsWith('/fhir/') && r.url !== '/fhir/metadata');
    expect(fhirRoutes.length).toBeGreaterThanOrEqual(9);
    for (const r of fhirRoutes) {
      // a read names its resource; every search gets the patient (ignored where not a parameter)
      const url = `${r.url.replace('/Patient/:id', `/Patient/${PA}`).replace('/:id', '/oral-chemo-weekly')}?patient=${PA}`;
      const res = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${unscoped}` } });
      const code = res.json<{ issue: { details: { coding: { code: string }[] } }[] }>().issue[0]?.details.coding[0]
        ?.code;
      expect([r.url, res.statusCode, code]).toEqual([r.url, 403, 'INSUFFICIENT_SCOPE']);
      // and the same request with CN's scoped token is not refused for its scope
      const scoped = await call('CN', r.method, url);
      expect([r.url, scoped.statusCode]).toEqual([r.url, 200]);
    }
    expect((await api.inject({ method: 'GET', url: '/fhir/metadata' })).statusCode).toBe(200);
  });
});

describe('read-only FHIR endpoint', () => {
  it('/fhir/Observation returns a searchset of vital-signs Observations with the webhook identifiers and interpretation', async () => {
    const res = await call('CN', 'GET', `/fhir/Observation?patient=Patient/${PA}&code=http://loinc.org|8310-5`);
    expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
    const b = res.json() as unknown as Searchset<FhirObservation>;
    expect(b).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    const temps = b.entry.map((e) => e.resource).filter((o) => o.valueQuantity.value === 38.8);
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatchObject({
      resourceType: 'Observation',
      status: 'final',
      subject: { reference: `Patient/${PA}` },
      valueQuantity: { code: 'Cel' },
    });
    expect(temps[0]!.identifier[0]!.system).toBe('urn:vigil:reading');
    expect(temps[0]!.interpretation[0]!.coding[0]!.code).toBe('HH');
    const bad = await call('CN', 'GET', `/fhir/Observation?patient=${PA}&code=9999-9`);
    expect([bad.statusCode, bad.json().resourceType]).toEqual([400, 'OperationOutcome']);
  });
  it('/fhir/Task returns the episodes as Tasks, filterable by status', async () => {
    const all = (
      (await call('GP', 'GET', `/fhir/Task?patient=${PA}`)).json() as unknown as Searchset<FhirTask>
    ).entry.map((e) => e.resource);
    expect(all.map((t) => t.code.coding[0]!.code).sort()).toEqual(['chemo-fever', 'sepsis-red-flags']);
    expect(all.every((t) => t.status === 'requested' && t.focus.reference.startsWith('Observation/'))).toBe(true);
    expect((await call('GP', 'GET', `/fhir/Task?patient=${PA}&status=completed`)).json().entry).toEqual([]);
  });
});

describe('/health and /metrics', () => {
  it('report the stores and the open episodes in Prometheus format', async () => {
    expect((await api.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({ postgres: true });
    const m = (await api.inject({ method: 'GET', url: '/metrics' })).body;
    expect(m).toMatch(/vigil_alert_episodes_open\{severity="red"\} [1-9]/);
    expect(m).toContain('vigil_rule_evaluations_total');
    expect(m).toContain('vigil_webhook_queue_depth');
  });
});

describe('cross-team writes are refused and change nothing', () => {
  const asHf = (method: string, url: string, payload?: object): Promise<Answer> =>
    api.inject({
      method: method as 'GET',
      url,
      ...(payload ? { payload } : {}),
      headers: { authorization: `Bearer ${hfToken}` },
    });
  const patientRow = async (id: string) =>
    (
      await f.pool.query(
        `SELECT p.program_id, p.display_name, array_agg(ctp.care_team_id ORDER BY ctp.care_team_id) AS teams,
                (SELECT array_agg(professional_id ORDER BY professional_id) FROM patient_consents pc
                  WHERE pc.patient_id = p.id AND pc.revoked_at IS NULL) AS consents
         FROM patients p LEFT JOIN care_team_patients ctp ON ctp.patient_id = p.id WHERE p.id = $1 GROUP BY p.id`,
        [id],
      )
    ).rows[0] as unknown;
  const bindings = async () =>
    (
      await f.pool.query<{ gateway_id: string; address: string; user_index: number | null; patient_id: string }>(
        'SELECT gateway_id, address, user_index, patient_id FROM device_bindings ORDER BY 1, 2, 3',
      )
    ).rows;

  it("re-posting another team's patient is 409 and neither renames nor moves it", async () => {
    const before = await patientRow(PA);
    const res = await asHf('POST', '/api/patients', {
      id: PA,
      programId: 'heart_failure',
      displayName: 'Taken over',
      careTeamId: 'team-hf',
    });
    expect([res.statusCode, res.json().code]).toEqual([409, 'CONFLICT']);
    expect(await patientRow(PA)).toEqual(before);
    // the same within one's own program: the id is taken, nothing is overwritten
    const again = await call('CN', 'POST', '/api/patients', {
      id: PA,
      programId: 'oral_chemotherapy',
      displayName: 'Renamed',
      careTeamId: 'team-a',
    });
    expect(again.statusCode).toBe(409);
    expect(await patientRow(PA)).toEqual(before);
    // team A's own nurse keeps her access
    expect((await call('CN', 'GET', `/api/patients/${PA}/readings`)).statusCode).toBe(200);
  });

  it("enrolling into a team outside one's programs, or into a team of another program, is refused", async () => {
    const other = await call('CN', 'POST', '/api/patients', {
      id: 'AZ-X1',
      programId: 'heart_failure',
      displayName: 'X',
      careTeamId: 'team-hf',
    });
    expect([other.statusCode, other.json().code]).toEqual([404, 'NOT_FOUND']);
    const mismatch = await call('CN', 'POST', '/api/patients', {
      id: 'AZ-X2',
      programId: 'heart_failure',
      displayName: 'X',
      careTeamId: 'team-a',
    });
    expect([mismatch.statusCode, mismatch.json().code]).toEqual([400, 'INVALID_REQUEST']);
    const { rowCount } = await f.pool.query(`SELECT 1 FROM patients WHERE id IN ('AZ-X1', 'AZ-X2')`);
    expect(rowCount).toBe(0);
  });

  it('a professional never records a consent to herself', async () => {
    const before = await patientRow('AZ-C');
    const res = await call('CN', 'POST', '/api/patients/AZ-C/consents', { professionalId: ids.CN });
    expect([res.statusCode, res.json().code]).toEqual([403, 'FORBIDDEN']);
    const hf = await asHf('POST', `/api/patients/${PA}/consents`, { professionalId: 'hf-nurse' });
    expect(hf.statusCode).toBe(404);
    expect(await patientRow('AZ-C')).toEqual(before);
  });

  it("another household's box cannot carry a device to one's own patient", async () => {
    await bindDevice(f.pool, { gatewayId: 'gw-aza', address: 'C0:00:00:00:00:77', patientId: PA });
    const before = await bindings();
    // the heart-failure nurse binds team A's thermometer to her patient: the box is not in her scope
    const redirect = await asHf('POST', '/api/patients/AZ-D/devices', {
      gatewayId: 'gw-aza',
      address: 'C0:00:00:00:00:77',
    });
    expect([redirect.statusCode, redirect.json().code]).toEqual([404, 'NOT_FOUND']);
    const newOnThatBox = await asHf('POST', '/api/patients/AZ-D/devices', {
      gatewayId: 'gw-aza',
      address: 'C0:00:00:00:00:78',
    });
    expect(newOnThatBox.statusCode).toBe(404);
    // re-keying the box for her patient is refused as well
    const rekey = await asHf('POST', '/api/patients/AZ-D/gateways', { gatewayId: 'gw-aza' });
    expect([rekey.statusCode, rekey.json().code]).toEqual([409, 'CONFLICT']);
    // within one's own scope, a device bound to a patient is not silently moved to another
    const moved = await call('CN', 'POST', '/api/patients/AZ-C/devices', {
      gatewayId: 'gw-aza',
      address: 'C0:00:00:00:00:77',
    });
    expect([moved.statusCode, moved.json().code]).toEqual([409, 'CONFLICT']);
    expect(await bindings()).toEqual(before);
    // the box still authenticates with its old credential (no silent re-key happened)
    const gw = await f.pool.query('SELECT patient_id, revoked_at FROM gateways WHERE id = $1', ['gw-aza']);
    expect(gw.rows[0]).toEqual({ patient_id: PA, revoked_at: null });
  });

  it("an episode is assigned only to a member of its patient's care team", async () => {
    const id = await freshEpisode();
    const res = await call('CN', 'POST', `/api/alerts/${id}/assign`, { assignee: 'hf-nurse' });
    expect([res.statusCode, res.json().code]).toEqual([400, 'INVALID_REQUEST']);
    const row = await f.pool.query('SELECT assignee FROM alert_episodes WHERE id = $1', [id]);
    expect(row.rows[0]).toEqual({ assignee: null });
    expect((await call('CN', 'POST', `/api/alerts/${id}/assign`, { assignee: ids.HN })).statusCode).toBe(200);
  });

  it("404 tells nothing about patients and episodes outside one's scope", async () => {
    const outside = await asHf('GET', `/api/patients/${PA}`);
    const unknown = await asHf('GET', '/api/patients/AZ-NOBODY');
    expect([outside.statusCode, outside.json().code]).toEqual([unknown.statusCode, unknown.json().code]);
    expect(outside.statusCode).toBe(404);
    const ep = await asHf('GET', `/api/alerts/${feverEpisode}`);
    const noEp = await asHf('GET', '/api/alerts/999999999');
    expect([ep.statusCode, ep.json().code]).toEqual([noEp.statusCode, noEp.json().code]);
    const write = await asHf('POST', `/api/alerts/${feverEpisode}/acknowledge`);
    expect(write.statusCode).toBe(404);
    const quarantine = await asHf('POST', `/api/quarantine/${await quarantined()}/assign`, { patientId: 'AZ-D' });
    expect(quarantine.statusCode).toBe(404);
  });
});
