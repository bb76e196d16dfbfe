/**
 * FHIR R4 search paging (http://hl7.org/fhir/R4/http.html#paging): a searchset Bundle carries
 * `self` and, while more matches remain, a `next` link. The cursor is opaque to clients: a keyset
 * position (sort key and id of the last entry served), so pages stay stable while new readings
 * arrive and deep pages cost no OFFSET scan.
 */
import { ApiError } from '../api/errors';

/** Largest page a client may ask for; more is reached by following `next` links. */
export const MAX_PAGE = 1000;

export interface Cursor {
  /** the sort key of the last entry served (ISO time or text) */
  k: string;
  /** the id of the last entry served, the tie-breaker */
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.k, c.id])).toString('base64url');
}

export function decodeCursor(s: string | undefined): Cursor | undefined {
  if (s === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { k: v[0], id: v[1] };
  } catch {
    // fall through to the stable error below
  }
  throw new ApiError('INVALID_REQUEST', 'INVALID_CURSOR: _cursor is not a cursor this server issued');
}

export type FhirResource = Record<string, unknown> & { resourceType: string; id: string };

/** A searchset page: `total` counts every match, `next` is present while more remain. */
export function searchsetPage(
  base: string,
  selfUrl: string,
  resources: FhirResource[],
  total: number,
  next: Cursor | undefined,
): Record<string, unknown> {
  const link = [{ relation: 'self', url: selfUrl }];
  if (next) {
    const u = new URL(selfUrl);
    u.searchParams.set('_cursor', encodeCursor(next));
    link.push({ relation: 'next', url: u.toString() });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total,
    link,
    entry: resources.map((r) => ({
      fullUrl: `${base}/${r.resourceType}/${r.id}`,
      resource: r,
      search: { mode: 'match' },
    })),
  };
}
