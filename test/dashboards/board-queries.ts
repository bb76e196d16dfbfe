import type pg from 'pg';
import { buildBoard, type BoardName } from '../../dashboards/artifacts';
import { interpolateInfluxQL, interpolatePostgres, type QueryContext } from './grafana-interpolate';
import { errorMessage } from '../../contract/errors';

/** Every query a board sends: panel targets, annotation queries and query variables. */
export interface BoardQuery {
  /** `board / panel title / refId`, `board / annotation / name`, `board / variable / name` */
  id: string;
  board: BoardName;
  datasource: 'influxdb' | 'postgres';
  text: string;
  resultFormat: 'time_series' | 'table';
  alias?: string;
}

interface RawTarget {
  refId?: string;
  datasource?: { type?: string };
  query?: string;
  rawSql?: string;
  resultFormat?: string;
  format?: string;
  alias?: string;
}

function toQuery(id: string, board: BoardName, t: RawTarget | string, dsType?: string): BoardQuery {
  if (typeof t === 'string')
    return { id, board, datasource: dsType === 'influxdb' ? 'influxdb' : 'postgres', text: t, resultFormat: 'table' };
  const type = t.datasource?.type ?? dsType;
  if (type === 'influxdb') {
    if (!t.query) throw new Error(`${id}: InfluxDB target without a raw query`);
    return {
      id,
      board,
      datasource: 'influxdb',
      text: t.query,
      resultFormat: t.resultFormat === 'table' ? 'table' : 'time_series',
      ...(t.alias ? { alias: t.alias } : {}),
    };
  }
  if (type === 'grafana-postgresql-datasource') {
    if (!t.rawSql) throw new Error(`${id}: PostgreSQL target without rawSql`);
    return {
      id,
      board,
      datasource: 'postgres',
      text: t.rawSql,
      resultFormat: t.format === 'time_series' ? 'time_series' : 'table',
    };
  }
  throw new Error(`${id}: unknown data source type ${String(type)}`);
}

export function boardQueries(board: BoardName): BoardQuery[] {
  const d = buildBoard(board) as unknown as {
    panels?: { title: string; targets?: RawTarget[] }[];
    annotations?: { list?: { name: string; builtIn?: number; target?: RawTarget }[] };
    templating?: { list?: { name: string; type: string; query?: string; datasource?: { type?: string } }[] };
  };
  const out: BoardQuery[] = [];
  for (const p of d.panels ?? []) {
    if (!p.targets?.length) throw new Error(`${board} / ${p.title}: panel without a query`);
    for (const t of p.targets) out.push(toQuery(`${board} / ${p.title} / ${t.refId}`, board, t));
  }
  for (const a of d.annotations?.list ?? []) {
    if (a.builtIn) continue;
    if (!a.target) throw new Error(`${board} / annotation ${a.name}: no target`);
    out.push(toQuery(`${board} / annotation / ${a.name}`, board, a.target));
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    out.push(toQuery(`${board} / variable / ${v.name}`, board, v.query ?? '', v.datasource?.type));
  }
  return out;
}

export interface Series {
  name: string;
  tags: Record<string, string>;
  points: [number, number | null][];
}
export type Row = Record<string, unknown>;
export type QueryResult = { kind: 'series'; series: Series[] } | { kind: 'rows'; rows: Row[] };

interface InfluxResponse {
  results: {
    error?: string;
    series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[];
  }[];
  error?: string;
}

/** Series names as Grafana's InfluxQL alias patterns give them ($m, $col, $tag_<key>; default `measurement.column`). */
function seriesName(
  alias: string | undefined,
  measurement: string,
  column: string,
  tags: Record<string, string>,
): string {
  if (!alias) return `${measurement}.${column}`;
  return alias.replace(/\$(m|measurement|col|tag_(\w+))/g, (_w, what: string, tag?: string) =>
    what === 'm' || what === 'measurement' ? measurement : what === 'col' ? column : (tags[tag!] ?? ''),
  );
}

export async function runInflux(
  q: BoardQuery,
  ctx: QueryContext,
  influxUrl: string,
  database: string,
): Promise<QueryResult> {
  const text = interpolateInfluxQL(q.text, ctx);
  const body = new URLSearchParams({ db: database, epoch: 'ms', q: text });
  const res = await fetch(`${influxUrl}/query`, { method: 'POST', body });
  const json = (await res.json()) as InfluxResponse;
  const err = json.error ?? json.results.find((r) => r.error)?.error;
  if (!res.ok || err) throw new Error(`${q.id}: InfluxDB refused ${text}: ${err ?? res.status}`);
  const raw = json.results.flatMap((r) => r.series ?? []);
  if (q.resultFormat === 'table') {
    const rows = raw.flatMap((s) =>
      s.values.map((v) => ({ ...(s.tags ?? {}), ...Object.fromEntries(s.columns.map((c, i) => [c, v[i]])) })),
    );
    return { kind: 'rows', rows };
  }
  const series: Series[] = [];
  for (const s of raw) {
    const tags = s.tags ?? {};
    s.columns.forEach((col, i) => {
      if (col === 'time') return;
      series.push({
        name: seriesName(q.alias, s.name, col, tags),
        tags,
        points: s.values.map((v) => [v[0] as number, v[i] as number | null]),
      });
    });
  }
  return { kind: 'series', series };
}

/**
 * Runs a board's SQL as Grafana does: through a pool logged in as a professional's Grafana login
 * (`asLogin`, what the data source holds), or else as the hub's pool switched to `role`.
 */
export async function runPostgres(
  q: BoardQuery,
  ctx: QueryContext,
  pool: pg.Pool,
  opts: { asLogin?: boolean; role?: string } = {},
): Promise<QueryResult> {
  const text = interpolatePostgres(q.text, ctx);
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    if (!opts.asLogin) await client.query(`SET LOCAL ROLE ${opts.role ?? 'vigil_grafana'}`);
    const r = await client.query(text);
    await client.query('COMMIT');
    return { kind: 'rows', rows: r.rows as Row[] };
  } catch (e) {
    // the refusal is what the test reports; a failed ROLLBACK only adds that the connection is gone
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      console.error(`${q.id}: ROLLBACK failed: ${errorMessage(rollbackError)}`);
    });
    throw new Error(`${q.id}: PostgreSQL refused ${text}: ${errorMessage(e)}`, { cause: e });
  } finally {
    client.release();
  }
}

/** A result Grafana would draw nothing for: no series with a non-null point, or no rows. */
export function isEmpty(r: QueryResult): boolean {
  if (r.kind === 'rows') return r.rows.length === 0;
  return !r.series.some((s) => s.points.some(([, v]) => v !== null));
}
