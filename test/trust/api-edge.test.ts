import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, createPatient, createProfessional, createWebhook } from '../../hub/admin/provisioning';
import { createEnrollmentCode } from '../../hub/api/enrollment';
import { WebhookDispatcher } from '../../hub/delivery/webhooks';
import { checkTargetUrl, postOnce } from '../../hub/security/egress';
import { startTrustHub, type TrustHub } from './support';

/**
 * The HTTP edge and the credential lifecycle of a real hub (docs/security.md): body cap (413),
 * trickled bodies cut, wrong tokens and enrollment codes throttled, tokens that expire and are
 * revoked, a revoked box that stays out even with an old code, and webhooks that never reach
 * loopback or private addresses in production nor follow redirects.
 */
let t: TrustHub;
let adminToken = '';
let nurseToken = '';

async function call(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${t.hub.httpUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

beforeAll(async () => {
  t = await startTrustHub('vigil_apiedge');
  await createPatient(t.pg.pool, { id: 'AE-1', programId: 'heart_failure', displayName: 'Edge patient' });
  adminToken = (await createProfessional(t.pg.pool, { id: 'ae-admin', displayName: 'Admin', role: 'admin' })).token;
  nurseToken = (
    await createProfessional(t.pg.pool, { id: 'ae-nurse', displayName: 'Nurse', role: 'coordinating_nurse' })
  ).token;
}, 60_000);

afterAll(async () => {
  await t.stop();
});

describe('HTTP edge', () => {
  it('answers 413 PAYLOAD_TOO_LARGE to a 2 MiB body, and keeps serving', async () => {
    const big = JSON.stringify({ id: 'X', pad: 'a'.repeat(2 * 1024 * 1024) });
    const r = await call('POST', '/api/patients', adminToken, big);
    expect(r.status).toBe(413);
    expect(r.json.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await call('GET', '/api/me', adminToken)).status).toBe(200);
  });

  it('cuts a trickled body within 30 s', async () => {
    const u = new URL(t.hub.httpUrl);
    const started = Date.now();
    const s = connect(Number(u.port), u.hostname);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(
      `POST /api/patients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${adminToken}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
    );
    const trickle = setInterval(() => s.write(' '), 1000);
    await new Promise<void>((r) => s.once('close', () => r()));
    clearInterval(trickle);
    const ms = Date.now() - started;
    expect(ms).toBeLessThan(30_000);
    // Node answers 408 when requestTimeout fires
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  }, 40_000);

  it('rate-limits 300 wrong tokens from one address (429 + Retry-After); other addresses are not affected', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) statuses.push((await call('GET', '/api/patients', `wrong-token-${i}`)).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(270);
    const limited = await call('GET', '/api/patients', 'wrong-again');
    expect(limited.status).toBe(429);
    expect(limited.json.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // the same address is blocked even with a valid token while the block lasts (no oracle)
    expect((await call('GET', '/api/me', adminToken)).status).toBe(429);
  });
});

describe('credential lifecycle', () => {
  it('an expired token and a revoked professional are refused; renewal issues a new token and retires the old one', async () => {
    const api = t.hub.httpUrl;
    // a separate API instance so the throttled address of the previous test does not interfere
    const { buildApi } = await import('../../hub/api/app');
    const app = await buildApi({
      pool: t.pg.pool,
      timeseries: t.hub.timeseries,
      metrics: t.hub.metrics,
      logLevel: 'silent',
    });
    const as = async (token: string, method = 'GET', url = '/api/me', payload?: unknown) =>
      app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload ? { payload } : {}),
      });
    const { token } = await createProfessional(t.pg.pool, {
      id: 'ae-gp',
      displayName: 'GP',
      role: 'general_practitioner',
    });
    expect((await as(token)).statusCode).toBe(200);
    await t.pg.pool.query(`UPDATE professionals SET token_expires_at = now() - interval '1 second' WHERE id = 'ae-gp'`);
    expect((await as(token)).statusCode).toBe(401);
    const renewed = await as(adminToken, 'POST', '/api/professionals/ae-gp/token', {});
    expect(renewed.statusCode).toBe(201);
    const fresh = renewed.json<{ token: string; expiresAt: string }>().token;
    expect((await as(fresh)).statusCode).toBe(200);
    expect((await as(token)).statusCode).toBe(401);
    // only an admin revokes; then the token stops at once and the professional cannot be revived by re-creation
    expect((await as(nurseToken, 'POST', '/api/professionals/ae-gp/revoke')).statusCode).toBe(403);
    expect((await as(adminToken, 'POST', '/api/professionals/ae-gp/revoke')).statusCode).toBe(200);
    expect((await as(fresh)).statusCode).toBe(401);
    await expect(
      createProfessional(t.pg.pool, { id: 'ae-gp', displayName: 'GP', role: 'general_practitioner' }),
    ).rejects.toMatchObject({ code: 'PROFESSIONAL_REVOKED' });
    await app.close();
    expect(api).toContain('http://');
  });

  it('a revoked box stays out, even with an old enrollment code or its old password', async () => {
    const { buildApi } = await import('../../hub/api/app');
    const app = await buildApi({
      pool: t.pg.pool,
      timeseries: t.hub.timeseries,
      metrics: t.hub.metrics,
      logLevel: 'silent',
    });
    const { password } = await createGateway(t.pg.pool, { id: 'gw-ae-1', patientId: 'AE-1' });
    const { code } = await createEnrollmentCode(t.pg.pool, { gatewayId: 'gw-ae-1', patientId: 'AE-1' });
    const c = await mqtt.connectAsync(t.hub.mqttUrl, {
      clientId: 'gw-ae-1',
      username: 'gw-ae-1',
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const revoke = await app.inject({
      method: 'POST',
      url: '/api/gateways/gw-ae-1/revoke',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(revoke.statusCode).toBe(200);
    await closed; // disconnected by the broker's revocation check
    const exchange = await app.inject({ method: 'POST', url: '/enrollment/exchange', payload: { code } });
    expect(exchange.statusCode).toBe(404);
    const { rows } = await t.pg.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM enrollment_codes WHERE gateway_id = 'gw-ae-1' AND cancelled_at IS NOT NULL`,
    );
    expect(rows[0]!.n).toBe(1);
    await expect(
      mqtt.connectAsync(t.hub.mqttUrl, {
        clientId: 'gw-ae-1',
        username: 'gw-ae-1',
        password,
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
    await expect(createGateway(t.pg.pool, { id: 'gw-ae-1', patientId: 'AE-1' })).rejects.toMatchObject({
      code: 'GATEWAY_REVOKED',
    });
    const again = await app.inject({
      method: 'POST',
      url: '/api/enrollment-codes',
      headers: { authorization: `Bearer ${adminToken}` },
      payload: { gatewayId: 'gw-ae-1', patientId: 'AE-1' },
    });
    expect(again.statusCode).toBe(409);
    await app.close();
  });

  it('throttles wrong enrollment codes per address', async () => {
    const { buildApi } = await import('../../hub/api/app');
    const app = await buildApi({
      pool: t.pg.pool,
      timeseries: t.hub.timeseries,
      metrics: t.hub.metrics,
      logLevel: 'silent',
    });
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await app.inject({
        method: 'POST',
        url: '/enrollment/exchange',
        remoteAddress: '203.0.113.7',
        payload: {
          code: `VGL-AAAAA-BBBBB-CCCCC-${String(10000 + i)
            .slice(-5)
            .replace(/\d/g, (d) => 'ABCDEFGHJK'[Number(d)]!)}`,
        },
      });
      statuses.push(r.statusCode);
    }
    expect(statuses.slice(0, 20).every((s) => s === 404)).toBe(true);
    expect(statuses.slice(21).every((s) => s === 429)).toBe(true);
    const other = await app.inject({
      method: 'POST',
      url: '/enrollment/exchange',
      remoteAddress: '203.0.113.8',
      payload: { code: 'VGL-AAAAA-BBBBB-CCCCC-DDDDD' },
    });
    expect(other.statusCode).toBe(404);
    await app.close();
  });
});

describe('webhook egress', () => {
  let target: Server;
  let hits = 0;
  let redirector: Server;
  const port = (s: Server) => (s.address() as AddressInfo).port;

  beforeAll(async () => {
    target = createServer((_q, res) => {
      hits++;
      res.end('ok');
    });
    redirector = createServer((_q, res) => {
      res.statusCode = 302;
      res.setHeader('location', `http://127.0.0.1:${port(target)}/internal`);
      res.end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => target.close(() => r()));
    await new Promise<void>((r) => redirector.close(() => r()));
  });

  it('refuses loopback, private, link-local and http targets in production', () => {
    for (const url of [
      'https://127.0.0.1/hook',
      'https://10.1.2.3/hook',
      'https://192.168.1.10/hook',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://localhost/hook',
      'http://example.org/hook',
    ])
      expect(() => checkTargetUrl(url, 'production'), url).toThrow();
    expect(checkTargetUrl('https://example.org/hook', 'production').hostname).toBe('example.org');
  });

  it('a loopback webhook target is refused in production mode at registration and at delivery (also behind a DNS name)', async () => {
    await t.pg.pool.query(
      `INSERT INTO care_teams (id, program_id, name) VALUES ('team-ae', 'heart_failure', 'AE') ON CONFLICT DO NOTHING`,
    );
    await expect(
      createWebhook(t.pg.pool, { careTeamId: 'team-ae', url: `http://127.0.0.1:${port(target)}/hook` }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_TARGET_REFUSED' });
    await expect(
      createWebhook(t.pg.pool, { careTeamId: 'team-ae', url: `https://127.0.0.1:${port(target)}/hook` }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_TARGET_REFUSED' });
    // a name that resolves to this machine (Debian maps the host name to 127.0.1.1): refused at connect time
    await expect(
      postOnce(`https://${hostname()}:${port(target)}/hook`, {}, '{}', { profile: 'production', timeoutMs: 2000 }),
    ).rejects.toThrow(/refused|dns|WEBHOOK_ADDRESS_REFUSED|WEBHOOK_DNS_FAILED/i);
    // a webhook registered earlier (development) is not delivered by a production dispatcher
    await createWebhook(t.pg.pool, {
      careTeamId: 'team-ae',
      url: `http://127.0.0.1:${port(target)}/hook`,
      profile: 'development',
    });
    await expect(
      postOnce(`http://127.0.0.1:${port(target)}/hook`, {}, '{}', { profile: 'production', timeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_URL_REFUSED' });
    expect(hits).toBe(0);
    const prod = new WebhookDispatcher(t.pg.pool, t.hub.metrics, t.hub.log, { profile: 'production' });
    expect(prod).toBeDefined();
  });

  it('never follows a redirect (SSRF through a public endpoint) and reports a stable code', async () => {
    await expect(
      postOnce(`http://127.0.0.1:${port(redirector)}/hook`, {}, '{}', { profile: 'development', timeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_REDIRECT_REFUSED' });
    expect(hits).toBe(0);
  });
});
