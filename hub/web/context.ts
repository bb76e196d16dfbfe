import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { can, type Capability } from '../api/authz';
import type { ApiContext } from '../api/context';
import { formatter, localeFrom, type Fmt } from './i18n';
import { BACKGROUND_HEADER, type CookieSessions } from './session/plugin';
import type { Principal } from './session/principal';

export interface WebOptions {
  idleTimeoutMinutes: number;
  absoluteTimeoutHours: number;
  secureCookies: 'auto' | 'always' | 'never';
  /** Grafana base URL for the "detailed analysis" link on the patient page */
  grafanaUrl?: string | undefined;
  oidc?:
    | {
        issuer: string;
        clientId: string;
        clientSecret: string;
        redirectUri?: string | undefined;
        label?: string | undefined;
      }
    | undefined;
}

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WebContext {
  app: FastifyInstance;
  /** CSRF check of a form post (@fastify/csrf-protection), as a route preHandler */
  csrf: preHandlerHookHandler;
  api: ApiContext;
  options: WebOptions;
  sessions: CookieSessions;
}

/** What each page handler gets: the professional, her locale, and a client of the hub's own API. */
export interface PageRequest {
  me: Extract<Principal, { kind: 'professional' }>;
  f: Fmt;
  can(cap: Capability): boolean;
  csrf: string;
  /**
   * Calls the hub's API in-process (fastify inject) with this browser's session: the same
   * authentication hook, zod validation and authorization as any other client.
   */
  call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<T>;
  /** like call, but answers undefined on 403 (a section the matrix does not open to this role) */
  tryGet<T>(url: string): Promise<T | undefined>;
}

export function fmtFor(req: FastifyRequest): Fmt {
  return formatter(localeFrom(req.headers['accept-language']));
}

export function pageRequest(w: WebContext, req: FastifyRequest, reply: FastifyReply): PageRequest | undefined {
  const p = req.principal;
  if (p?.kind !== 'professional') return undefined;
  const csrf = reply.generateCsrf();
  const call = async <T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<T> => {
    const headers: Record<string, string> = { cookie: req.headers.cookie ?? '', 'x-csrf-token': csrf };
    if (req.headers[BACKGROUND_HEADER] === '1') headers[BACKGROUND_HEADER] = '1';
    // the CSRF secret cookie may have been issued on this very response
    const fresh = reply.getHeader('set-cookie');
    for (const c of [fresh].flat())
      if (typeof c === 'string' && c.startsWith('vigil_csrf='))
        headers.cookie = `${headers.cookie ?? ''}; ${c.split(';')[0] ?? ''}`;
    const res = await w.app.inject({
      method,
      url,
      headers,
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    const json: unknown = res.body ? JSON.parse(res.body) : undefined;
    if (res.statusCode >= 400) {
      const e = json as { code?: string; message?: string } | undefined;
      throw new ApiCallError(res.statusCode, e?.code ?? 'ERROR', e?.message ?? res.statusMessage);
    }
    return json as T;
  };
  return {
    me: p,
    f: fmtFor(req),
    can: (cap) => can({ id: p.id, role: p.role }, cap),
    csrf,
    call,
    async tryGet<T>(url: string) {
      try {
        return await call<T>('GET', url);
      } catch (e) {
        if (e instanceof ApiCallError && e.status === 403) return undefined;
        throw e;
      }
    },
  };
}
