import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createProfessional, createWebhook } from '../../hub/admin/provisioning';
import { buildApi } from '../../hub/api/app';
import { verify } from '../../hub/delivery/signature';
import { WebhookDispatcher } from '../../hub/delivery/webhooks';
import { MINUTE } from '../../hub/rules/clock';
import { rulesFixture, type RulesFixture } from './rules-fixture';
import { TimeSeriesStore } from '../../hub/storage/influx/timeseries';
import { testInfluxUrl } from '../support/stores';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local webhook receiver; `failFirst` answers 500 to the first n requests. */
async function receiver(failFirst = 0): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = n++ < failFirst ? 500 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

const SECOND = 1000;
let f: RulesFixture;
let api: FastifyInstance;
let dispatcher: WebhookDispatcher;
const servers: Server[] = [];
let adminToken = '';

beforeAll(async () => {
  f = await rulesFixture();
  dispatcher = new WebhookDispatcher(f.pool, f.metrics, f.log, {
    clock: f.clock,
    baseDelayMs: 10 * SECOND,
    maxDelayMs: MINUTE,
    maxAttempts: 4,
    timeoutMs: 2000,
  });
  api = await buildApi({
    pool: f.pool,
    timeseries: new TimeSeriesStore(testInfluxUrl(), 'unused'),
    metrics: f.metrics,
    logLevel: 'silent',
    clock: f.clock,
    episodes: f.episodes,
    rules: f.engine,
  });
  adminToken = (await createProfessional(f.pool, { id: 'admin-wh', displayName: 'Admin', role: 'admin' })).token;
});
afterAll(async () => {
  for (const s of servers) s.close();
  await api?.close();
  await f?.pg.drop();
});

describe('care-team webhooks carry signed FHIR R4 bundles', () => {
  it('delivers a transaction Bundle with the BP panel Observation, the Task and a Communication, HMAC-signed, with an idempotency key', async () => {
    const p = 'WH-1';
    await f.enroll(p, 'cardiovascular_prevention');
    const team = await createCareTeamWithMembers(f.pool, {
      id: 'team-wh1',
      programId: 'cardiovascular_prevention',
      name: 'CV team',
      patientIds: [p],
    });
    const rx = await receiver();
    servers.push(rx.server);
    const { secret } = await createWebhook(f.pool, { careTeamId: 'team-wh1', url: rx.url, profile: 'development' });
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { blood_pressure_systolic: 194, blood_pressure_diastolic: 118, heart_rate: 80 });
    await f.measure(p, new Date(t + 2 * MINUTE), {
      blood_pressure_systolic: 188,
      blood_pressure_diastolic: 123,
      heart_rate: 82,
    });
    const report = await dispatcher.runOnce();
    expect(report).toMatchObject({ attempted: 1, delivered: 1 });
    expect(rx.got).toHaveLength(1);
    const { headers, body } = rx.got[0]!;
    expect(headers['content-type']).toBe('application/fhir+json');
    expect(verify(secret, Number(headers['x-vigil-timestamp']), body, String(headers['x-vigil-signature']))).toBe(true);
    expect(
      verify('wrong-secret', Number(headers['x-vigil-timestamp']), body, String(headers['x-vigil-signature'])),
    ).toBe(false);
    const [episode] = await f.episodeRows(p);
    expect(headers['idempotency-key']).toBe(`vigil-episode-${episode!.id}-opened`);

    const bundle = JSON.parse(body);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    const byType = (t: string) =>
      bundle.entry.filter((e: { resource: { resourceType: string } }) => e.resource.resourceType === t);
    const panels = byType('Observation').filter(
      (e: { resource: { code: { coding: { code: string }[] } } }) => e.resource.code.coding[0]!.code === '85354-9',
    );
    expect(panels).toHaveLength(2);
    const obs = panels[1].resource;
    expect(obs.meta.profile).toContain('http://hl7.org/fhir/StructureDefinition/bp');
    expect(obs.category[0].coding[0].code).toBe('vital-signs');
    expect(obs.subject).toEqual({ reference: `Patient/${p}` });
    expect(
      obs.component.map(
        (c: {
          code: { coding: { code: string }[] };
          valueQuantity: { value: number; code: string; system: string };
        }) => [c.code.coding[0]!.code, c.valueQuantity.value, c.valueQuantity.code, c.valueQuantity.system],
      ),
    ).toEqual([
      ['8480-6', 188, 'mm[Hg]', 'http://unitsofmeasure.org'],
      ['8462-4', 123, 'mm[Hg]', 'http://unitsofmeasure.org'],
    ]);
    expect(obs.component[1].interpretation[0].coding[0].code).toBe('HH');
    expect(obs.device.identifier.value).toBe('sim-device/C0:00:00:00:00:01');
    expect(obs.extension[0].url).toBe('http://hl7.org/fhir/uv/phd/StructureDefinition/Ext-gatewayDevice');
    expect(panels[1].request).toEqual({
      method: 'POST',
      url: 'Observation',
      ifNoneExist: `identifier=urn:vigil:reading|${obs.identifier[0].value}`,
    });

    const [task] = byType('Task');
    expect(task.resource).toMatchObject({
      status: 'requested',
      priority: 'stat',
      intent: 'order',
      for: { reference: `Patient/${p}` },
      owner: { reference: 'CareTeam/team-wh1' },
    });
    expect(task.resource.code.coding[0].code).toBe('bp-hypertensive-crisis');
    expect(task.resource.focus.reference).toBe(panels[1].fullUrl);
    expect(task.request).toEqual({ method: 'PUT', url: `Task?identifier=urn:vigil:alert-episode|${episode!.id}` });
    const [comm] = byType('Communication');
    expect(comm.resource.about).toEqual([{ reference: task.fullUrl }]);
    expect(comm.resource.identifier[0].value).toBe(headers['idempotency-key']);
    const recipients = comm.resource.recipient.map((r: { reference: string }) => r.reference).sort();
    expect(recipients).toEqual(
      ['cardiologist', 'coordinating_nurse', 'general_practitioner']
        .map((r) => `Practitioner/${team[r as 'cardiologist'].professionalId}`)
        .sort(),
    );
    // no personal data in the payload: the display name never leaves
    expect(body).not.toContain(`Patient ${p}`);

    // acknowledging pushes the new Task state, without a Communication (no one is paged)
    await f.episodes.acknowledge(Number(episode!.id), team.coordinating_nurse.professionalId, f.clock.now());
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 1, delivered: 1 });
    const update = JSON.parse(rx.got[1]!.body);
    const types = update.entry.map((e: { resource: { resourceType: string } }) => e.resource.resourceType);
    expect(types).not.toContain('Communication');
    expect(
      update.entry.find((e: { resource: { resourceType: string } }) => e.resource.resourceType === 'Task').resource
        .status,
    ).toBe('accepted');
    expect(rx.got[1]!.headers['idempotency-key']).toMatch(
      new RegExp(`^vigil-episode-${episode!.id}-status-acknowledged-`),
    );
  });

  it('retries a failing receiver with backoff, and the delivery log shows every attempt', async () => {
    const p = 'WH-2';
    await f.enroll(p, 'oral_chemotherapy');
    await createCareTeamWithMembers(f.pool, {
      id: 'team-wh2',
      programId: 'oral_chemotherapy',
      name: 'Onco team',
      patientIds: [p],
      roles: ['coordinating_nurse', 'oncologist'],
    });
    const flaky = await receiver(2);
    servers.push(flaky.server);
    await createWebhook(f.pool, { careTeamId: 'team-wh2', url: flaky.url, profile: 'development' });
    // a second webhook of the team points to a closed port: it fails until it gives up
    const closed = await receiver();
    closed.server.close();
    await createWebhook(f.pool, { careTeamId: 'team-wh2', url: closed.url, profile: 'development' });
    await f.measure(p, f.clock.now(), { body_temperature: 38.9 });

    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 2, retrying: 2 });
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 0 }); // not due yet: backoff
    f.clock.advance(10 * SECOND);
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 2, retrying: 2 });
    f.clock.advance(19 * SECOND);
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 0 }); // second delay is 20 s
    f.clock.advance(1 * SECOND);
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 2, delivered: 1, retrying: 1 });
    f.clock.advance(40 * SECOND);
    expect(await dispatcher.runOnce()).toMatchObject({ attempted: 1, failed: 1 });

    expect(flaky.got).toHaveLength(3);
    expect(new Set(flaky.got.map((g) => g.headers['idempotency-key'])).size).toBe(1);
    expect(new Set(flaky.got.map((g) => g.body)).size).toBe(1);
    expect(flaky.got.map((g) => g.headers['x-vigil-attempt'])).toEqual(['1', '2', '3']);

    const res = await api.inject({
      method: 'GET',
      url: '/api/care-teams/team-wh2/deliveries',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(res.statusCode).toBe(200);
    const { deliveries } = res.json() as {
      deliveries: {
        status: string;
        attempts: number;
        lastError: string | null;
        log: { attempt: number; httpStatus: number | null; error: string | null }[];
      }[];
    };
    const ok = deliveries.find((d) => d.status === 'delivered')!;
    expect(ok.log.map((l) => [l.attempt, l.httpStatus])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    const dead = deliveries.find((d) => d.status === 'failed')!;
    expect(dead.attempts).toBe(4);
    expect(dead.log.every((l) => l.httpStatus === null && l.error)).toBe(true);
    const m = await f.metrics.registry.getSingleMetricAsString('vigil_webhook_attempts_total');
    expect(m).toContain('outcome="failed"');
  });
});
