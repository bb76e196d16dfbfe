import { z } from 'zod';
import { bleAddressSchema, gatewayIdSchema, metricNameSchema, patientIdSchema } from '../../../contract';
import {
  addPatientToCareTeam,
  bindDevice,
  createGateway,
  createPatient,
  recordConsent,
  revokeConsent,
  unbindDevice,
} from '../../admin/provisioning';
import { audit } from '../../alerts/audit';
import { DAY } from '../../rules/clock';
import { programIdSchema } from '../../programs/definition';
import { patientScopeSql, PHARMACIST_METRICS, requireCap, requirePatient, type Professional } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';
import { MAX_PAIRING_WINDOW_S } from '../../gateways/remote-config';
import { errorMessage } from '../../../contract/errors';
import { firstRow } from '../../storage/postgres/rows';
import { Trends } from '../../storage/influx/trends';

const patientSchema = z.object({
  id: z.string(),
  programId: z.string(),
  displayName: z.string(),
  birthYear: z.number().nullable(),
  chronicLungDisease: z.boolean(),
  careTeamIds: z.array(z.string()),
  createdAt: z.string(),
});
const idParams = z.object({ id: patientIdSchema });

/** A coordinating nurse enrolls only into the care teams of her programs; an admin anywhere. */
async function requireTeamForEnrollment(
  ctx: ApiContext,
  p: Professional,
  careTeamId: string,
  programId: string,
): Promise<void> {
  const team = await ctx.pool.query<{ program_id: string }>('SELECT program_id FROM care_teams WHERE id = $1', [
    careTeamId,
  ]);
  const mine =
    p.role === 'admin' ||
    (
      await ctx.pool.query(
        `SELECT 1 FROM care_team_members m JOIN care_teams t ON t.id = m.care_team_id WHERE m.professional_id = $1 AND t.program_id = $2`,
        [p.id, team.rows[0]?.program_id ?? null],
      )
    ).rowCount;
  // a team outside one's programs is answered like an unknown one
  if (!team.rows[0] || !mine) throw new ApiError('NOT_FOUND', 'no such care team in your programs');
  if (team.rows[0].program_id !== programId)
    throw new ApiError('INVALID_REQUEST', `care team ${careTeamId} follows another program`);
}

/**
 * The box the device is on must serve this patient's household: enrolled for this patient, or for
 * a patient (the spouse on the same box) whom the professional may enroll too. Any other box is
 * answered like an unknown one.
 */
async function requireHouseholdGateway(
  ctx: ApiContext,
  p: Professional,
  patientId: string,
  gatewayId: string,
): Promise<void> {
  const { rows } = await ctx.pool.query<{ patient_id: string | null; revoked_at: Date | null }>(
    'SELECT patient_id, revoked_at FROM gateways WHERE id = $1',
    [gatewayId],
  );
  const owner = rows[0]?.patient_id;
  if (!rows[0] || !owner) throw new ApiError('NOT_FOUND', "no such gateway in the patient's household");
  if (owner !== patientId) {
    await requirePatient(ctx.pool, p, 'enrollment.write', owner).catch(() => {
      throw new ApiError('NOT_FOUND', "no such gateway in the patient's household");
    });
  }
  if (rows[0].revoked_at) throw new ApiError('CONFLICT', 'gateway revoked');
}

export function registerPatientRoutes(app: ZApp, ctx: ApiContext): void {
  const trends = new Trends(ctx.timeseries);
  app.get(
    '/api/me',
    {
      schema: {
        tags: ['patients'],
        security: bearer,
        response: { 200: z.object({ id: z.string(), role: z.string() }) },
      },
    },
    (req) => who(req),
  );

  app.get(
    '/api/patients',
    {
      schema: {
        tags: ['patients'],
        security: bearer,
        summary: 'Patients in my scope (care teams; the coordinating nurse: her programs)',
        response: { 200: z.object({ patients: z.array(patientSchema) }) },
      },
    },
    async (req) => {
      const p = who(req);
      requireCap(p, 'patients.read');
      const { rows } = await ctx.pool.query<PatientRow>(
        `SELECT p.id, p.program_id, p.display_name, p.birth_year, p.chronic_lung_disease, p.created_at,
                coalesce(array_agg(ctp.care_team_id) FILTER (WHERE ctp.care_team_id IS NOT NULL), '{}') AS teams
         FROM patients p LEFT JOIN care_team_patients ctp ON ctp.patient_id = p.id
         WHERE ${patientScopeSql(p, 'p.id', '$1', false, 'patients.read')} GROUP BY p.id ORDER BY p.id LIMIT 5000`,
        [p.id],
      );
      return { patients: rows.map(patientJson) };
    },
  );

  app.get(
    '/api/patients/:id',
    { schema: { tags: ['patients'], security: bearer, params: idParams, response: { 200: patientSchema } } },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'patients.read', req.params.id);
      const { rows } = await ctx.pool.query<PatientRow>(
        `SELECT p.id, p.program_id, p.display_name, p.birth_year, p.chronic_lung_disease, p.created_at,
              coalesce(array_agg(ctp.care_team_id) FILTER (WHERE ctp.care_team_id IS NOT NULL), '{}') AS teams
       FROM patients p LEFT JOIN care_team_patients ctp ON ctp.patient_id = p.id WHERE p.id = $1 GROUP BY p.id`,
        [req.params.id],
      );
      const row = rows[0];
      if (!row) throw new ApiError('NOT_FOUND', 'no such patient');
      return patientJson(row);
    },
  );

  app.post(
    '/api/patients',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: 'Enroll a patient into a program and a care team',
        body: z.object({
          id: patientIdSchema,
          programId: programIdSchema,
          displayName: z.string().min(1).max(200),
          birthYear: z.number().int().min(1900).max(2100).optional(),
          chronicLungDisease: z.boolean().optional(),
          careTeamId: z.string().min(1),
        }),
        response: { 201: patientSchema },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'enrollment.write');
      await requireTeamForEnrollment(ctx, p, req.body.careTeamId, req.body.programId);
      const b = req.body;
      await createPatient(
        ctx.pool,
        {
          id: b.id,
          programId: b.programId,
          displayName: b.displayName,
          ...(b.birthYear ? { birthYear: b.birthYear } : {}),
          ...(b.chronicLungDisease !== undefined ? { chronicLungDisease: b.chronicLungDisease } : {}),
        },
        p.id,
      );
      await addPatientToCareTeam(ctx.pool, { careTeamId: b.careTeamId, patientId: b.id }, p.id);
      // the program's questionnaires with its schedule (docs/programs.md)
      await ctx.onEnrolled?.(b.id, p.id);
      const { rows } = await ctx.pool.query<PatientRow>(
        `SELECT p.id, p.program_id, p.display_name, p.birth_year, p.chronic_lung_disease, p.created_at, array_agg(ctp.care_team_id) AS teams
         FROM patients p JOIN care_team_patients ctp ON ctp.patient_id = p.id WHERE p.id = $1 GROUP BY p.id`,
        [b.id],
      );
      return reply.status(201).send(patientJson(firstRow({ rows }, 'SELECT of the patient just created')));
    },
  );

  app.post(
    '/api/patients/:id/consents',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: "Record the patient's consent to a professional",
        params: idParams,
        body: z.object({ professionalId: z.string().min(1) }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      // consent is the patient's word: the professional who records it never records it for herself
      if (req.body.professionalId === p.id)
        throw new ApiError('FORBIDDEN', 'a professional may not record a consent to herself');
      const prof = await ctx.pool.query('SELECT 1 FROM professionals WHERE id = $1', [req.body.professionalId]);
      if (!prof.rowCount) throw new ApiError('NOT_FOUND', 'no such professional');
      await recordConsent(ctx.pool, { patientId: req.params.id, professionalId: req.body.professionalId }, p.id);
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/api/patients/:id/consents/:professionalId',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: 'Record the withdrawal of a consent',
        params: z.object({ id: patientIdSchema, professionalId: z.string().min(1) }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      await revokeConsent(ctx.pool, { patientId: req.params.id, professionalId: req.params.professionalId }, p.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/patients/:id/gateways',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: "Issue a home gateway's MQTT credentials (password shown once)",
        params: idParams,
        body: z.object({ gatewayId: gatewayIdSchema }),
        response: { 201: z.object({ gatewayId: z.string(), password: z.string() }) },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      const other = await ctx.pool.query<{ patient_id: string | null }>(
        'SELECT patient_id FROM gateways WHERE id = $1',
        [req.body.gatewayId],
      );
      if (other.rows[0] && other.rows[0].patient_id !== req.params.id)
        throw new ApiError('CONFLICT', 'gateway belongs to another household');
      const { password } = await createGateway(ctx.pool, { id: req.body.gatewayId, patientId: req.params.id }, p.id);
      return reply.status(201).send({ gatewayId: req.body.gatewayId, password });
    },
  );

  const pairingParams = z.object({ id: z.string(), gatewayId: gatewayIdSchema });
  const pairingWindowSchema = z.object({
    gatewayId: z.string(),
    openUntil: z.string(),
    minRssi: z.number().optional(),
  });
  /** the box must serve this patient's household and still hold a credential */
  const householdGateway = async (patientId: string, gatewayId: string) => {
    const { rows } = await ctx.pool.query<{ revoked_at: Date | null }>(
      'SELECT revoked_at FROM gateways WHERE id = $1 AND (patient_id = $2 OR id IN (SELECT gateway_id FROM device_bindings WHERE patient_id = $2))',
      [gatewayId, patientId],
    );
    if (!rows[0]) throw new ApiError('NOT_FOUND', "no such gateway in the patient's household");
    if (rows[0].revoked_at) throw new ApiError('CONFLICT', 'gateway revoked');
  };
  const publishFailure = (e: Error & { code?: string }): never => {
    throw e.code === 'MQTT_UNAVAILABLE'
      ? new ApiError(
          'MQTT_UNAVAILABLE',
          'the window is recorded; the box gets it when the hub reaches the broker again',
        )
      : e;
  };

  app.post(
    '/api/patients/:id/gateways/:gatewayId/pairing-window',
    {
      schema: {
        tags: ['devices'],
        security: bearer,
        summary:
          "Open the box's pairing window: for `seconds`, a new device measured next to the box is paired to it (retained MQTT config, no action on the box)",
        params: pairingParams,
        body: z.object({
          seconds: z.number().int().min(30).max(MAX_PAIRING_WINDOW_S).default(300),
          minRssi: z.number().int().min(-127).max(20).optional(),
        }),
        response: { 200: pairingWindowSchema },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'devices.pair', req.params.id);
      await householdGateway(req.params.id, req.params.gatewayId);
      return ctx.gatewayConfig
        .openPairingWindow(
          req.params.gatewayId,
          { seconds: req.body.seconds, ...(req.body.minRssi !== undefined ? { minRssi: req.body.minRssi } : {}) },
          p.id,
        )
        .catch(publishFailure);
    },
  );

  app.post(
    '/api/patients/:id/gateways/:gatewayId/pairing-window/passkey',
    {
      schema: {
        tags: ['devices'],
        security: bearer,
        summary:
          'Relay the six-digit code a device shows on its screen while pairing (passkey entry) to the box, during an open pairing window',
        params: pairingParams,
        body: z.object({
          address: bleAddressSchema,
          passkey: z.string().regex(/^\d{6}$/, 'six digits'),
          seconds: z.number().int().min(10).max(MAX_PAIRING_WINDOW_S).default(120),
        }),
        response: { 200: z.object({ gatewayId: z.string(), address: z.string(), until: z.string() }) },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'devices.pair', req.params.id);
      await householdGateway(req.params.id, req.params.gatewayId);
      return ctx.gatewayConfig.relayPasskey(req.params.gatewayId, req.body, p.id).catch((e: unknown) => {
        const err = e as Error & { code?: string };
        if (err.code === 'CONFLICT') throw new ApiError('CONFLICT', err.message);
        return publishFailure(err);
      });
    },
  );

  app.delete(
    '/api/patients/:id/gateways/:gatewayId/pairing-window',
    {
      schema: {
        tags: ['devices'],
        security: bearer,
        summary: "Close the box's pairing window now",
        params: pairingParams,
        response: { 200: pairingWindowSchema },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'devices.pair', req.params.id);
      await householdGateway(req.params.id, req.params.gatewayId);
      return ctx.gatewayConfig.closePairingWindow(req.params.gatewayId, p.id).catch(publishFailure);
    },
  );

  app.post(
    '/api/patients/:id/devices',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: 'Bind a device (or a user slot of a shared device) on a gateway to the patient',
        params: idParams,
        body: z.object({
          gatewayId: gatewayIdSchema,
          address: bleAddressSchema,
          driver: z.string().optional(),
          userIndex: z.number().int().min(0).max(255).optional(),
        }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      await requireHouseholdGateway(ctx, p, req.params.id, req.body.gatewayId);
      const b = req.body;
      await bindDevice(
        ctx.pool,
        {
          gatewayId: b.gatewayId,
          address: b.address,
          patientId: req.params.id,
          ...(b.driver ? { driver: b.driver } : {}),
          ...(b.userIndex !== undefined ? { userIndex: b.userIndex } : {}),
        },
        p.id,
      );
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/api/patients/:id/devices/:gatewayId/:address',
    {
      schema: {
        tags: ['enrollment'],
        security: bearer,
        summary: "End the patient's binding of a device (its next readings are quarantined until bound again)",
        params: z.object({ id: patientIdSchema, gatewayId: gatewayIdSchema, address: bleAddressSchema }),
        querystring: z.object({ userIndex: z.coerce.number().int().min(0).max(255).optional() }),
        response: { 204: z.null() },
      },
    },
    async (req, reply) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'enrollment.write', req.params.id);
      const removed = await unbindDevice(
        ctx.pool,
        {
          gatewayId: req.params.gatewayId,
          address: req.params.address,
          patientId: req.params.id,
          ...(req.query.userIndex !== undefined ? { userIndex: req.query.userIndex } : {}),
        },
        p.id,
      );
      if (!removed) throw new ApiError('NOT_FOUND', 'no such binding for this patient');
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/patients/:id/devices',
    {
      schema: {
        tags: ['devices'],
        security: bearer,
        params: idParams,
        response: {
          200: z.object({
            gateways: z.array(
              z.object({
                id: z.string(),
                online: z.boolean(),
                lastSeenAt: z.string().nullable(),
                revoked: z.boolean(),
              }),
            ),
            devices: z.array(
              z.object({
                gatewayId: z.string(),
                address: z.string(),
                driver: z.string().nullable(),
                userIndex: z.number().nullable(),
                lastReadingAt: z.string().nullable(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'devices.read', req.params.id);
      const [gws, devs] = await Promise.all([
        ctx.pool.query<{ id: string; online: boolean; last_seen_at: Date | null; revoked_at: Date | null }>(
          `SELECT id, online, last_seen_at, revoked_at FROM gateways WHERE patient_id = $1 OR id IN (SELECT gateway_id FROM device_bindings WHERE patient_id = $1) ORDER BY id`,
          [req.params.id],
        ),
        ctx.pool.query<{
          gateway_id: string;
          address: string;
          driver: string | null;
          user_index: number | null;
          last: Date | null;
        }>(
          `SELECT b.gateway_id, b.address, b.driver, b.user_index,
                  (SELECT max(measured_at) FROM reading_ledger l WHERE l.patient_id = b.patient_id AND l.device_address = b.address) AS last
           FROM device_bindings b WHERE b.patient_id = $1 ORDER BY b.gateway_id, b.address`,
          [req.params.id],
        ),
      ]);
      return {
        gateways: gws.rows.map((g) => ({
          id: g.id,
          online: g.online,
          lastSeenAt: g.last_seen_at?.toISOString() ?? null,
          revoked: g.revoked_at !== null,
        })),
        devices: devs.rows.map((d) => ({
          gatewayId: d.gateway_id,
          address: d.address,
          driver: d.driver,
          userIndex: d.user_index,
          lastReadingAt: d.last?.toISOString() ?? null,
        })),
      };
    },
  );

  app.get(
    '/api/patients/:id/readings',
    {
      schema: {
        tags: ['readings'],
        security: bearer,
        summary: 'Raw readings from the time series (InfluxDB)',
        params: idParams,
        querystring: z.object({
          metric: z.union([metricNameSchema, z.array(metricNameSchema)]).optional(),
          from: z.iso.datetime().optional(),
          to: z.iso.datetime().optional(),
        }),
        response: {
          200: z.object({
            patientId: z.string(),
            readings: z.array(
              z.object({
                metric: z.string(),
                time: z.string(),
                value: z.number(),
                readingId: z.string(),
                device: z.string(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'readings.read', req.params.id);
      const metrics =
        req.query.metric === undefined
          ? undefined
          : Array.isArray(req.query.metric)
            ? req.query.metric
            : [req.query.metric];
      const readings = await ctx.timeseries
        .patientSeries(req.params.id, {
          ...(metrics ? { metrics } : {}),
          ...(req.query.from ? { from: new Date(req.query.from) } : {}),
          ...(req.query.to ? { to: new Date(req.query.to) } : {}),
        })
        .catch((e: unknown) => {
          throw new ApiError('STORE_UNAVAILABLE', `time series unavailable: ${errorMessage(e).slice(0, 100)}`);
        });
      await audit(ctx.pool, {
        actor: p.id,
        action: 'readings.viewed',
        entity: 'patient',
        entityId: req.params.id,
        detail: { count: readings.length },
        at: ctx.clock.now(),
      });
      return { patientId: req.params.id, readings };
    },
  );

  app.get(
    '/api/patients/:id/trends',
    {
      schema: {
        tags: ['readings'],
        security: bearer,
        summary:
          'Daily aggregates of one metric over the last `days` UTC days, today included, from the InfluxDB rollups (the pharmacist: temperature, weight, glucose only); 503 STORE_UNAVAILABLE when InfluxDB cannot answer',
        params: idParams,
        querystring: z.object({ metric: metricNameSchema, days: z.coerce.number().int().min(1).max(365).default(30) }),
        response: {
          200: z.object({
            patientId: z.string(),
            metric: z.string(),
            days: z.array(
              z.object({
                day: z.string(),
                mean: z.number(),
                min: z.number(),
                max: z.number(),
                sum: z.number(),
                count: z.number(),
              }),
            ),
          }),
        },
      },
    },
    async (req) => {
      const p = who(req);
      await requirePatient(ctx.pool, p, 'trends.read', req.params.id);
      if (p.role === 'pharmacist' && !PHARMACIST_METRICS.has(req.query.metric))
        throw new ApiError(
          'FORBIDDEN',
          `the pharmacist sees treatment metrics only (${[...PHARMACIST_METRICS].join(', ')})`,
        );
      // the hub's InfluxDB rollups (daily, hourly) and the last hours' raw readings, never the
      // ledger: a year reads ~365 points per metric (Trends.dailySummary, docs/web.md)
      const days = await trends
        .dailySummary(req.params.id, req.query.metric, req.query.days, ctx.clock.now())
        .catch((e: unknown) => {
          throw new ApiError('STORE_UNAVAILABLE', `time series unavailable: ${errorMessage(e).slice(0, 100)}`);
        });
      return {
        patientId: req.params.id,
        metric: req.query.metric,
        days: days.map((d) => ({
          day: d.day,
          mean: Math.round(d.mean * 100) / 100,
          min: d.min,
          max: d.max,
          sum: Math.round(d.sum * 100) / 100,
          count: d.count,
        })),
      };
    },
  );

  app.get(
    '/api/patients/:id/adherence',
    {
      schema: {
        tags: ['readings'],
        security: bearer,
        summary: 'Days with data in the last 30 (CPT 99454: >= 16)',
        params: idParams,
        response: {
          200: z.object({
            patientId: z.string(),
            periodDays: z.number(),
            daysWithData: z.number(),
            meets99454: z.boolean(),
          }),
        },
      },
    },
    async (req) => {
      await requirePatient(ctx.pool, who(req), 'trends.read', req.params.id);
      const now = ctx.clock.now();
      const { rows } = await ctx.pool.query<{ n: string }>(
        `SELECT count(DISTINCT date_trunc('day', measured_at AT TIME ZONE 'UTC')) n FROM reading_ledger WHERE patient_id = $1 AND measured_at > $2 AND measured_at <= $3`,
        [req.params.id, new Date(now.getTime() - 30 * DAY), now],
      );
      const days = Number(rows[0]?.n ?? 0);
      return { patientId: req.params.id, periodDays: 30, daysWithData: days, meets99454: days >= 16 };
    },
  );
}

/** patients (001) with the ids of its care teams aggregated */
interface PatientRow {
  id: string;
  program_id: string;
  display_name: string;
  birth_year: number | null;
  chronic_lung_disease: boolean;
  created_at: Date;
  teams: string[];
}

function patientJson(r: PatientRow) {
  return {
    id: r.id,
    programId: r.program_id,
    displayName: r.display_name,
    birthYear: r.birth_year,
    chronicLungDisease: r.chronic_lung_disease,
    careTeamIds: r.teams,
    createdAt: r.created_at.toISOString(),
  };
}
