/** The single row a statement must return (INSERT ... RETURNING, a row checked to exist). */
export function one<T>(rows: readonly T[]): T {
  const r = rows[0];
  if (r === undefined) throw new Error('expected one row, got none');
  return r;
}
