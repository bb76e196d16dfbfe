import type { Questionnaire } from './fhir';

/**
 * Weekly oral-chemotherapy questionnaire -> grade per symptom -> UKONS triage colour.
 *
 * Items are modelled on PRO-CTCAE (US National Cancer Institute; 5-point frequency, severity and
 * interference scales, French version published). Grading: each symptom takes its worst attribute
 * (0 none, 1 mild, 2 moderate, 3-4 severe -> grade 3), a deliberately conservative reading that
 * errs towards calling; diarrhoea uses the stool count above baseline when given (CTCAE v5:
 * < 4 grade 1, 4-6 grade 2, >= 7 grade 3).
 * Triage follows the UKONS 24-hour triage tool (UK Oncology Nursing Society, toolkit version 3, launched January 2025): grade 3-4
 * is red for every symptom; grade 2 is red for diarrhoea and amber for the others; grade 1 is
 * amber for diarrhoea and green for the others; a temperature >= 37.5 C or < 36 C, or shivers,
 * is red; two or more ambers make red.
 */
export type Colour = 'green' | 'amber' | 'red';
export type Symptom = 'diarrhoea' | 'mucositis' | 'nausea' | 'hand_foot' | 'fatigue' | 'fever';

export interface ToxicityOutcome {
  grades: Partial<Record<Symptom, number>>;
  colours: Partial<Record<Symptom, Colour>>;
  triage: Colour;
  /** plain-French reasons, for the nurse's worklist summary */
  reasons: string[];
}

const LABEL: Record<Symptom, string> = {
  diarrhoea: 'diarrhée',
  mucositis: 'mucite',
  nausea: 'nausées',
  hand_foot: 'syndrome main-pied',
  fatigue: 'fatigue',
  fever: 'fièvre',
};

const gradeOfScale = (v: number): number => (v >= 3 ? 3 : v);

function colourOf(symptom: Symptom, grade: number): Colour {
  if (grade >= 3) return 'red';
  if (symptom === 'diarrhoea') return grade === 2 ? 'red' : grade === 1 ? 'amber' : 'green';
  return grade === 2 ? 'amber' : 'green';
}

export function triageToxicity(q: Questionnaire, answers: Map<string, string | number | boolean>): ToxicityOutcome {
  const grades: Partial<Record<Symptom, number>> = {};
  const bump = (s: Symptom, g: number) => {
    grades[s] = Math.max(grades[s] ?? 0, g);
  };
  const ext = (it: Questionnaire['item'][number], url: string) => it.extension?.find((e) => e.url === url)?.valueCode;
  // the stool count, when given, is the UKONS measure of diarrhoea: it replaces the frequency item
  const stoolsGiven = q.item.some(
    (it) =>
      ext(it, 'urn:vigil:ukons-measure') === 'stools-above-baseline' && typeof answers.get(it.linkId) === 'number',
  );
  for (const it of q.item) {
    const symptom = ext(it, 'urn:vigil:symptom') as Symptom | undefined;
    const measure = ext(it, 'urn:vigil:ukons-measure');
    const a = answers.get(it.linkId);
    if (!symptom || a === undefined) continue;
    if (measure === 'stools-above-baseline' && typeof a === 'number') {
      grades.diarrhoea = a >= 7 ? 3 : a >= 4 ? 2 : a >= 1 ? 1 : 0;
    } else if (measure === 'temperature-max' && typeof a === 'number') {
      bump('fever', a >= 37.5 || a < 36 ? 3 : 0);
    } else if (measure === 'shivers') {
      bump('fever', a === true ? 3 : 0);
    } else if (it.type === 'choice') {
      if (symptom === 'diarrhoea' && stoolsGiven) continue;
      bump(symptom, gradeOfScale(Number(a)));
    }
  }
  const colours: Partial<Record<Symptom, Colour>> = {};
  const reasons: string[] = [];
  for (const [s, g] of Object.entries(grades) as [Symptom, number][]) {
    const c = s === 'fever' ? (g >= 3 ? 'red' : 'green') : colourOf(s, g);
    colours[s] = c;
    if (c !== 'green') reasons.push(s === 'fever' ? 'fièvre ou frissons' : `${LABEL[s]} grade ${g}`);
  }
  const all = Object.values(colours);
  const ambers = all.filter((c) => c === 'amber').length;
  const triage: Colour = all.includes('red') || ambers >= 2 ? 'red' : ambers === 1 ? 'amber' : 'green';
  return { grades, colours, triage, reasons };
}
