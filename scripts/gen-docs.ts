/**
 * Generates docs/wire-contract.md and docs/configuration.md from the zod schemas, so the schema
 * that validates is also the documentation (test/unit/docs.test.ts fails when they drift).
 *   npx tsx scripts/gen-docs.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import {
  heartbeatSchema,
  METRICS,
  readingBatchSchema,
  readingSchema,
  receiptSchema,
  remoteGatewayConfigSchema,
  statusSchema,
  TOPIC_ROOT,
} from '../contract';
import { GATEWAY_ENV } from '../gateway/config/load';
import { gatewayConfigSchema } from '../gateway/config/schema';
import { HUB_ENV } from '../hub/config/load';
import { hubConfigSchema } from '../hub/config/schema';

const json = (schema: z.ZodType) =>
  '```json\n' + JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), null, 2) + '\n```';

export function wireContractDoc(): string {
  const metricRows = Object.entries(METRICS).map(
    ([name, m]) =>
      `| \`${name}\` | \`${m.unit}\` | ${'loinc' in m ? m.loinc : ''} | ${m.range[0]} – ${m.range[1]} | ${m.description} |`,
  );
  return `# Wire contract v1

Generated from \`contract/\` by \`npx tsx scripts/gen-docs.ts\`; do not edit by hand.

Gateways and hubs speak MQTT (3.1.1 or 5). Every topic is \`${TOPIC_ROOT}/<gatewayId>/<kind>\`; the
version is part of every topic and every payload (\`"v": 1\`). A gateway authenticates with its
gateway id as client id and username and the password issued at enrollment; the broker ACL lets
it publish only \`readings\`, \`status\`, \`heartbeat\` under its own id and subscribe only to its
own \`receipts\` and \`config\`.

| Topic | Direction | QoS | Retained | Payload |
|---|---|---|---|---|
| \`${TOPIC_ROOT}/<gw>/readings\` | gateway → hub | 1 | no | reading batch (1–500 readings) |
| \`${TOPIC_ROOT}/<gw>/receipts\` | hub → gateway | 1 | no | receipt, sent only after the readings are stored |
| \`${TOPIC_ROOT}/<gw>/status\` | gateway → hub | 1 | yes | birth (\`online\`) and last will (\`offline\`) |
| \`${TOPIC_ROOT}/<gw>/heartbeat\` | gateway → hub | 0 | no | buffer depth, devices, battery |
| \`${TOPIC_ROOT}/<gw>/config\` | hub → gateway | 1 | yes | settings the hub holds for the box (pairing window) |

Hub instances subscribe to \`${TOPIC_ROOT}/+/readings\`, or with an external MQTT 5 broker to the
shared subscription \`$share/<group>/${TOPIC_ROOT}/+/readings\` so that instances split the load.

## Delivery: nothing lost, nothing counted twice

1. The gateway commits each decoded reading to its SQLite outbox (WAL, synchronous=FULL) before
   anything else; a device record cursor advances in the same transaction.
2. Readings leave in batches at QoS 1. A batch without receipt after the receipt timeout is
   offered again with the same reading ids.
3. The hub validates each reading on its own (one bad reading never blocks the batch), maps it
   to a patient or quarantines it, files its id in the PostgreSQL ledger, writes InfluxDB, runs
   the rules, and only then publishes the receipt. When a store is down, no receipt is sent.
4. The receipt lists each reading id with an outcome: \`stored\`, \`duplicate\` (already stored),
   \`quarantined\` (kept, device or user not mapped to a patient yet) or \`rejected\` (kept in the
   dead letters with a stable code). Every outcome means "the hub keeps it": the gateway deletes it.
5. The reading id is \`sha256(device address | driver | metric | user index | sequence and device
   time, or device time, or capture key)\` truncated to 32 hex digits (\`contract/ids.ts\`), so a
   re-sent or re-synchronised reading is recognised as the same one at both ends, and a record of a
   meter that renumbered its records after a reset is not taken for an older one.

Payloads over 512 KiB are refused by the broker; malformed payloads are dead-lettered with the codes
\`PAYLOAD_TOO_LARGE\`, \`MALFORMED_JSON\`, \`INVALID_BATCH\`, \`GATEWAY_MISMATCH\`, \`INVALID_READING\`.

## Canonical metrics

Values are always in the canonical UCUM unit; the unit the device used is kept in \`deviceUnit\`.
Metrics are only ever added, never renamed. A decoded value outside the range is not emitted.

| Metric | UCUM unit | LOINC | Plausible range | Description |
|---|---|---|---|---|
${metricRows.join('\n')}

## Reading

${json(readingSchema)}

## Reading batch (\`readings\`)

${json(readingBatchSchema)}

## Receipt (\`receipts\`)

${json(receiptSchema)}

## Status (\`status\`, retained)

${json(statusSchema)}

## Heartbeat (\`heartbeat\`)

${json(heartbeatSchema)}

## Gateway config (\`config\`, retained)

A partial gateway configuration: the box merges it over its local file and validates the result
with its own schema (\`gateway/config/remote-config.ts\`); identity and hub link cannot be changed
remotely. The hub keeps it in PostgreSQL (\`gateway_remote_config\`) and publishes it again when it
starts, so an embedded broker's restart loses nothing. A nurse opens the pairing window through
\`POST /api/patients/{id}/gateways/{gatewayId}/pairing-window\` (docs/api.md).

${json(remoteGatewayConfigSchema)}
`;
}

function envTable(env: Record<string, string>, schema: z.ZodType): string {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, unknown>;
  };
  const lookup = (path: string): { description?: string; default?: unknown; type?: unknown; enum?: unknown[] } => {
    let node: unknown = js;
    for (const k of path.split('.'))
      node = (node as { properties?: Record<string, unknown> } | undefined)?.properties?.[k];
    return node ?? {};
  };
  const rows = Object.entries(env).map(([name, target]) => {
    const [path, type] = target.split(':') as [string, string | undefined];
    const p = lookup(path);
    const kind = p.enum
      ? p.enum.join(' \\| ')
      : (type ?? (Array.isArray(p.type) ? p.type.join(',') : typeof p.type === 'string' ? p.type : 'string'));
    return `| \`${name}\` | \`${path}\` | ${kind} | ${p.default === undefined ? '' : `\`${JSON.stringify(p.default)}\``} | ${p.description ?? ''} |`;
  });
  return `| Variable | Setting | Type | Default | Meaning |\n|---|---|---|---|---|\n${rows.join('\n')}`;
}

export function configurationDoc(): string {
  return `# Configuration

Generated from the config schemas by \`npx tsx scripts/gen-docs.ts\`; do not edit by hand.
Each process reads an optional YAML/JSON file (\`--config\`), then the environment, and reports
every invalid setting at once with the code \`CONFIG_INVALID\` (exit status 2).

## Hub (\`hub/config/schema.ts\`)

${envTable(HUB_ENV, hubConfigSchema)}

## Gateway (\`gateway/config/schema.ts\`)

The patient never configures the box: the enrollment writes the gateway id, the hub URL and the
credential; everything else has a default. \`VIGIL_GATEWAY_DEVICES\` is a comma-separated list.

${envTable(GATEWAY_ENV, gatewayConfigSchema)}
`;
}

const isMain = process.argv[1]?.endsWith('gen-docs.ts');
if (isMain) {
  const check = process.argv.includes('--check');
  let stale = false;
  for (const [file, text] of [
    ['docs/wire-contract.md', wireContractDoc()],
    ['docs/configuration.md', configurationDoc()],
  ] as const) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      /* absent */
    }
    if (current === text) continue;
    if (check) {
      stale = true;
      console.error(`${file} is out of date: run npx tsx scripts/gen-docs.ts`);
    } else writeFileSync(file, text);
  }
  process.exit(stale ? 1 : 0);
}
