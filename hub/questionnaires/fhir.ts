import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** The subset of FHIR R4 Questionnaire the hub uses (https://hl7.org/fhir/R4/questionnaire.html). */
const coding = z.object({ system: z.string().optional(), code: z.string(), display: z.string().optional() });
const extension = z.object({ url: z.string(), valueCode: z.string().optional(), valueInteger: z.number().optional() });
export const questionnaireItemSchema = z.object({
  linkId: z.string().min(1),
  text: z.string().min(1),
  type: z.enum(['choice', 'integer', 'decimal', 'boolean', 'string']),
  required: z.boolean().default(false),
  code: z.array(coding).optional(),
  answerOption: z.array(z.object({ valueCoding: coding })).optional(),
  enableWhen: z
    .array(
      z.object({
        question: z.string(),
        operator: z.enum(['=', '!=']),
        answerCoding: coding.optional(),
        answerBoolean: z.boolean().optional(),
      }),
    )
    .optional(),
  extension: z.array(extension).optional(),
});
export const questionnaireSchema = z.object({
  resourceType: z.literal('Questionnaire'),
  id: z.string().regex(/^[a-z0-9-]+$/),
  url: z.string(),
  version: z.string(),
  name: z.string(),
  title: z.string(),
  status: z.enum(['draft', 'active', 'retired']),
  description: z.string(),
  subjectType: z.array(z.string()).optional(),
  date: z.string().optional(),
  publisher: z.string().optional(),
  useContext: z.array(z.object({ code: coding, valueCodeableConcept: z.object({ text: z.string() }) })),
  extension: z.array(extension).optional(),
  item: z.array(questionnaireItemSchema).min(1),
});
export type Questionnaire = z.infer<typeof questionnaireSchema>;
export type QuestionnaireItem = z.infer<typeof questionnaireItemSchema>;

/** What the patient sends: answers by linkId (the hub builds the QuestionnaireResponse). */
export const answersSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
export type Answers = z.infer<typeof answersSchema>;

export const programOf = (q: Questionnaire): string => q.useContext[0]?.valueCodeableConcept.text ?? '';
export const everyDaysOf = (q: Questionnaire): number | null =>
  q.extension?.find((e) => e.url === 'urn:vigil:every-days')?.valueInteger ?? null;

/** The questionnaires shipped as data (hub/questionnaires/definitions/*.json), validated at load. */
export function loadQuestionnaires(dir = join(import.meta.dirname, 'definitions')): Map<string, Questionnaire> {
  const out = new Map<string, Questionnaire>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const q = questionnaireSchema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
    out.set(q.id, q);
  }
  return out;
}

export class AnswerError extends Error {
  readonly code = 'INVALID_ANSWERS';
}

function enabled(item: QuestionnaireItem, answers: Answers): boolean {
  return (item.enableWhen ?? []).every((w) => {
    const a = answers[w.question];
    const expected = w.answerCoding?.code ?? w.answerBoolean;
    const same = a !== undefined && a !== null && String(a) === String(expected);
    return w.operator === '=' ? same : !same;
  });
}

/** Checks the answers against the items and builds a FHIR R4 QuestionnaireResponse. */
export function buildResponse(
  q: Questionnaire,
  answers: Answers,
  patientId: string,
  authored: Date,
  author: string,
): object {
  const items: object[] = [];
  for (const it of q.item) {
    const a = answers[it.linkId];
    const on = enabled(it, answers);
    if (a === undefined || a === null || a === '') {
      if (it.required && on) throw new AnswerError(`question ${it.linkId} needs an answer`);
      continue;
    }
    if (!on) continue;
    let answer: object;
    if (it.type === 'choice') {
      const opt = it.answerOption?.find((o) => o.valueCoding.code === String(a));
      if (!opt) throw new AnswerError(`answer to ${it.linkId} is not one of the choices`);
      answer = { valueCoding: opt.valueCoding };
    } else if (it.type === 'integer' || it.type === 'decimal') {
      const n = typeof a === 'number' ? a : Number(String(a).replace(',', '.'));
      if (!Number.isFinite(n) || (it.type === 'integer' && !Number.isInteger(n)))
        throw new AnswerError(`answer to ${it.linkId} is not a number`);
      answer = it.type === 'integer' ? { valueInteger: n } : { valueDecimal: n };
    } else if (it.type === 'boolean') {
      if (typeof a !== 'boolean' && a !== 'true' && a !== 'false')
        throw new AnswerError(`answer to ${it.linkId} is yes or no`);
      answer = { valueBoolean: a === true || a === 'true' };
    } else answer = { valueString: String(a).slice(0, 2000) };
    items.push({ linkId: it.linkId, text: it.text, answer: [answer] });
  }
  return {
    resourceType: 'QuestionnaireResponse',
    questionnaire: `${q.url}|${q.version}`,
    status: 'completed',
    subject: { reference: `Patient/${patientId}` },
    authored: authored.toISOString(),
    author: { identifier: { system: 'urn:vigil:portal-subject', value: author } },
    item: items,
  };
}

/** Reads answers back from a QuestionnaireResponse by linkId. */
export function answerValues(response: object): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  const items = (response as { item?: { linkId: string; answer?: Record<string, unknown>[] }[] }).item ?? [];
  for (const it of items) {
    const a = it.answer?.[0];
    if (!a) continue;
    const v = a.valueCoding
      ? (a.valueCoding as { code: string }).code
      : (a.valueInteger ?? a.valueDecimal ?? a.valueBoolean ?? a.valueString);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.set(it.linkId, v);
  }
  return out;
}
