import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { patientIdSchema } from '../../contract';
import { MAX_PAGE } from './paging';

/** Shared pieces of the /fhir routes: media type, search paging parameters, base URLs. */
export const resourceSchema = z.record(z.string(), z.unknown());
export const FHIR_JSON = 'application/fhir+json';

export const pageParams = {
  _count: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
  _cursor: z.string().max(200).optional(),
};
/** a `patient` search parameter: an id or a Patient/<id> reference */
export const patientParam = z
  .string()
  .transform((s) => s.replace(/^Patient\//, ''))
  .pipe(patientIdSchema);

export const baseUrl = (req: FastifyRequest): string => `${req.protocol}://${req.host}/fhir`;
export const selfUrl = (req: FastifyRequest): string => `${req.protocol}://${req.host}${req.url}`;

const DATE_OPS = { ge: '>=', le: '<=', gt: '>', lt: '<', eq: '=' } as const;

/** FHIR date search prefixes (http://hl7.org/fhir/R4/search.html#prefix) on a timestamptz column. */
export function dateConditions(
  column: string,
  values: string | string[] | undefined,
  params: unknown[],
  bad: (d: string) => Error,
): string[] {
  const out: string[] = [];
  for (const d of values === undefined ? [] : Array.isArray(values) ? values : [values]) {
    const m = /^(ge|le|gt|lt|eq)?(.+)$/.exec(d);
    const t = new Date(m?.[2] ?? '');
    if (!m || Number.isNaN(t.getTime())) throw bad(d);
    out.push(`${column} ${DATE_OPS[(m[1] ?? 'eq') as keyof typeof DATE_OPS]} $${params.push(t)}`);
  }
  return out;
}
