import { describe, expect, it } from 'vitest';
import { articlesFor, contentHash, loadLibrary } from '../../hub/content/library';
import { EnvKeyring, newKeySpec } from '../../hub/messaging/kms';
import { redFlags } from '../../hub/messaging/red-flags';
import { inQuietHours, notBefore } from '../../hub/notify/quiet-hours';
import { DEFAULT_TEMPLATES, render } from '../../hub/notify/templates';
import { normalisePhone } from '../../hub/patient/accounts';
import { esc, html } from '../../hub/patient/html';
import { answerValues, buildResponse, loadQuestionnaires } from '../../hub/questionnaires/fhir';
import { triageToxicity } from '../../hub/questionnaires/toxicity-triage';

describe('message keyring (AES-256-GCM)', () => {
  const k = new EnvKeyring(newKeySpec('k1'));
  it('opens what it sealed, with the same row binding only', () => {
    const sealed = k.seal(Buffer.from('bonjour'), 'vigil:message:1');
    expect(k.open(sealed, 'k1', 'vigil:message:1').toString()).toBe('bonjour');
    expect(() => k.open(sealed, 'k1', 'vigil:message:2')).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TAMPERED' }) as Error,
    );
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => k.open(flipped, 'k1', 'vigil:message:1')).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TAMPERED' }) as Error,
    );
    // two seals of the same text differ (random IV)
    expect(k.seal(Buffer.from('x'), 'a').equals(k.seal(Buffer.from('x'), 'a'))).toBe(false);
  });
  it('rotation: a new first key seals, older keys still open', () => {
    const oldSpec = newKeySpec('old');
    const sealed = new EnvKeyring(oldSpec).seal(Buffer.from('ancien'), 'a');
    const rotated = new EnvKeyring(`${newKeySpec('new')},${oldSpec}`);
    expect(rotated.currentKeyId).toBe('new');
    expect(rotated.open(sealed, 'old', 'a').toString()).toBe('ancien');
    expect(() => rotated.open(sealed, 'gone', 'a')).toThrow(
      expect.objectContaining({ code: 'MESSAGE_KEY_UNKNOWN' }) as Error,
    );
  });
  it('refuses keys that are not 32 bytes', () => {
    expect(() => new EnvKeyring('k1:' + Buffer.alloc(16).toString('base64'))).toThrow(
      expect.objectContaining({ code: 'MESSAGE_KEY_INVALID' }) as Error,
    );
    expect(() => new EnvKeyring('')).toThrow(expect.objectContaining({ code: 'MESSAGE_KEY_INVALID' }) as Error);
  });
});

describe('red-flag words (French)', () => {
  it.each([
    ["J'ai de la fièvre depuis hier", ['fever']],
    ['38,9° ce matin et des frissons', ['fever']],
    ['je saigne des gencives', ['bleeding']],
    ["j'ai mal à la poitrine quand je monte", ['chest_pain']],
    ['Je suis très essoufflée', ['breathing']],
    ["j'ai fait un malaise", ['collapse']],
    ['tout va bien, merci pour le rendez-vous', []],
    ['ma température est normale', []],
  ])('%s', (text, flags) => {
    expect(redFlags(text)).toEqual(flags);
  });
});

describe('weekly questionnaire triage (PRO-CTCAE items, UKONS colours)', () => {
  const q = loadQuestionnaires().get('oral-chemo-weekly')!;
  const base = {
    'diarrhoea-frequency': '0',
    'mucositis-severity': '0',
    'mucositis-interference': '0',
    'nausea-frequency': '0',
    'nausea-severity': '0',
    'hand-foot-severity': '0',
    'fatigue-severity': '0',
    'fatigue-interference': '0',
    'fever-shivers': false,
  };
  const triage = (a: Record<string, string | number | boolean>) =>
    triageToxicity(q, answerValues(buildResponse(q, { ...base, ...a }, 'P', new Date(0), 'patient:P')));
  it('nothing: green', () => expect(triage({}).triage).toBe('green'));
  it('one moderate symptom: amber; two: red (two ambers make red)', () => {
    expect(triage({ 'fatigue-severity': '2' }).triage).toBe('amber');
    expect(triage({ 'fatigue-severity': '2', 'nausea-severity': '2' }).triage).toBe('red');
  });
  it('a severe grade is red', () =>
    expect(triage({ 'mucositis-interference': '4' })).toMatchObject({ triage: 'red', grades: { mucositis: 3 } }));
  it('diarrhoea uses the stool count when given (CTCAE: 4-6 above baseline is grade 2, red in UKONS)', () => {
    expect(triage({ 'diarrhoea-frequency': '3', 'diarrhoea-stools': 2 })).toMatchObject({
      triage: 'amber',
      grades: { diarrhoea: 1 },
    });
    expect(triage({ 'diarrhoea-frequency': '1', 'diarrhoea-stools': 5 })).toMatchObject({
      triage: 'red',
      grades: { diarrhoea: 2 },
    });
  });
  it('temperature >= 37.5 C or < 36 C, or shivers, is red', () => {
    expect(triage({ 'fever-max': 37.4 }).triage).toBe('green');
    expect(triage({ 'fever-max': 37.5 }).triage).toBe('red');
    expect(triage({ 'fever-max': 35.8 }).triage).toBe('red');
    expect(triage({ 'fever-shivers': true }).triage).toBe('red');
  });
  it('answers are checked against the Questionnaire', () => {
    expect(() => buildResponse(q, { ...base, 'nausea-severity': '7' }, 'P', new Date(0), 'x')).toThrow(
      /not one of the choices/,
    );
    expect(() => buildResponse(q, { 'nausea-severity': '1' }, 'P', new Date(0), 'x')).toThrow(/needs an answer/);
  });
});

describe('quiet hours (Europe/Paris)', () => {
  it('21:00-08:00 holds a message until 08:00 Paris time, winter and summer', () => {
    const winterNight = new Date('2026-12-01T22:30:00Z'); // 23:30 in Paris (UTC+1)
    expect(inQuietHours(winterNight, 21, 8)).toBe(true);
    expect(notBefore(winterNight, 21, 8).toISOString()).toBe('2026-12-02T07:00:00.000Z');
    const summerNight = new Date('2026-07-01T03:00:00Z'); // 05:00 in Paris (UTC+2)
    expect(notBefore(summerNight, 21, 8).toISOString()).toBe('2026-07-01T06:00:00.000Z');
    const day = new Date('2026-12-01T10:00:00Z');
    expect(notBefore(day, 21, 8)).toBe(day);
    expect(inQuietHours(winterNight, 0, 0)).toBe(false);
  });
});

describe('templates and pages', () => {
  it('every template exists in French and English and fills its placeholders', () => {
    for (const [key, t] of Object.entries(DEFAULT_TEMPLATES)) {
      expect(Object.keys(t).sort(), key).toEqual(['en', 'fr']);
      expect(
        render(t.fr, { code: '123456', minutes: 10, title: 'T', patientId: 'P', episodeId: 1, summary: 's' }).body,
      ).not.toMatch(/\{\{/);
    }
  });
  it('html escapes what it interpolates', () => {
    expect(html`<p>${'<script>alert(1)</script>'}</p>`.value).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(esc(`"'&`)).toBe('&quot;&#39;&amp;');
  });
  it('French mobile numbers are normalised to E.164', () => {
    expect(normalisePhone('06 12 34 56 78')).toBe('+33612345678');
    expect(normalisePhone('+33 6 12 34 56 78')).toBe('+33612345678');
  });
});

describe('education content', () => {
  it('the content hash is the version: any change to the file changes it', () => {
    const text = '---\nid: x\n---\nBonjour.\n';
    expect(contentHash(text)).toBe(contentHash(text.replaceAll('\n', '\r\n')));
    expect(contentHash(text)).not.toBe(contentHash(text.replace('Bonjour.', 'Bonjour !')));
  });
  const lib = loadLibrary();
  it('every article has public sources (a document, not a site home page) and a content hash', () => {
    expect(lib.length).toBeGreaterThanOrEqual(4);
    for (const a of lib) {
      expect(a.contentHash, a.id).toMatch(/^[0-9a-f]{64}$/);
      expect(a.sources.length, a.id).toBeGreaterThan(0);
      for (const s of a.sources) expect(new URL(s.url).pathname, `${a.id}: ${s.url}`).not.toMatch(/^\/?$/);
      expect(a.html, a.id).not.toMatch(/<script/i);
    }
  });
  it('is shown by role: the technical sheet to the GP and pharmacist, not to the patient', () => {
    const ids = (aud: Parameters<typeof articlesFor>[2]) => articlesFor(lib, 'oral_chemotherapy', aud).map((a) => a.id);
    expect(ids('general_practitioner')).toContain('fiche-capecitabine');
    expect(ids('pharmacist')).toContain('fiche-capecitabine');
    expect(ids('patient')).not.toContain('fiche-capecitabine');
    expect(ids('patient')).toContain('chimio-orale-effets-indesirables');
    expect(ids('general_practitioner')).not.toContain('chimio-orale-effets-indesirables');
  });
});
