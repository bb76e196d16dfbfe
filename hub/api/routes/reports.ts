import { z } from 'zod';
import { cohortReport, reportSchema } from '../../reporting/cohort-report';
import { reportCsv } from '../../reporting/csv';
import { reportPdf } from '../../reporting/pdf';
import { PROGRAMS } from '../../rules/rule';
import { audit } from '../../alerts/audit';
import { requireCap } from '../authz';
import { bearer, who, type ApiContext, type ZApp } from '../context';
import { ApiError } from '../errors';

/**
 * Program reports (hub/reporting): aggregates only. An admin reports on a whole program or one
 * team; a coordinating nurse on the care teams she belongs to.
 */
export function registerReportRoutes(app: ZApp, ctx: ApiContext): void {
  app.get(
    '/api/reports/programs/:programId',
    {
      schema: {
        tags: ['reports'],
        security: bearer,
        summary:
          'Activity and outcome report of a program (or one care team): participation, adherence, alerts, change from baseline at 3/6/12 months; JSON, CSV or PDF',
        params: z.object({ programId: z.enum(PROGRAMS as [string, ...string[]]) }),
        querystring: z.object({
          careTeamId: z.string().min(1).optional(),
          asOf: z.iso.datetime().optional(),
          format: z.enum(['json', 'csv', 'pdf']).default('json'),
        }),
        response: { 200: reportSchema.or(z.string()).or(z.instanceof(Buffer)) },
      },
    },
    async (req, reply) => {
      const p = who(req);
      requireCap(p, 'reports.read');
      const q = req.query;
      let careTeamIds: string[] | undefined;
      if (p.role !== 'admin') {
        const { rows } = await ctx.pool.query<{ care_team_id: string }>(
          `SELECT m.care_team_id FROM care_team_members m JOIN care_teams t ON t.id = m.care_team_id
           WHERE m.professional_id = $1 AND t.program_id = $2`,
          [p.id, req.params.programId],
        );
        careTeamIds = rows.map((r) => r.care_team_id);
        if (careTeamIds.length === 0 || (q.careTeamId && !careTeamIds.includes(q.careTeamId)))
          throw new ApiError('NOT_FOUND', 'no such care team of yours in this program');
      }
      const report = await cohortReport(ctx.pool, {
        programId: req.params.programId,
        careTeamId: q.careTeamId,
        careTeamIds,
        asOf: q.asOf ? new Date(q.asOf) : ctx.clock.now(),
      });
      await audit(ctx.pool, {
        actor: p.id,
        action: 'report.generated',
        entity: 'program',
        entityId: req.params.programId,
        detail: { careTeamId: q.careTeamId ?? null, format: q.format },
        at: ctx.clock.now(),
      });
      const name = `vigil-${req.params.programId}-${report.asOf.slice(0, 10)}`;
      if (q.format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}.csv"`)
          .send(reportCsv(report));
      if (q.format === 'pdf')
        return reply
          .type('application/pdf')
          .header('content-disposition', `attachment; filename="${name}.pdf"`)
          .send(await reportPdf(report));
      return report;
    },
  );
}
