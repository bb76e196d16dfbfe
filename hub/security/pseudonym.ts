/**
 * Patient ids are pseudonyms (GDPR art. 4(5)): they travel in topics, InfluxDB tags, URLs and
 * logs, so an id that carries a structured direct identifier is refused, not merely discouraged:
 * a French social security number (NIR: 13 digits and a 2-digit key, INSEE), an e-mail address,
 * a phone number (French or E.164), a date (date of birth). A name spelled in the id cannot be
 * told from a code word reliably; docs/privacy.md asks for random ids (the CLI and API examples
 * use them).
 */
const NIR = /[12][0-9]{2}(0[1-9]|1[0-2]|[2-9][0-9])(2[AB]|[0-9]{2})[0-9]{6}/i;
const PHONE = /(\+|00)[1-9][0-9]{7,14}|0[1-9]([-_.]?[0-9]{2}){4}/;
const DATE =
  /(19|20)[0-9]{2}[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12][0-9]|3[01])|(0[1-9]|[12][0-9]|3[01])[-_.]?(0[1-9]|1[0-2])[-_.]?(19|20)[0-9]{2}/;

/** Why this id is not a pseudonym; undefined when it is acceptable. */
export function pseudonymProblem(id: string): string | undefined {
  if (id.includes('@')) return 'looks like an e-mail address';
  if (NIR.test(id.replace(/[-_. ]/g, ''))) return 'contains a social security number (NIR)';
  if (PHONE.test(id)) return 'contains a phone number';
  if (DATE.test(id)) return 'contains a date (date of birth?)';
  return undefined;
}
