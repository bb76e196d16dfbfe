/**
 * Red-flag words in a patient's message (French, with the usual spellings and without accents).
 * They follow the UKONS 24-hour triage tool's "assess now" presentations for patients on
 * systemic anticancer therapy (fever or feeling cold and shivery, bleeding, chest pain, breathing
 * difficulty, confusion) and the UK Sepsis Trust red flags. A match opens an episode on the
 * worklist; the message is also answered by the space with what to do now.
 */
const FLAGS: readonly { flag: string; pattern: RegExp }[] = [
  { flag: 'fever', pattern: /\b(fievre|fiebvre|temperature (a|de) 3[89]|3[89][,.]\d ?(°|degres?)|frissons?|grelotte)/ },
  { flag: 'bleeding', pattern: /\b(saign\w*|hemorrag\w*|du sang|sang dans|crache du sang|vomi du sang)/ },
  {
    flag: 'chest_pain',
    pattern:
      /\b(douleurs? (a|dans) la poitrine|douleurs? thoraciques?|mal (a|dans) la poitrine|serrement dans la poitrine)/,
  },
  { flag: 'breathing', pattern: /\b(essouffl\w*|(du )?mal a respirer|respire mal|etouff\w*|suffoqu\w*)/ },
  { flag: 'collapse', pattern: /\b(malaise|evanoui\w*|perte de connaissance|perdu connaissance|confus\w*)/ },
];

export function normaliseText(s: string): string {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[’']/g, ' ');
}

/** Red flags found in the text (empty when none). */
export function redFlags(text: string): string[] {
  const t = normaliseText(text);
  return FLAGS.filter((f) => f.pattern.test(t)).map((f) => f.flag);
}
