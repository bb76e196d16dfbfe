/**
 * Test-only stand-in for what Grafana does to a saved query before it reaches the database,
 * following Grafana's documentation:
 * - global variables ("Global variables"): ${__from}/${__to} as epoch ms, $__interval and
 *   $__interval_ms;
 * - InfluxQL ("InfluxDB query editor", raw mode): $timeFilter / $__timeFilter become
 *   `time >= <from>ms and time <= <to>ms`;
 * - InfluxDB template variables: a multi-value or include-all variable becomes the regex
 *   group `(a|b)` with each value regex-escaped (used as /^$var$/); a single value is inserted
 *   as is, regex-escaped when it stands inside a regex literal;
 * - PostgreSQL ("PostgreSQL query editor", macros and template variables): $__timeFilter(col)
 *   `col BETWEEN '<from>' AND '<to>'` (RFC 3339, seconds), $__timeFrom(), $__timeTo(),
 *   $__time(col), $__timeGroup(col, interval) `floor(extract(epoch from col)/s)*s` and
 *   $__timeGroupAlias (the same AS "time"); a multi-value variable becomes a comma-separated
 *   list of quoted literals, a single value is inserted with its single quotes doubled.
 *   ${__user.login} is the signed-in user's login.
 * Variable syntaxes: $name, ${name}, [[name]].
 */

export interface TemplateVariable {
  value: string | string[];
  multi?: boolean;
  includeAll?: boolean;
}

export interface QueryContext {
  from: Date;
  to: Date;
  /** Grafana's computed interval, e.g. `1h` */
  interval: string;
  variables: Record<string, TemplateVariable>;
  /** the signed-in Grafana user (${__user.login}) */
  user?: { login: string };
}

const VARIABLE = /\$(\w+)|\[\[(\w+?)\]\]|\$\{(\w+(?:\.\w+)?)\}/g;

export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(d.trim().replace(/^'|'$/g, ''));
  if (!m) throw new Error(`GRAFANA_BAD_INTERVAL: ${d}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}

function globals(ctx: QueryContext): Record<string, string> {
  return {
    __from: String(ctx.from.getTime()),
    __to: String(ctx.to.getTime()),
    __interval: ctx.interval,
    __interval_ms: String(durationMs(ctx.interval)),
    ...(ctx.user ? { '__user.login': ctx.user.login } : {}),
  };
}

function replaceVariables(
  query: string,
  ctx: QueryContext,
  format: (name: string, v: TemplateVariable, offset: number) => string,
): string {
  const g = globals(ctx);
  return query.replace(VARIABLE, (whole, a?: string, b?: string, c?: string, offset?: number) => {
    const name = (a ?? b ?? c)!;
    if (name in g) return g[name]!;
    const v = ctx.variables[name];
    if (!v) return whole; // Grafana leaves unknown variables untouched
    return format(name, v, offset ?? 0);
  });
}

export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/** Inside `=~ /.../` (or `!~`): an unclosed regex literal opened before `offset`. */
function insideRegexLiteral(query: string, offset: number): boolean {
  const before = query.slice(0, offset);
  const open = before.search(/[=!]~\s*\/[^/]*$/);
  return open >= 0;
}

export function interpolateInfluxQL(query: string, ctx: QueryContext): string {
  const filter = `time >= ${ctx.from.getTime()}ms and time <= ${ctx.to.getTime()}ms`;
  const withTime = query.replace(/\$__timeFilter\b|\$timeFilter\b/g, filter);
  return replaceVariables(withTime, ctx, (_name, v, offset) => {
    const values = Array.isArray(v.value) ? v.value : [v.value];
    if (v.multi || v.includeAll)
      return values.length === 1 ? escapeRegex(values[0]!) : `(${values.map(escapeRegex).join('|')})`;
    const value = values[0] ?? '';
    return insideRegexLiteral(withTime, offset) ? escapeRegex(value) : value;
  });
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const quoteLiteral = (v: string): string => `'${v.replace(/'/g, "''")}'`;

/** Splits macro arguments on top-level commas. */
function macroArgs(raw: string): string[] {
  return raw.split(',').map((s) => s.trim());
}

export function interpolatePostgres(query: string, ctx: QueryContext): string {
  // template variables first (Grafana's frontend), then the macros (Grafana's SQL backend);
  // single values, the user's login included, get their single quotes doubled
  const sqlCtx = ctx.user ? { ...ctx, user: { login: ctx.user.login.replace(/'/g, "''") } } : ctx;
  const vars = replaceVariables(query, sqlCtx, (_name, v) => {
    if (Array.isArray(v.value) || v.multi || v.includeAll)
      return (Array.isArray(v.value) ? v.value : [v.value]).map(quoteLiteral).join(',');
    return v.value.replace(/'/g, "''");
  });
  const from = rfc3339(ctx.from);
  const to = rfc3339(ctx.to);
  return vars.replace(
    /\$__(timeFilter|timeFrom|timeTo|timeGroupAlias|timeGroup|time)\(([^)]*)\)/g,
    (_w, macro: string, rawArgs: string) => {
      const args = macroArgs(rawArgs);
      switch (macro) {
        case 'timeFilter':
          return `${args[0]} BETWEEN '${from}' AND '${to}'`;
        case 'timeFrom':
          return `'${from}'`;
        case 'timeTo':
          return `'${to}'`;
        case 'time':
          return `${args[0]} AS "time"`;
        case 'timeGroup':
        case 'timeGroupAlias': {
          const s = durationMs(args[1] ?? '') / 1000;
          const expr = `floor(extract(epoch from ${args[0]})/${s})*${s}`;
          return macro === 'timeGroupAlias' ? `${expr} AS "time"` : expr;
        }
        default:
          throw new Error(`GRAFANA_UNKNOWN_MACRO: ${macro}`);
      }
    },
  );
}
