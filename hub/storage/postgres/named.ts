import { createHash } from 'node:crypto';

const byText = new Map<string, { name: string; text: string }>();

/**
 * A statement PostgreSQL parses and plans once per connection (a named prepared statement, the
 * extended protocol's Parse sent once) instead of at every execution. For the statements the
 * ingest path runs once per rule evaluation or per group: parsing and planning them again each
 * time was a large share of PostgreSQL's CPU under bench/hub-ingest.ts (bench/README.md).
 * The name derives from the text, so one text has one name wherever it is used and two texts
 * never share one. Only for fixed texts: a text built from values would prepare without bound.
 */
export function named(text: string): { name: string; text: string } {
  let s = byText.get(text);
  if (!s) {
    s = { name: `vigil_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
    byText.set(text, s);
  }
  return s;
}
