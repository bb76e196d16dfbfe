/**
 * A small InfluxQL (1.x) builder for the panel queries: the Grafana foundation SDK has no
 * InfluxDB query model, and hand-concatenated strings are where quoting mistakes hide.
 * Identifiers are double-quoted, string literals single-quoted (InfluxQL spec, "Identifiers"
 * and "Literals"). Grafana macros ($timeFilter, $__interval, ${__from}) and template variables
 * ($patient) pass through untouched: Grafana interpolates them before the query is sent.
 */

export type Fill = 'none' | 'null' | '0' | 'previous' | 'linear';

/** `"name"` with `"` and `\` escaped. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `'text'` with `'` and `\` escaped. */
export function stringLit(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `fn("field")`, or `fn("field", arg...)`. */
export function call(fn: string, field: string, ...args: (string | number)[]): string {
  return `${fn}(${[ident(field), ...args.map(String)].join(', ')})`;
}

/**
 * A tag compared with a Grafana template variable in its regex form, which works for single and
 * multi-value variables alike: Grafana turns a multi-value selection into `(a|b)` (docs,
 * "InfluxDB template variables", variable syntax).
 */
export function tagMatchesVariable(tag: string, variable: string): string {
  return `${ident(tag)} =~ /^$${variable}$/`;
}

/**
 * A tag equal to a single-value Grafana template variable (`"tag" = '$var'`): Grafana inserts a
 * single value as is outside a regex literal (docs, "InfluxDB template variables"). Only for
 * variables that are neither multi-value nor include-all, whose values cannot hold a quote (the
 * patient id: A-Z a-z 0-9 _ -). InfluxDB 1.x plans an equality on a tag as a direct series
 * lookup; the regex form made the board's subqueries up to 7 times slower (bench/README.md).
 */
export function tagEqualsVariable(tag: string, variable: string): string {
  return `${ident(tag)} = '$${variable}'`;
}

export function tagEquals(tag: string, value: string): string {
  return `${ident(tag)} = ${stringLit(value)}`;
}

type Source =
  | { kind: 'measurement'; name: string; rp?: string | undefined }
  | { kind: 'regex'; names: readonly string[]; rp?: string | undefined }
  | { kind: 'subquery'; query: InfluxQuery };

type TimeRange = { kind: 'dashboard' } | { kind: 'extended'; lookback: string };

export class InfluxQuery {
  private fields: string[] = [];
  private source: Source | undefined;
  private conditions: string[] = [];
  private range: TimeRange | undefined;
  private groupTime: string | undefined;
  private groupTags: string[] = [];
  private fillMode: Fill | undefined;
  private limitRows: number | undefined;
  private descending = false;

  /** A selected expression with an optional alias (`expr AS "alias"`). */
  select(expr: string, alias?: string): this {
    this.fields.push(alias ? `${expr} AS ${ident(alias)}` : expr);
    return this;
  }

  /** FROM a measurement, optionally in a retention policy (`"rp"."measurement"`). */
  from(measurement: string, opts: { rp?: string | undefined } = {}): this {
    this.source = { kind: 'measurement', name: measurement, rp: opts.rp };
    return this;
  }

  /** FROM every measurement of a list, as one regex (one series per measurement), optionally in a retention policy. */
  fromAny(measurements: readonly string[], opts: { rp?: string | undefined } = {}): this {
    if (measurements.length === 0) throw new Error('INFLUXQL_EMPTY_SOURCE: fromAny needs at least one measurement');
    this.source = { kind: 'regex', names: measurements, rp: opts.rp };
    return this;
  }

  fromSubquery(query: InfluxQuery): this {
    this.source = { kind: 'subquery', query };
    return this;
  }

  where(condition: string): this {
    this.conditions.push(condition);
    return this;
  }

  /** The dashboard's time range: Grafana's `$timeFilter`. */
  timeFilter(): this {
    this.range = { kind: 'dashboard' };
    return this;
  }

  /**
   * The dashboard's range extended backwards by `lookback` (e.g. `14d`), for windowed
   * functions (moving averages) that need data from before the visible range.
   */
  timeFilterWithLookback(lookback: string): this {
    if (!/^\d+[smhdw]$/.test(lookback)) throw new Error(`INFLUXQL_BAD_DURATION: ${lookback}`);
    this.range = { kind: 'extended', lookback };
    return this;
  }

  /** GROUP BY time(interval); `$__interval` lets Grafana pick it from the panel width. */
  groupByTime(interval: string): this {
    this.groupTime = interval;
    return this;
  }

  groupByTags(...tags: string[]): this {
    this.groupTags.push(...tags);
    return this;
  }

  fill(mode: Fill): this {
    this.fillMode = mode;
    return this;
  }

  orderByTimeDesc(): this {
    this.descending = true;
    return this;
  }

  limit(n: number): this {
    this.limitRows = n;
    return this;
  }

  toString(): string {
    if (this.fields.length === 0) throw new Error('INFLUXQL_NO_FIELDS: select at least one expression');
    if (!this.source) throw new Error('INFLUXQL_NO_SOURCE: call from(), fromAny() or fromSubquery()');
    const parts = [`SELECT ${this.fields.join(', ')}`, `FROM ${renderSource(this.source)}`];
    const where = [...this.conditions];
    if (this.range?.kind === 'dashboard') where.push('$timeFilter');
    if (this.range?.kind === 'extended')
      where.push(`time >= \${__from}ms - ${this.range.lookback}`, 'time <= ${__to}ms');
    if (where.length) parts.push(`WHERE ${where.join(' AND ')}`);
    const group = [...(this.groupTime ? [`time(${this.groupTime})`] : []), ...this.groupTags.map(ident)];
    if (group.length) parts.push(`GROUP BY ${group.join(', ')}`);
    if (this.fillMode) {
      if (!this.groupTime) throw new Error('INFLUXQL_FILL_WITHOUT_TIME: fill() needs groupByTime()');
      parts.push(`fill(${this.fillMode})`);
    }
    if (this.descending) parts.push('ORDER BY time DESC');
    if (this.limitRows !== undefined) parts.push(`LIMIT ${this.limitRows}`);
    return parts.join(' ');
  }
}

function renderSource(s: Source): string {
  switch (s.kind) {
    case 'measurement':
      return s.rp ? `${ident(s.rp)}.${ident(s.name)}` : ident(s.name);
    case 'regex':
      return `${s.rp ? `${ident(s.rp)}.` : ''}/^(${s.names.map(escapeRegex).join('|')})$/`;
    case 'subquery':
      return `(${s.query.toString()})`;
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}/]/g, '\\$&');
}

export const influxql = (): InfluxQuery => new InfluxQuery();
