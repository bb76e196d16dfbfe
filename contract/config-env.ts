import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';

/**
 * Reads a YAML or JSON configuration file into a tree. A missing, unreadable or unparsable file
 * throws `makeError(message)`: a configuration error (exit 2), which no restart will fix.
 */
export function readConfigFile(file: string, makeError: (message: string) => Error): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw makeError(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'error'})`}`);
  }
  let tree: unknown;
  try {
    tree = YAML.parse(text) ?? {};
  } catch (e) {
    throw makeError(`${file}: not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree))
    throw makeError(`${file}: a configuration file holds one mapping of settings`);
  return tree as Record<string, unknown>;
}

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
