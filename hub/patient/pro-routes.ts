import multipart from '@fastify/multipart';
import QRCode from 'qrcode';
import { z } from 'zod';
import { audit } from '../alerts/audit';
import { patientScopeSql, requireCap, requirePatient, type Professional } from '../api/authz';
import { bearer, who, type ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import { AUDIENCES, articlesFor, type Audience } from '../content/library';
import { MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, type AttachmentInput, type Reader } from '../messaging/store';
import { DEFAULT_TEMPLATES, templateKeySchema, templateSchema } from '../notify/templates';
import { toApiError } from './errors';
import type { PatientSide } from './side';

const idParams = z.object({ id: z.string().min(1).max(64) });
const numId = z.object({ id: z.coerce.number().int().positive() });

function requireRole(p: Professional, roles: readonly string[], what: string): void {
  if (!roles.includes(p.role)) throw new ApiError('FORBIDDEN', `role ${p.role} may not ${what}`);
}

/**
 * The care team's side of the patient features, under /api (bearer tokens, hub/api/authz.ts):
 * portal contact and printed QR codes, messaging, questionnaires and adherence, education content
 * by role, notification templates, on-call rota, delivery log. Documented in docs/patient.md and
 * docs/messaging.md.
 */
export async function registerPatientSideApi(app: ZApp, side: PatientSide): Promise<void> {
  await app.register(async (scope: ZApp) => {
    await scope.register(multipart, {
      limits: { fileSize: MAX_ATTACHMENT_BYTES, files: MAX_ATTACHMENTS, fields: 10, fieldSize: 16 * 1024 },
    });
    scope.setErrorHandler((err, _req, reply) => {
      const e = toApiError(err);
      if (!e) throw err;
      return reply.status(e.status).send({ code: e.code, message: e.message });
    });
    const messages = () => {
      if (!side.messages)
        throw new ApiError('MESSAGING_UNAVAILABLE', 'messaging has no encryption key configured (VIGIL_MESSAGE_KEYS)');
      return side.messages;
    };
    const pro = (p: Professional): Reader => ({ kind: 'professional', professional: p });
    const tags = ['patient side'];

    // ---- accounts ---------------------------------------------------------------------------
    scope.put(
      '/api/patients/:id/portal-contact',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Set the e-mail address and mobile number the patient signs in with',
          params: idParams,
          body: z.object({
            email: z.email().max(200).nullable().optional(),
            phone: z.string().min(6).max(30).nullable().optional(),
            locale: z.enum(['fr', 'en']).default('fr'),
          }),
        },
      },
      async (req) => {
        const p = who(req);
        await requirePatient(side.pool, p, 'enrollment.write', req.params.id);
        await side.accounts.setContact(req.params.id, req.body, p.id);
        return { ok: true };
      },
    );
    scope.post(
      '/api/patients/:id/signin-qr',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Issue a printable single-use sign-in QR code (30 days)',
          params: idParams,
        },
      },
      async (req) => {
        const p = who(req);
        await requirePatient(side.pool, p, 'enrollment.write', req.params.id);
        const { token, expiresAt } = await side.accounts.issueQr(req.params.id, p.id);
        const url = new URL(`/patient/qr/${token}`, side.publicUrl).toString();
        return {
          url,
          svg: await QRCode.toString(url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
          expiresAt: expiresAt.toISOString(),
        };
      },
    );

    // ---- messaging --------------------------------------------------------------------------
    scope.get(
      '/api/patients/:id/threads',
      { schema: { tags, security: bearer, summary: 'Message threads about the patient', params: idParams } },
      async (req) => ({
        threads: await messages().threads(pro(who(req)), req.params.id),
      }),
    );
    scope.post(
      '/api/patients/:id/threads',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Start a thread with the patient (kind patient) or within the team (kind team)',
          params: idParams,
          body: z.object({
            kind: z.enum(['patient', 'team']),
            subject: z.string().trim().min(1).max(200),
            body: z.string().trim().min(1).max(5000),
            urgent: z.boolean().default(false),
          }),
        },
      },
      async (req) =>
        messages().createThread(pro(who(req)), req.params.id, req.body.kind, req.body.subject, {
          body: req.body.body,
          urgent: req.body.urgent,
        }),
    );
    scope.get(
      '/api/threads/:id',
      { schema: { tags, security: bearer, summary: 'Read a thread (records read receipts)', params: numId } },
      async (req) => messages().read(pro(who(req)), req.params.id),
    );
    scope.post(
      '/api/threads/:id/messages',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Post a message: JSON {body, urgent} or multipart with files (JPEG, PNG, PDF; 5 MiB)',
          params: numId,
        },
      },
      async (req) => {
        let body = '';
        let urgent = false;
        const attachments: AttachmentInput[] = [];
        if (req.isMultipart()) {
          for await (const part of req.parts()) {
            if (part.type === 'file') attachments.push({ filename: part.filename, bytes: await part.toBuffer() });
            else if (part.fieldname === 'body' && typeof part.value === 'string') body = part.value;
            else if (part.fieldname === 'urgent') urgent = part.value === 'true';
          }
        } else {
          const b = z
            .object({ body: z.string().trim().min(1).max(5000), urgent: z.boolean().default(false) })
            .parse(req.body);
          ({ body, urgent } = b);
        }
        if (!body.trim()) throw new ApiError('INVALID_REQUEST', 'a message needs a body');
        return messages().post(pro(who(req)), req.params.id, { body, urgent, attachments });
      },
    );
    scope.get(
      '/api/attachments/:id',
      { schema: { tags, security: bearer, summary: 'Download an attachment', params: numId } },
      async (req, reply) => {
        const a = await messages().attachment(pro(who(req)), req.params.id);
        return reply
          .type(a.mediaType)
          .header('content-disposition', `attachment; filename="${encodeURIComponent(a.filename)}"`)
          .send(a.bytes);
      },
    );

    // ---- questionnaires ---------------------------------------------------------------------
    scope.get(
      '/api/questionnaires',
      { schema: { tags, security: bearer, summary: 'Questionnaires (FHIR R4 Questionnaire)' } },
      () => Promise.resolve({ questionnaires: [...side.questionnaires.catalog.values()] }),
    );
    scope.post(
      '/api/patients/:id/questionnaires',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Assign a questionnaire (repeats per its schedule)',
          params: idParams,
          body: z.object({ questionnaireId: z.string().max(64), firstDueAt: z.iso.datetime().optional() }),
        },
      },
      async (req) => {
        const p = who(req);
        await requirePatient(side.pool, p, 'enrollment.write', req.params.id);
        await side.questionnaires.assign(
          req.params.id,
          req.body.questionnaireId,
          p.id,
          req.body.firstDueAt ? new Date(req.body.firstDueAt) : undefined,
        );
        return { ok: true };
      },
    );
    scope.get(
      '/api/patients/:id/questionnaire-responses',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Answers (FHIR QuestionnaireResponse) and scores',
          params: idParams,
        },
      },
      async (req) => {
        const p = who(req);
        // the patient may exclude a professional from her questionnaires (patient space, "Qui voit mes informations")
        await requirePatient(side.pool, p, 'questionnaires.read', req.params.id);
        return { responses: await side.questionnaires.responses(req.params.id) };
      },
    );
    scope.get(
      '/api/questionnaires/adherence',
      { schema: { tags, security: bearer, summary: 'Questionnaire adherence of the patients in scope (worklist)' } },
      async (req) => {
        const p = who(req);
        requireCap(p, 'trends.read');
        // a patient who excluded this professional from her questionnaires is left out, as one outside his scope
        const { rows } = await side.pool.query<{ id: string }>(
          `SELECT id FROM patients WHERE ${patientScopeSql(p, 'patients.id', '$1', true, 'questionnaires.read')}`,
          [p.id],
        );
        return { adherence: await side.questionnaires.adherence(rows.map((r) => r.id)) };
      },
    );

    // ---- education content by role ----------------------------------------------------------
    scope.get(
      '/api/content',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Education content for the caller’s role',
          querystring: z.object({ program: z.string().max(64) }),
        },
      },
      async (req) => {
        const p = who(req);
        const audience = (AUDIENCES as readonly string[]).includes(p.role) ? (p.role as Audience) : null;
        // a reviewer of the program sees all its articles, drafts labelled; the others its reviewed articles for their role
        const reviewer = (await side.reviews.reviewerPrograms(p)).has(req.query.program);
        const visible = reviewer
          ? side.library.filter((a) => a.program === req.query.program)
          : audience
            ? articlesFor(side.library, req.query.program, audience)
            : [];
        const articles = await side.reviews.withReviews(visible);
        return {
          mayReview: reviewer,
          articles: articles
            .filter((a) => reviewer || a.review)
            .map((a) => ({
              id: a.id,
              title: a.title,
              kind: a.kind,
              audience: a.audience,
              molecule: a.molecule ?? null,
              status: a.review ? ('reviewed' as const) : ('draft' as const),
              label: a.review ? null : 'brouillon',
              contentHash: a.contentHash,
              reviewedBy: a.review?.reviewerName ?? null,
              reviewDate: a.review ? a.review.reviewedAt.toISOString().slice(0, 10) : null,
              sources: a.sources,
              html: a.html,
            })),
        };
      },
    );
    scope.post(
      '/api/content/:id/review',
      {
        schema: {
          tags,
          security: bearer,
          summary:
            'Mark the version of an article one has read as reviewed (its physicians; the pharmacist for oral chemotherapy)',
          params: z.object({ id: z.string().max(100) }),
          body: z.object({ contentHash: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
        },
      },
      async (req) => {
        const review = await side.reviews.review(side.library, who(req), req.params.id, req.body.contentHash);
        return {
          status: 'reviewed' as const,
          reviewedBy: review.reviewerName,
          reviewDate: review.reviewedAt.toISOString().slice(0, 10),
        };
      },
    );

    // ---- notifications ----------------------------------------------------------------------
    const editors = ['coordinating_nurse', 'admin'];
    scope.get(
      '/api/notify/templates',
      { schema: { tags, security: bearer, summary: 'Notification templates (defaults and the nurses’ edits)' } },
      async (req) => {
        requireRole(who(req), editors, 'read templates');
        const { rows } = await side.pool.query<{
          key: string;
          locale: string;
          subject: string;
          body: string;
          updated_by: string;
          updated_at: Date;
        }>('SELECT key, locale, subject, body, updated_by, updated_at FROM notify_templates');
        return {
          templates: Object.entries(DEFAULT_TEMPLATES).flatMap(([key, byLocale]) =>
            Object.entries(byLocale).map(([locale, t]) => {
              const edited = rows.find((r) => r.key === key && r.locale === locale);
              return {
                key,
                locale,
                subject: edited?.subject ?? t.subject,
                body: edited?.body ?? t.body,
                edited: !!edited,
                updatedBy: edited?.updated_by ?? null,
              };
            }),
          ),
        };
      },
    );
    scope.put(
      '/api/notify/templates/:key/:locale',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Edit a template',
          params: z.object({ key: templateKeySchema, locale: z.enum(['fr', 'en']) }),
          body: templateSchema,
        },
      },
      async (req) => {
        const p = who(req);
        requireRole(p, editors, 'edit templates');
        const used = new Set(
          [...(DEFAULT_TEMPLATES[req.params.key]?.[req.params.locale].body ?? '').matchAll(/\{\{(\w+)\}\}/g)].map(
            (m) => m[1],
          ),
        );
        const unknown = [...`${req.body.subject} ${req.body.body}`.matchAll(/\{\{(\w+)\}\}/g)]
          .map((m) => m[1])
          .filter((k) => !used.has(k));
        if (unknown.length) throw new ApiError('INVALID_REQUEST', `unknown placeholders: ${unknown.join(', ')}`);
        await side.pool.query(
          `INSERT INTO notify_templates (key, locale, subject, body, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key, locale) DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
          [req.params.key, req.params.locale, req.body.subject, req.body.body, p.id, side.clock.now()],
        );
        await audit(side.pool, {
          actor: p.id,
          action: 'notify.template_edited',
          entity: 'notify_template',
          entityId: `${req.params.key}/${req.params.locale}`,
          at: side.clock.now(),
        });
        return { ok: true };
      },
    );
    scope.put(
      '/api/professionals/:id/contact',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'A professional’s e-mail and phone for on-call alerts (self or admin)',
          params: idParams,
          body: z.object({ email: z.email().nullable(), phone: z.string().min(6).max(30).nullable() }),
        },
      },
      async (req) => {
        const p = who(req);
        if (p.id !== req.params.id && p.role !== 'admin')
          throw new ApiError('FORBIDDEN', 'only the professional or an admin');
        await side.pool.query(
          `INSERT INTO professional_contacts (professional_id, email, phone) VALUES ($1, $2, $3)
           ON CONFLICT (professional_id) DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone`,
          [req.params.id, req.body.email, req.body.phone],
        );
        return { ok: true };
      },
    );
    const teamAdmin = async (p: Professional, teamId: string) => {
      if (p.role === 'admin') return;
      const { rows } = await side.pool.query(
        `SELECT 1 FROM care_team_members WHERE care_team_id = $1 AND professional_id = $2 AND role = 'coordinating_nurse'`,
        [teamId, p.id],
      );
      if (!rows[0])
        throw new ApiError('FORBIDDEN', 'only the team’s coordinating nurse or an admin manages its on-call rota');
    };
    scope.post(
      '/api/care-teams/:id/oncall',
      {
        schema: {
          tags,
          security: bearer,
          summary: 'Add an on-call shift',
          params: idParams,
          body: z.object({
            professionalId: z.string().max(64),
            startsAt: z.iso.datetime(),
            endsAt: z.iso.datetime(),
          }),
        },
      },
      async (req) => {
        const p = who(req);
        await teamAdmin(p, req.params.id);
        const { rows } = await side.pool.query<{ id: string }>(
          `INSERT INTO oncall_shifts (care_team_id, professional_id, starts_at, ends_at, created_by)
           SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM care_team_members WHERE care_team_id = $1 AND professional_id = $2) RETURNING id`,
          [req.params.id, req.body.professionalId, req.body.startsAt, req.body.endsAt, p.id],
        );
        if (!rows[0]) throw new ApiError('INVALID_REQUEST', 'the professional is not a member of this team');
        return { id: Number(rows[0].id) };
      },
    );
    scope.get(
      '/api/care-teams/:id/oncall',
      { schema: { tags, security: bearer, summary: 'On-call rota of a team (next 30 days)', params: idParams } },
      async (req) => {
        await teamAdmin(who(req), req.params.id);
        const { rows } = await side.pool.query<{ id: string; professional_id: string; starts_at: Date; ends_at: Date }>(
          `SELECT id, professional_id, starts_at, ends_at FROM oncall_shifts WHERE care_team_id = $1 AND ends_at > $2 AND starts_at < $2::timestamptz + interval '30 days' ORDER BY starts_at`,
          [req.params.id, side.clock.now()],
        );
        return {
          shifts: rows.map((r) => ({
            id: Number(r.id),
            professionalId: r.professional_id,
            startsAt: r.starts_at.toISOString(),
            endsAt: r.ends_at.toISOString(),
          })),
        };
      },
    );
    scope.get(
      '/api/patients/:id/notify-deliveries',
      { schema: { tags, security: bearer, summary: 'Delivery log of the patient’s notifications', params: idParams } },
      async (req) => {
        const p = who(req);
        await requirePatient(side.pool, p, 'deliveries.read', req.params.id);
        const { rows } = await side.pool.query<{
          id: string;
          recipient_kind: string;
          channel: string;
          template_key: string;
          status: string;
          attempts: number;
          last_error: string | null;
          sent_at: Date | null;
          created_at: Date;
        }>(
          `SELECT id, recipient_kind, channel, template_key, status, attempts, last_error, sent_at, created_at FROM notify_deliveries WHERE patient_id = $1 ORDER BY created_at DESC LIMIT 200`,
          [req.params.id],
        );
        return {
          deliveries: rows.map((r) => ({
            id: Number(r.id),
            recipientKind: r.recipient_kind,
            channel: r.channel,
            template: r.template_key,
            status: r.status,
            attempts: r.attempts,
            lastError: r.last_error,
            sentAt: r.sent_at?.toISOString() ?? null,
            createdAt: r.created_at.toISOString(),
          })),
        };
      },
    );
  });
}
