import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../api/errors';
import type { ZApp } from '../api/context';
import { articlesFor } from '../content/library';
import { MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, type AttachmentInput, type Reader } from '../messaging/store';
import type { PortalSubject } from './accounts';
import { toApiError } from './errors';
import { html, Html, page } from './html';
import { latestInPlainWords, pendingRequests } from './plain-words';
import type { PatientSide } from './side';
import {
  answeredList,
  caregiversPage,
  consentsPage,
  questionnairePage,
  questionnaireResultPage,
  threadPage,
  threadsPage,
  documentPage,
  documentsPage,
} from './space-pages';
import { readConsents, saveConsents } from './consents';
import { one } from './rows';

export const SESSION_COOKIE = 'vigil_portal';

declare module 'fastify' {
  interface FastifyRequest {
    portal?: PortalSubject;
  }
}

const wantsHtml = (req: FastifyRequest) => !req.url.startsWith('/patient/api/');

/**
 * The patient space (docs/patient.md): server-rendered pages that work without JavaScript, a
 * session cookie (HttpOnly, SameSite=Strict, path /patient), sign-in by one-time code or printed QR
 * code, and a small JSON API under /patient/api for the same data. Every query is bound to the
 * session's patient: the space cannot name another patient's record.
 */
export async function registerPatientSpace(app: ZApp, side: PatientSide): Promise<void> {
  await app.register(async (scope: ZApp) => {
    // one @fastify/cookie for the hub: the care-team workspace's session plugin (hub/web/session)
    // registers it at the root; the form parser likewise when the workspace is mounted
    if (!scope.hasDecorator('parseCookie')) await scope.register(cookie);
    if (!scope.hasContentTypeParser('application/x-www-form-urlencoded'))
      await scope.register(formbody, { bodyLimit: 64 * 1024 });
    await scope.register(multipart, {
      limits: { fileSize: MAX_ATTACHMENT_BYTES, files: MAX_ATTACHMENTS, fields: 10, fieldSize: 16 * 1024 },
    });

    scope.setErrorHandler((err, req, reply) => {
      const e =
        toApiError(err) ??
        ((err as { validation?: unknown }).validation ? new ApiError('INVALID_REQUEST', 'invalid request') : null);
      if (!e) throw err;
      if (e.retryAfterMs) reply.header('retry-after', String(Math.ceil(e.retryAfterMs / 1000)));
      if (!wantsHtml(req)) return reply.status(e.status).send({ code: e.code, message: e.message });
      return reply
        .status(e.status)
        .type('text/html; charset=utf-8')
        .send(
          page(
            'Un problème',
            html`<p class="card alert">${frenchError(e.code)}</p>
              <a class="button" href="/patient">Revenir à mon espace</a>`,
            { signedIn: !!req.portal },
          ),
        );
    });

    // sign-in codes still on their way leave before the hub closes its pool
    scope.addHook('onClose', async () => {
      await side.accounts.drain();
    });

    // cross-site form posts are refused (the cookie is SameSite=Strict too): CSRF defence in depth
    scope.addHook('onRequest', async (req) => {
      if (!req.url.startsWith('/patient')) return;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const site = req.headers['sec-fetch-site'];
        const origin = req.headers.origin;
        if (
          (typeof site === 'string' && site !== 'same-origin' && site !== 'none') ||
          (origin && origin !== 'null' && URL.parse(origin)?.host !== req.headers.host)
        )
          throw new ApiError('FORBIDDEN', 'cross-site request refused');
      }
      const token = req.cookies[SESSION_COOKIE];
      if (token) req.portal = (await side.accounts.session(token)) ?? undefined;
    });
    scope.addHook('onSend', async (_req, reply) => {
      // nothing of the space is cached or framed (shared phones and tablets)
      reply.header('cache-control', 'no-store');
      reply.header('x-frame-options', 'DENY');
      reply.header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
    });

    const send = (reply: FastifyReply, title: string, body: Html, status = 200) =>
      reply
        .status(status)
        .type('text/html; charset=utf-8')
        .send(page(title, body, { signedIn: true }));
    const signedIn = (req: FastifyRequest): PortalSubject => {
      if (!req.portal) throw new ApiError('UNAUTHENTICATED', 'sign in first');
      return req.portal;
    };
    const reader = (s: PortalSubject): Reader => ({ kind: s.kind, id: s.id, patientId: s.patientId });
    const setSession = (reply: FastifyReply, token: string) =>
      reply.setCookie(SESSION_COOKIE, token, {
        path: '/patient',
        httpOnly: true,
        sameSite: 'strict',
        secure: side.secureCookies,
        maxAge: 30 * 86_400,
      });
    const messages = () => {
      if (!side.messages) throw new ApiError('MESSAGING_UNAVAILABLE', 'messaging has no encryption key configured');
      return side.messages;
    };

    // ---- sign-in ---------------------------------------------------------------------------
    const signinForm = (error?: string) =>
      page(
        'Entrer dans mon espace',
        html`${error ? html`<p class="card alert" role="alert">${error}</p>` : ''}
          <p>Vous recevez un code à 6 chiffres par e-mail ou par SMS. Pas de mot de passe à retenir.</p>
          <form method="post" action="/patient/signin">
            <label for="address">Votre adresse e-mail ou votre numéro de portable</label>
            <input
              id="address"
              name="address"
              type="text"
              autocomplete="email"
              inputmode="email"
              required
              maxlength="200"
            />
            <button type="submit">Recevoir mon code</button>
          </form>
          <p class="muted">
            Votre infirmière peut aussi vous donner un code à scanner (QR code) avec votre téléphone.
          </p>`,
      );

    scope.get('/patient', { schema: { hide: true } }, async (req, reply) => {
      if (!req.portal) return reply.type('text/html; charset=utf-8').send(signinForm());
      const s = req.portal;
      const now = side.clock.now();
      const [readings, requests, due, threads] = await Promise.all([
        latestInPlainWords(side.pool, s.patientId, now),
        pendingRequests(side.pool, s.patientId),
        side.questionnaires.due(s.patientId),
        side.messages ? side.messages.threads(reader(s), s.patientId) : Promise.resolve([]),
      ]);
      const unread = threads.reduce((n, t) => n + t.unread, 0);
      return send(
        reply,
        s.kind === 'caregiver' ? 'Espace de votre proche' : 'Bonjour',
        html`${requests.map(
            (r) =>
              html`<section class="card request" aria-labelledby="rq${r.id}">
                <h2 id="rq${r.id}">À faire maintenant</h2>
                <p>${r.text}</p>
                <p class="muted">Demandé ${r.requestedAt}.</p>
              </section>`,
          )}
          <h2>Mes dernières mesures</h2>
          ${
            readings.length
              ? html`<ul class="plain">
                  ${readings.map((r) => html`<li class="${r.status === 'usual' ? 'ok' : r.status}">${r.text}<br /><span class="muted">${r.measuredAt}</span></li>`)}
                </ul>`
              : html`<p>Pas encore de mesure reçue.</p>`
          }
          <a class="button" href="/patient/messages"
            >Mes messages${unread ? html` (${unread} nouveau${unread > 1 ? 'x' : ''})` : ''}</a
          >
          <a class="button" href="/patient/questionnaires"
            >Mes questionnaires${due.length ? html` (${due.length} à remplir)` : ''}</a
          >
          <a class="button" href="/patient/documents">Mes documents</a>
          ${s.kind === 'patient' ? html`<a class="button secondary" href="/patient/caregivers">Mes proches (aidants)</a><a class="button secondary" href="/patient/sharing">Qui voit mes informations</a>` : ''}
          <form method="post" action="/patient/signout">
            <button class="secondary" type="submit">Me déconnecter</button>
          </form>`,
      );
    });

    scope.post(
      '/patient/signin',
      { schema: { hide: true, body: z.object({ address: z.string().trim().min(3).max(200) }) } },
      async (req, reply) => {
        const { address } = req.body;
        // the same answer, at once, whether the address is known or not; the code leaves afterwards
        const limited = await side.accounts.requestCodeFrom(req.ip, address, (e) => {
          req.log.warn({ code: (e as { code?: unknown }).code ?? 'UNKNOWN' }, 'sign-in code not sent');
        });
        if (limited)
          throw new ApiError(
            'RATE_LIMITED',
            'too many codes asked from this address; retry later',
            limited.retryAfterMs,
          );
        return reply.type('text/html; charset=utf-8').send(codeForm(address));
      },
    );

    const codeForm = (address: string, error?: string) =>
      page(
        'Tapez votre code',
        html`${error ? html`<p class="card alert" role="alert">${error}</p>` : ''}
          <p>
            Si cette adresse est connue de votre équipe, un code à 6 chiffres vient de partir. Il marche une seule fois,
            pendant 10 minutes.
          </p>
          <p>Rien reçu après 2 minutes ? Vérifiez l’adresse, ou appelez votre infirmière.</p>
          <form method="post" action="/patient/signin/verify">
            <input type="hidden" name="address" value="${address}" />
            <label for="code">Code reçu</label>
            <input
              id="code"
              name="code"
              type="text"
              inputmode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxlength="6"
              required
            />
            <button type="submit">Entrer</button>
          </form>
          <a class="button secondary" href="/patient">Recommencer</a>`,
      );

    scope.post(
      '/patient/signin/verify',
      {
        schema: {
          hide: true,
          body: z.object({ address: z.string().trim().min(3).max(200), code: z.string().trim().max(12) }),
        },
      },
      async (req, reply) => {
        try {
          const { token } = await side.accounts.verifyCode(req.body.address, req.body.code);
          setSession(reply, token);
          return await reply.redirect('/patient', 303);
        } catch (e) {
          if ((e as { code?: string }).code !== 'CODE_INVALID') throw e;
          return reply
            .status(401)
            .type('text/html; charset=utf-8')
            .send(
              codeForm(
                req.body.address,
                'Ce code ne marche pas, ou il est trop ancien. Vérifiez-le, ou demandez un nouveau code.',
              ),
            );
        }
      },
    );

    scope.post(
      '/patient/api/signin/verify',
      {
        schema: {
          hide: true,
          body: z.object({ address: z.string().trim().min(3).max(200), code: z.string().trim().max(12) }),
        },
      },
      async (req, reply) => {
        const { token, subject } = await side.accounts.verifyCode(req.body.address, req.body.code);
        setSession(reply, token);
        return { subject };
      },
    );

    // a printed QR code opens this page; the button (POST) uses it, so link previews do not burn it
    scope.get(
      '/patient/qr/:token',
      { schema: { hide: true, params: z.object({ token: z.string().min(16).max(64) }) } },
      async (req, reply) =>
        reply.type('text/html; charset=utf-8').send(
          page(
            'Bienvenue',
            html`<p>Votre infirmière vous a donné ce code pour entrer dans votre espace.</p>
              <form method="post" action="/patient/qr/${req.params.token}">
                <button type="submit">Entrer dans mon espace</button>
              </form>`,
          ),
        ),
    );
    scope.post(
      '/patient/qr/:token',
      { schema: { hide: true, params: z.object({ token: z.string().min(16).max(64) }) } },
      async (req, reply) => {
        const { token } = await side.accounts.redeemQr(req.params.token);
        setSession(reply, token);
        return reply.redirect('/patient', 303);
      },
    );

    scope.post('/patient/signout', { schema: { hide: true } }, async (req, reply) => {
      const token = req.cookies[SESSION_COOKIE];
      if (token) await side.accounts.signOut(token);
      reply.clearCookie(SESSION_COOKIE, { path: '/patient' });
      return reply.redirect('/patient', 303);
    });

    // ---- the record (JSON) -----------------------------------------------------------------
    scope.get('/patient/api/me', { schema: { hide: true } }, async (req) => {
      const s = signedIn(req);
      const { rows } = await side.pool.query<{ id: string; display_name: string; program_id: string }>(
        'SELECT id, display_name, program_id FROM patients WHERE id = $1',
        [s.patientId],
      );
      const now = side.clock.now();
      return {
        subject: s,
        patient: { id: one(rows).id, displayName: one(rows).display_name, programId: one(rows).program_id },
        readings: await latestInPlainWords(side.pool, s.patientId, now),
        requests: await pendingRequests(side.pool, s.patientId),
        questionnairesDue: await side.questionnaires.due(s.patientId),
        notices: await spaceNotices(side, s.patientId),
      };
    });
    scope.get('/patient/api/threads', { schema: { hide: true } }, async (req) => {
      const s = signedIn(req);
      return { threads: await messages().threads(reader(s), s.patientId) };
    });
    scope.get(
      '/patient/api/threads/:id',
      { schema: { hide: true, params: z.object({ id: z.coerce.number().int().positive() }) } },
      async (req) => messages().read(reader(signedIn(req)), req.params.id),
    );

    // ---- messages --------------------------------------------------------------------------
    scope.get('/patient/messages', { schema: { hide: true } }, async (req, reply) => {
      const s = signedIn(req);
      return send(reply, 'Mes messages', threadsPage(await messages().threads(reader(s), s.patientId)));
    });
    scope.get(
      '/patient/messages/:id',
      {
        schema: {
          hide: true,
          params: z.object({ id: z.coerce.number().int().positive() }),
          querystring: z.object({ sent: z.enum(['1', 'urgent']).optional() }),
        },
      },
      async (req, reply) => {
        const s = signedIn(req);
        const t = await messages().read(reader(s), req.params.id);
        return send(
          reply,
          t.thread.subject,
          threadPage(
            t,
            s,
            await authorNames(
              side,
              t.messages.map((m) => m.authorId),
            ),
            req.query.sent,
          ),
        );
      },
    );
    const readForm = async (
      req: FastifyRequest,
    ): Promise<{ fields: Record<string, string>; files: AttachmentInput[] }> => {
      const fields: Record<string, string> = {};
      const files: AttachmentInput[] = [];
      if (!req.isMultipart()) {
        for (const [k, v] of Object.entries((req.body ?? {}) as Record<string, unknown>))
          if (typeof v === 'string') fields[k] = v;
        return { fields, files };
      }
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          const bytes = await part.toBuffer();
          if (bytes.length) files.push({ filename: part.filename, bytes });
        } else if (typeof part.value === 'string') fields[part.fieldname] = part.value;
      }
      return { fields, files };
    };
    const postedBody = z.object({
      subject: z.string().trim().max(200).optional(),
      body: z.string().trim().min(1).max(5000),
    });
    scope.post('/patient/messages', { schema: { hide: true } }, async (req, reply) => {
      const s = signedIn(req);
      const { fields, files } = await readForm(req);
      const f = postedBody.parse(fields);
      const r = await messages().createThread(reader(s), s.patientId, 'patient', f.subject || 'Message', {
        body: f.body,
        attachments: files,
      });
      return reply.redirect(`/patient/messages/${r.threadId}?sent=${r.episodeId ? 'urgent' : '1'}`, 303);
    });
    scope.post(
      '/patient/messages/:id',
      { schema: { hide: true, params: z.object({ id: z.coerce.number().int().positive() }) } },
      async (req, reply) => {
        const s = signedIn(req);
        const { fields, files } = await readForm(req);
        const f = postedBody.parse(fields);
        const r = await messages().post(reader(s), req.params.id, { body: f.body, attachments: files });
        return reply.redirect(`/patient/messages/${req.params.id}?sent=${r.episodeId ? 'urgent' : '1'}`, 303);
      },
    );
    scope.get(
      '/patient/attachments/:id',
      { schema: { hide: true, params: z.object({ id: z.coerce.number().int().positive() }) } },
      async (req, reply) => {
        const a = await messages().attachment(reader(signedIn(req)), req.params.id);
        return reply
          .type(a.mediaType)
          .header('content-disposition', `attachment; filename="${encodeURIComponent(a.filename)}"`)
          .send(a.bytes);
      },
    );

    // ---- questionnaires ---------------------------------------------------------------------
    scope.get('/patient/questionnaires', { schema: { hide: true } }, async (req, reply) => {
      const s = signedIn(req);
      const [due, answered] = await Promise.all([
        side.questionnaires.due(s.patientId),
        side.questionnaires.responses(s.patientId),
      ]);
      return send(
        reply,
        'Mes questionnaires',
        html`${
          due.length
            ? html`<ul class="plain">
                ${due.map((d) => html`<li><a class="button" href="/patient/questionnaires/${d.id}">${d.title}</a></li>`)}
              </ul>`
            : html`<p class="ok">Rien à remplir pour le moment. Merci !</p>`
        }
        ${answeredList(answered.slice(0, 10).map((r) => ({ ...r, title: side.questionnaires.catalog.get(r.questionnaireId)?.title ?? r.questionnaireId })))}`,
      );
    });
    scope.get(
      '/patient/questionnaires/:id',
      { schema: { hide: true, params: z.object({ id: z.string().max(64) }) } },
      async (req, reply) => {
        signedIn(req);
        const q = side.questionnaires.get(req.params.id);
        return send(reply, q.title, questionnairePage(q));
      },
    );
    scope.post(
      '/patient/questionnaires/:id',
      { schema: { hide: true, params: z.object({ id: z.string().max(64) }) } },
      async (req, reply) => {
        const s = signedIn(req);
        const raw = (req.body ?? {}) as Record<string, unknown>;
        const answers = Object.fromEntries(
          Object.entries(raw).filter((e): e is [string, string] => typeof e[1] === 'string'),
        );
        const r = await side.questionnaires.submit(s.patientId, req.params.id, answers, { kind: s.kind, id: s.id });
        return send(reply, 'Merci', questionnaireResultPage(r.outcome));
      },
    );
    scope.post(
      '/patient/api/questionnaires/:id',
      {
        schema: {
          hide: true,
          params: z.object({ id: z.string().max(64) }),
          body: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
        },
      },
      async (req) => {
        const s = signedIn(req);
        return side.questionnaires.submit(s.patientId, req.params.id, req.body, { kind: s.kind, id: s.id });
      },
    );

    // ---- documents --------------------------------------------------------------------------
    const programOf = async (patientId: string) =>
      (await side.pool.query<{ program_id: string }>('SELECT program_id FROM patients WHERE id = $1', [patientId]))
        .rows[0]?.program_id ?? '';
    scope.get('/patient/documents', { schema: { hide: true } }, async (req, reply) => {
      const s = signedIn(req);
      return send(
        reply,
        'Mes documents',
        documentsPage(await side.reviews.reviewedOnly(articlesFor(side.library, await programOf(s.patientId), s.kind))),
      );
    });
    scope.get(
      '/patient/documents/:id',
      { schema: { hide: true, params: z.object({ id: z.string().max(100) }) } },
      async (req, reply) => {
        const s = signedIn(req);
        // a draft (never reviewed, or changed since its review) is not shown to patients
        const [a] = await side.reviews.reviewedOnly(
          articlesFor(side.library, await programOf(s.patientId), s.kind).filter((x) => x.id === req.params.id),
        );
        const review = a?.review;
        if (!a || !review) throw new ApiError('NOT_FOUND', 'no such document');
        return send(reply, a.title, documentPage({ ...a, review }));
      },
    );

    // ---- caregivers and consents: the patient herself only ----------------------------------
    const patientOnly = (req: FastifyRequest): PortalSubject => {
      const s = signedIn(req);
      if (s.kind !== 'patient') throw new ApiError('FORBIDDEN', 'only the patient decides this');
      return s;
    };
    scope.get('/patient/caregivers', { schema: { hide: true } }, async (req, reply) => {
      const s = patientOnly(req);
      return send(reply, 'Mes proches (aidants)', caregiversPage(await side.accounts.caregivers(s.patientId)));
    });
    const grantBody = z.object({
      displayName: z.string().trim().min(1).max(100),
      address: z.string().trim().min(3).max(200),
    });
    scope.post('/patient/caregivers', { schema: { hide: true, body: grantBody } }, async (req, reply) => {
      const s = patientOnly(req);
      const email = req.body.address.includes('@') ? req.body.address : null;
      await side.accounts.grantCaregiver(
        s.patientId,
        { displayName: req.body.displayName, email, phone: email ? null : req.body.address },
        `patient:${s.id}`,
      );
      return reply.redirect('/patient/caregivers', 303);
    });
    scope.post('/patient/api/caregivers', { schema: { hide: true, body: grantBody } }, async (req) => {
      const s = patientOnly(req);
      const email = req.body.address.includes('@') ? req.body.address : null;
      return {
        id: await side.accounts.grantCaregiver(
          s.patientId,
          { displayName: req.body.displayName, email, phone: email ? null : req.body.address },
          `patient:${s.id}`,
        ),
      };
    });
    scope.post(
      '/patient/caregivers/:id/revoke',
      { schema: { hide: true, params: z.object({ id: z.string().max(40) }) } },
      async (req, reply) => {
        const s = patientOnly(req);
        await side.accounts.revokeCaregiver(s.patientId, req.params.id, `patient:${s.id}`);
        return wantsHtml(req) ? reply.redirect('/patient/caregivers', 303) : { revoked: true };
      },
    );
    scope.post(
      '/patient/api/caregivers/:id/revoke',
      { schema: { hide: true, params: z.object({ id: z.string().max(40) }) } },
      async (req) => {
        const s = patientOnly(req);
        await side.accounts.revokeCaregiver(s.patientId, req.params.id, `patient:${s.id}`);
        return { revoked: true };
      },
    );
    scope.get('/patient/sharing', { schema: { hide: true } }, async (req, reply) => {
      const s = patientOnly(req);
      return send(reply, 'Qui voit mes informations', consentsPage(await readConsents(side.pool, s.patientId)));
    });
    scope.post('/patient/sharing', { schema: { hide: true } }, async (req, reply) => {
      const s = patientOnly(req);
      await saveConsents(
        side.pool,
        s.patientId,
        (req.body ?? {}) as Record<string, unknown>,
        `patient:${s.id}`,
        side.clock.now(),
      );
      return reply.redirect('/patient/sharing', 303);
    });
  });
}

async function spaceNotices(side: PatientSide, patientId: string): Promise<{ template: string; at: string }[]> {
  const { rows } = await side.pool.query<{ template_key: string; created_at: Date }>(
    `SELECT template_key, created_at FROM notify_deliveries WHERE patient_id = $1 AND channel = 'space' AND recipient_kind = 'patient' ORDER BY created_at DESC LIMIT 20`,
    [patientId],
  );
  return rows.map((r) => ({ template: r.template_key, at: r.created_at.toISOString() }));
}

async function authorNames(side: PatientSide, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await side.pool.query<{ id: string; display_name: string }>(
    'SELECT id, display_name FROM professionals WHERE id = ANY($1::text[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.display_name]));
}

function frenchError(code: string): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'Vous n’êtes plus connecté(e). Revenez à votre espace pour recevoir un nouveau code.';
    case 'CODE_INVALID':
      return 'Ce code ne marche plus. Demandez un nouveau code, ou un nouveau QR code à votre infirmière.';
    case 'CODE_RATE_LIMITED':
    case 'RATE_LIMITED':
      return 'Vous avez demandé beaucoup de codes. Attendez 15 minutes, puis réessayez.';
    case 'ATTACHMENT_TOO_LARGE':
      return 'La photo ou le document est trop gros. Essayez une photo plus petite.';
    case 'ATTACHMENT_TYPE':
      return 'Vous pouvez ajouter des photos, ou des documents au format PDF, seulement.';
    case 'INVALID_ANSWERS':
    case 'INVALID_REQUEST':
      return 'Il manque une réponse, ou une réponse n’est pas lisible. Revenez en arrière pour vérifier.';
    case 'NOT_FOUND':
    case 'FORBIDDEN':
      return 'Cette page n’existe pas, ou elle n’est pas pour vous.';
    default:
      return 'Le service ne répond pas pour le moment. Réessayez dans quelques minutes. En cas d’urgence, appelez le 15.';
  }
}
