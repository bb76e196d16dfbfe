import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { audit } from '../../alerts/audit';
import { fmtFor, type WebContext } from '../context';
import { html } from '../html';
import type { Fmt } from '../i18n';
import { shell } from '../layout';
import { checkPassword, checkTotp } from '../session/credentials';
import { OidcLogin } from '../session/oidc';

const loginBody = z.object({ login: z.string().trim().min(1).max(200), password: z.string().min(1).max(1000) });
const totpBody = z.object({ code: z.string().trim().max(10) });

function loginPage(
  f: Fmt,
  csrf: string,
  o: { error?: string; notice?: string; oidcLabel?: string | undefined },
): string {
  return shell(f, {
    title: f.t.signIn,
    body: html`<div class="login-card">
      <h1><span class="logo" aria-hidden="true">◆</span> Vigil</h1>
      <h2>${f.t.signInTitle}</h2>
      ${o.notice ? html`<p class="notice" role="status">${o.notice}</p>` : ''}
      ${o.error ? html`<p class="error" role="alert" id="login-error">${o.error}</p>` : ''}
      <form method="post" action="/web/login" class="stack">
        <input type="hidden" name="_csrf" value="${csrf}" />
        <label for="login">${f.t.login}</label>
        <input
          id="login"
          name="login"
          autocomplete="username"
          required
          autofocus
          ${o.error ? html`aria-describedby="login-error" aria-invalid="true"` : ''}
        />
        <label for="password">${f.t.password}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">${f.t.signIn}</button>
      </form>
      ${o.oidcLabel ? html`<p class="or"><a class="button secondary" href="/web/oidc/start">${o.oidcLabel}</a></p>` : ''}
    </div>`,
  });
}

function totpPage(f: Fmt, csrf: string, error?: string): string {
  return shell(f, {
    title: f.t.totpTitle,
    body: html`<div class="login-card">
      <h1><span class="logo" aria-hidden="true">◆</span> Vigil</h1>
      <h2>${f.t.totpTitle}</h2>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="/web/login/totp" class="stack">
        <input type="hidden" name="_csrf" value="${csrf}" />
        <label for="code">${f.t.totpCode}</label>
        <input
          id="code"
          name="code"
          inputmode="numeric"
          autocomplete="one-time-code"
          pattern="[0-9]{6}"
          maxlength="6"
          required
          autofocus
        />
        <button type="submit">${f.t.continue}</button>
      </form>
    </div>`,
  });
}

/** Starts a fresh session (a new token at each sign-in: no session fixation) and sends the browser on. */
export async function signIn(
  w: WebContext,
  req: FastifyRequest,
  reply: FastifyReply,
  professionalId: string,
  o: { method: 'password' | 'oidc'; totp: boolean },
): Promise<FastifyReply> {
  if (req.webSession) await w.sessions.store.end(req.webSession.token);
  const token = await w.sessions.store.create(
    { kind: 'professional', id: professionalId },
    o.totp ? 'pending_totp' : 'active',
    o.method,
  );
  w.sessions.setCookie(req, reply, token);
  await audit(w.api.pool, {
    actor: professionalId,
    action: o.totp ? 'web.password_accepted' : 'web.signed_in',
    entity: 'professional',
    entityId: professionalId,
    detail: { method: o.method },
    at: new Date(),
  });
  return reply.redirect(o.totp ? '/web/login/totp' : '/web/worklist', 303);
}

export function registerLoginPages(w: WebContext): void {
  const { app } = w;
  const notices = (f: Fmt, msg: unknown) =>
    msg === 'out' ? f.t.signedOut : msg === 'ended' ? f.t.sessionEnded : undefined;

  app.get('/web/login', async (req, reply) => {
    const f = fmtFor(req);
    if (req.principal?.kind === 'professional') return reply.redirect('/web/worklist', 303);
    const notice = notices(f, (req.query as { msg?: string }).msg);
    return reply.type('text/html').send(
      loginPage(f, reply.generateCsrf(), {
        ...(notice ? { notice } : {}),
        oidcLabel: w.options.oidc ? (w.options.oidc.label ?? f.t.signInOidc) : undefined,
      }),
    );
  });

  /**
   * Password guessing is throttled per client address and per login, with a doubling block
   * (hub/security/failure-limiter.ts, the limiter of the API's bearer tokens): while blocked, even
   * the right password is refused, so a guesser learns nothing from the answer.
   */
  const throttled = async (req: FastifyRequest, login: string | undefined): Promise<number> => {
    const waits = await Promise.all(
      [`web-login-ip:${req.ip}`, ...(login ? [`web-login:${login.toLowerCase()}`] : [])].map((k) =>
        w.api.authFailures.retryAfterMs(k),
      ),
    );
    return Math.max(...waits);
  };
  const strike = async (req: FastifyRequest, login: string | undefined): Promise<void> => {
    await w.api.authFailures.fail(`web-login-ip:${req.ip}`);
    if (login) await w.api.authFailures.fail(`web-login:${login.toLowerCase()}`);
  };
  const tooMany = (req: FastifyRequest, reply: FastifyReply, wait: number, page: (f: Fmt, error: string) => string) =>
    reply
      .status(429)
      .header('retry-after', String(Math.ceil(wait / 1000)))
      .type('text/html')
      .send(page(fmtFor(req), fmtFor(req).t.tooManyAttempts));

  app.post('/web/login', { preHandler: w.csrf }, async (req, reply) => {
    const f = fmtFor(req);
    const body = loginBody.safeParse(req.body);
    const login = body.success ? body.data.login : undefined;
    const loginWithError = (fmt: Fmt, error: string) =>
      loginPage(fmt, reply.generateCsrf(), {
        error,
        oidcLabel: w.options.oidc ? (w.options.oidc.label ?? fmt.t.signInOidc) : undefined,
      });
    const wait = await throttled(req, login);
    if (wait > 0) return tooMany(req, reply, wait, loginWithError);
    const fail = async (actor: string) => {
      await strike(req, login);
      await audit(w.api.pool, {
        actor,
        action: 'web.sign_in_failed',
        entity: 'professional',
        entityId: actor,
        at: new Date(),
      });
      return reply
        .status(401)
        .type('text/html')
        .send(
          loginPage(f, reply.generateCsrf(), {
            error: f.t.badCredentials,
            oidcLabel: w.options.oidc ? (w.options.oidc.label ?? f.t.signInOidc) : undefined,
          }),
        );
    };
    if (!body.success) return fail('unknown');
    const { rows } = await w.api.pool.query<{ id: string; password_hash: string | null; totp_secret: string | null }>(
      'SELECT id, password_hash, totp_secret FROM professionals WHERE login = $1 AND disabled_at IS NULL',
      [body.data.login],
    );
    const pro = rows[0];
    if (!(await checkPassword(pro?.password_hash, body.data.password)) || !pro) return fail(pro?.id ?? 'unknown');
    await w.api.authFailures.reset(`web-login:${body.data.login.toLowerCase()}`);
    return signIn(w, req, reply, pro.id, { method: 'password', totp: pro.totp_secret !== null });
  });

  app.get('/web/login/totp', async (req, reply) => {
    if (req.webSession?.stage !== 'pending_totp') return reply.redirect('/web/login', 303);
    return reply.type('text/html').send(totpPage(fmtFor(req), reply.generateCsrf()));
  });

  app.post('/web/login/totp', { preHandler: w.csrf }, async (req, reply) => {
    const s = req.webSession;
    if (s?.stage !== 'pending_totp') return reply.redirect('/web/login', 303);
    const code = totpBody.safeParse(req.body);
    const { rows } = await w.api.pool.query<{ totp_secret: string | null }>(
      'SELECT totp_secret FROM professionals WHERE id = $1',
      [s.principal.id],
    );
    const secret = rows[0]?.totp_secret;
    const wait = await throttled(req, s.principal.id);
    if (wait > 0) return tooMany(req, reply, wait, (fmt, error) => totpPage(fmt, reply.generateCsrf(), error));
    if (!secret || !code.success || !(await checkTotp(secret, code.data.code))) {
      await strike(req, s.principal.id);
      await audit(w.api.pool, {
        actor: s.principal.id,
        action: 'web.totp_failed',
        entity: 'professional',
        entityId: s.principal.id,
        at: new Date(),
      });
      return reply
        .status(401)
        .type('text/html')
        .send(totpPage(fmtFor(req), reply.generateCsrf(), fmtFor(req).t.badTotp));
    }
    // a new token once both factors are in (the half-signed-in one is ended)
    return signIn(w, req, reply, s.principal.id, { method: 'password', totp: false });
  });

  const oidcSettings = w.options.oidc;
  if (oidcSettings) {
    const oidc = new OidcLogin(w.api.pool, oidcSettings);
    const flightCookie = { path: '/web/oidc/', httpOnly: true, sameSite: 'lax' as const, maxAge: 600 };

    app.get('/web/oidc/start', async (req, reply) => {
      const { flight, url } = await oidc.start(`${req.protocol}://${req.host}/web/oidc/callback`);
      reply.setCookie('vigil_oidc', flight, { ...flightCookie, secure: req.protocol === 'https' });
      return reply.redirect(url, 303);
    });

    app.get('/web/oidc/callback', async (req, reply) => {
      const f = fmtFor(req);
      const out = await oidc.finish(req.cookies.vigil_oidc, new URL(req.url, `${req.protocol}://${req.host}`));
      reply.clearCookie('vigil_oidc', flightCookie);
      if ('professionalId' in out)
        // the hospital's provider is in charge of the second factor
        return signIn(w, req, reply, out.professionalId, { method: 'oidc', totp: false });
      await audit(w.api.pool, {
        actor: 'unknown',
        action: 'web.oidc_refused',
        entity: 'professional',
        entityId: 'unknown',
        detail: { reason: out.refused },
        at: new Date(),
      });
      const error =
        out.refused === 'NOT_LINKED'
          ? f.locale === 'fr'
            ? 'Votre compte de l’établissement n’est relié à aucun compte Vigil. Demandez-le à l’administrateur.'
            : 'Your hospital account is not linked to a Vigil account. Ask the administrator.'
          : f.t.sessionEnded;
      return reply
        .status(401)
        .type('text/html')
        .send(loginPage(f, reply.generateCsrf(), { error, oidcLabel: oidcSettings.label ?? f.t.signInOidc }));
    });
  }

  app.post('/web/logout', { preHandler: w.csrf }, async (req, reply) => {
    const s = req.webSession;
    if (s) {
      await w.sessions.store.end(s.token);
      await audit(w.api.pool, {
        actor: s.principal.id,
        action: 'web.signed_out',
        entity: 'professional',
        entityId: s.principal.id,
        at: new Date(),
      });
    }
    w.sessions.clearCookie(req, reply);
    return reply.redirect('/web/login?msg=out', 303);
  });
}
