import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import matter from 'gray-matter';
import { Marked } from 'marked';
import { z } from 'zod';
import { TEAM_ROLES } from '../vocabulary';

/** Who an article is written for: the patient's side, or professionals by role. */
export const AUDIENCES = ['patient', 'caregiver', ...TEAM_ROLES] as const;
export type Audience = (typeof AUDIENCES)[number];

/**
 * Front matter of an education article, with its public sources. Whether it is reviewed is not
 * written here: a review is recorded in PostgreSQL against the article's content hash
 * (hub/content/reviews.ts), so any change to the file makes it a draft again.
 */
export const frontMatterSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string().min(1),
    program: z.enum(['oral_chemotherapy', 'cardiovascular_prevention', 'heart_failure']),
    audience: z.array(z.enum(AUDIENCES)).min(1),
    lang: z.enum(['fr', 'en']),
    kind: z.enum(['questions-answers', 'technical-sheet', 'guide']),
    molecule: z.string().optional(),
    sources: z
      .array(
        z.object({
          title: z.string().min(1),
          url: z.url(),
          publisher: z.string().min(1),
          year: z.number().int(),
        }),
      )
      .min(1),
  })
  .strict();
export type Article = z.infer<typeof frontMatterSchema> & {
  markdown: string;
  html: string;
  /** SHA-256 of the whole file (front matter and text, line endings normalised): the version a review approves */
  contentHash: string;
};

export function contentHash(fileText: string): string {
  return createHash('sha256').update(fileText.replace(/\r\n?/g, '\n'), 'utf8').digest('hex');
}

export class ContentError extends Error {
  readonly code = 'CONTENT_INVALID';
}

// articles are repository data, but raw HTML in them is dropped all the same (no script in a patient page)
const md = new Marked({ renderer: { html: () => '' } });

/** Loads every article under `dir/<program>/*.md`, validating the front matter (errors name the file). */
export function loadLibrary(dir = join(import.meta.dirname, 'articles')): Article[] {
  const out: Article[] = [];
  for (const program of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    for (const f of readdirSync(join(dir, program.name))
      .filter((n) => n.endsWith('.md'))
      .sort()) {
      const text = readFileSync(join(dir, program.name, f), 'utf8');
      const parsed = matter(text);
      const fm = frontMatterSchema.safeParse(parsed.data);
      if (!fm.success)
        throw new ContentError(
          `${program.name}/${f}: ${fm.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      if (fm.data.program !== program.name)
        throw new ContentError(`${program.name}/${f}: program ${fm.data.program} in the wrong folder`);
      out.push({
        ...fm.data,
        markdown: parsed.content,
        html: md.parse(parsed.content, { async: false }),
        contentHash: contentHash(text),
      });
    }
  }
  return out;
}

/** The articles a reader may see: her program, her audience. */
export function articlesFor(library: readonly Article[], program: string, audience: Audience): Article[] {
  return library.filter((a) => a.program === program && a.audience.includes(audience));
}
