import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
  createWebhook,
} from '../../hub/admin/provisioning';
import { verify } from '../../hub/delivery/signature';
import { ManualClock, MINUTE } from '../../hub/rules/clock';
import { startTrustHub, TestGateway, webhookReceiver, type TrustHub } from './support';

/**
 * Consent withdrawal stops processing from the next reading (docs/privacy.md "Withdrawal"):
 * with real services, a patient who withdrew (or withdrew every professional consent) gets no
 * new episode, no notification, no webhook; the reading is quarantined, not filed.
 */
const clock = new ManualClock(Date.now());
let t: TrustHub;
let rx: Awaited<ReturnType<typeof webhookReceiver>>;
let adminToken = '';
let nurseToken = '';
const gws = new Map<string, TestGateway>();
const SECRET_KEY = 's'.repeat(40);
let webhookSecret = '';

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await t.pg.pool.query<{ n: number }>(sql, params);
  return rows[0]!.n;
}
const episodes = (p: string) => count('SELECT count(*)::int AS n FROM alert_episodes WHERE patient_id = $1', [p]);
const notifications = (p: string) => count('SELECT count(*)::int AS n FROM notifications WHERE patient_id = $1', [p]);
const ledger = (p: string) => count('SELECT count(*)::int AS n FROM reading_ledger WHERE patient_id = $1', [p]);

async function api(method: string, url: string, token: string, body?: unknown) {
  const res = await fetch(`${t.hub.httpUrl}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await startTrustHub('vigil_withdraw', { security: { secretKey: SECRET_KEY } }, { clock });
  rx = await webhookReceiver();
  for (const p of ['WD-1', 'WD-2']) {
    await createPatient(t.pg.pool, { id: p, programId: 'oral_chemotherapy', displayName: `Patient ${p}` });
    const { password } = await createGateway(t.pg.pool, { id: `gw-${p.toLowerCase()}`, patientId: p });
    gws.set(p, await TestGateway.connect(t.hub.mqttUrl, `gw-${p.toLowerCase()}`, password));
  }
  const team = await createCareTeamWithMembers(t.pg.pool, {
    id: 'team-wd',
    programId: 'oral_chemotherapy',
    name: 'Team WD',
    patientIds: ['WD-1', 'WD-2'],
  });
  nurseToken = team.coordinating_nurse.token;
  adminToken = (await createProfessional(t.pg.pool, { id: 'admin-wd', displayName: 'Admin', role: 'admin' })).token;
  webhookSecret = (
    await createWebhook(t.pg.pool, {
      careTeamId: 'team-wd',
      url: rx.url,
      profile: 'development',
      secretKey: SECRET_KEY,
    })
  ).secret;
}, 60_000);

afterAll(async () => {
  for (const g of gws.values()) await g.end().catch(() => {});
  await rx.close();
  await t.stop();
});

describe('consent withdrawal stops ingest, rules, notifications and webhooks from the next reading', () => {
  it('before withdrawal a fever opens a red episode and a webhook goes out', async () => {
    const r = await gws.get('WD-1')!.measure('body_temperature', 39.1, clock.now());
    expect(r.outcome).toBe('stored');
    expect(await episodes('WD-1')).toBe(1);
    expect((await t.hub.webhooks.runOnce()).delivered).toBe(1);
    expect(rx.got).toHaveLength(1);
    // the secret is sealed at rest, and the delivery is signed with the real one
    const { rows } = await t.pg.pool.query<{ secret: string }>('SELECT secret FROM webhooks');
    expect(rows[0]!.secret).toMatch(/^v1:/);
    expect(rows[0]!.secret).not.toContain(webhookSecret);
    const h = rx.headers[0]!;
    expect(verify(webhookSecret, Number(h['x-vigil-timestamp']), rx.got[0]!, String(h['x-vigil-signature']))).toBe(
      true,
    );
  });

  it('after the patient withdraws (API), the next fever is quarantined: no episode change, no notification, no webhook, no re-notification', async () => {
    const res = await api('POST', '/api/patients/WD-1/processing/withdraw', nurseToken);
    expect(res).toMatchObject({ status: 200, json: { processing: 'stopped' } });
    const before = { ep: await episodes('WD-1'), n: await notifications('WD-1'), l: await ledger('WD-1') };
    const breach = await count('SELECT sum(breach_count)::int AS n FROM alert_episodes WHERE patient_id = $1', [
      'WD-1',
    ]);

    clock.advance(5 * MINUTE);
    const r = await gws.get('WD-1')!.measure('body_temperature', 40.2, clock.now());
    expect(r).toMatchObject({ outcome: 'quarantined', code: 'CONSENT_WITHDRAWN' });
    expect(await ledger('WD-1')).toBe(before.l);
    expect(await episodes('WD-1')).toBe(before.ep);
    expect(await count('SELECT sum(breach_count)::int AS n FROM alert_episodes WHERE patient_id = $1', ['WD-1'])).toBe(
      breach,
    );
    // the red episode is still open: a re-notification would be due after 15 min, it is withheld
    clock.advance(20 * MINUTE);
    await t.hub.rules.tick();
    expect(await notifications('WD-1')).toBe(before.n);
    expect((await t.hub.webhooks.runOnce()).attempted).toBe(0);
    expect(rx.got).toHaveLength(1);
    expect(
      await count(`SELECT count(*)::int AS n FROM quarantined_readings WHERE reason = 'CONSENT_WITHDRAWN'`, []),
    ).toBe(1);
    // nothing reached the time series either
    const series = await t.hub.timeseries.patientSeries('WD-1', {
      from: new Date(clock.now().getTime() - 3_600_000),
      to: new Date(clock.now().getTime() + 60_000),
    });
    expect(series.map((s) => s.value)).toEqual([39.1]);
  });

  it('withdrawing every professional consent stops processing too; a quarantined reading cannot be assigned back', async () => {
    const { rows } = await t.pg.pool.query<{ professional_id: string }>(
      'SELECT professional_id FROM patient_consents WHERE patient_id = $1',
      ['WD-2'],
    );
    for (const { professional_id } of rows)
      expect((await api('DELETE', `/api/patients/WD-2/consents/${professional_id}`, nurseToken)).status).toBeLessThan(
        300,
      );
    const r = await gws.get('WD-2')!.measure('body_temperature', 39.5, clock.now());
    expect(r).toMatchObject({ outcome: 'quarantined', code: 'CONSENT_WITHDRAWN' });
    expect(await episodes('WD-2')).toBe(0);
    expect(await notifications('WD-2')).toBe(0);
    expect((await t.hub.webhooks.runOnce()).attempted).toBe(0);
    const q = await t.pg.pool.query<{ reading_id: string }>(
      `SELECT reading_id FROM quarantined_readings WHERE gateway_id = 'gw-wd-2'`,
    );
    const assign = await api('POST', `/api/quarantine/${q.rows[0]!.reading_id}/assign`, adminToken, {
      patientId: 'WD-2',
    });
    expect(assign.status).toBeGreaterThanOrEqual(400);
    expect(await ledger('WD-2')).toBe(0);
  });

  it('after the patient consents again, the next reading is filed and evaluated', async () => {
    expect((await api('POST', '/api/patients/WD-1/processing/resume', nurseToken)).status).toBe(200);
    clock.advance(MINUTE);
    const r = await gws.get('WD-1')!.measure('body_temperature', 37.0, clock.now());
    expect(r.outcome).toBe('stored');
  });
});
