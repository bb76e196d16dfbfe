import { request } from 'node:http';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readingId, topicFor } from '../../contract';
import {
  bindDevice,
  createCareTeamWithMembers,
  createGateway,
  createPatient,
  createProfessional,
} from '../../hub/admin/provisioning';
import { contentHash } from '../../hub/content/library';
import { MAX_ATTACHMENT_BYTES } from '../../hub/messaging/store';
import { until } from '../support/wait';
import { Browserless, startPatientHub, type PatientHub } from './support/hub';
import { startSmsDouble } from './support/sms-double';
import { codeIn, startSmtpSink } from './support/smtp-sink';

/**
 * The patient's side against real services: PostgreSQL, InfluxDB, the hub's embedded MQTT broker,
 * a real SMTP server (smtp-server) and a local SMS provider double, through the hub's HTTP API.
 */
const ANNE = 'P-ANNE';
const BRUNO = 'P-BRUNO';
const GW = 'gw-patient-0001';
const CUFF = 'A4:C1:38:00:00:31';
let h: PatientHub;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let sms: Awaited<ReturnType<typeof startSmsDouble>>;
let base = '';
let team: Awaited<ReturnType<typeof createCareTeamWithMembers>>;
let otherTeam: Awaited<ReturnType<typeof createCareTeamWithMembers>>;
let gatewayPassword = '';
// one session for Anne: sign-in codes are limited to 3 per person per 15 minutes
let anneSession: Browserless | undefined;
const anneS = async (): Promise<Browserless> => (anneSession ??= await signIn('anne@example.org'));

const mailTo = (address: string) => smtp.mails.filter((m) => m.to.includes(address));
const api = (token: string, method: string, path: string, body?: object) =>
  fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });

/** Signs in through the space: ask a code, read it from the real SMTP server, send it back. */
async function signIn(address: string): Promise<Browserless> {
  const b = new Browserless(base);
  const before = mailTo(address).length;
  const form = new URLSearchParams({ address }).toString();
  const asked = await fetch(`${base}/patient/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  expect(asked.status).toBe(200);
  const mail = await until('the sign-in e-mail', () => Promise.resolve(mailTo(address)[before]), 10_000, 100);
  const code = codeIn(mail.raw);
  expect(code).toMatch(/^\d{6}$/);
  const res = await b.req('POST', '/patient/api/signin/verify', { address, code });
  expect(res.status).toBe(200);
  return b;
}

const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  smtp = await startSmtpSink();
  cleanups.push(() => smtp.stop());
  sms = await startSmsDouble('sms-secret');
  cleanups.push(() => sms.stop());
  h = await startPatientHub({ smtpUrl: smtp.url, smsUrl: sms.url, smsToken: 'sms-secret' });
  cleanups.push(() => h.stop());
  base = h.hub.httpUrl;
  const pool = h.pg.pool;
  await createPatient(pool, { id: ANNE, programId: 'oral_chemotherapy', displayName: 'Anne Martin' });
  await createPatient(pool, { id: BRUNO, programId: 'oral_chemotherapy', displayName: 'Bruno Petit' });
  team = await createCareTeamWithMembers(pool, {
    id: 'team-onco',
    programId: 'oral_chemotherapy',
    name: 'Onco',
    patientIds: [ANNE],
  });
  // a second team (same program) without Anne: its oncologist is not in Anne's scope
  otherTeam = await createCareTeamWithMembers(pool, {
    id: 'team-other',
    programId: 'oral_chemotherapy',
    name: 'Other',
    patientIds: [BRUNO],
    roles: ['oncologist'],
  });
  const nurse = team.coordinating_nurse.token;
  expect(
    (
      await api(nurse, 'PUT', `/api/patients/${ANNE}/portal-contact`, {
        email: 'anne@example.org',
        phone: '06 12 34 56 78',
      })
    ).status,
  ).toBe(200);
  await pool.query(`INSERT INTO patient_accounts (patient_id, email) VALUES ($1, 'bruno@example.org')`, [BRUNO]);
  gatewayPassword = (await createGateway(pool, { id: GW, patientId: ANNE })).password;
  await bindDevice(pool, { gatewayId: GW, address: CUFF, patientId: ANNE });
  // no quiet hours for Anne in this suite (they are covered by test/patient/unit.test.ts)
  await pool.query(`UPDATE patient_accounts SET quiet_start = 0, quiet_end = 0 WHERE patient_id = $1`, [ANNE]);
}, 120_000);

afterAll(async () => {
  for (const stop of cleanups.reverse()) await stop();
});

describe('patient accounts', () => {
  it('a patient signs in with a one-time code received through a real SMTP server and sees only her own record', async () => {
    const anne = await anneS();
    const me = await anne.req('GET', '/patient/api/me');
    expect(me.status).toBe(200);
    const body = (await me.json()) as { patient: { id: string; displayName: string }; subject: { kind: string } };
    expect(body.patient).toMatchObject({ id: ANNE, displayName: 'Anne Martin' });
    expect(body.subject.kind).toBe('patient');
    // the code is stored hashed, never in clear, and the delivery log has no code in it
    const mail = mailTo('anne@example.org').at(-1)!;
    const code = codeIn(mail.raw)!;
    const { rows } = await h.pg.pool.query<{ code_hash: string; used_at: Date | null }>(
      `SELECT code_hash, used_at FROM signin_codes WHERE patient_id = $1`,
      [ANNE],
    );
    expect(rows.some((r) => r.code_hash.includes(code))).toBe(false);
    expect(rows.every((r) => r.used_at)).toBe(true);
    const log = await h.pg.pool.query(
      `SELECT params::text p FROM notify_deliveries WHERE template_key = 'signin_code'`,
    );
    expect(log.rows.map((r: { p: string }) => r.p).join()).not.toContain(code);
    // Bruno's thread is not reachable from Anne's session
    const bruno = await signIn('bruno@example.org');
    const created = await bruno.req(
      'POST',
      '/patient/messages',
      (() => {
        const f = new FormData();
        f.set('subject', 'Question');
        f.set('body', 'Bonjour, une question sur mes comprimés.');
        return f;
      })(),
    );
    expect(created.status).toBe(303);
    const brunoThread = Number(/messages\/(\d+)/.exec(created.headers.get('location')!)![1]);
    expect((await anne.req('GET', `/patient/api/threads/${brunoThread}`)).status).toBe(404);
    expect(((await (await anne.req('GET', '/patient/api/threads')).json()) as { threads: unknown[] }).threads).toEqual(
      [],
    );
    // no session, no record
    expect((await fetch(`${base}/patient/api/me`)).status).toBe(401);
    // a form posted from another site is refused, even with the session cookie
    const crossSite = await anne.req(
      'POST',
      '/patient/caregivers',
      new URLSearchParams({ displayName: 'X', address: 'x@example.org' }),
      {
        origin: 'https://evil.example',
      },
    );
    expect(crossSite.status).toBe(403);
    expect((await anne.req('POST', '/patient/signout', undefined, { origin: 'not a url' })).status).toBe(403);
  });

  it('a wrong code counts as an attempt; after 5 the code no longer works', async () => {
    const before = mailTo('anne@example.org').length;
    await fetch(`${base}/patient/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'address=anne%40example.org',
    });
    const code = codeIn(
      (await until('mail', () => Promise.resolve(mailTo('anne@example.org')[before]), 10_000, 100)).raw,
    )!;
    const wrong = code === '000000' ? '111111' : '000000';
    const b = new Browserless(base);
    for (let i = 0; i < 5; i++)
      expect(
        (await b.req('POST', '/patient/api/signin/verify', { address: 'anne@example.org', code: wrong })).status,
      ).toBe(401);
    const res = await b.req('POST', '/patient/api/signin/verify', { address: 'anne@example.org', code });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe('CODE_INVALID');
  });

  it('a code by SMS goes through the SMS provider', async () => {
    const before = sms.sent.length;
    await fetch(`${base}/patient/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'address=0612345678',
    });
    const msg = await until('the SMS', () => Promise.resolve(sms.sent[before]), 10_000, 100);
    expect(msg.to).toBe('+33612345678');
    const b = new Browserless(base);
    expect(
      (await b.req('POST', '/patient/api/signin/verify', { address: '06 12 34 56 78', code: codeIn(msg.text) })).status,
    ).toBe(200);
  });

  it('a printed QR code signs in once and only once', async () => {
    const res = await api(team.coordinating_nurse.token, 'POST', `/api/patients/${ANNE}/signin-qr`);
    expect(res.status).toBe(200);
    const qr = (await res.json()) as { url: string; svg: string };
    expect(qr.svg).toContain('<svg');
    const path = new URL(qr.url).pathname;
    const b = new Browserless(base);
    expect((await b.req('POST', path)).status).toBe(303);
    expect((await b.req('GET', '/patient/api/me')).status).toBe(200);
    expect((await new Browserless(base).req('POST', path)).status).toBe(401);
    // a home nurse cannot print one (enrollment.write)
    expect((await api(team.home_nurse.token, 'POST', `/api/patients/${ANNE}/signin-qr`)).status).toBe(403);
  });

  it('a caregiver granted by the patient gets in; once revoked she loses access at once', async () => {
    const anne = await anneS();
    const grant = await anne.req('POST', '/patient/api/caregivers', {
      displayName: 'Claire Martin',
      address: 'claire@example.org',
    });
    expect(grant.status).toBe(200);
    const { id } = (await grant.json()) as { id: string };
    const claire = await signIn('claire@example.org');
    const me = (await (await claire.req('GET', '/patient/api/me')).json()) as {
      patient: { id: string };
      subject: { kind: string };
    };
    expect(me.patient.id).toBe(ANNE);
    expect(me.subject.kind).toBe('caregiver');
    // the caregiver cannot grant or revoke anyone herself
    expect((await claire.req('POST', `/patient/api/caregivers/${id}/revoke`)).status).toBe(403);
    expect((await anne.req('POST', `/patient/api/caregivers/${id}/revoke`)).status).toBe(200);
    expect((await claire.req('GET', '/patient/api/me')).status).toBe(401);
    // and cannot sign in again: the address is no longer known (answer unchanged, no mail sent)
    const before = mailTo('claire@example.org').length;
    const again = await fetch(`${base}/patient/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'address=claire%40example.org',
    });
    expect(again.status).toBe(200);
    await h.hub.notify.runOnce();
    expect(mailTo('claire@example.org').length).toBe(before);
  });

  it('"send me a code" is limited per client address, known and unknown addresses alike', async () => {
    const pool = h.pg.pool;
    await createPatient(pool, { id: 'P-DORA', programId: 'oral_chemotherapy', displayName: 'Dora Blanc' });
    await pool.query(
      `INSERT INTO patient_accounts (patient_id, email) VALUES ($1, 'dora@example.org')
       ON CONFLICT (patient_id) DO UPDATE SET email = EXCLUDED.email`,
      ['P-DORA'],
    );
    // another client: the connection leaves from 127.0.0.2, so the rest of the suite (127.0.0.1) is not blocked
    const ask = (address: string) =>
      new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
        const body = new URLSearchParams({ address }).toString();
        const url = new URL('/patient/signin', base);
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            localAddress: '127.0.0.2',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              resolve({
                status: res.statusCode ?? 0,
                retryAfter: res.headers['retry-after'],
                body: Buffer.concat(chunks).toString('utf8').replaceAll(address, 'ADDRESS'),
              });
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const before = mailTo('dora@example.org').length;
    const answers = [];
    // 10 requests (the limit), known and unknown addresses in turn: the same answer each time
    for (let i = 0; i < 10; i++) answers.push(await ask(i % 2 ? `nobody${String(i)}@example.org` : 'dora@example.org'));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    // Dora got her codes, 3 at most in 15 minutes (the per-person limit is silent: no oracle either)
    await until(
      'Dora’s codes',
      () => Promise.resolve(mailTo('dora@example.org').length >= before + 3 || undefined),
      10_000,
      100,
    );
    // past the limit: 429 RATE_LIMITED with Retry-After, for a known and an unknown address alike
    const known = await ask('dora@example.org');
    const unknown = await ask('nobody@example.org');
    for (const r of [known, unknown]) {
      expect(r.status).toBe(429);
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
    }
    expect(known.body).toBe(unknown.body);
    expect(known.body).toContain('Attendez 15 minutes');
    // each refusal is audited, without the address
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int n FROM audit_log WHERE action = 'portal.code_rate_limited' AND entity = 'portal'`,
    );
    expect(rows[0]?.n).toBeGreaterThanOrEqual(2);
    // no more than the 3 codes of the per-person limit went to Dora
    await h.hub.notify.runOnce();
    expect(mailTo('dora@example.org').length).toBe(before + 3);
    // other clients are not affected
    const other = await fetch(`${base}/patient/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'address=nobody%40example.org',
    });
    expect(other.status).toBe(200);
  });
});

describe('secure messaging', () => {
  it('a thread is readable by the right roles only, and its body is not readable in the database', async () => {
    const secret = 'Mes plaies dans la bouche vont mieux depuis le bain de bouche au bicarbonate.';
    const anne = await anneS();
    const f = new FormData();
    f.set('subject', 'Bain de bouche');
    f.set('body', secret);
    const res = await anne.req('POST', '/patient/messages', f);
    expect(res.status).toBe(303);
    const threadId = Number(/messages\/(\d+)/.exec(res.headers.get('location')!)![1]);

    const asNurse = await api(team.coordinating_nurse.token, 'GET', `/api/threads/${threadId}`);
    expect(asNurse.status).toBe(200);
    const read = (await asNurse.json()) as { messages: { body: string; readBy: { kind: string }[] }[] };
    expect(read.messages[0]!.body).toBe(secret);
    // read receipt: the patient sees the nurse read it
    const mine = (await (await anne.req('GET', `/patient/api/threads/${threadId}`)).json()) as {
      messages: { readBy: { kind: string; id: string }[] }[];
    };
    expect(mine.messages[0]!.readBy).toEqual([
      expect.objectContaining({ kind: 'professional', id: team.coordinating_nurse.professionalId }),
    ]);

    expect((await api(team.oncologist.token, 'GET', `/api/threads/${threadId}`)).status).toBe(200);
    // outside the care team; admin (never reads patients' messages)
    expect((await api(otherTeam.oncologist.token, 'GET', `/api/threads/${threadId}`)).status).toBe(403);
    const admin = await createProfessional(h.pg.pool, { id: 'admin-1', displayName: 'Admin', role: 'admin' });
    expect((await api(admin.token, 'GET', `/api/threads/${threadId}`)).status).toBe(403);
    // the patient narrows what the pharmacist sees: no messages
    const share = new URLSearchParams();
    for (const [role, v] of Object.entries(team))
      for (const s of ['readings', 'messages', 'questionnaires'])
        if (role !== 'pharmacist' || s !== 'messages') share.set(`${v.professionalId}:${s}`, 'on');
    expect((await anne.req('POST', '/patient/sharing', undefined, {})).status).toBe(303); // empty form: revokes all
    expect((await api(team.coordinating_nurse.token, 'GET', `/api/threads/${threadId}`)).status).toBe(403);
    const saved = await anne.req('POST', '/patient/sharing', share);
    expect(saved.status).toBe(303);
    expect((await api(team.coordinating_nurse.token, 'GET', `/api/threads/${threadId}`)).status).toBe(200);
    expect((await api(team.pharmacist.token, 'GET', `/api/threads/${threadId}`)).status).toBe(403);

    // a team-internal thread is never shown to the patient's side
    const internal = await api(team.coordinating_nurse.token, 'POST', `/api/patients/${ANNE}/threads`, {
      kind: 'team',
      subject: 'Tolérance',
      body: 'Point sur la tolérance avant la consultation.',
    });
    expect(internal.status).toBe(200);
    const { threadId: teamThread } = (await internal.json()) as { threadId: number };
    expect((await anne.req('GET', `/patient/api/threads/${teamThread}`)).status).toBe(404);
    expect(
      ((await (await anne.req('GET', '/patient/api/threads')).json()) as { threads: { id: number }[] }).threads.map(
        (t) => t.id,
      ),
    ).not.toContain(teamThread);

    // at rest: neither the body nor the subject appear in the database, in any encoding
    const rows = await h.pg.pool.query<{ body_enc: Buffer; subject_enc: Buffer }>(
      `SELECT m.body_enc, t.subject_enc FROM messages m JOIN message_threads t ON t.id = m.thread_id WHERE t.id = $1`,
      [threadId],
    );
    const stored = Buffer.concat([rows.rows[0]!.body_enc, rows.rows[0]!.subject_enc]);
    expect(stored.includes(Buffer.from('bicarbonate'))).toBe(false);
    expect(stored.toString('latin1')).not.toContain('Bain de bouche');
    // and the patient's GDPR export opens them again
    const exported = await h.hub.patientSide.messages!.exportForPatient(ANNE);
    expect(exported.find((t) => t.subject === 'Bain de bouche')?.messages[0]?.body).toBe(secret);
    expect(exported.some((t) => t.kind === 'team')).toBe(true);
    const dump = await h.pg.pool.query<{ t: string }>(`SELECT string_agg(m::text, ' ') t FROM messages m`);
    expect(dump.rows[0]!.t).not.toContain('bicarbonate');
  });

  it('an attachment over the limit is refused; a PDF within it is kept; a disguised file is refused', async () => {
    const anne = await anneS();
    const big = new FormData();
    big.set('body', 'Voici ma photo');
    big.set(
      'file',
      new Blob([Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(MAX_ATTACHMENT_BYTES + 1024)])], {
        type: 'image/jpeg',
      }),
      'photo.jpg',
    );
    const tooBig = await anne.req('POST', '/patient/messages', big, { accept: 'application/json' });
    expect(tooBig.status).toBe(413);
    const fake = new FormData();
    fake.set('body', 'Un document');
    fake.set('file', new Blob([Buffer.from('#!/bin/sh\necho not a pdf\n')], { type: 'application/pdf' }), 'lettre.pdf');
    expect((await anne.req('POST', '/patient/messages', fake)).status).toBe(415);
    const pdf = new FormData();
    pdf.set('subject', 'Compte rendu');
    pdf.set('body', 'Le compte rendu de la prise de sang.');
    pdf.set(
      'file',
      new Blob([Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n')], { type: 'application/pdf' }),
      'bilan.pdf',
    );
    const ok = await anne.req('POST', '/patient/messages', pdf);
    expect(ok.status).toBe(303);
    const threadId = Number(/messages\/(\d+)/.exec(ok.headers.get('location')!)![1]);
    const t = (await (await api(team.coordinating_nurse.token, 'GET', `/api/threads/${threadId}`)).json()) as {
      messages: { attachments: { id: number; mediaType: string; filename: string }[] }[];
    };
    const att = t.messages[0]!.attachments[0]!;
    expect(att).toMatchObject({ mediaType: 'application/pdf', filename: 'bilan.pdf' });
    const file = await api(team.coordinating_nurse.token, 'GET', `/api/attachments/${att.id}`);
    expect((await file.text()).startsWith('%PDF-1.4')).toBe(true);
  });

  it('a patient message with red-flag words, and a nurse’s urgent message, open an episode on the worklist', async () => {
    const anne = await anneS();
    const f = new FormData();
    f.set('subject', 'Ce matin');
    f.set('body', "J'ai de la fièvre depuis cette nuit et des frissons.");
    const res = await anne.req('POST', '/patient/messages', f);
    expect(res.headers.get('location')).toMatch(/sent=urgent$/);
    const ep = await h.pg.pool.query(
      `SELECT severity, status, summary FROM alert_episodes WHERE patient_id = $1 AND rule_id = 'message-red-flag'`,
      [ANNE],
    );
    expect(ep.rows).toEqual([
      expect.objectContaining({ severity: 'red', status: 'open', summary: expect.stringContaining('fever') as string }),
    ]);
    const worklist = (await (await api(team.coordinating_nurse.token, 'GET', '/api/alerts')).json()) as {
      episodes: { patientId: string; ruleId: string }[];
    };
    expect(worklist.episodes.some((e) => e.patientId === ANNE && e.ruleId === 'message-red-flag')).toBe(true);
    const urgent = await api(team.home_nurse.token, 'POST', `/api/patients/${ANNE}/threads`, {
      kind: 'team',
      subject: 'Passage',
      body: 'Patiente très fatiguée, à rappeler.',
      urgent: true,
    });
    const { episodeId } = (await urgent.json()) as { episodeId: number };
    expect(episodeId).toBeGreaterThan(0);
  });
});

describe('questionnaires', () => {
  it('a severe grade on the weekly questionnaire opens an episode (UKONS red), a mild one does not', async () => {
    const nurse = team.coordinating_nurse.token;
    expect(
      (await api(nurse, 'POST', `/api/patients/${ANNE}/questionnaires`, { questionnaireId: 'oral-chemo-weekly' }))
        .status,
    ).toBe(200);
    const anne = await anneS();
    const me = (await (await anne.req('GET', '/patient/api/me')).json()) as { questionnairesDue: { id: string }[] };
    expect(me.questionnairesDue.map((q) => q.id)).toEqual(['oral-chemo-weekly']);
    const mild = {
      'diarrhoea-frequency': '0',
      'mucositis-severity': '1',
      'mucositis-interference': '0',
      'nausea-frequency': '1',
      'nausea-severity': '1',
      'hand-foot-severity': '1',
      'fatigue-severity': '1',
      'fatigue-interference': '1',
      'fever-max': 36.8,
      'fever-shivers': false,
    };
    const r1 = (await (await anne.req('POST', '/patient/api/questionnaires/oral-chemo-weekly', mild)).json()) as {
      episodeId: number | null;
      outcome: { result: { triage: string } };
    };
    expect(r1.outcome.result.triage).toBe('green');
    expect(r1.episodeId).toBeNull();
    const severe = { ...mild, 'hand-foot-severity': '3' };
    const res = await anne.req('POST', '/patient/api/questionnaires/oral-chemo-weekly', severe);
    expect(res.status).toBe(200);
    const r2 = (await res.json()) as {
      episodeId: number;
      outcome: { result: { triage: string; grades: Record<string, number> } };
    };
    expect(r2.outcome.result.triage).toBe('red');
    expect(r2.outcome.result.grades.hand_foot).toBe(3);
    const ep = await h.pg.pool.query(`SELECT rule_id, severity FROM alert_episodes WHERE id = $1`, [r2.episodeId]);
    expect(ep.rows[0]).toEqual({ rule_id: 'questionnaire-toxicity', severity: 'red' });
    // stored as a FHIR QuestionnaireResponse, readable by the team
    const list = (await (await api(nurse, 'GET', `/api/patients/${ANNE}/questionnaire-responses`)).json()) as {
      responses: { resource: { resourceType: string; questionnaire: string } }[];
    };
    expect(list.responses[0]!.resource).toMatchObject({
      resourceType: 'QuestionnaireResponse',
      questionnaire: 'urn:vigil:questionnaire:oral-chemo-weekly|1',
    });
    // a missing required answer is a clear error
    const bad = await anne.req('POST', '/patient/api/questionnaires/oral-chemo-weekly', { 'diarrhoea-frequency': '0' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('INVALID_ANSWERS');
  });
});

describe('reaching the patient', () => {
  it('the re-measure request reaches the patient space and e-mail within 10 s of the first crisis reading', async () => {
    const measured = new Date(Math.floor(Date.now() / 1000) * 1000);
    const reading = (metric: 'blood_pressure_systolic' | 'blood_pressure_diastolic', value: number, at: Date) => ({
      id: readingId({
        device: { address: CUFF, driver: 'sig-blood-pressure' },
        metric,
        deviceTime: at.toISOString().slice(0, 19),
        value,
      }),
      gatewayId: GW,
      device: { address: CUFF, driver: 'sig-blood-pressure' },
      metric,
      value,
      unit: 'mm[Hg]',
      measuredAt: at.toISOString(),
      flags: [],
    });
    const before = mailTo('anne@example.org').length;
    const c = await mqtt.connectAsync(h.hub.mqttUrl, {
      clientId: GW,
      username: GW,
      password: gatewayPassword,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const t0 = Date.now();
    await c.publishAsync(
      topicFor(GW, 'readings'),
      JSON.stringify({
        v: 1,
        gatewayId: GW,
        batchId: 'crisis-1',
        sentAt: new Date().toISOString(),
        readings: [
          reading('blood_pressure_systolic', 188, measured),
          reading('blood_pressure_diastolic', 121, measured),
        ],
      }),
      { qos: 1 },
    );
    await c.endAsync();
    const anne = await anneS();
    const space = await until(
      'the request in the space',
      async () => {
        const me = (await (await anne.req('GET', '/patient/api/me')).json()) as {
          requests: { text: string }[];
          notices: { template: string }[];
        };
        return me.requests.length && me.notices.some((n) => n.template === 'remeasure_blood_pressure') ? me : undefined;
      },
      10_000,
      100,
    );
    expect(space.requests[0]!.text).toMatch(/Reprenez votre tension dans 2 minutes/);
    const mail = await until(
      'the re-measure e-mail',
      () =>
        Promise.resolve(
          mailTo('anne@example.org')
            .slice(before)
            .find((m) => /reprendre votre tension/i.test(m.raw) || /Subject:.*tension/i.test(m.raw)),
        ),
      10_000,
      100,
    );
    expect(mail.at - t0).toBeLessThan(10_000);
    // the e-mail says what to do, not the value (health data stays behind sign-in)
    expect(mail.raw).not.toContain('188');
    const page = await (await anne.req('GET', '/patient')).text();
    expect(page).toContain('Reprenez votre tension dans 2 minutes');
    expect(page).toContain('Tension 188/121');
  });

  it('a red episode reaches the on-call professional of the team by e-mail', async () => {
    const oncall = team.oncologist;
    // the earlier red-flag episode is resolved by the nurse: the next one is a new red episode
    await h.pg.pool.query(
      `UPDATE alert_episodes SET status = 'resolved', resolved_at = now() WHERE patient_id = $1 AND rule_id = 'message-red-flag'`,
      [ANNE],
    );
    expect(
      (
        await api(team.coordinating_nurse.token, 'PUT', `/api/professionals/${oncall.professionalId}/contact`, {
          email: 'oncall@example.org',
          phone: null,
        })
      ).status,
    ).toBe(403);
    await h.pg.pool.query(
      `INSERT INTO professional_contacts (professional_id, email) VALUES ($1, 'oncall@example.org')`,
      [oncall.professionalId],
    );
    const shift = await api(team.coordinating_nurse.token, 'POST', '/api/care-teams/team-onco/oncall', {
      professionalId: oncall.professionalId,
      startsAt: new Date(Date.now() - 3_600_000).toISOString(),
      endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(shift.status).toBe(200);
    const anne = await anneS();
    const f = new FormData();
    f.set('body', 'Je saigne du nez depuis une heure.');
    await anne.req('POST', '/patient/messages', f);
    const mail = await until(
      'the on-call e-mail',
      () => Promise.resolve(mailTo('oncall@example.org').find((m) => m.raw.includes(ANNE))),
      10_000,
      100,
    );
    expect(mail.raw).toMatch(/alerte rouge/i);
  });

  it('failed SMS sends are retried from the delivery log', async () => {
    sms.failNext(1);
    const { rows } = await h.pg.pool.query<{ id: string }>(
      `INSERT INTO notify_events (kind, patient_id, data) VALUES ('questionnaire_due', $1, '{"title":"Test"}') RETURNING id`,
      [ANNE],
    );
    const eventId = Number(rows[0]!.id);
    const failed = await until(
      'a failed first attempt',
      async () => {
        const r = await h.pg.pool.query<{ status: string; attempts: number; last_error: string | null }>(
          `SELECT status, attempts, last_error FROM notify_deliveries WHERE event_id = $1 AND channel = 'sms'`,
          [eventId],
        );
        // attempts grows when the delivery is claimed; the error is written once the send failed
        return r.rows[0]?.last_error ? r.rows[0] : undefined;
      },
      10_000,
      100,
    );
    expect(failed).toMatchObject({ status: 'pending', attempts: 1 });
    expect(failed.last_error).toMatch(/503/);
    // bring the retry forward instead of waiting 30 s
    await h.pg.pool.query(
      `UPDATE notify_deliveries SET next_attempt_at = now() WHERE event_id = $1 AND status = 'pending'`,
      [eventId],
    );
    await until(
      'the retry sent',
      async () => {
        const r = await h.pg.pool.query<{ status: string }>(
          `SELECT status FROM notify_deliveries WHERE event_id = $1 AND channel = 'sms'`,
          [eventId],
        );
        return r.rows[0]?.status === 'sent' ? true : undefined;
      },
      10_000,
      100,
    );
  });
});

describe('questionnaire schedule, cardiovascular risk, templates', () => {
  it('a due questionnaire sends a notice, a reminder 2 days later at most, and shows on the adherence list', async () => {
    const pool = h.pg.pool;
    await pool.query(
      `UPDATE questionnaire_assignments SET next_due_at = now() - interval '1 hour', reminders_sent = 0, last_reminded_at = NULL WHERE patient_id = $1`,
      [ANNE],
    );
    const qs = h.hub.patientSide.questionnaires;
    expect(await qs.remindDue()).toBe(1);
    // claimed once: a second pass (another hub instance) sends nothing until 2 days have passed
    expect(await qs.remindDue()).toBe(0);
    await until(
      'the notice in the space',
      async () => {
        const r = await pool.query<{ n: number }>(
          `SELECT count(*)::int n FROM notify_deliveries WHERE patient_id = $1 AND template_key = 'questionnaire_due' AND channel = 'space'`,
          [ANNE],
        );
        return (r.rows[0]?.n ?? 0) >= 1 ? true : undefined;
      },
      10_000,
      100,
    );
    const adherence = (await (
      await api(team.coordinating_nurse.token, 'GET', '/api/questionnaires/adherence')
    ).json()) as {
      adherence: {
        patientId: string;
        questionnaireId: string;
        answered30d: number;
        overdueSince: string | null;
        remindersSent: number;
      }[];
    };
    expect(adherence.adherence.find((a) => a.patientId === ANNE)).toMatchObject({
      questionnaireId: 'oral-chemo-weekly',
      answered30d: 2,
      remindersSent: 1,
    });
    expect(adherence.adherence.find((a) => a.patientId === ANNE)?.overdueSince).not.toBeNull();
  });

  it('the cardiovascular risk questionnaire computes SCORE2, and SCORE2-OP from 70, for France (low-risk region)', async () => {
    const pool = h.pg.pool;
    await createPatient(pool, { id: 'P-CARDIO', programId: 'cardiovascular_prevention', displayName: 'Paul Roux' });
    const qs = h.hub.patientSide.questionnaires;
    await qs.assign('P-CARDIO', 'cardio-risk', 'test');
    const r = await qs.submit(
      'P-CARDIO',
      'cardio-risk',
      {
        age: 50,
        sex: 'male',
        smoker: true,
        diabetes: false,
        systolic: 140,
        'total-cholesterol': '6,3',
        'hdl-cholesterol': 1.4,
      },
      { kind: 'patient', id: 'P-CARDIO' },
    );
    expect(r.outcome).toEqual({
      kind: 'score2',
      result: { model: 'SCORE2', riskPercent: 6.3, region: 'low', escCategory: 'high', band: 'moderate' },
    });
    expect(r.episodeId).toBeNull();
    // a one-off questionnaire is done once answered
    expect(await qs.due('P-CARDIO')).toEqual([]);
    const old = await qs.submit(
      'P-CARDIO',
      'cardio-risk',
      {
        age: 74,
        sex: 'female',
        smoker: false,
        diabetes: false,
        systolic: 130,
        'total-cholesterol': 5,
        'hdl-cholesterol': 1.5,
      },
      { kind: 'patient', id: 'P-CARDIO' },
    );
    // SCORE2-OP, 70+ thresholds 7.5 % and 15 % (ESC 2021 Table 4): 7.8 % is "high", the program's "moderate"
    expect(old.outcome).toEqual({
      kind: 'score2',
      result: { model: 'SCORE2-OP', riskPercent: 7.8, region: 'low', escCategory: 'high', band: 'moderate' },
    });
    const older = await qs.submit(
      'P-CARDIO',
      'cardio-risk',
      {
        age: 91,
        sex: 'female',
        smoker: false,
        diabetes: false,
        systolic: 130,
        'total-cholesterol': 5,
        'hdl-cholesterol': 1.5,
      },
      { kind: 'patient', id: 'P-CARDIO' },
    );
    expect(older.outcome).toMatchObject({
      kind: 'score2',
      result: null,
      reason: expect.stringMatching(/70 to 89/) as string,
    });
  });

  it('a nurse edits a template; the next e-mail uses her text', async () => {
    const nurse = team.coordinating_nurse.token;
    const bad = await api(nurse, 'PUT', '/api/notify/templates/new_message/fr', { subject: 'x {{code}}', body: 'y' });
    expect(bad.status).toBe(400);
    const res = await api(nurse, 'PUT', '/api/notify/templates/new_message/fr', {
      subject: 'Un message de Sophie, votre infirmière',
      body: 'Bonjour,\nSophie vous a écrit. Ouvrez votre espace Vigil pour le lire.',
    });
    expect(res.status).toBe(200);
    expect(
      (await api(team.oncologist.token, 'PUT', '/api/notify/templates/new_message/fr', { subject: 'a', body: 'b' }))
        .status,
    ).toBe(403);
    const before = mailTo('anne@example.org').length;
    const t = await api(nurse, 'POST', `/api/patients/${ANNE}/threads`, {
      kind: 'patient',
      subject: 'Rendez-vous',
      body: 'Votre rendez-vous est confirmé.',
    });
    expect(t.status).toBe(200);
    const mail = await until(
      'the new-message e-mail',
      () =>
        Promise.resolve(
          mailTo('anne@example.org')
            .slice(before)
            .find((m) => m.raw.includes('Sophie vous a')),
        ),
      10_000,
      100,
    );
    // the e-mail carries no content of the message
    expect(mail.raw).not.toContain('confirm');
  });
});

describe('education content review', () => {
  const QA = 'chimio-orale-effets-indesirables';
  const SHEET = 'fiche-capecitabine';
  interface Listed {
    id: string;
    status: string;
    label: string | null;
    contentHash: string;
    reviewedBy: string | null;
  }
  const listed = async (token: string) =>
    (await (await api(token, 'GET', '/api/content?program=oral_chemotherapy')).json()) as {
      mayReview: boolean;
      articles: Listed[];
    };
  const documents = async (b: Browserless) => await (await b.req('GET', '/patient/documents')).text();

  it('drafts reach reviewers only, labelled; a physician or the pharmacist reviews a version; patients then see it', async () => {
    const anne = await anneS();
    // nothing is reviewed yet: the patient sees no document, the GP no article, the oncologist every draft
    expect(await documents(anne)).toContain('Pas encore de document pour vous.');
    expect((await anne.req('GET', `/patient/documents/${QA}`)).status).toBe(404);
    expect(await listed(team.general_practitioner.token)).toEqual({ mayReview: false, articles: [] });
    const asOncologist = await listed(team.oncologist.token);
    expect(asOncologist.mayReview).toBe(true);
    expect(asOncologist.articles.map((a) => a.id).sort()).toEqual(
      ['chimio-orale-alimentation-interactions', QA, SHEET].sort(),
    );
    expect(asOncologist.articles.every((a) => a.status === 'draft' && a.label === 'brouillon')).toBe(true);
    const qa = asOncologist.articles.find((a) => a.id === QA)!;

    // who may review: the program's physicians and pharmacist, in one of its care teams
    const review = (token: string, id: string, contentHash: string) =>
      api(token, 'POST', `/api/content/${id}/review`, { contentHash });
    expect((await review(team.home_nurse.token, QA, qa.contentHash)).status).toBe(403);
    expect((await review(team.coordinating_nurse.token, QA, qa.contentHash)).status).toBe(403);
    expect((await review(team.general_practitioner.token, QA, qa.contentHash)).status).toBe(403);
    expect((await review(team.oncologist.token, 'no-such-article', qa.contentHash)).status).toBe(404);
    // a version he did not read (the file changed since) is refused
    const stale = await review(team.oncologist.token, QA, 'f'.repeat(64));
    expect(stale.status).toBe(409);
    expect(((await stale.json()) as { code: string }).code).toBe('CONFLICT');

    const ok = await review(team.oncologist.token, QA, qa.contentHash);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { status: string; reviewedBy: string; reviewDate: string };
    expect(body.status).toBe('reviewed');
    expect(body.reviewDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // recorded in PostgreSQL against the version, and audited
    const { rows } = await h.pg.pool.query<{ reviewed_by: string; reviewer_role: string; content_hash: string }>(
      `SELECT reviewed_by, reviewer_role, content_hash FROM content_reviews WHERE article_id = $1`,
      [QA],
    );
    expect(rows).toEqual([
      { reviewed_by: team.oncologist.professionalId, reviewer_role: 'oncologist', content_hash: qa.contentHash },
    ]);
    const audited = await h.pg.pool.query(
      `SELECT 1 FROM audit_log WHERE action = 'content.reviewed' AND entity_id = $1 AND actor = $2`,
      [QA, team.oncologist.professionalId],
    );
    expect(audited.rowCount).toBe(1);
    // reviewing again changes nothing
    expect((await review(team.oncologist.token, QA, qa.contentHash)).status).toBe(200);
    expect((await h.pg.pool.query(`SELECT 1 FROM content_reviews WHERE article_id = $1`, [QA])).rowCount).toBe(1);

    // the patient now reads it, with who reviewed it; the drafts stay hidden
    const list = await documents(anne);
    expect(list).toContain(`/patient/documents/${QA}`);
    expect(list).not.toContain('chimio-orale-alimentation-interactions');
    const page = await (await anne.req('GET', `/patient/documents/${QA}`)).text();
    expect(page).toContain('Relu par');
    expect(page).not.toContain('brouillon');

    // the pharmacist reviews the technical sheet: the GP gets it, reviewed
    const sheet = (await listed(team.pharmacist.token)).articles.find((a) => a.id === SHEET)!;
    expect((await review(team.pharmacist.token, SHEET, sheet.contentHash)).status).toBe(200);
    const asGp = await listed(team.general_practitioner.token);
    expect(asGp.articles.map((a) => [a.id, a.status])).toEqual([[SHEET, 'reviewed']]);
  });

  it('a change to the article makes it a draft again (content hash)', async () => {
    const anne = await anneS();
    const library = h.hub.patientSide.library;
    const i = library.findIndex((a) => a.id === QA);
    const original = library[i]!;
    expect(await documents(anne)).toContain(`/patient/documents/${QA}`);
    // what the hub holds after the file is edited and the hub restarted: new text, new hash
    const edited = `${original.markdown}\nUne phrase ajoutée.\n`;
    library[i] = { ...original, markdown: edited, contentHash: contentHash(edited) };
    try {
      expect(await documents(anne)).not.toContain(`/patient/documents/${QA}`);
      expect((await anne.req('GET', `/patient/documents/${QA}`)).status).toBe(404);
      const draft = (await listed(team.oncologist.token)).articles.find((a) => a.id === QA)!;
      expect([draft.status, draft.label]).toEqual(['draft', 'brouillon']);
      expect(draft.contentHash).not.toBe(original.contentHash);
    } finally {
      library[i] = original;
    }
    expect(await documents(anne)).toContain(`/patient/documents/${QA}`);
  });
});
