import { z } from 'zod';
import { buildBoard, BOARDS, type BoardName } from './artifacts';

/**
 * Pushes the boards to a running Grafana through its HTTP API, for deployments that do not use
 * file provisioning (Grafana HTTP API, "Dashboard API": POST /api/dashboards/db; "Folder API").
 * The data sources must exist with the uids the boards use (dashboards/lib/datasources.ts).
 */
export interface GrafanaTarget {
  url: string;
  /** service account token (Authorization: Bearer) */
  token?: string | undefined;
  /** basic auth, when no token */
  user?: string | undefined;
  password?: string | undefined;
}

export class GrafanaApiError extends Error {
  constructor(
    readonly code: 'GRAFANA_UNREACHABLE' | 'GRAFANA_REJECTED' | 'GRAFANA_RESPONSE_INVALID' | 'GRAFANA_AUTH_MISSING',
    message: string,
    readonly status?: number,
  ) {
    super(`${code}: ${message}`);
  }
}

/** 200 answer of POST /api/dashboards/db */
export const saveDashboardResponseSchema = z.object({
  id: z.number().int(),
  uid: z.string().min(1),
  url: z.string(),
  status: z.literal('success'),
  version: z.number().int(),
  slug: z.string().optional(),
});
export type SaveDashboardResponse = z.infer<typeof saveDashboardResponseSchema>;

const folderSchema = z.object({ uid: z.string(), title: z.string() });
const errorBodySchema = z.object({ message: z.string().optional(), status: z.string().optional() }).loose();

function headers(t: GrafanaTarget): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (t.token) h.authorization = `Bearer ${t.token}`;
  else if (t.user) h.authorization = `Basic ${Buffer.from(`${t.user}:${t.password ?? ''}`).toString('base64')}`;
  else
    throw new GrafanaApiError(
      'GRAFANA_AUTH_MISSING',
      'set GRAFANA_TOKEN (service account token) or GRAFANA_USER and GRAFANA_PASSWORD',
    );
  return h;
}

async function call(
  t: GrafanaTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(new URL(path, t.url), {
      method,
      headers: headers(t),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    if (e instanceof GrafanaApiError) throw e;
    throw new GrafanaApiError('GRAFANA_UNREACHABLE', `${method} ${path}: ${(e as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new GrafanaApiError(
      'GRAFANA_RESPONSE_INVALID',
      `${method} ${path}: HTTP ${res.status}, not JSON`,
      res.status,
    );
  }
  return { status: res.status, json };
}

function rejected(path: string, status: number, json: unknown): GrafanaApiError {
  const body = errorBodySchema.safeParse(json);
  const detail = body.success ? [body.data.status, body.data.message].filter(Boolean).join(': ') : '';
  return new GrafanaApiError('GRAFANA_REJECTED', `${path}: HTTP ${status}${detail ? ` (${detail})` : ''}`, status);
}

/** Creates the folder when it does not exist; returns its uid. */
export async function ensureFolder(t: GrafanaTarget, uid: string, title: string): Promise<string> {
  const got = await call(t, 'GET', `/api/folders/${encodeURIComponent(uid)}`);
  if (got.status === 200) return uid;
  if (got.status !== 404) throw rejected('/api/folders', got.status, got.json);
  const created = await call(t, 'POST', '/api/folders', { uid, title });
  if (created.status !== 200) throw rejected('/api/folders', created.status, created.json);
  const parsed = folderSchema.safeParse(created.json);
  if (!parsed.success)
    throw new GrafanaApiError('GRAFANA_RESPONSE_INVALID', `/api/folders: ${parsed.error.issues[0]?.message}`);
  return parsed.data.uid;
}

export async function pushDashboard(
  t: GrafanaTarget,
  name: BoardName,
  opts: { folderUid?: string; message?: string } = {},
): Promise<SaveDashboardResponse> {
  const body = {
    // no id: Grafana matches on uid, and overwrite replaces the previous version
    dashboard: { ...buildBoard(name), id: null },
    overwrite: true,
    message: opts.message ?? 'Vigil boards (dashboards/push.ts)',
    ...(opts.folderUid ? { folderUid: opts.folderUid } : {}),
  };
  const res = await call(t, 'POST', '/api/dashboards/db', body);
  if (res.status !== 200) throw rejected('/api/dashboards/db', res.status, res.json);
  const parsed = saveDashboardResponseSchema.safeParse(res.json);
  if (!parsed.success) {
    throw new GrafanaApiError(
      'GRAFANA_RESPONSE_INVALID',
      `/api/dashboards/db: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

export async function pushAllDashboards(
  t: GrafanaTarget,
  opts: { folderUid?: string; folderTitle?: string } = {},
): Promise<SaveDashboardResponse[]> {
  const folderUid = opts.folderUid ? await ensureFolder(t, opts.folderUid, opts.folderTitle ?? 'Vigil') : undefined;
  const out: SaveDashboardResponse[] = [];
  for (const name of Object.keys(BOARDS) as BoardName[])
    out.push(await pushDashboard(t, name, folderUid ? { folderUid } : {}));
  return out;
}
