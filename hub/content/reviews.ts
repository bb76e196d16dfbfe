import type pg from 'pg';
import { audit } from '../alerts/audit';
import type { Clock } from '../rules/clock';
import type { Program } from '../vocabulary';
import type { Article } from './library';

/**
 * Who may review a program's education content: the physicians who answer for the program's care,
 * and for the oral chemotherapy program the pharmacist, who answers for what the articles say of
 * the drug, its doses and its interactions (French pharmaceutical analysis of oral anticancer drugs,
 * HAS/INCa). Nurses, coaches and admins write or publish nothing medical on their own signature.
 */
export const REVIEWER_ROLES: Record<Program, readonly string[]> = {
  oral_chemotherapy: ['oncologist', 'pharmacist'],
  cardiovascular_prevention: ['cardiologist', 'general_practitioner'],
  heart_failure: ['cardiologist', 'general_practitioner'],
};

export class ReviewError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'FORBIDDEN' | 'CONFLICT',
    message: string,
  ) {
    super(message);
  }
}

/** The review that covers an article's current version, if any. */
export interface Review {
  reviewedBy: string;
  reviewerName: string;
  reviewerRole: string;
  reviewedAt: Date;
}

export type ReviewedArticle = Article & { review: Review | null };

/**
 * Reviews of education content, kept in PostgreSQL (migration 220): a professional with a reviewer
 * role for the article's program, member of a care team of that program, approves the version he
 * read (its content hash). An article whose file changed since has no matching review: a draft.
 */
export class ContentReviews {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  /** The articles with the review of their current version (the latest one when several signed it). */
  async withReviews(articles: readonly Article[]): Promise<ReviewedArticle[]> {
    if (!articles.length) return [];
    const { rows } = await this.pool.query<{
      article_id: string;
      content_hash: string;
      reviewed_by: string;
      reviewer_role: string;
      reviewed_at: Date;
      display_name: string;
    }>(
      `SELECT DISTINCT ON (r.article_id, r.content_hash) r.article_id, r.content_hash, r.reviewed_by, r.reviewer_role, r.reviewed_at, p.display_name
         FROM content_reviews r JOIN professionals p ON p.id = r.reviewed_by
        WHERE (r.article_id, r.content_hash) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        ORDER BY r.article_id, r.content_hash, r.reviewed_at DESC`,
      [articles.map((a) => a.id), articles.map((a) => a.contentHash)],
    );
    const byArticle = new Map(rows.map((r) => [r.article_id, r]));
    return articles.map((a) => {
      const r = byArticle.get(a.id);
      return {
        ...a,
        review: r
          ? {
              reviewedBy: r.reviewed_by,
              reviewerName: r.display_name,
              reviewerRole: r.reviewer_role,
              reviewedAt: r.reviewed_at,
            }
          : null,
      };
    });
  }

  /** Only the reviewed ones: what a patient or a caregiver may read. */
  async reviewedOnly(articles: readonly Article[]): Promise<ReviewedArticle[]> {
    return (await this.withReviews(articles)).filter((a) => a.review);
  }

  /** The programs whose content this professional may review (role, and a care team of that program). */
  async reviewerPrograms(p: { id: string; role: string }): Promise<Set<string>> {
    const programs = Object.entries(REVIEWER_ROLES)
      .filter(([, roles]) => roles.includes(p.role))
      .map(([program]) => program);
    if (!programs.length) return new Set();
    const { rows } = await this.pool.query<{ program_id: string }>(
      `SELECT DISTINCT t.program_id FROM care_team_members m JOIN care_teams t ON t.id = m.care_team_id
        WHERE m.professional_id = $1 AND t.program_id = ANY($2::text[])`,
      [p.id, programs],
    );
    return new Set(rows.map((r) => r.program_id));
  }

  /**
   * Records that `p` reviewed the version `contentHash` of the article. CONFLICT when the article
   * changed since he read it (he must read the new version); repeating a review changes nothing.
   */
  async review(
    library: readonly Article[],
    p: { id: string; role: string },
    articleId: string,
    contentHash: string,
  ): Promise<Review> {
    const a = library.find((x) => x.id === articleId);
    if (!a) throw new ReviewError('NOT_FOUND', 'no such article');
    if (!(await this.reviewerPrograms(p)).has(a.program))
      throw new ReviewError(
        'FORBIDDEN',
        `role ${p.role} does not review the content of ${a.program} (or not in its care teams)`,
      );
    if (contentHash !== a.contentHash)
      throw new ReviewError('CONFLICT', 'CONTENT_CHANGED: the article changed since this version; read it again');
    const now = this.clock.now();
    const { rowCount } = await this.pool.query(
      `INSERT INTO content_reviews (article_id, content_hash, reviewed_by, reviewer_role, reviewed_at)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (article_id, content_hash, reviewed_by) DO NOTHING`,
      [a.id, a.contentHash, p.id, p.role, now],
    );
    if (rowCount)
      await audit(this.pool, {
        actor: p.id,
        action: 'content.reviewed',
        entity: 'article',
        entityId: a.id,
        detail: { contentHash: a.contentHash, role: p.role },
        at: now,
      });
    const [reviewed] = await this.withReviews([a]);
    if (!reviewed?.review) throw new Error('review not found after insert');
    return reviewed.review;
  }
}
