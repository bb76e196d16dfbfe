import type { z } from 'zod';

/**
 * Maps environment variables onto a config tree: `{ VAR: 'a.b' }` or `'a.b:number'` / `'a.b:boolean'`.
 * Shared by the hub and gateway config loaders.
 */
export function configFromEnv(map: Record<string, string>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, target] of Object.entries(map)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const [path, type] = target.split(':') as [string, string | undefined];
    const value =
      type === 'number'
        ? /^-?\d+(\.\d+)?$/.test(raw)
          ? Number(raw)
          : raw
        : type === 'boolean'
          ? raw === 'true' || raw === '1'
            ? true
            : raw === 'false' || raw === '0'
              ? false
              : raw
          : raw;
    const keys = path.split('.');
    const leaf = keys.pop() ?? path;
    let node = out;
    for (const k of keys) node = (node[k] ??= {}) as Record<string, unknown>;
    node[leaf] = value;
  }
  return out;
}

export function deepMerge<T>(base: T, over: unknown): T {
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = typeof b === 'object' && b !== null && !Array.isArray(b) ? deepMerge(b, v) : v;
  }
  return out as T;
}

/** One line per problem, with its path: all errors at once. */
export function formatConfigIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n');
}
