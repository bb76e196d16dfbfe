import { readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createPatient } from '../../hub/admin/provisioning';
import { until } from '../support/wait';
import { startPatientHub, type PatientHub } from './support/hub';
import { codeIn, startSmtpSink } from './support/smtp-sink';

/**
 * The patient space in headless Chromium on a phone viewport (360x740), with axe-core: no serious
 * or critical violation on any page, body text >= 18 px, no sideways scrolling. Screenshots go to
 * docs/patient/ (shown in docs/patient.md).
 */
const P = 'P-SPACE';
const SHOTS = 'docs/patient';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let h: PatientHub;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let browser: Browser;
let page: Page;
let threadId = 0;

async function check(name: string): Promise<void> {
  await page.addScriptTag({ content: axeSource });
  // (evaluated in the page: written as strings, the test program has no DOM types)
  const violations = await page.evaluate<{ id: string; impact: string; nodes: number }[]>(`
    axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))`);
  expect(
    violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
    name,
  ).toEqual([]);
  const layout = await page.evaluate<{ bodyPx: number; smallest: number; scrollWidth: number }>(`({
    bodyPx: parseFloat(getComputedStyle(document.body).fontSize),
    smallest: Math.min(...[...document.querySelectorAll('p, li, a, button, label, input, textarea, legend')].map((e) => parseFloat(getComputedStyle(e).fontSize))),
    scrollWidth: document.documentElement.scrollWidth,
  })`);
  expect(layout.bodyPx, name).toBeGreaterThanOrEqual(18);
  expect(layout.smallest, name).toBeGreaterThanOrEqual(18);
  expect(layout.scrollWidth, name).toBeLessThanOrEqual(360);
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  smtp = await startSmtpSink();
  cleanups.push(() => smtp.stop());
  h = await startPatientHub({ smtpUrl: smtp.url });
  cleanups.push(() => h.stop());
  const pool = h.pg.pool;
  await createPatient(pool, { id: P, programId: 'oral_chemotherapy', displayName: 'Madeleine Durand' });
  const team = await createCareTeamWithMembers(pool, {
    id: 'team-space',
    programId: 'oral_chemotherapy',
    name: 'Oncologie',
    patientIds: [P],
    roles: ['coordinating_nurse', 'oncologist', 'general_practitioner'],
  });
  await pool.query(`UPDATE professionals SET display_name = 'Sophie Bernard, infirmière coordinatrice' WHERE id = $1`, [
    team.coordinating_nurse.professionalId,
  ]);
  // the oncologist reviews the side-effects article: patients see reviewed articles only
  await pool.query(`UPDATE professionals SET display_name = 'Dr Paul Leroy' WHERE id = $1`, [
    team.oncologist.professionalId,
  ]);
  const qa = h.hub.patientSide.library.find((a) => a.id === 'chimio-orale-effets-indesirables');
  const reviewed = await fetch(`${h.hub.httpUrl}/api/content/chimio-orale-effets-indesirables/review`, {
    method: 'POST',
    headers: { authorization: `Bearer ${team.oncologist.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ contentHash: qa?.contentHash }),
  });
  expect(reviewed.status).toBe(200);
  await pool.query(
    `INSERT INTO patient_accounts (patient_id, email, quiet_start, quiet_end) VALUES ($1, 'madeleine@example.org', 0, 0)`,
    [P],
  );
  // a week of readings, the last one high, and the hub's re-measure request
  const now = Date.now();
  const rows: [string, number, Date][] = [];
  for (let d = 6; d >= 1; d--) {
    const at = new Date(now - d * 86_400_000);
    rows.push(
      ['blood_pressure_systolic', 124 + d, at],
      ['blood_pressure_diastolic', 76 + (d % 3), at],
      ['heart_rate', 70 + d, at],
      ['body_temperature', 36.6, at],
    );
  }
  const last = new Date(now - 60_000);
  rows.push(
    ['blood_pressure_systolic', 128, last],
    ['blood_pressure_diastolic', 79, last],
    ['body_weight', 64.2, last],
  );
  let i = 0;
  for (const [metric, value, at] of rows)
    await pool.query(
      `INSERT INTO reading_ledger (reading_id, patient_id, gateway_id, device_address, driver, metric, value, unit, measured_at) VALUES ($1, $2, 'gw', 'dev', 'sim', $3, $4, 'x', $5)`,
      [`r${String(i++).padStart(31, '0')}`, P, metric, value, at],
    );
  await pool.query(
    `INSERT INTO remeasure_requests (patient_id, rule_id, reading_ids, value, requested_at, expires_at, status) VALUES ($1, 'bp-hypertensive-crisis', '{}', '{}', now(), now() + interval '30 minutes', 'pending')`,
    [P],
  );
  const t = await fetch(`${h.hub.httpUrl}/api/patients/${P}/threads`, {
    method: 'POST',
    headers: { authorization: `Bearer ${team.coordinating_nurse.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      kind: 'patient',
      subject: 'Votre prochaine prise de sang',
      body: 'Bonjour Madame Durand,\nVotre prise de sang est prévue jeudi matin au laboratoire. Pensez à apporter votre ordonnance.\nSophie',
    }),
  });
  threadId = ((await t.json()) as { threadId: number }).threadId;
  await h.hub.patientSide.questionnaires.assign(P, 'oral-chemo-weekly', 'test');
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    isMobile: true,
    hasTouch: true,
    locale: 'fr-FR',
    timezoneId: 'Europe/Paris',
    bypassCSP: true,
  });
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  for (const stop of cleanups.reverse()) await stop();
});

describe('patient space on a 360x740 phone', () => {
  it('signs in with the e-mailed code', async () => {
    await page.goto(`${h.hub.httpUrl}/patient`);
    expect(await page.locator('html').getAttribute('lang')).toBe('fr');
    await check('01-sign-in');
    await page.getByLabel('Votre adresse e-mail ou votre numéro de portable').fill('madeleine@example.org');
    await page.getByRole('button', { name: 'Recevoir mon code' }).click();
    await page.getByLabel('Code reçu').waitFor();
    await check('02-code');
    const mail = await until(
      'the code',
      () => Promise.resolve(smtp.mails.find((m) => m.to.includes('madeleine@example.org') && codeIn(m.raw))),
      10_000,
      100,
    );
    await page.getByLabel('Code reçu').fill(codeIn(mail.raw)!);
    await page.getByRole('button', { name: 'Entrer' }).click();
    await page.getByRole('heading', { name: 'Bonjour' }).waitFor();
  });

  it('home: the request first, readings in plain words, one button per section', async () => {
    await expect.poll(() => page.getByText('Reprenez votre tension dans 2 minutes').count()).toBe(1);
    expect(await page.getByText('Tension 128/79, dans vos valeurs habituelles').count()).toBe(1);
    expect(await page.getByRole('link', { name: /Mes messages \(1 nouveau\)/ }).count()).toBe(1);
    expect(await page.getByRole('link', { name: /Mes questionnaires \(1 à remplir\)/ }).count()).toBe(1);
    await check('03-home');
  });

  it('messages: reads the nurse’s message and answers', async () => {
    await page.getByRole('link', { name: /Mes messages/ }).click();
    await check('04-messages');
    await page.getByRole('link', { name: 'Votre prochaine prise de sang' }).click();
    await page.getByText('Votre prise de sang est prévue jeudi matin').waitFor();
    await page.getByLabel('Votre réponse').fill('Merci, je serai là jeudi.');
    await page.getByRole('button', { name: 'Envoyer' }).click();
    await page.getByText('Votre message est envoyé.').waitFor();
    await check('05-thread');
    const { rows } = await h.pg.pool.query<{ n: number }>(`SELECT count(*)::int n FROM messages WHERE thread_id = $1`, [
      threadId,
    ]);
    expect(rows[0]?.n).toBe(2);
  });

  it('weekly questionnaire: a severe answer tells what to do and who will call', async () => {
    await page.goto(`${h.hub.httpUrl}/patient/questionnaires/oral-chemo-weekly`);
    await check('06-questionnaire');
    const pick = async (question: string, answer: string) =>
      page.getByRole('group', { name: question }).getByLabel(answer, { exact: true }).check();
    await pick('Ces 7 derniers jours, avez-vous eu des selles liquides (diarrhée) ?', 'Jamais');
    await pick(
      "Ces 7 derniers jours, avez-vous eu des plaies ou des aphtes dans la bouche ou la gorge ? Au pire, c'était :",
      'Pas du tout',
    );
    await pick('Ces plaies vous ont-elles empêché de manger ou de boire ?', 'Pas du tout');
    await pick('Ces 7 derniers jours, avez-vous eu mal au cœur (nausées) ?', 'Rarement');
    await pick('Au pire, ces nausées étaient :', 'Un peu (léger)');
    await pick(
      "Ces 7 derniers jours, la peau des mains ou des pieds était-elle rouge, douloureuse, gonflée ou fendillée ? Au pire, c'était :",
      'Beaucoup (sévère)',
    );
    await pick('Ces 7 derniers jours, au pire, votre fatigue était :', 'Un peu (léger)');
    await pick('Cette fatigue vous a-t-elle empêché de faire vos activités habituelles ?', 'Un peu');
    await pick('Avez-vous eu des frissons ou vous êtes-vous senti(e) fiévreux(se) ?', 'Non');
    await page.getByRole('button', { name: 'Envoyer mes réponses' }).click();
    await page.getByText('L’infirmière de votre équipe est prévenue').waitFor();
    await check('07-questionnaire-result');
    await page.goto(`${h.hub.httpUrl}/patient/questionnaires`);
    await page.getByRole('heading', { name: 'Mes réponses' }).waitFor();
    expect(await page.getByText('l’équipe vous a appelé(e) ou va le faire').count()).toBe(1);
    await check('07b-my-answers');
    const { rows } = await h.pg.pool.query(
      `SELECT severity FROM alert_episodes WHERE patient_id = $1 AND rule_id = 'questionnaire-toxicity'`,
      [P],
    );
    expect(rows).toEqual([{ severity: 'red' }]);
  });

  it('documents, caregivers and sharing pages', async () => {
    await page.goto(`${h.hub.httpUrl}/patient/documents`);
    await check('08-documents');
    // the GP's technical sheet is not for the patient
    expect(await page.getByText('fiche technique').count()).toBe(0);
    await page.getByRole('link', { name: /effets indésirables/ }).click();
    await page.getByText("J'ai de la fièvre. Que faire ?").waitFor();
    await check('09-document');
    await page.goto(`${h.hub.httpUrl}/patient/caregivers`);
    await check('10-caregivers');
    await page.goto(`${h.hub.httpUrl}/patient/sharing`);
    await check('11-sharing');
  });
});
