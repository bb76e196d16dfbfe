import { escape } from 'influx';
import { z } from 'zod';
import { patientIdSchema, timeTrustSchema, type TimeTrust } from '../../../contract';
import { audit } from '../../alerts/audit';
import { episodeRow, episodeColumns, type EpisodeDbRow } from '../../fhir/load';
import { episodeVisibilitySql } from '../../api/routes/alerts';
import { requireCap, requirePatient } from '../../api/authz';
import { bearer, episodeJson, episodeSchema, who, type ApiContext, type ZApp } from '../../api/context';
import { ApiError } from '../../api/errors';
import { DAY } from '../../rules/clock';
import { HEARTBEAT_MEASUREMENT } from '../../storage/influx/timeseries';

/**
 * API endpoints the care-team workspace needs beyond the original API (docs/web.md). They sit
 * under /api like the others, so integrations get them too, and go through the same
 * role x care-team x consent checks (hub/api/authz.ts):
 * - worklist rows with patient name, age and the trigger readings' devices: alerts.read;
 * - contact details: patients.read to read, enrollment.write to change;
 * - call notes: alerts.read to read, alerts.triage to write (clinical, consent needed);
 * - care team of a patient: patients.read; reading log with provenance: readings.read;
 * - device health (battery, box buffer depth): devices.read.
 */
const idParams = z.object({ id: patientIdSchema });
/** the episode columns qualified, for queries that join patients and professionals */
const E_COLUMNS = episodeColumns('e');

const worklistRowSchema = z.object({
  episode: episodeSchema,
  patient: z.object({
    id: z.string(),
    displayName: z.string(),
    birthYear: z.number().nullable(),
    programId: z.string(),
  }),
  triggers: z.array(
    z.object({ metric: z.string(), value: z.number(), measuredAt: z.string(), device: z.string(), driver: z.string() }),
  ),
  assigneeName: z.string().nullable(),
});
export type WorklistRow = z.infer<typeof worklistRowSchema>;

const contactSchema = z.object({
  phone: z.string().max(40).nullable(),
  phoneAlt: z.string().max(40).nullable(),
  address: z.string().max(500).nullable(),
  caregiverName: z.string().max(200).nullable(),
  caregiverPhone: z.string().max(40).nullable(),
});
const noteSchema = z.object({
  id: z.number(),
  episodeId: z.number().nullable(),
  author: z.string(),
  authorName: z.string().nullable(),
  at: z.string(),
  body: z.string(),
});

interface Trigger {
  metric: string;
  value: number;
  measuredAt: string;
  device: string;
  driver: string;
}
type WorklistDbRow = EpisodeDbRow & {
  silenced: boolean;
  patient_id: string;
  p_name: string;
  p_birth: number | null;
  p_program: string;
  assignee_name: string | null;
  triggers: Trigger[];
};

export function registerWebApiRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/api/worklist',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary:
          'Care-team worklist: active episodes of my patients, red first then oldest, with patient and trigger readings',
        querystring: z.object({
          program: z.string().optional(),
          severity: z.enum(['amber', 'red']).optional(),
          /** a professional id, "me" or "none" */
          assignee: z.string().optional(),
          unacknowledged: z.enum(['true', 'false']).optional(),
        }),
        response: { 200: z.object({ rows: z.array(worklistRowSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'alerts.read');
      const q = req.query;
      const params: unknown[] = [p.id, ctx.clock.now()];
      const where = [episodeVisibilitySql(p), `e.status <> 'resolved'`];
      if (q.program) where.push(`pt.program_id = $${params.push(q.program)}`);
      if (q.severity) where.push(`e.severity = $${params.push(q.severity)}`);
      if (q.assignee === 'none') where.push('e.assignee IS NULL');
      else if (q.assignee) where.push(`e.assignee = $${params.push(q.assignee === 'me' ? p.id : q.assignee)}`);
      if (q.unacknowledged === 'true') where.push(`e.status = 'open'`);
      const { rows } = await ctx.pool.query<WorklistDbRow>(
        `SELECT ${E_COLUMNS},
                EXISTS (SELECT 1 FROM alert_silences s WHERE s.patient_id = e.patient_id AND (s.rule_id IS NULL OR s.rule_id = e.rule_id)
                        AND s.starts_at <= $2 AND s.ends_at > $2 AND s.cancelled_at IS NULL) AS silenced,
                pt.display_name AS p_name, pt.birth_year AS p_birth, pt.program_id AS p_program,
                pr.display_name AS assignee_name,
                coalesce((SELECT json_agg(json_build_object('metric', l.metric, 'value', l.value, 'measuredAt', l.measured_at,
                                   'device', l.device_address, 'driver', l.driver) ORDER BY l.measured_at, l.metric)
                          FROM alert_episode_readings r JOIN reading_ledger l ON l.reading_id = r.reading_id
                          WHERE r.episode_id = e.id), '[]') AS triggers
         FROM alert_episodes e JOIN patients pt ON pt.id = e.patient_id LEFT JOIN professionals pr ON pr.id = e.assignee
         WHERE ${where.join(' AND ')}
         ORDER BY (e.severity = 'red') DESC, e.opened_at ASC LIMIT 500`,
        params,
      );
      return {
        rows: rows.map((r) => ({
          episode: episodeJson(episodeRow(r), r.silenced),
          patient: { id: r.patient_id, displayName: r.p_name, birthYear: r.p_birth, programId: r.p_program },
          triggers: r.triggers.map((t) => ({ ...t, measuredAt: new Date(t.measuredAt).toISOString() })),
          assigneeName: r.assignee_name,
        })),
      };
    },
  );

  app.get(
    '/api/patients/:id/episodes',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary: "A patient's episodes, newest first (the timeline), resolved ones included",
        params: idParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
        response: { 200: z.object({ episodes: z.array(episodeSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'alerts.read', req.params.id);
      const { rows } = await ctx.pool.query<EpisodeDbRow>(
        `SELECT ${E_COLUMNS}, false AS silenced FROM alert_episodes e
         WHERE e.patient_id = $3 AND ${episodeVisibilitySql(p)} AND $2::timestamptz IS NOT NULL
         ORDER BY e.opened_at DESC LIMIT ${req.query.limit}`,
        [p.id, ctx.clock.now(), req.params.id],
      );
      return { episodes: rows.map((r) => episodeJson(episodeRow(r))) };
    },
  );

  app.get(
    '/api/patients/:id/contact',
    { schema: { tags: ['patients'], security: bearer, params: idParams, response: { 200: contactSchema } } },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'patients.read', req.params.id);
      const { rows } = await ctx.pool.query<{
        phone: string | null;
        phone_alt: string | null;
        address: string | null;
        caregiver_name: string | null;
        caregiver_phone: string | null;
      }>('SELECT phone, phone_alt, address, caregiver_name, caregiver_phone FROM patients WHERE id = $1', [
        req.params.id,
      ]);
      const r = rows[0];
      if (!r) throw new ApiError('NOT_FOUND', 'no such patient');
      return {
        phone: r.phone,
        phoneAlt: r.phone_alt,
        address: r.address,
        caregiverName: r.caregiver_name,
        caregiverPhone: r.caregiver_phone,
      };
    },
  );

  app.put(
    '/api/patients/:id/contact',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        params: idParams,
        body: contactSchema.partial(),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      const b = req.body;
      const cols: [string, string | null | undefined][] = [
        ['phone', b.phone],
        ['phone_alt', b.phoneAlt],
        ['address', b.address],
        ['caregiver_name', b.caregiverName],
        ['caregiver_phone', b.caregiverPhone],
      ];
      const set = cols.filter(([, v]) => v !== undefined);
      if (set.length) {
        await ctx.pool.query(
          `UPDATE patients SET ${set.map(([c], i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`,
          [req.params.id, ...set.map(([, v]) => (v === '' ? null : v))],
        );
        await audit(ctx.pool, {
          actor: p.id,
          action: 'patient.contact_updated',
          entity: 'patient',
          entityId: req.params.id,
          detail: { fields: set.map(([c]) => c) },
          at: ctx.clock.now(),
        });
      }
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/patients/:id/notes',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        params: idParams,
        response: { 200: z.object({ notes: z.array(noteSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'alerts.read', req.params.id);
      const { rows } = await ctx.pool.query<{
        id: string;
        episode_id: string | null;
        author: string;
        display_name: string | null;
        at: Date;
        body: string;
      }>(
        `SELECT n.id, n.episode_id, n.author, pr.display_name, n.at, n.body FROM call_notes n
         LEFT JOIN professionals pr ON pr.id = n.author WHERE n.patient_id = $1 ORDER BY n.at DESC LIMIT 200`,
        [req.params.id],
      );
      return {
        notes: rows.map((r) => ({
          id: Number(r.id),
          episodeId: r.episode_id === null ? null : Number(r.episode_id),
          author: r.author,
          authorName: r.display_name,
          at: r.at.toISOString(),
          body: r.body,
        })),
      };
    },
  );

  app.post(
    '/api/patients/:id/notes',
    {
      schema: {
        tags: ['alerts'],
        security: bearer,
        summary: 'Add a call note (optionally about one episode)',
        params: idParams,
        body: z.object({ body: z.string().trim().min(1).max(4000), episodeId: z.number().int().positive().optional() }),
        response: { 201: noteSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'alerts.triage', req.params.id);
      if (req.body.episodeId !== undefined) {
        const ep = await ctx.pool.query('SELECT 1 FROM alert_episodes WHERE id = $1 AND patient_id = $2', [
          req.body.episodeId,
          req.params.id,
        ]);
        if (!ep.rowCount) throw new ApiError('NOT_FOUND', 'no such episode for this patient');
      }
      const at = ctx.clock.now();
      const { rows } = await ctx.pool.query<{ id: string }>(
        'INSERT INTO call_notes (patient_id, episode_id, author, at, body) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        [req.params.id, req.body.episodeId ?? null, p.id, at, req.body.body],
      );
      const id = Number(rows[0]?.id);
      // the audit says a note exists, never what it says
      await audit(ctx.pool, {
        actor: p.id,
        action: 'call_note.added',
        entity: 'patient',
        entityId: req.params.id,
        detail: { noteId: id, episodeId: req.body.episodeId ?? null },
        at,
      });
      return reply.status(201).send({
        id,
        episodeId: req.body.episodeId ?? null,
        author: p.id,
        authorName: null,
        at: at.toISOString(),
        body: req.body.body,
      });
    },
  );

  app.get(
    '/api/patients/:id/care-team',
    {
      schema: {
        tags: ['patients'],
        security: bearer,
        summary: "The members of the patient's care teams and whether the patient consented to each",
        params: idParams,
        response: {
          200: z.object({
            teams: z.array(z.object({ id: z.string(), name: z.string(), programId: z.string() })),
            members: z.array(
              z.object({
                id: z.string(),
                displayName: z.string(),
                role: z.string(),
                careTeamId: z.string(),
                consentGrantedAt: z.string().nullable(),
                consentRevokedAt: z.string().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'patients.read', req.params.id);
      const [teams, members] = await Promise.all([
        ctx.pool.query<{ id: string; name: string; program_id: string }>(
          `SELECT t.id, t.name, t.program_id FROM care_team_patients ctp JOIN care_teams t ON t.id = ctp.care_team_id
           WHERE ctp.patient_id = $1 ORDER BY t.id`,
          [req.params.id],
        ),
        ctx.pool.query<{
          id: string;
          display_name: string;
          role: string;
          care_team_id: string;
          granted_at: Date | null;
          revoked_at: Date | null;
        }>(
          `SELECT pr.id, pr.display_name, m.role, m.care_team_id, pc.granted_at, pc.revoked_at
           FROM care_team_patients ctp JOIN care_team_members m ON m.care_team_id = ctp.care_team_id
           JOIN professionals pr ON pr.id = m.professional_id
           LEFT JOIN patient_consents pc ON pc.patient_id = ctp.patient_id AND pc.professional_id = pr.id
           WHERE ctp.patient_id = $1 ORDER BY m.care_team_id, m.role, pr.display_name`,
          [req.params.id],
        ),
      ]);
      return {
        teams: teams.rows.map((t) => ({ id: t.id, name: t.name, programId: t.program_id })),
        members: members.rows.map((m) => ({
          id: m.id,
          displayName: m.display_name,
          role: m.role,
          careTeamId: m.care_team_id,
          consentGrantedAt: m.granted_at?.toISOString() ?? null,
          consentRevokedAt: m.revoked_at?.toISOString() ?? null,
        })),
      };
    },
  );

  app.get(
    '/api/patients/:id/reading-log',
    {
      schema: {
        tags: ['readings'],
        security: bearer,
        summary: 'Filed readings with their provenance: device, box, driver, measured and received times',
        params: idParams,
        querystring: z.object({
          days: z.coerce.number().int().min(1).max(366).default(30),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
        response: {
          200: z.object({
            readings: z.array(
              z.object({
                readingId: z.string(),
                metric: z.string(),
                value: z.number(),
                unit: z.string(),
                measuredAt: z.string(),
                receivedAt: z.string(),
                device: z.string(),
                driver: z.string(),
                gatewayId: z.string(),
                /** how far the measurement time can be believed (contract/reading.ts TimeTrust); null: filed before it was recorded */
                timeTrust: timeTrustSchema.nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'readings.read', req.params.id);
      const now = ctx.clock.now();
      const { rows } = await ctx.pool.query<{
        reading_id: string;
        metric: string;
        value: number;
        unit: string;
        measured_at: Date;
        received_at: Date;
        device_address: string;
        driver: string;
        gateway_id: string;
        time_trust: TimeTrust | null;
      }>(
        `SELECT reading_id, metric, value, unit, measured_at, received_at, device_address, driver, gateway_id, time_trust FROM reading_ledger
         WHERE patient_id = $1 AND measured_at > $2 ORDER BY measured_at DESC, metric LIMIT $3`,
        [req.params.id, new Date(now.getTime() - req.query.days * DAY), req.query.limit],
      );
      await audit(ctx.pool, {
        actor: p.id,
        action: 'readings.viewed',
        entity: 'patient',
        entityId: req.params.id,
        detail: { count: rows.length, view: 'reading-log' },
        at: now,
      });
      return {
        readings: rows.map((r) => ({
          readingId: r.reading_id,
          metric: r.metric,
          value: r.value,
          unit: r.unit,
          measuredAt: r.measured_at.toISOString(),
          receivedAt: r.received_at.toISOString(),
          device: r.device_address,
          driver: r.driver,
          gatewayId: r.gateway_id,
          timeTrust: r.time_trust,
        })),
      };
    },
  );

  app.get(
    '/api/patients/:id/device-health',
    {
      schema: {
        tags: ['devices'],
        security: bearer,
        summary: "Battery of the patient's devices and the boxes' buffer depth (last heartbeat)",
        params: idParams,
        response: {
          200: z.object({
            devices: z.array(
              z.object({ address: z.string(), battery: z.number().nullable(), batteryAt: z.string().nullable() }),
            ),
            gateways: z.array(
              z.object({ id: z.string(), queueDepth: z.number().nullable(), heartbeatAt: z.string().nullable() }),
            ),
          }),
        },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'devices.read', req.params.id);
      const [bat, gws] = await Promise.all([
        ctx.pool.query<{ address: string; value: number | null; measured_at: Date | null }>(
          `SELECT DISTINCT ON (b.address) b.address, l.value, l.measured_at FROM device_bindings b
           LEFT JOIN reading_ledger l ON l.patient_id = b.patient_id AND l.device_address = b.address AND l.metric = 'battery_level'
           WHERE b.patient_id = $1 ORDER BY b.address, l.measured_at DESC NULLS LAST`,
          [req.params.id],
        ),
        ctx.pool.query<{ id: string }>(
          'SELECT id FROM gateways WHERE patient_id = $1 OR id IN (SELECT gateway_id FROM device_bindings WHERE patient_id = $1) ORDER BY id',
          [req.params.id],
        ),
      ]);
      const gateways = await Promise.all(
        gws.rows.map(async (g) => {
          const r = await ctx.timeseries.influx
            .query<{ time: Date; queue_depth: number }>(
              `SELECT last("queue_depth") AS queue_depth FROM ${escape.quoted(HEARTBEAT_MEASUREMENT)} WHERE "gateway" = ${escape.stringLit(g.id)} AND time > now() - 30d`,
              { database: ctx.timeseries.database },
            )
            .catch(() => []);
          const last = r[0];
          return {
            id: g.id,
            queueDepth: last ? last.queue_depth : null,
            heartbeatAt: last ? new Date(last.time).toISOString() : null,
          };
        }),
      );
      return {
        devices: bat.rows.map((d) => ({
          address: d.address,
          battery: d.value ?? null,
          batteryAt: d.measured_at?.toISOString() ?? null,
        })),
        gateways,
      };
    },
  );

  app.get(
    '/api/my-care-teams',
    {
      schema: {
        tags: ['care teams'],
        security: bearer,
        summary: 'The care teams I belong to (an admin: all), with their members',
        response: {
          200: z.object({
            teams: z.array(
              z.object({
                id: z.string(),
                name: z.string(),
                programId: z.string(),
                members: z.array(z.object({ id: z.string(), displayName: z.string(), role: z.string() })),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'patients.read');
      const { rows } = await ctx.pool.query<{
        id: string;
        name: string;
        program_id: string;
        members: { id: string; displayName: string; role: string }[];
      }>(
        `SELECT t.id, t.name, t.program_id,
                coalesce(json_agg(json_build_object('id', pr.id, 'displayName', pr.display_name, 'role', m.role)
                         ORDER BY m.role, pr.display_name) FILTER (WHERE pr.id IS NOT NULL), '[]') AS members
         FROM care_teams t LEFT JOIN care_team_members m ON m.care_team_id = t.id LEFT JOIN professionals pr ON pr.id = m.professional_id
         WHERE $1::text = 'admin' OR t.id IN (SELECT care_team_id FROM care_team_members WHERE professional_id = $2)
         GROUP BY t.id ORDER BY t.name`,
        [p.role, p.id],
      );
      return {
        teams: rows.map((t) => ({ id: t.id, name: t.name, programId: t.program_id, members: t.members })),
      };
    },
  );

  const dryWeightSchema = z.object({
    dryWeightKg: z.number().min(20).max(300).nullable(),
    setBy: z.string().nullable(),
    setAt: z.string().nullable(),
  });

  app.get(
    '/api/patients/:id/dry-weight',
    {
      schema: {
        tags: ['patients'],
        security: bearer,
        summary: "The patient's dry weight (heart failure), drawn on the weight trend",
        params: idParams,
        response: { 200: dryWeightSchema },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'trends.read', req.params.id);
      const { rows } = await ctx.pool.query<{
        dry_weight_kg: number | null;
        dry_weight_set_by: string | null;
        dry_weight_set_at: Date | null;
      }>('SELECT dry_weight_kg, dry_weight_set_by, dry_weight_set_at FROM patients WHERE id = $1', [req.params.id]);
      const r = rows[0];
      if (!r) throw new ApiError('NOT_FOUND', 'no such patient');
      return {
        dryWeightKg: r.dry_weight_kg,
        setBy: r.dry_weight_set_by,
        setAt: r.dry_weight_set_at?.toISOString() ?? null,
      };
    },
  );

  app.put(
    '/api/patients/:id/dry-weight',
    {
      schema: {
        tags: ['patients'],
        security: bearer,
        summary: 'Record the dry weight (the triage roles: coordinating nurse, responsible physicians); audited',
        params: idParams,
        body: z.object({ dryWeightKg: z.number().min(20).max(300).nullable() }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'alerts.triage', req.params.id);
      const at = ctx.clock.now();
      const old = await ctx.pool.query<{ dry_weight_kg: number | null }>(
        'UPDATE patients x SET dry_weight_kg = $2, dry_weight_set_by = $3, dry_weight_set_at = $4 FROM patients o WHERE x.id = $1 AND o.id = x.id RETURNING o.dry_weight_kg',
        [req.params.id, req.body.dryWeightKg, p.id, at],
      );
      await audit(ctx.pool, {
        actor: p.id,
        action: 'patient.dry_weight_set',
        entity: 'patient',
        entityId: req.params.id,
        // the audit names the field, never the value (health data)
        detail: {
          field: 'dry_weight_kg',
          cleared: req.body.dryWeightKg === null,
          hadValue: old.rows[0]?.dry_weight_kg != null,
        },
        at,
      });
      return reply.status(204).send(null);
    },
  );
}
