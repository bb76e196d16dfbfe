import { gatewayIdSchema, patientIdSchema } from '../../contract';
import { CliError, EXIT_USAGE, intArg, schemaArg } from '../../contract/cli';
import { printJson, type RegisterCommands } from './context';

const patientId = schemaArg(patientIdSchema, 'patient id');
const gatewayId = schemaArg(gatewayIdSchema, 'gateway id');
const notFound = (what: string) => new CliError('NOT_FOUND', what, EXIT_USAGE);

/** Credentials: renew and revoke professionals' tokens, revoke boxes (docs/security.md "Credentials"). */
export const registerCredentials: RegisterCommands = (root, ctx) => {
  root
    .command('renew-token')
    .description('issue a new API token for a professional (printed once); the old one stops')
    .argument('<professionalId>', 'professional id')
    .argument('[days]', 'lifetime in days (default http.tokenTtlDays)', intArg(1, 365))
    .option(
      '--scope <scope...>',
      'SMART scopes of the new token, e.g. user/*.read patient/Observation.rs (none: no /fhir access)',
    )
    .option('--patient <patientId>', 'the patient patient/ scopes are limited to', patientId)
    .action((id: string, days: number | undefined, o: { scope?: string[]; patient?: string }) =>
      ctx.withPool(async (pool, config) => {
        const { renewProfessionalToken } = await import('../admin/provisioning');
        const r = await renewProfessionalToken(pool, id, {
          tokenTtlDays: days ?? config.http.tokenTtlDays,
          scopes: o.scope ?? [],
          scopePatientId: o.patient ?? null,
        }).catch((e: unknown) => {
          if ((e as { code?: string }).code === 'INVALID_SCOPE')
            throw new CliError('INVALID_SCOPE', (e as Error).message, EXIT_USAGE);
          throw e;
        });
        if (!r) throw notFound(`no professional ${id}, or revoked`);
        printJson({ professionalId: id, ...r });
      }),
    );

  root
    .command('token-scopes')
    .description("show a professional's current token scopes, patient and expiry (never the token)")
    .argument('<professionalId>', 'professional id')
    .action((id: string) =>
      ctx.withPool(async (pool) => {
        const { professionalTokenScopes } = await import('../admin/provisioning');
        const r = await professionalTokenScopes(pool, id);
        if (!r) throw notFound(`no professional ${id}, or revoked`);
        printJson({ professionalId: id, ...r });
      }),
    );

  root
    .command('revoke-professional')
    .description('revoke a professional: token and web sessions stop at once, team memberships end')
    .argument('<professionalId>', 'professional id')
    .action((id: string) =>
      ctx.withPool(async (pool) => {
        const { revokeProfessional } = await import('../admin/provisioning');
        if (!(await revokeProfessional(pool, id))) throw notFound(`no professional ${id}`);
        printJson({ professionalId: id, revoked: true });
      }),
    );

  root
    .command('revoke-gateway')
    .description(
      'revoke a box: its credential and open enrollment codes are cancelled; it never comes back under this id',
    )
    .argument('<gatewayId>', 'gateway id', gatewayId)
    .action((id: string) =>
      ctx.withPool(async (pool) => {
        const { revokeGateway } = await import('../admin/provisioning');
        if (!(await revokeGateway(pool, id))) throw notFound(`no gateway ${id}`);
        printJson({ gatewayId: id, revoked: true });
      }),
    );
};

/** The patient's rights (docs/privacy.md): withdrawal, export, erasure, retention, Grafana projections. */
export const registerPatientRights: RegisterCommands = (root, ctx) => {
  for (const [name, description, withdraw] of [
    ['withdraw-processing', 'consent withdrawn: from the next reading nothing is filed, evaluated or sent', true],
    ['resume-processing', 'consent given again: readings are filed and evaluated again', false],
  ] as const)
    root
      .command(name)
      .description(description)
      .argument('<patientId>', 'patient id', patientId)
      .action((id: string) =>
        ctx.withPool(async (pool) => {
          const rights = await import('../admin/patient-rights');
          const fn = withdraw ? rights.withdrawProcessing : rights.resumeProcessing;
          if (!(await fn(pool, id, 'cli'))) throw notFound(`no patient ${id}`);
          printJson({ patientId: id, processing: withdraw ? 'withdrawn' : 'resumed' });
        }),
      );

  root
    .command('export-patient')
    .description("print the patient's whole record as one FHIR R4 Bundle (JSON) on stdout")
    .argument('<patientId>', 'patient id', patientId)
    .action((id: string) =>
      ctx.withPool(async (pool) => {
        const { exportPatient } = await import('../admin/patient-rights');
        const bundle = await exportPatient(pool, id, 'cli');
        if (!bundle) throw notFound(`no patient ${id}`);
        printJson(bundle);
      }),
    );

  root
    .command('erase-patient')
    .description('erase a patient from PostgreSQL and InfluxDB (give the id twice to confirm)')
    .argument('<patientId>', 'patient id', patientId)
    .argument('<confirm>', 'the same patient id again')
    .action((id: string, confirm: string) => {
      if (id !== confirm) throw new CliError('USAGE', 'repeat the patient id to confirm the erasure', EXIT_USAGE);
      return ctx.withPool(async (pool, config) => {
        const { erasePatient } = await import('../admin/patient-rights');
        const { TimeSeriesStore } = await import('../storage/influx/timeseries');
        const ts = new TimeSeriesStore(config.influx.url, config.influx.database, config.influx);
        try {
          const r = await erasePatient(pool, ts.influx, ts.database, id, 'cli');
          if (!r) throw notFound(`no patient ${id}`);
          printJson(r);
        } finally {
          await ts.close();
        }
      });
    });

  root
    .command('enforce-retention')
    .description('delete now what is past its retention (the hub also does it daily)')
    .action(() =>
      ctx.withPool(async (pool, config) => {
        const { enforceRetention } = await import('../admin/retention');
        printJson(await enforceRetention(pool, config.retention));
      }),
    );

  root
    .command('sync-grafana-scopes')
    .description("rebuild each professional's InfluxDB projection for Grafana (new credentials printed once)")
    .action(() =>
      ctx.withPool(async (pool, config) => {
        if (!config.grafana.scopeKey)
          throw new CliError('USAGE', 'set grafana.scopeKey (VIGIL_GRAFANA_SCOPE_KEY)', EXIT_USAGE);
        const { GrafanaInfluxScopes } = await import('../security/grafana-scopes');
        const { TimeSeriesStore } = await import('../storage/influx/timeseries');
        const ts = new TimeSeriesStore(config.influx.url, config.influx.database, config.influx);
        try {
          const scopes = await new GrafanaInfluxScopes(
            pool,
            ts.influx,
            config.influx.database,
            config.grafana.scopeKey,
          ).sync();
          for (const s of scopes) printJson(s);
        } finally {
          await ts.close();
        }
      }),
    );
};
