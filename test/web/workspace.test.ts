import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readingId, topicFor, type ReadingInput } from '../../contract';
import {
  bindDevice,
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
} from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { setPassword } from '../../hub/web/session/credentials';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { until } from '../support/wait';
import { launchChromium, seriousViolations } from './support';

/**
 * The care team's workspace driven in headless Chromium against a real hub (in-process, with its
 * embedded MQTT broker), real PostgreSQL and InfluxDB. Readings arrive over MQTT as a box sends them.
 */
const HF = 'P-WEB-HF1';
const HF2 = 'P-WEB-HF2';
const CV = 'P-WEB-CV1';
const GW = 'gw-web-0001';
const GW2 = 'gw-web-0002';
const CUFF = 'A4:C1:38:77:00:01';
const SCALE = 'A4:C1:38:77:00:02';
const PASSWORD = 'correct horse battery staple';
const DOCS = join(process.cwd(), 'docs', 'web');

describe('care-team workspace in the browser', () => {
  let pg: TestPostgres;
  let influx: { url: string; database: string; drop(): Promise<void> };
  let hub: RunningHub;
  let browser: Browser;
  let gwPassword = '';
  let gw2Password = '';
  let base = '';

  const publish = async (gatewayId: string, password: string, readings: ReadingInput[]) => {
    const c = await mqtt.connectAsync(hub.mqttUrl, {
      clientId: gatewayId,
      username: gatewayId,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    for (let i = 0; i < readings.length; i += 100) {
      await c.publishAsync(
        topicFor(gatewayId, 'readings'),
        JSON.stringify({
          v: 1,
          gatewayId,
          batchId: `b-${Date.now()}-${i}`,
          sentAt: new Date().toISOString(),
          readings: readings.slice(i, i + 100),
        }),
        { qos: 1 },
      );
    }
    await c.endAsync();
  };
  const reading = (
    gatewayId: string,
    address: string,
    driver: string,
    metric: ReadingInput['metric'],
    value: number,
    unit: string,
    at: Date,
    key: string,
  ): ReadingInput => {
    const device = { address, driver };
    return {
      id: readingId({ device, metric, captureKey: key, value }),
      gatewayId,
      device,
      metric,
      value,
      unit,
      measuredAt: at.toISOString(),
      flags: [],
    };
  };
  const ledgerCount = async (patient: string) =>
    Number(
      (await pg.pool.query<{ n: string }>('SELECT count(*) n FROM reading_ledger WHERE patient_id = $1', [patient]))
        .rows[0]!.n,
    );

  const signIn = async (ctx: BrowserContext, login: string): Promise<Page> => {
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    await page.getByLabel(/Identifiant|Login/).fill(login);
    await page.getByLabel(/Mot de passe|Password/).fill(PASSWORD);
    await page.getByRole('button', { name: /Connexion|Sign in/ }).click();
    await page.waitForURL(/\/web\/worklist/);
    return page;
  };
  const frenchContext = () =>
    browser.newContext({
      locale: 'fr-FR',
      timezoneId: 'Europe/Paris',
      viewport: { width: 1366, height: 768 },
      bypassCSP: true,
    });

  let nurse = '';
  let gp = '';
  let otherNurse = '';

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_web');
    influx = await createTestInflux('vigil_web');
    await createPatient(pg.pool, { id: HF, programId: 'heart_failure', displayName: 'Jeanne Martin', birthYear: 1951 });
    await createPatient(pg.pool, {
      id: HF2,
      programId: 'heart_failure',
      displayName: 'Marcel Durand',
      birthYear: 1948,
    });
    await createPatient(pg.pool, {
      id: CV,
      programId: 'cardiovascular_prevention',
      displayName: 'Paul Leroy',
      birthYear: 1960,
    });
    await pg.pool.query(
      `UPDATE patients SET phone = '06 12 34 56 78', address = '12 rue des Lilas, 69003 Lyon', caregiver_name = 'Sophie Martin (fille)', caregiver_phone = '06 98 76 54 32' WHERE id = $1`,
      [HF],
    );
    gwPassword = (await createGateway(pg.pool, { id: GW, patientId: HF })).password;
    gw2Password = (await createGateway(pg.pool, { id: GW2, patientId: HF2 })).password;
    await bindDevice(pg.pool, { gatewayId: GW, address: CUFF, patientId: HF, driver: 'sig-blood-pressure' });
    await bindDevice(pg.pool, { gatewayId: GW, address: SCALE, patientId: HF, driver: 'sig-weight-scale' });
    await bindDevice(pg.pool, { gatewayId: GW2, address: SCALE, patientId: HF2, driver: 'sig-weight-scale' });
    const hf = await createCareTeamWithMembers(pg.pool, {
      id: 'team-web-hf',
      programId: 'heart_failure',
      name: 'Insuffisance cardiaque — CHU',
      patientIds: [HF, HF2],
      roles: ['coordinating_nurse', 'cardiologist', 'general_practitioner'],
    });
    const cv = await createCareTeamWithMembers(pg.pool, {
      id: 'team-web-cv',
      programId: 'cardiovascular_prevention',
      name: 'Prévention CV',
      patientIds: [CV],
      roles: ['coordinating_nurse'],
    });
    await pg.pool.query(`UPDATE professionals SET display_name = 'Claire Dubois' WHERE id = $1`, [
      hf.coordinating_nurse.professionalId,
    ]);
    await pg.pool.query(`UPDATE professionals SET display_name = 'Dr Karim Benali' WHERE id = $1`, [
      hf.cardiologist.professionalId,
    ]);
    await pg.pool.query(`UPDATE professionals SET display_name = 'Dr Anne Petit' WHERE id = $1`, [
      hf.general_practitioner.professionalId,
    ]);
    nurse = hf.coordinating_nurse.professionalId;
    gp = hf.general_practitioner.professionalId;
    otherNurse = cv.coordinating_nurse.professionalId;
    for (const id of [nurse, gp, otherNurse]) await setPassword(pg.pool, id, id, PASSWORD, 'test');
    await createProfessional(pg.pool, { id: 'web-admin', displayName: 'Admin Vigil', role: 'admin' });
    await setPassword(pg.pool, 'web-admin', 'web-admin', PASSWORD, 'test');

    const config = loadHubConfig({
      env: {},
      overrides: {
        instanceId: 'web-test',
        postgres: { url: pg.url },
        influx: { url: influx.url, database: influx.database },
        mqtt: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        logLevel: 'silent',
      },
    });
    hub = await startHub(config, pino({ level: 'silent' }));
    base = hub.httpUrl;

    // a year of home readings for Jeanne Martin, sent by her box as it would: BP morning and
    // evening, weight every morning (normal values: no alert)
    const year: ReadingInput[] = [];
    const now = Date.now();
    for (let d = 365; d >= 1; d--) {
      for (const [h, k] of [
        [8, 'am'],
        [20, 'pm'],
      ] as const) {
        const at = new Date(now - d * 86_400_000 + (h - 12) * 3_600_000);
        const wave = Math.sin(d / 9);
        year.push(
          reading(
            GW,
            CUFF,
            'sig-blood-pressure',
            'blood_pressure_systolic',
            Math.round(126 + 6 * wave + (k === 'pm' ? 3 : 0)),
            'mm[Hg]',
            at,
            `${d}${k}s`,
          ),
        );
        year.push(
          reading(
            GW,
            CUFF,
            'sig-blood-pressure',
            'blood_pressure_diastolic',
            Math.round(77 + 4 * wave),
            'mm[Hg]',
            at,
            `${d}${k}d`,
          ),
        );
        year.push(
          reading(
            GW,
            CUFF,
            'sig-blood-pressure',
            'heart_rate',
            Math.round(68 + 5 * Math.cos(d / 5)),
            '/min',
            at,
            `${d}${k}h`,
          ),
        );
      }
      const w = new Date(now - d * 86_400_000 - 4 * 3_600_000);
      year.push(
        reading(
          GW,
          SCALE,
          'sig-weight-scale',
          'body_weight',
          Math.round((71.5 + 0.4 * Math.sin(d / 14)) * 10) / 10,
          'kg',
          w,
          `${d}w`,
        ),
      );
    }
    await publish(GW, gwPassword, year);
    await until(
      'a year of readings filed',
      async () => ((await ledgerCount(HF)) >= year.length ? true : undefined),
      120_000,
      500,
    );
    // a weight gain for Marcel Durand: an amber heart-failure episode, already on the list
    const t = Date.now();
    const wg = [0, 1, 2, 3].map((i) =>
      reading(
        GW2,
        SCALE,
        'sig-weight-scale',
        'body_weight',
        [80, 80.4, 81.6, 82.9][i]!,
        'kg',
        new Date(t - (3 - i) * 86_400_000 - 3_600_000),
        `wg${i}`,
      ),
    );
    await publish(GW2, gw2Password, wg);
    await until('Marcel Durand filed', async () => ((await ledgerCount(HF2)) >= 4 ? true : undefined), 30_000);

    browser = await launchChromium();
    mkdirSync(DOCS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await browser.close();
    await hub.stop();
    await pg.drop();
    await influx.drop();
  });

  let nursePage: Page;
  let nurseCtx: BrowserContext;

  it('signs the coordinating nurse in; the worklist passes axe-core', async () => {
    nurseCtx = await frenchContext();
    nursePage = await signIn(nurseCtx, nurse);
    expect(await nursePage.getByRole('heading', { name: /Liste de travail/ }).count()).toBe(1);
    const cookies = await nurseCtx.cookies();
    const session = cookies.find((c) => c.name === 'vigil_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Lax');
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
  });

  it('shows the crisis episode within 5 s of the reading published over MQTT, without reload', async () => {
    await nursePage.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));
    const t = Date.now();
    await publish(GW, gwPassword, [
      reading(GW, CUFF, 'sig-blood-pressure', 'blood_pressure_systolic', 186, 'mm[Hg]', new Date(t - 180_000), 'c1s'),
      reading(GW, CUFF, 'sig-blood-pressure', 'blood_pressure_diastolic', 124, 'mm[Hg]', new Date(t - 180_000), 'c1d'),
      reading(GW, CUFF, 'sig-blood-pressure', 'heart_rate', 96, '/min', new Date(t - 180_000), 'c1h'),
      reading(GW, CUFF, 'sig-blood-pressure', 'blood_pressure_systolic', 184, 'mm[Hg]', new Date(t - 90_000), 'c2s'),
      reading(GW, CUFF, 'sig-blood-pressure', 'blood_pressure_diastolic', 122, 'mm[Hg]', new Date(t - 90_000), 'c2d'),
    ]);
    const row = nursePage.locator('tr', { hasText: 'Crise hypertensive' });
    await row.waitFor({ timeout: 5_000 });
    const elapsed = Date.now() - t;
    expect(elapsed).toBeLessThan(5_000);
    // the same document: no reload happened
    expect(await nursePage.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    await expect.poll(() => row.textContent()).toContain('Jeanne Martin');
    const text = (await row.textContent())!;
    expect(text, text).toMatch(/TA 18\d\/12\d mmHg/);
    expect(text).toContain('75 ans');
    expect(text).toContain(CUFF);
    // counts in the title, never a patient's name
    const title = await nursePage.title();
    expect(title).toMatch(/^\(\d+ · \d+ ▲\) Liste de travail — Vigil$/);
    expect(title).not.toContain('Martin');
    // red first, then amber (oldest first within a severity)
    const classes = await nursePage
      .locator('#rows tr')
      .evaluateAll((trs: { className: string }[]) => trs.map((tr) => tr.className.replace(/\s*fresh/, '')));
    expect(classes.indexOf('amber') === -1 || classes.lastIndexOf('red') < classes.indexOf('amber')).toBe(true);
    await nursePage.screenshot({ path: join(DOCS, 'worklist-fr.png') });
    // a tablet in landscape: the worklist still fits, no sideways scrolling
    await nursePage.setViewportSize({ width: 1024, height: 768 });
    const overflow = await nursePage.evaluate(() => {
      const d = (
        globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }
      ).document;
      return d.documentElement.scrollWidth - d.documentElement.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await nursePage.setViewportSize({ width: 1366, height: 768 });
  });

  it('acknowledges, assigns, notes and resolves the episode, all audited', async () => {
    const row = nursePage.locator('tr', { hasText: 'Crise hypertensive' });
    const episodeId = Number(await row.getAttribute('data-episode'));
    await row.getByRole('button', { name: /^Prendre en compte/ }).click();
    await expect.poll(() => row.textContent()).toContain('Prise en compte');

    await row.getByRole('button', { name: /^Assigner/ }).click();
    const assign = nursePage.locator('#dlg-assign');
    await assign.getByLabel('Assignée à').selectOption({ label: 'Dr Karim Benali' });
    await assign.getByRole('button', { name: 'Assigner' }).click();
    await expect.poll(() => row.textContent()).toContain('Dr Karim Benali');

    await row.getByRole('button', { name: /^Note d’appel/ }).click();
    const note = nursePage.locator('#dlg-note');
    await note
      .getByLabel('Note d’appel')
      .fill('Patiente rappelée : céphalées, pas de douleur thoracique. Avis cardiologue demandé.');
    await note.getByRole('button', { name: 'Enregistrer' }).click();
    await until('the call note', async () =>
      (await pg.pool.query('SELECT 1 FROM call_notes WHERE episode_id = $1', [episodeId])).rowCount ? true : undefined,
    );
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');

    await row.getByRole('button', { name: /^Clôturer/ }).click();
    const resolve = nursePage.locator('#dlg-resolve');
    expect(await resolve.textContent()).toContain('définitive');
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    await resolve.getByLabel('Traitement ajusté').check();
    await resolve.getByLabel('Précisions').fill('Majoration du traitement par le cardiologue');
    await resolve.getByRole('button', { name: 'Confirmer' }).click();
    await nursePage.locator(`#episode-${episodeId}`).waitFor({ state: 'detached', timeout: 5_000 });

    const ep = await pg.pool.query(
      'SELECT status, assignee, acknowledged_by, resolved_by FROM alert_episodes WHERE id = $1',
      [episodeId],
    );
    expect(ep.rows[0]).toMatchObject({
      status: 'resolved',
      assignee: 'team-web-hf-cardiologist',
      acknowledged_by: nurse,
      resolved_by: nurse,
    });
    const { rows } = await pg.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE actor = $1 AND (entity_id = $2 OR entity_id = $3) ORDER BY id`,
      [nurse, String(episodeId), HF],
    );
    const actions = rows.map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['call_note.added']));
    expect(actions.some((a) => /acknowledg/.test(a))).toBe(true);
    expect(actions.some((a) => /assign/.test(a))).toBe(true);
    expect(actions.some((a) => /resolv/.test(a))).toBe(true);
  });

  it('draws a year of readings on the patient page (figure printed: target 1 s); the page passes axe-core', async () => {
    await nursePage.goto(`${base}/web/patients/${HF}`);
    await nursePage.locator('#charts[data-drawn-days="30"]').waitFor();
    await nursePage.getByRole('button', { name: '365 jours' }).click();
    await nursePage.locator('#charts[data-drawn-days="365"]').waitFor();
    const ms = Number(await nursePage.locator('#charts').getAttribute('data-drawn-ms'));
    const points = Number(await nursePage.locator('#charts').getAttribute('data-drawn-points'));
    expect(points).toBeGreaterThanOrEqual(365 * 7);
    // a functional check that a year loads and draws; the 1 s target is measured and reported
    // (docs/web.md, the JSON line below), not asserted here: the suite runs files in parallel on a
    // shared machine and a timed assertion would fail on load, not on the code
    expect(ms).toBeLessThan(5_000);
    console.log(JSON.stringify({ patientPageYear: { readings: points, drawMs: ms } }));
    expect(await nursePage.locator('canvas').count()).toBeGreaterThanOrEqual(3);
    const body = (await nursePage.textContent('main'))!;
    expect(body).toContain('06 12 34 56 78');
    expect(await nursePage.locator('a[href="tel:0612345678"]').count()).toBeGreaterThan(0);
    expect(body).toContain('Patiente rappelée');
    expect(body).toContain(GW);
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    // the dry weight, recorded by the nurse, is drawn on the weight trend
    await nursePage.getByLabel('Poids sec (kg)').fill('71,0');
    await nursePage.locator('form.dry').getByRole('button', { name: 'Enregistrer' }).click();
    await nursePage.locator('#charts[data-drawn-days="30"]').waitFor();
    expect((await nursePage.textContent('#charts'))!).toContain('Poids sec 71 kg');
    expect((await pg.pool.query('SELECT dry_weight_kg FROM patients WHERE id = $1', [HF])).rows[0]).toEqual({
      dry_weight_kg: 71,
    });
    await nursePage.getByRole('button', { name: '90 jours' }).click();
    await nursePage.locator('#charts[data-drawn-days="90"]').waitFor();
    await nursePage.screenshot({ path: join(DOCS, 'patient-fr.png'), fullPage: false });
    await nursePage.screenshot({ path: join(DOCS, 'patient-fr-full.png'), fullPage: true });
  });

  it('opens a box pairing window from the patient page', async () => {
    await nursePage.getByRole('button', { name: /Ouvrir la fenêtre d’appairage/ }).click();
    await expect
      .poll(() =>
        nursePage
          .locator('#devices-h + * [role=status], section[aria-labelledby=devices-h] [role=status]')
          .first()
          .textContent(),
      )
      .toContain('ouverte');
    const cfg = await pg.pool.query<{ config: { pairing?: unknown } }>(
      'SELECT config FROM gateway_remote_config WHERE gateway_id = $1',
      [GW],
    );
    expect(JSON.stringify(cfg.rows[0]?.config)).toContain('pairing');
  });

  it('lets the coordinating nurse enroll a patient, print a box code sheet, bind a device; every screen passes axe-core', async () => {
    await nursePage.goto(`${base}/web/patients`);
    expect((await nursePage.textContent('main'))!).toContain('Jeanne Martin');
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');

    await nursePage.goto(`${base}/web/admin`);
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    const enroll = nursePage.locator('section[aria-labelledby=enroll-h]');
    await enroll.getByLabel('Identifiant pseudonyme').fill('P-WEB-HF9');
    await enroll.getByLabel('Nom affiché').fill('Lucienne Bernard');
    await enroll.getByLabel('Année de naissance').fill('1944');
    await enroll.getByLabel('Téléphone').fill('04 72 00 00 00');
    await enroll.getByRole('button', { name: 'Inscrire un patient' }).click();
    await nursePage.getByText('Enregistré.').waitFor();
    const p = await pg.pool.query('SELECT program_id, phone FROM patients WHERE id = $1', ['P-WEB-HF9']);
    expect(p.rows[0]).toEqual({ program_id: 'heart_failure', phone: '04 72 00 00 00' });

    const code = nursePage.locator('section[aria-labelledby=code-h]');
    await code.getByLabel('Patient').selectOption('P-WEB-HF9');
    await code.getByLabel('Identifiant de la box').fill('gw-web-0009');
    await code.getByRole('button', { name: 'Émettre un code' }).click();
    await nursePage.locator('.sheet .qr svg').waitFor();
    const printed = (await nursePage.locator('.sheet .code').textContent())!.trim();
    expect((await nursePage.textContent('.sheet'))!).toContain('Lucienne Bernard');
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    // the printed code is the one the box exchanges for its credential, once
    const exchange = await fetch(`${base}/enrollment/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: printed }),
    });
    expect(exchange.status).toBe(200);

    await nursePage.goto(`${base}/web/admin`);
    const bind = nursePage.locator('section[aria-labelledby=bind-h]');
    await bind.getByLabel('Patient').selectOption('P-WEB-HF9');
    await bind.getByLabel('Identifiant de la box').fill('gw-web-0009');
    await bind.getByLabel('Adresse Bluetooth').fill('a4:c1:38:77:00:09');
    await bind.getByRole('button', { name: 'Associer un appareil' }).click();
    await nursePage.getByText('Enregistré.').waitFor();
    const b = await pg.pool.query('SELECT address FROM device_bindings WHERE patient_id = $1', ['P-WEB-HF9']);
    expect(b.rows).toEqual([{ address: 'A4:C1:38:77:00:09' }]);
    // rule overrides belong to the physicians: the nurse sees the rules, not the form
    expect(await nursePage.locator('#r-reason').count()).toBe(0);
    const actions = await pg.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE actor = $1 AND action IN ('patient.enrolled', 'device.bound', 'patient.contact_updated')`,
      [nurse],
    );
    expect(new Set(actions.rows.map((r) => r.action))).toEqual(
      new Set(['patient.enrolled', 'device.bound', 'patient.contact_updated']),
    );
  });

  it('lists the programs, shows a version and lets an admin change a threshold as a new version; axe-clean', async () => {
    // the coordinating nurse reads programs, without the form
    await nursePage.goto(`${base}/web/admin/programs`);
    expect((await nursePage.textContent('main'))!).toContain('Heart failure');
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    await nursePage.getByRole('link', { name: 'Heart failure' }).click();
    await nursePage.getByText('Lecture seule').waitFor();
    expect(await nursePage.locator('#pt-reason').count()).toBe(0);
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');

    const ctx = await frenchContext();
    const admin = await signIn(ctx, 'web-admin');
    await admin.goto(`${base}/web/admin/programs/heart_failure`);
    expect(JSON.stringify(await seriousViolations(admin))).toBe('[]');
    // a threshold out of the metric's range is refused with its code, nothing changes
    await admin.locator('input[name="p.sepsis-red-flags.heartRateAbove"]').fill('900');
    await admin.getByLabel('Motif du changement').fill('test of the range');
    await admin.getByRole('button', { name: 'Enregistrer une nouvelle version' }).click();
    await admin.getByText('THRESHOLD_OUT_OF_RANGE').waitFor();
    expect(JSON.stringify(await seriousViolations(admin))).toBe('[]');
    // a valid one is saved as version 2, audited
    await admin.locator('input[name="p.sepsis-red-flags.heartRateAbove"]').fill('125');
    await admin.getByLabel('Motif du changement').fill('protocol review');
    await admin.getByRole('button', { name: 'Enregistrer une nouvelle version' }).click();
    await admin.getByText('Version 2 enregistrée').waitFor();
    const v = await pg.pool.query<{ p: unknown }>(
      `SELECT definition #> '{rules,sepsis-red-flags,params}' AS p FROM program_versions WHERE program_id = 'heart_failure' AND version = 2`,
    );
    expect(v.rows).toEqual([{ p: { heartRateAbove: 125 } }]);
    const a = await pg.pool.query(`SELECT 1 FROM audit_log WHERE action = 'program.versioned' AND actor = 'web-admin'`);
    expect(a.rowCount).toBe(1);
    await ctx.close();
  });

  it('never shows the episode to a nurse of another team', async () => {
    const ctx = await frenchContext();
    const page = await signIn(ctx, otherNurse);
    const text = (await page.textContent('main'))!;
    expect(text).not.toContain('Jeanne Martin');
    expect(text).not.toContain('Marcel Durand');
    const res = await page.goto(`${base}/web/patients/${HF}`);
    // out of scope reads as not found: the API gives no existence oracle
    expect(res?.status()).toBe(404);
    expect((await page.textContent('body'))!).not.toContain('Jeanne Martin');
    const api = await page.request.get(`${base}/api/patients/${HF}/readings`);
    expect(api.status()).toBe(404);
    expect(JSON.stringify(await seriousViolations(page))).toBe('[]');
    await ctx.close();
  });

  it('shows a GP what the matrix allows and nothing more', async () => {
    const ctx = await frenchContext();
    const page = await signIn(ctx, gp);
    const row = page.locator('tr', { hasText: 'Marcel Durand' });
    await row.first().waitFor();
    // alerts.read yes, alerts.triage no: no action on the row
    expect(await row.first().getByRole('button').count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Administration' }).count()).toBe(0);
    await page.goto(`${base}/web/patients/${HF}`);
    await page.locator('#charts[data-drawn-days="30"]').waitFor();
    // trends (daily means) yes; raw readings, devices no
    expect(Number(await page.locator('#charts').getAttribute('data-drawn-points'))).toBeGreaterThan(0);
    const readings = page.locator('section[aria-labelledby=readings-h]');
    expect(await readings.textContent()).toContain('Non accessible');
    expect(await page.locator('section[aria-labelledby=devices-h]').textContent()).toContain('Non accessible');
    expect((await page.request.get(`${base}/api/patients/${HF}/readings`)).status()).toBe(403);
    // a write through the API with her cookie but no CSRF token is refused
    expect((await page.request.post(`${base}/api/patients/${HF}/notes`, { data: { body: 'x' } })).status()).toBe(403);
    expect(JSON.stringify(await seriousViolations(page))).toBe('[]');
    await ctx.close();
  });

  it('says so when the measurement store cannot answer, instead of drawing an empty period', async () => {
    // the API's side (a real 503 STORE_UNAVAILABLE from an unreachable InfluxDB) is tested in
    // test/integration/trends-route.test.ts; here the browser gets that answer and must tell the user
    const ctx = await frenchContext();
    const page = await signIn(ctx, gp);
    await page.route(
      (url) => url.pathname.endsWith('/trends'),
      (route) =>
        route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ code: 'STORE_UNAVAILABLE', message: 'time series unavailable' }),
        }),
    );
    await page.goto(`${base}/web/patients/${HF}`);
    await page.locator('#charts[data-error="STORE_UNAVAILABLE"]').waitFor({ state: 'attached' });
    expect(await page.locator('#chart-status').textContent()).toContain('Tendances indisponibles');
    expect(await page.locator('#charts').getAttribute('data-drawn-days')).toBeNull();
    await ctx.close();
  });

  it('runs under its own Content-Security-Policy (no inline script or style)', async () => {
    // the other contexts bypass the CSP to inject axe-core; this one keeps it
    const ctx = await browser.newContext({ locale: 'fr-FR', viewport: { width: 1366, height: 768 } });
    const violations: string[] = [];
    ctx.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    const page = await signIn(ctx, gp);
    await page.locator('#rows tr').first().waitFor();
    await page.goto(`${base}/web/patients/${HF}`);
    await page.locator('#charts[data-drawn-days="30"]').waitFor();
    expect(await page.locator('#charts canvas').count()).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    await ctx.close();
  });

  it('speaks English when the browser prefers it', async () => {
    const ctx = await browser.newContext({
      locale: 'en-GB',
      bypassCSP: true,
      extraHTTPHeaders: { 'accept-language': 'en-GB,en;q=0.9' },
    });
    const page = await ctx.newPage();
    await page.goto(`${base}/web/login`);
    expect(await page.getByRole('heading', { level: 2 }).textContent()).toBe('Sign-in for health professionals');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    expect(JSON.stringify(await seriousViolations(page))).toBe('[]');
    await ctx.close();
  });

  it('signing out ends the session, also for a copy of the cookie', async () => {
    const cookie = (await nurseCtx.cookies()).find((c) => c.name === 'vigil_session')!.value;
    await nursePage.goto(`${base}/web/worklist`);
    await nursePage.getByRole('button', { name: 'Se déconnecter' }).click();
    await nursePage.waitForURL(/\/web\/login\?msg=out/);
    expect(JSON.stringify(await seriousViolations(nursePage))).toBe('[]');
    await nursePage.goto(`${base}/web/worklist`);
    expect(nursePage.url()).toContain('/web/login');
    const replay = await fetch(`${base}/api/worklist`, { headers: { cookie: `vigil_session=${cookie}` } });
    expect(replay.status).toBe(401);
    await nurseCtx.close();
  });
});
