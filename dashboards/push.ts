#!/usr/bin/env tsx
/**
 * Pushes the Vigil boards to a running Grafana (for deployments without file provisioning).
 *   tsx dashboards/push.ts --url http://grafana:3000 [--folder-uid vigil] [--folder-title Vigil]
 * Credentials from the environment: GRAFANA_TOKEN (service account token), or GRAFANA_USER and
 * GRAFANA_PASSWORD. GRAFANA_URL may replace --url. Prints one JSON line per board; exit 1 on error.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { GrafanaApiError, pushAllDashboards } from './grafana-api';
import { errorMessage } from '../contract/errors';

const optionsSchema = z.object({
  url: z.url({ error: 'Grafana base URL, e.g. http://127.0.0.1:3000 (--url or GRAFANA_URL)' }),
  'folder-uid': z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,40}$/)
    .optional(),
  'folder-title': z.string().min(1).optional(),
});

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, 'folder-uid': { type: 'string' }, 'folder-title': { type: 'string' } },
  });
  const parsed = optionsSchema.safeParse({ ...values, url: values.url ?? process.env.GRAFANA_URL });
  if (!parsed.success) {
    console.error(`ARGS_INVALID: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return 2;
  }
  const o = parsed.data;
  const saved = await pushAllDashboards(
    {
      url: o.url,
      token: process.env.GRAFANA_TOKEN,
      user: process.env.GRAFANA_USER,
      password: process.env.GRAFANA_PASSWORD,
    },
    {
      ...(o['folder-uid'] ? { folderUid: o['folder-uid'] } : {}),
      ...(o['folder-title'] ? { folderTitle: o['folder-title'] } : {}),
    },
  );
  for (const s of saved)
    console.log(JSON.stringify({ event: 'dashboard.pushed', uid: s.uid, version: s.version, url: s.url }));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof GrafanaApiError ? e.message : `GRAFANA_PUSH_FAILED: ${errorMessage(e)}`);
    process.exit(1);
  },
);
