import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GrafanaApiError, pushAllDashboards, pushDashboard } from '../../dashboards/grafana-api';
import { INFLUX_DS, POSTGRES_DS } from '../../dashboards/lib/datasources';

/**
 * A tiny stand-in for Grafana's HTTP API that checks the request shape the way Grafana's
 * Dashboard API documents it (POST /api/dashboards/db: dashboard with uid and no id, overwrite,
 * optional folderUid; JSON; authenticated) and answers like Grafana.
 */
const saveRequestSchema = z
  .object({
    dashboard: z
      .object({
        id: z.null(),
        uid: z.string().regex(/^vigil-/),
        title: z.string().min(1),
        panels: z
          .array(
            z.object({
              type: z.string(),
              targets: z.array(
                z.object({
                  refId: z.string(),
                  datasource: z.object({ uid: z.enum([INFLUX_DS.uid, POSTGRES_DS.uid]) }),
                }),
              ),
            }),
          )
          .min(1),
      })
      .loose(),
    overwrite: z.literal(true),
    message: z.string(),
    folderUid: z.string().optional(),
  })
  .strict();

const TOKEN = 'glsa_test_token';
let app: FastifyInstance;
let url: string;
let saved: z.infer<typeof saveRequestSchema>[] = [];
let folders: Record<string, string> = {};
let mode: 'ok' | 'version-mismatch' | 'malformed' = 'ok';

beforeAll(async () => {
  app = Fastify();
  app.addHook('onRequest', async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply.code(401).send({ message: 'Unauthorized' });
  });
  app.get<{ Params: { uid: string } }>('/api/folders/:uid', async (req, reply) => {
    const title = folders[req.params.uid];
    return title ? { uid: req.params.uid, title } : reply.code(404).send({ message: 'folder not found' });
  });
  app.post('/api/folders', (req) => {
    const body = z.object({ uid: z.string(), title: z.string() }).parse(req.body);
    folders[body.uid] = body.title;
    return { id: 1, uid: body.uid, title: body.title };
  });
  app.post('/api/dashboards/db', async (req, reply) => {
    if (req.headers['content-type'] !== 'application/json') return reply.code(415).send({ message: 'json only' });
    const parsed = saveRequestSchema.safeParse(req.body);
    if (!parsed.success)
      return reply.code(400).send({ message: parsed.error.issues.map((i) => i.path.join('.')).join(', ') });
    if (parsed.data.folderUid && !folders[parsed.data.folderUid])
      return reply.code(400).send({ message: 'folder not found' });
    if (mode === 'version-mismatch')
      return reply
        .code(412)
        .send({ status: 'version-mismatch', message: 'The dashboard has been changed by someone else' });
    saved.push(parsed.data);
    if (mode === 'malformed') return { status: 'success', uid: parsed.data.dashboard.uid };
    const uid = parsed.data.dashboard.uid;
    return { id: saved.length, uid, url: `/d/${uid}/x`, status: 'success', version: 1, slug: 'x' };
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  saved = [];
  folders = {};
  mode = 'ok';
});

describe('push to a running Grafana (/api/dashboards/db)', () => {
  it('pushes every board into a folder it creates, with the documented request shape', async () => {
    const res = await pushAllDashboards({ url, token: TOKEN }, { folderUid: 'vigil', folderTitle: 'Vigil' });
    expect(res.map((r) => r.uid)).toEqual(['vigil-patient', 'vigil-worklist', 'vigil-fleet', 'vigil-cohort']);
    expect(folders).toEqual({ vigil: 'Vigil' });
    expect(saved.map((s) => [s.dashboard.uid, s.folderUid])).toEqual([
      ['vigil-patient', 'vigil'],
      ['vigil-worklist', 'vigil'],
      ['vigil-fleet', 'vigil'],
      ['vigil-cohort', 'vigil'],
    ]);
  });

  it('reports a refusal with its status and Grafana’s message', async () => {
    mode = 'version-mismatch';
    const err = await pushDashboard({ url, token: TOKEN }, 'patient').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrafanaApiError);
    expect(err).toMatchObject({ code: 'GRAFANA_REJECTED', status: 412 });
    expect((err as Error).message).toMatch(/version-mismatch: The dashboard has been changed/);
    await expect(pushDashboard({ url, token: 'wrong' }, 'patient')).rejects.toMatchObject({
      code: 'GRAFANA_REJECTED',
      status: 401,
    });
  });

  it('rejects an answer that is not Grafana’s save response', async () => {
    mode = 'malformed';
    await expect(pushDashboard({ url, token: TOKEN }, 'fleet')).rejects.toMatchObject({
      code: 'GRAFANA_RESPONSE_INVALID',
    });
  });

  it('needs credentials and a reachable server', async () => {
    await expect(pushDashboard({ url }, 'fleet')).rejects.toMatchObject({ code: 'GRAFANA_AUTH_MISSING' });
    await expect(pushDashboard({ url: 'http://127.0.0.1:1', token: TOKEN }, 'fleet')).rejects.toMatchObject({
      code: 'GRAFANA_UNREACHABLE',
    });
  });

  it('runs as a command: one JSON line per board, exit 0', async () => {
    const root = join(import.meta.dirname, '../..');
    const child = spawn(join(root, 'node_modules/.bin/tsx'), ['dashboards/push.ts', '--url', url], {
      cwd: root,
      env: { PATH: process.env.PATH, GRAFANA_TOKEN: TOKEN },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { uid: string }).uid),
    ).toEqual(['vigil-patient', 'vigil-worklist', 'vigil-fleet', 'vigil-cohort']);
  });
});
