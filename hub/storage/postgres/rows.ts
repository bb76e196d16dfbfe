/**
 * The row a statement always returns (INSERT ... RETURNING, an aggregate without GROUP BY). Its
 * absence is a defect, reported with what was asked rather than as a TypeError further on.
 */
export function firstRow<T>(result: { rows: T[] }, statement: string): T {
  const row = result.rows[0];
  if (row === undefined) throw new Error(`${statement} returned no row`);
  return row;
}
