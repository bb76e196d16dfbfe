import { z } from 'zod';
import { createPool } from '../../hub';
import { SCENARIO_IDS } from '../patients';
import { FLEET_DEFAULTS, enrollAndRunFleet } from './fleet';

/**
 * Fleet simulator CLI: enrolls N simulated households in the hub's PostgreSQL (patients, gateway
 * credentials, device bindings) and runs N gateways against the hub's broker, each flushing its
 * backlog. Progress on stderr, the summary as one JSON line on stdout. Exit 1 when readings are lost.
 *
 *   tsx simulators/fleet/cli.ts --url mqtt://127.0.0.1:1883 --pg postgres://postgres@127.0.0.1:5432/vigil --gateways 100 --readings 500
 * Every option can come from the environment: VIGIL_FLEET_<OPTION> (e.g. VIGIL_FLEET_GATEWAYS=100).
 */
const num = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionsSchema = z
  .object({
    url: z.string().regex(/^mqtts?:\/\//, 'broker URL like mqtt://127.0.0.1:1883'),
    pg: z.string().regex(/^postgres(ql)?:\/\//, 'PostgreSQL URL of the hub (for enrollment)'),
    gateways: num(1, 10_000).default(FLEET_DEFAULTS.gateways),
    readings: num(1, 100_000).default(FLEET_DEFAULTS.readingsPerGateway),
    prefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{1,40}$/, 'gateway id prefix: a-z 0-9 -')
      .default(FLEET_DEFAULTS.prefix),
    seed: num(0, 2 ** 31).default(FLEET_DEFAULTS.seed),
    scenario: z.enum(SCENARIO_IDS).optional(),
    batch: num(1, 500).default(FLEET_DEFAULTS.batchSize),
    inflight: num(1, 64).default(FLEET_DEFAULTS.maxInFlightBatches),
    'receipt-timeout': num(100, 3_600_000).default(FLEET_DEFAULTS.receiptTimeoutMs),
    'receipt-backoff': z.enum(['true', 'false']).default('true'),
    'connect-concurrency': num(1, 10_000).default(FLEET_DEFAULTS.connectConcurrency),
    'deadline-s': num(1, 86_400).default(FLEET_DEFAULTS.deadlineMs / 1000),
  })
  .strict();

function parse(argv: string[], env: NodeJS.ProcessEnv): z.infer<typeof optionsSchema> {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(optionsSchema.shape)) {
    const v = env[`VIGIL_FLEET_${key.toUpperCase().replace(/-/g, '_')}`];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const rest = argv.values();
  for (const a of rest) {
    if (!a.startsWith('--')) throw new Error(`ARGS_INVALID: unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const v = inline ?? rest.next().value;
    if (v === undefined) throw new Error(`ARGS_INVALID: --${k} needs a value`);
    raw[k] = v;
  }
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `ARGS_INVALID:\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  return parsed.data;
}

let args: z.infer<typeof optionsSchema>;
try {
  args = parse(process.argv.slice(2), process.env);
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(2);
}
const pool = createPool(args.pg, 8);
try {
  const summary = await enrollAndRunFleet(
    pool,
    {
      ...FLEET_DEFAULTS,
      url: args.url,
      gateways: args.gateways,
      readingsPerGateway: args.readings,
      prefix: args.prefix,
      seed: args.seed,
      scenario: args.scenario,
      batchSize: args.batch,
      maxInFlightBatches: args.inflight,
      receiptTimeoutMs: args['receipt-timeout'],
      receiptBackoff: args['receipt-backoff'] === 'true',
      connectConcurrency: args['connect-concurrency'],
      deadlineMs: args['deadline-s'] * 1000,
    },
    (p) =>
      process.stderr.write(
        `fleet: ${(p.elapsedMs / 1000).toFixed(1)} s connected ${p.connected} finished ${p.finished} receipted ${p.receipted}/${p.total} resent ${p.resent} (${p.readingsPerSecond}/s)\n`,
      ),
  );
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.lost === 0 ? 0 : 1;
} finally {
  await pool.end();
}
