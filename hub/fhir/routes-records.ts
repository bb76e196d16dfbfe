import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { audit } from '../alerts/audit';
import { can, requirePatient } from '../api/authz';
import { bearer, who, type ApiContext, type ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import type { Reader } from '../messaging/store';
import { toApiError } from '../patient/errors';
import type { PatientSide } from '../patient/side';
import { requiredPatient } from './access';
import { toCommunication, type OpenedMessage } from './communication';
import { baseUrl, dateConditions, FHIR_JSON, pageParams, patientParam, resourceSchema, selfUrl } from './http';
import { keysetPage } from './keyset';
import { decodeCursor, searchsetPage } from './paging';
import { toQuestionnaire, toQuestionnaireResponse } from './questionnaire';

const apiBase = (req: FastifyRequest) => `${req.protocol}://${req.host}`;

/**
 * FHIR R4 Questionnaire, QuestionnaireResponse and Communication (docs/api.md "FHIR"): the
 * questionnaires shipped as data, the answers patients gave, and the secure messages about a patient,
 * opened. Same authorization as the API routes they mirror (hub/patient/pro-routes.ts).
 */
export function registerFhirRecordRoutes(app: ZApp, ctx: ApiContext, side: PatientSide): void {
  const catalog = () => [...side.questionnaires.catalog.values()].sort((a, b) => a.id.localeCompare(b.id));

  app.get(
    '/fhir/Questionnaire/:id',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Questionnaire read (the questionnaires patients are given)',
        params: z.object({ id: z.string().max(64) }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const q = side.questionnaires.catalog.get(req.params.id);
      if (!q) throw new ApiError('NOT_FOUND', 'no such questionnaire');
      return reply.type(FHIR_JSON).send(toQuestionnaire(q));
    },
  );

  app.get(
    '/fhir/Questionnaire',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary: 'FHIR R4 Questionnaire search (_id, url, status, _count, paging)',
        querystring: z.object({
          _id: z.string().max(64).optional(),
          url: z.string().max(200).optional(),
          status: z.enum(['draft', 'active', 'retired']).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const cursor = decodeCursor(q._cursor);
      const url = q.url?.split('|')[0];
      const matches = catalog().filter(
        (x) =>
          (q._id === undefined || x.id === q._id) &&
          (url === undefined || x.url === url) &&
          (q.status === undefined || x.status === q.status),
      );
      // keyset on the id, as the database searches do
      const after = cursor ? matches.filter((x) => x.id > cursor.id) : matches;
      const page = after.slice(0, q._count);
      const last = page[page.length - 1];
      const next = after.length > q._count && last ? { k: last.id, id: last.id } : undefined;
      return reply
        .type(FHIR_JSON)
        .send(searchsetPage(baseUrl(req), selfUrl(req), page.map(toQuestionnaire), matches.length, next));
    },
  );

  app.get(
    '/fhir/QuestionnaireResponse',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary:
          "FHIR R4 QuestionnaireResponse search: a patient's answers (patient, questionnaire, authored, _count, paging)",
        querystring: z.object({
          patient: patientParam.optional(),
          questionnaire: z.string().max(200).optional(),
          authored: z.union([z.string(), z.array(z.string())]).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query;
      const patient = requiredPatient(req, q.patient);
      // the care team reads answers as trends; the coaching team reads the risk questionnaire's
      await requirePatient(ctx.pool, p, can(p, 'trends.read') ? 'trends.read' : 'coaching.read', patient);
      const params: unknown[] = [patient];
      const where = ['patient_id = $1'];
      if (q.questionnaire) {
        // a canonical (url or url|version) or a Questionnaire id / reference
        const c = q.questionnaire.split('|')[0] ?? '';
        const id =
          [...side.questionnaires.catalog.values()].find((x) => x.url === c)?.id ?? c.replace(/^Questionnaire\//, '');
        where.push(`questionnaire_id = $${params.push(id)}`);
      }
      where.push(
        ...dateConditions('authored_at', q.authored, params, (d) => new ApiError('INVALID_REQUEST', `bad date ${d}`)),
      );
      const page = await keysetPage<{ id: string; resource: object; authored_at: Date }>(ctx, {
        select: 'SELECT id::text AS id, resource, authored_at FROM questionnaire_responses',
        where,
        params,
        key: "date_trunc('milliseconds', authored_at)",
        keyType: 'timestamptz',
        id: "lpad(id::text, 20, '0')",
        descending: true,
        count: q._count,
        cursor: decodeCursor(q._cursor),
        keyOf: (r) => r.authored_at.toISOString(),
        idOf: (r) => r.id.padStart(20, '0'),
      });
      const resources = page.rows.map((r) => toQuestionnaireResponse({ id: Number(r.id), resource: r.resource }));
      return reply.type(FHIR_JSON).send(searchsetPage(baseUrl(req), selfUrl(req), resources, page.total, page.next));
    },
  );

  app.get(
    '/fhir/Communication',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary:
          'FHIR R4 Communication search: the secure messages about a patient, opened (patient, sent, category, _count, paging)',
        querystring: z.object({
          patient: patientParam.optional(),
          sent: z.union([z.string(), z.array(z.string())]).optional(),
          category: z.enum(['patient', 'team']).optional(),
          ...pageParams,
        }),
        response: { 200: resourceSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const q = req.query;
      const patient = requiredPatient(req, q.patient);
      const store = side.messages;
      if (!store) throw new ApiError('MESSAGING_UNAVAILABLE', 'messaging has no encryption key configured');
      const reader: Reader = { kind: 'professional', professional: p };
      // who may read a patient's threads: messaging role, care team, consent with 'messages' in its scope
      await store.authorize(reader, patient, 'patient').catch((e: unknown) => {
        throw toApiError(e) ?? e;
      });
      const params: unknown[] = [patient];
      const where = ['t.patient_id = $1'];
      if (q.category) where.push(`t.kind = $${params.push(q.category)}`);
      where.push(
        ...dateConditions('m.created_at', q.sent, params, (d) => new ApiError('INVALID_REQUEST', `bad date ${d}`)),
      );
      const page = await keysetPage<MessageDbRow>(ctx, {
        select: `SELECT m.id::text AS id, m.thread_id::text AS thread_id, t.kind, t.subject_enc, t.key_id AS subject_key,
                        m.author_kind, m.author_id, m.body_enc, m.key_id, m.urgent, m.episode_id::text AS episode_id, m.created_at,
                        (SELECT p.id::text FROM messages p WHERE p.thread_id = m.thread_id AND (p.created_at, p.id) < (m.created_at, m.id)
                          ORDER BY p.created_at DESC, p.id DESC LIMIT 1) AS previous_id
                   FROM messages m JOIN message_threads t ON t.id = m.thread_id`,
        where,
        params,
        key: "date_trunc('milliseconds', m.created_at)",
        keyType: 'timestamptz',
        id: "lpad(m.id::text, 20, '0')",
        descending: true,
        count: q._count,
        cursor: decodeCursor(q._cursor),
        keyOf: (r) => r.created_at.toISOString(),
        idOf: (r) => r.id.padStart(20, '0'),
      });
      const ids = page.rows.map((r) => r.id);
      const att = await ctx.pool.query<{
        id: string;
        message_id: string;
        media_type: string;
        size_bytes: number;
        filename_enc: Buffer;
        key_id: string;
      }>(
        'SELECT id::text AS id, message_id::text AS message_id, media_type, size_bytes, filename_enc, key_id FROM message_attachments WHERE message_id = ANY($1::bigint[]) ORDER BY id',
        [ids],
      );
      const opened: OpenedMessage[] = page.rows.map((r) => {
        const threadId = Number(r.thread_id);
        const { subject, body } = store.openSealed(
          patient,
          threadId,
          { sealed: r.subject_enc, keyId: r.subject_key },
          { sealed: r.body_enc, keyId: r.key_id },
        );
        return {
          id: Number(r.id),
          threadId,
          threadKind: r.kind,
          subject,
          patientId: patient,
          authorKind: r.author_kind,
          authorId: r.author_id,
          body,
          urgent: r.urgent,
          createdAt: r.created_at,
          previousId: r.previous_id === null ? null : Number(r.previous_id),
          episodeId: r.episode_id === null ? null : Number(r.episode_id),
          attachments: att.rows
            .filter((a) => a.message_id === r.id)
            .map((a) => ({
              id: Number(a.id),
              mediaType: a.media_type,
              sizeBytes: a.size_bytes,
              filename: store.openFilename(threadId, a.filename_enc, a.key_id),
            })),
        };
      });
      await audit(ctx.pool, {
        actor: p.id,
        action: 'messages.viewed',
        entity: 'patient',
        entityId: patient,
        detail: { via: 'fhir', count: opened.length },
        at: ctx.clock.now(),
      });
      return reply.type(FHIR_JSON).send(
        searchsetPage(
          baseUrl(req),
          selfUrl(req),
          opened.map((m) => toCommunication(m, apiBase(req))),
          page.total,
          page.next,
        ),
      );
    },
  );
}

interface MessageDbRow {
  id: string;
  thread_id: string;
  kind: 'patient' | 'team';
  subject_enc: Buffer;
  subject_key: string;
  author_kind: 'patient' | 'caregiver' | 'professional';
  author_id: string;
  body_enc: Buffer;
  key_id: string;
  urgent: boolean;
  episode_id: string | null;
  created_at: Date;
  previous_id: string | null;
}
