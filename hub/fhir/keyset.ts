import type { Queryable } from '../alerts/audit';
import type { Cursor } from './paging';

export interface KeysetQuery<R> {
  select: string;
  where: string[];
  params: unknown[];
  /** SQL expression of the sort key and its type, and of the tie-breaking id (text) */
  key: string;
  keyType: 'timestamptz' | 'text';
  id: string;
  descending: boolean;
  count: number;
  cursor: Cursor | undefined;
  keyOf: (r: R) => string;
  idOf: (r: R) => string;
  /** keep every row sharing the last row's key on the same page (the two halves of a BP panel) */
  wholeKeys?: boolean;
}

/**
 * One keyset page: `count` rows after the cursor (plus the rest of the last row's key when
 * `wholeKeys`), the total number of matches, and the cursor of the next page when more remain.
 */
export async function keysetPage<R>(
  ctx: { pool: Queryable },
  k: KeysetQuery<R>,
): Promise<{ rows: R[]; total: number; next: Cursor | undefined }> {
  const dir = k.descending ? 'DESC' : 'ASC';
  const cmp = k.descending ? '<' : '>';
  const filter = k.where.join(' AND ');
  const total = await ctx.pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM (${k.select} WHERE ${filter}) m`,
    k.params,
  );
  /** rows strictly after a position, in page order */
  const after = (pos: Cursor | undefined, limit: number | null, sameKey = false) => {
    const params = [...k.params];
    const where = [filter];
    if (pos) {
      const key = `$${params.push(pos.k)}::${k.keyType}`;
      const id = `$${params.push(pos.id)}::text`;
      where.push(sameKey ? `${k.key} = ${key} AND ${k.id} ${cmp} ${id}` : `(${k.key}, ${k.id}) ${cmp} (${key}, ${id})`);
    }
    return ctx.pool.query<R & Record<string, unknown>>(
      `${k.select} WHERE ${where.join(' AND ')} ORDER BY ${k.key} ${dir}, ${k.id} ${dir}${limit === null ? '' : ` LIMIT ${limit}`}`,
      params,
    );
  };
  const position = (r: R): Cursor => ({ k: k.keyOf(r), id: k.idOf(r) });
  const { rows } = await after(k.cursor, k.count + 1);
  const served = rows.slice(0, k.count);
  let more = rows.length > k.count;
  const lastServed = served[served.length - 1];
  if (more && k.wholeKeys && lastServed) {
    const rest = await after(position(lastServed), null, true);
    served.push(...rest.rows);
    const groupEnd = rest.rows[rest.rows.length - 1];
    if (groupEnd) more = ((await after(position(groupEnd), 1)).rowCount ?? 0) > 0;
  }
  const last = served[served.length - 1];
  return { rows: served, total: Number(total.rows[0]?.n ?? 0), next: more && last ? position(last) : undefined };
}
