import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import formbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext, ZApp } from '../api/context';
import { registerWebApiRoutes } from './api/routes';
import { ApiCallError, fmtFor, pageRequest, type WebContext, type WebOptions } from './context';
import { html } from './html';
import { shell } from './layout';
import { WorklistEvents } from './events';
import { registerAdminPages } from './pages/admin';
import { registerProgramPages } from './pages/programs';
import { registerLoginPages } from './pages/login';
import { registerPatientPages } from './pages/patient';
import { registerWorklistPages } from './pages/worklist';
import type { CookieSessions } from './session/plugin';

const here = dirname(fileURLToPath(import.meta.url));
const uplotDist = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

/**
 * The care team's workspace (docs/web.md): server-rendered pages under /web, assets served by the
 * hub itself (no CDN), data through the hub's own API (fastify inject with the browser's session).
 * The cookie sessions (hub/web/session) are registered by buildApi before the bearer hook.
 */
export async function registerWeb(
  app: ZApp,
  api: ApiContext,
  options: WebOptions,
  sessions: CookieSessions,
): Promise<void> {
  registerWebApiRoutes(app, api);
  const events = new WorklistEvents(api.pool, app.log);
  app.addHook('onClose', async () => events.close());

  await app.register(async (scope: FastifyInstance) => {
    await scope.register(formbody);
    await scope.register(fastifyStatic, { root: join(here, 'static'), prefix: '/web/static/', maxAge: '1h' });
    await scope.register(fastifyStatic, {
      root: uplotDist,
      prefix: '/web/static/vendor/',
      decorateReply: false,
      allowedPath: (p) => p === '/uPlot.iife.min.js' || p === '/uPlot.min.css',
    });
    // pages never end up in shared caches, and never framed by another site
    scope.addHook('onSend', async (req, reply) => {
      if (!req.url.startsWith('/web/static/')) {
        reply.header('cache-control', 'no-store');
        reply.header('x-frame-options', 'DENY');
        reply.header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        );
      }
    });

    // an API refusal shown as a page: the API's status, its stable code, no data
    scope.setErrorHandler(async (err, req, reply) => {
      const csrfRefused = (err as { code?: string }).code?.startsWith('FST_CSRF') === true;
      if (csrfRefused) err = new ApiCallError(403, 'CSRF_INVALID', 'missing or invalid CSRF token');
      if (!(err instanceof ApiCallError)) throw err;
      if (req.headers['x-requested-with'] === 'fetch')
        return reply.status(err.status).send({ code: err.code, message: err.message });
      const f = fmtFor(req);
      const title =
        err.status === 403
          ? f.t.notAllowed
          : err.status === 404
            ? f.locale === 'fr'
              ? 'Introuvable'
              : 'Not found'
            : f.t.errorPrefix;
      return reply
        .status(err.status)
        .type('text/html')
        .send(
          shell(f, {
            title: f.t.errorPrefix,
            body: html`<div class="login-card">
              <h1>${title}</h1>
              <p><code>${err.code}</code></p>
              <p><a href="/web/worklist">${f.t.worklist}</a></p>
            </div>`,
          }),
        );
    });
    const w: WebContext = {
      app: scope,
      csrf: (req, reply, done) => {
        scope.csrfProtection(req, reply, done);
      },
      api,
      options,
      sessions,
    };
    const requirePage = (req: FastifyRequest, reply: FastifyReply) => {
      const r = pageRequest(w, req, reply);
      if (!r) {
        const bg = req.headers['x-vigil-background'] === '1' || req.headers['x-requested-with'] === 'fetch';
        if (bg) void reply.status(401).send({ code: 'UNAUTHENTICATED', message: 'session ended' });
        else void reply.redirect(req.webSession ? '/web/login' : '/web/login?msg=ended', 303);
      }
      return r;
    };

    scope.get('/', async (_req, reply) => reply.redirect('/web/worklist', 303));
    scope.get('/web', async (_req, reply) => reply.redirect('/web/worklist', 303));
    scope.get('/web/events', async (req, reply) => {
      if (req.principal?.kind !== 'professional')
        return reply.status(401).send({ code: 'UNAUTHENTICATED', message: 'session ended' });
      await events.subscribe(reply);
      return reply;
    });
    registerLoginPages(w);
    registerWorklistPages(w, requirePage);
    registerPatientPages(w, requirePage);
    registerAdminPages(w, requirePage);
    registerProgramPages(w, requirePage);
  });
}
