import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { patientIdSchema, type MetricName } from '../../contract';
import { audit } from '../alerts/audit';
import { requirePatient } from '../api/authz';
import { bearer, errorSchema, who, type ApiContext, type ZApp } from '../api/context';
import { ApiError } from '../api/errors';
import type { PatientSide } from '../patient/side';
import { ruleById } from '../rules/catalog';
import { NOT_OBSERVATIONS } from './codes';
import { dmpDocument, type DmpInputs } from './dmp-document';
import { baseUrl, FHIR_JSON } from './http';

const DAY_MS = 86_400_000;

/**
 * GET /api/patients/:id/dmp-document: the patient's telemonitoring summary over the last `days`
 * as a FHIR document Bundle for the DMP (docs/fhir-dmp.md). Whoever may read both the patient's
 * readings and episodes (role, care team, consent) may export it; every export is audited.
 */
export function registerDmpRoute(app: ZApp, ctx: ApiContext, side: PatientSide): void {
  app.get(
    '/api/patients/:id/dmp-document',
    {
      schema: {
        tags: ['fhir'],
        security: bearer,
        summary:
          "The patient's telemonitoring summary as a FHIR document Bundle (FR Document Core profiles) for the DMP",
        params: z.object({ id: patientIdSchema }),
        querystring: z.object({ days: z.coerce.number().int().min(1).max(366).default(90) }),
        response: { 200: z.record(z.string(), z.unknown()), 403: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      const patientId = req.params.id;
      await requirePatient(ctx.pool, p, 'readings.read', patientId);
      await requirePatient(ctx.pool, p, 'alerts.read', patientId);
      const now = ctx.clock.now();
      const start = new Date(now.getTime() - req.query.days * DAY_MS);
      const inputs = await loadDmpInputs(ctx, side, { patientId, professionalId: p.id, start, end: now });
      const documentId = randomUUID();
      const bundle = dmpDocument({ ...inputs, documentId, base: baseUrl(req), now });
      await audit(ctx.pool, {
        actor: p.id,
        action: 'dmp.document_exported',
        entity: 'patient',
        entityId: patientId,
        detail: {
          documentId,
          days: req.query.days,
          measurements: inputs.measurements.length,
          episodes: inputs.episodes.length,
          responses: inputs.responses.length,
        },
        at: now,
      });
      return reply.type(FHIR_JSON).send(bundle);
    },
  );
}

/** Everything the document shows, read from the stores (pseudonymous patient, the author's team). */
export async function loadDmpInputs(
  ctx: Pick<ApiContext, 'pool'>,
  side: Pick<PatientSide, 'questionnaires'>,
  q: { patientId: string; professionalId: string; start: Date; end: Date },
): Promise<Omit<DmpInputs, 'documentId' | 'base' | 'now'>> {
  const [pt, pro, team, readings, episodes, responses] = await Promise.all([
    ctx.pool.query<{ id: string; display_name: string; birth_year: number | null; program_id: string }>(
      'SELECT id, display_name, birth_year, program_id FROM patients WHERE id = $1',
      [q.patientId],
    ),
    ctx.pool.query<{ id: string; display_name: string; role: string }>(
      'SELECT id, display_name, role FROM professionals WHERE id = $1',
      [q.professionalId],
    ),
    // the author's own care team of this patient (a coordinating nurse of the program may have none)
    ctx.pool.query<{ id: string; name: string }>(
      `SELECT t.id, t.name FROM care_teams t
         JOIN care_team_patients ctp ON ctp.care_team_id = t.id AND ctp.patient_id = $1
         LEFT JOIN care_team_members m ON m.care_team_id = t.id AND m.professional_id = $2
        ORDER BY (m.professional_id IS NULL), t.id LIMIT 1`,
      [q.patientId, q.professionalId],
    ),
    ctx.pool.query<{ metric: MetricName; n: number; min: number; max: number; mean: number; first: Date; last: Date }>(
      `SELECT metric, count(*)::int AS n, min(value) AS min, max(value) AS max, avg(value) AS mean,
              min(measured_at) AS first, max(measured_at) AS last
         FROM reading_ledger WHERE patient_id = $1 AND measured_at >= $2 AND measured_at <= $3
          AND NOT (metric = ANY($4::text[]))
        GROUP BY metric ORDER BY metric`,
      [q.patientId, q.start, q.end, NOT_OBSERVATIONS],
    ),
    ctx.pool.query<{
      id: string;
      rule_id: string;
      severity: 'amber' | 'red';
      status: 'open' | 'acknowledged' | 'resolved';
      opened_at: Date;
      resolved_at: Date | null;
      summary: string;
    }>(
      // episodes open at some time during the period
      `SELECT id::text AS id, rule_id, severity, status, opened_at, resolved_at, summary FROM alert_episodes
        WHERE patient_id = $1 AND opened_at <= $3 AND (resolved_at IS NULL OR resolved_at >= $2)
        ORDER BY opened_at, id`,
      [q.patientId, q.start, q.end],
    ),
    ctx.pool.query<{ id: string; questionnaire_id: string; authored_at: Date; resource: object }>(
      `SELECT id::text AS id, questionnaire_id, authored_at, resource FROM questionnaire_responses
        WHERE patient_id = $1 AND authored_at >= $2 AND authored_at <= $3 ORDER BY authored_at, id`,
      [q.patientId, q.start, q.end],
    ),
  ]);
  const patient = pt.rows[0];
  const author = pro.rows[0];
  const careTeam = team.rows[0];
  if (!patient || !author) throw new ApiError('NOT_FOUND', 'no such patient');
  if (!careTeam) throw new ApiError('CONFLICT', 'the patient is in no care team: the document would have no custodian');
  return {
    period: { start: q.start, end: q.end },
    patient: {
      id: patient.id,
      displayName: patient.display_name,
      birthYear: patient.birth_year,
      programId: patient.program_id,
    },
    author: { id: author.id, displayName: author.display_name, role: author.role },
    careTeam,
    measurements: readings.rows.map((r) => ({
      metric: r.metric,
      count: r.n,
      min: r.min,
      max: r.max,
      mean: r.mean,
      first: r.first,
      last: r.last,
    })),
    episodes: episodes.rows.map((e) => ({
      id: Number(e.id),
      ruleId: e.rule_id,
      ruleTitle: ruleById(e.rule_id)?.title ?? e.rule_id,
      severity: e.severity,
      status: e.status,
      openedAt: e.opened_at,
      resolvedAt: e.resolved_at,
      summary: e.summary,
    })),
    responses: responses.rows.map((r) => ({
      id: Number(r.id),
      questionnaireTitle: side.questionnaires.catalog.get(r.questionnaire_id)?.title ?? r.questionnaire_id,
      authoredAt: r.authored_at,
      resource: r.resource,
    })),
  };
}
