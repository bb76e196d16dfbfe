import cookie from '@fastify/cookie';
import { withProgramGrants } from '../../api/authz';
import csrf from '@fastify/csrf-protection';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pg from 'pg';
import { ApiError } from '../../api/errors';
import { systemClock, type Clock } from '../../rules/clock';
import type { Principal } from './principal';
import { SessionStore, type Session } from './sessions';

declare module 'fastify' {
  interface FastifyRequest {
    /** who the browser session speaks for (set from the session cookie) */
    principal?: Principal;
    webSession?: Session & { token: string };
  }
}

export interface CookieSessionOptions {
  idleTimeoutMinutes: number;
  absoluteTimeoutHours: number;
  /** 'auto': Secure (and the __Host- prefix) when the request came over HTTPS */
  secureCookies: 'auto' | 'always' | 'never';
  clock?: Clock;
}

/** header set by the page's background refreshes: they do not count as activity for the idle timeout */
export const BACKGROUND_HEADER = 'x-vigil-background';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface CookieSessions {
  store: SessionStore;
  cookieName(req: FastifyRequest): string;
  /** sets the session cookie on the reply (HttpOnly, SameSite=Lax, Secure over HTTPS) */
  setCookie(req: FastifyRequest, reply: FastifyReply, token: string): void;
  clearCookie(req: FastifyRequest, reply: FastifyReply): void;
  /** CSRF check for a request authenticated by cookie (@fastify/csrf-protection) */
  checkCsrf(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/**
 * Cookie sessions for browsers, shared by the care-team workspace and the patient space:
 * - the cookie holds a random token (HttpOnly, SameSite=Lax, Secure + __Host- over HTTPS); the
 *   session lives in PostgreSQL (hub/web/session/sessions.ts), idle and absolute timeouts;
 * - every state-changing request authenticated by cookie must carry a CSRF token
 *   (@fastify/csrf-protection, OWASP CSRF Prevention Cheat Sheet), /api included;
 * - a professional's active session authenticates /api exactly like a bearer token: the API's own
 *   role x care-team x consent checks apply unchanged (hub/api/authz.ts).
 * Must be registered before the API's bearer hook, which then leaves cookie-authenticated requests alone.
 */
export async function registerCookieSessions(
  app: FastifyInstance,
  pool: pg.Pool,
  o: CookieSessionOptions,
): Promise<CookieSessions> {
  const store = new SessionStore(
    pool,
    { idleTimeoutMs: o.idleTimeoutMinutes * 60_000, absoluteTimeoutMs: o.absoluteTimeoutHours * 3_600_000 },
    o.clock ?? systemClock,
  );
  const secure = (req: FastifyRequest) =>
    o.secureCookies === 'always' || (o.secureCookies === 'auto' && req.protocol === 'https');
  const cookieName = (req: FastifyRequest) => (secure(req) ? '__Host-vigil_session' : 'vigil_session');
  await app.register(cookie);
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'vigil_csrf',
    cookieOpts: { path: '/', httpOnly: true, sameSite: 'lax', signed: false },
  });

  // the library answers a refusal with reply.send(error); here it becomes the API's FORBIDDEN
  const checkCsrf = (req: FastifyRequest, reply: FastifyReply) =>
    new Promise<void>((resolve, reject) => {
      const refuse = { send: () => reject(new ApiError('FORBIDDEN', 'CSRF_INVALID: missing or invalid CSRF token')) };
      app.csrfProtection(
        req,
        new Proxy(reply, { get: (t, k): unknown => (k === 'send' ? refuse.send : Reflect.get(t, k)) }),
        () => {
          resolve();
        },
      );
    });

  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.authorization) return; // integrations: bearer tokens, checked by the API
    const token = req.cookies[cookieName(req)];
    if (!token) return;
    const s = await store.use(token, { touch: req.headers[BACKGROUND_HEADER] !== '1' });
    if (!s) return;
    req.webSession = { ...s, token };
    if (s.stage !== 'active') return;
    req.principal = s.principal;
    const isApi = req.url.startsWith('/api/') || req.url.startsWith('/fhir/');
    if (isApi && s.principal.kind === 'professional') {
      if (UNSAFE.has(req.method)) await checkCsrf(req, reply);
      req.professional = await withProgramGrants(pool, { id: s.principal.id, role: s.principal.role });
    }
  });

  return {
    store,
    cookieName,
    checkCsrf,
    setCookie(req, reply, token) {
      reply.setCookie(cookieName(req), token, {
        path: '/',
        httpOnly: true,
        sameSite: 'lax',
        secure: secure(req),
        maxAge: o.absoluteTimeoutHours * 3600,
      });
    },
    clearCookie(req, reply) {
      reply.clearCookie(cookieName(req), { path: '/', httpOnly: true, sameSite: 'lax', secure: secure(req) });
    },
  };
}
