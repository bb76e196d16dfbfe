import os from 'node:os';
import { z } from 'zod';

/** `--name value` / `--name=value` options of a bench, validated by its zod schema (ARGS_INVALID, exit 2). */
export function benchArgs<S extends z.ZodObject>(schema: S, argv = process.argv.slice(2)): z.infer<S> {
  const raw: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    raw[k] = inline ?? argv[++i] ?? '';
  }
  const parsed = schema.strict().safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(
      `ARGS_INVALID:\n${parsed.error.issues.map((i) => `  --${i.path.join('.') || '(unknown option)'}: ${i.message}`).join('\n')}\n`,
    );
    process.exit(2);
  }
  return parsed.data as z.infer<S>;
}

export const int = (min: number, max: number, def: number) => z.coerce.number().int().min(min).max(max).default(def);

/** 1-minute load average at start: other work on the machine skews the figures. */
export const loadAverage = (): number => Math.round(os.loadavg()[0]! * 100) / 100;
