import { z } from 'zod';
import { SCENARIO_IDS, generateScenario, firstBreaches, localMs, AcceleratedClock, replay } from './index';

/**
 * tsx simulators/patients/cli.ts <scenario> [--seed N] [--gateway ID] [--start YYYY-MM-DD] [--speed X] [--summary]
 * Prints the scenario's wire-contract readings as NDJSON (with --speed, paced by the accelerated
 * clock), or with --summary its expected alerts and the reference first-breach times.
 */
const argsSchema = z.object({
  scenario: z.enum(SCENARIO_IDS),
  seed: z.coerce.number().int().nonnegative().default(1),
  gateway: z.string().optional(),
  start: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .optional(),
  speed: z.coerce.number().positive().optional(),
  summary: z.boolean().default(false),
});

function parseArgs(argv: string[]): z.infer<typeof argsSchema> {
  const raw: Record<string, unknown> = {};
  const rest = argv.values();
  for (const a of rest) {
    if (a === '--summary') raw.summary = true;
    else if (a.startsWith('--')) raw[a.slice(2)] = rest.next().value;
    else raw.scenario = a;
  }
  const parsed = argsSchema.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(
      `ARGS_INVALID: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\nscenarios: ${SCENARIO_IDS.join(', ')}\n`,
    );
    process.exit(2);
  }
  return parsed.data;
}

const args = parseArgs(process.argv.slice(2));
const sim = generateScenario(args.scenario, {
  seed: args.seed,
  ...(args.gateway ? { gatewayId: args.gateway } : {}),
  ...(args.start ? { startDate: args.start } : {}),
});
if (args.summary) {
  const breaches = firstBreaches(sim);
  const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString().slice(0, 19));
  process.stdout.write(
    `${JSON.stringify({ scenario: sim.scenario, seed: sim.seed, readings: sim.readings.length, patients: sim.patients, expectedAlerts: sim.expectedAlerts, firstBreaches: Object.fromEntries(Object.entries(breaches).map(([p, b]) => [p, Object.fromEntries(Object.entries(b).map(([k, v]) => [k, iso(v)]))])) }, null, 2)}\n`,
  );
} else if (args.speed) {
  const first = sim.readings[0];
  const clock = new AcceleratedClock(first ? localMs(first.reading) : 0, args.speed);
  await replay(
    sim.readings,
    (r) => localMs(r.reading),
    clock,
    (r) => void process.stdout.write(`${JSON.stringify(r.reading)}\n`),
  );
} else {
  for (const r of sim.readings) process.stdout.write(`${JSON.stringify(r.reading)}\n`);
}
