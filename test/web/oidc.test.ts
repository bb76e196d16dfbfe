import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { linkOidcIdentity } from '../../hub/web/session/oidc';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';
import { launchChromium } from './support';

/**
 * OpenID Connect sign-in against a real provider (oidc-provider, the certified OpenID Connect
 * server library) started on loopback, through the hub's /web/oidc routes in headless Chromium.
 */
describe('OpenID Connect sign-in', () => {
  let pg: TestPostgres;
  let influx: { url: string; database: string; drop(): Promise<void> };
  let hub: RunningHub;
  let browser: Browser;
  let idp: Server;
  let issuer = '';
  let nurse = '';

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_oidc');
    influx = await createTestInflux('vigil_oidc');
    await createPatient(pg.pool, {
      id: 'P-OIDC-1',
      programId: 'heart_failure',
      displayName: 'Jeanne Martin',
      birthYear: 1951,
    });
    const team = await createCareTeamWithMembers(pg.pool, {
      id: 'team-oidc',
      programId: 'heart_failure',
      name: 'IC',
      patientIds: ['P-OIDC-1'],
      roles: ['coordinating_nurse'],
    });
    nurse = team.coordinating_nurse.professionalId;

    // the provider's port first (its issuer URL), the provider itself once the hub's URL is known
    const holder: { provider?: Provider } = {};
    idp = createServer((req, res) => {
      if (holder.provider) void holder.provider.callback()(req, res);
      else res.writeHead(503).end();
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    await linkOidcIdentity(pg.pool, nurse, { issuer, subject: 'claire.dubois' }, 'test');

    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influx.url, database: influx.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
          web: {
            oidc: {
              issuer,
              clientId: 'vigil-hub',
              clientSecret: 'a-long-client-secret-for-tests',
              label: 'Annuaire CHU',
            },
          },
        },
      }),
      pino({ level: 'silent' }),
    );
    holder.provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'vigil-hub',
          client_secret: 'a-long-client-secret-for-tests',
          redirect_uris: [`${hub.httpUrl}/web/oidc/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      // any login typed in the provider's development form is that subject
      findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
      cookies: { keys: ['a-cookie-signing-key-for-tests'] },
      pkce: { required: () => true },
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser.close();
    await hub.stop();
    await new Promise((r) => idp.close(r));
    await pg.drop();
    await influx.drop();
  });

  const signInAtProvider = async (login: string) => {
    const ctx = await browser.newContext({ locale: 'fr-FR' });
    const page = await ctx.newPage();
    await page.goto(`${hub.httpUrl}/web/login`);
    await page.getByRole('link', { name: 'Annuaire CHU' }).click();
    await page.waitForURL((u) => u.href.startsWith(issuer));
    await page.locator('input[name=login]').fill(login);
    await page.locator('input[name=password]').fill('anything');
    await page.locator('button[type=submit]').click();
    // the provider's consent screen
    await page.locator('button[type=submit]').click();
    await page.waitForURL((u) => u.href.startsWith(hub.httpUrl));
    return { ctx, page };
  };

  it('signs a linked professional in through the provider', async () => {
    const { ctx, page } = await signInAtProvider('claire.dubois');
    await page.waitForURL(/\/web\/worklist/);
    expect((await page.textContent('header'))!).toContain('coordinating_nurse of IC');
    const { rows } = await pg.pool.query<{ method: string }>(
      `SELECT method FROM web_sessions WHERE principal_id = $1 AND ended_at IS NULL`,
      [nurse],
    );
    expect(rows.map((r) => r.method)).toEqual(['oidc']);
    await ctx.close();
  });

  it('refuses a provider identity linked to no professional', async () => {
    const { ctx, page } = await signInAtProvider('someone.else');
    expect(page.url()).toContain('/web/oidc/callback');
    expect((await page.textContent('main'))!).toContain('n’est relié à aucun compte Vigil');
    expect((await ctx.cookies()).find((c) => c.name === 'vigil_session')).toBeUndefined();
    await ctx.close();
  });

  it('refuses a callback without the login it started (state bound to the browser)', async () => {
    const res = await fetch(`${hub.httpUrl}/web/oidc/callback?code=forged&state=forged`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('vigil_session='))).toBe(false);
  });
});
