import { generate } from 'otplib';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCareTeamWithMembers, createPatient } from '../../hub/admin/provisioning';
import { loadHubConfig } from '../../hub/config/load';
import { startHub, type RunningHub } from '../../hub/main';
import { ManualClock } from '../../hub/rules/clock';
import { checkPassword, enableTotp, hashPassword, setPassword } from '../../hub/web/session/credentials';
import { SessionStore } from '../../hub/web/session/sessions';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../support/stores';

/** Sessions, passwords and the TOTP second factor on real PostgreSQL, through the hub's HTTP routes. */
describe('web sessions and credentials', () => {
  let pg: TestPostgres;
  let influx: { url: string; database: string; drop(): Promise<void> };
  let hub: RunningHub;
  let nurse = '';
  const PASSWORD = 'une phrase de passe assez longue';

  beforeAll(async () => {
    pg = await createTestPostgres('vigil_websess');
    influx = await createTestInflux('vigil_websess');
    await createPatient(pg.pool, { id: 'P-S-1', programId: 'heart_failure', displayName: 'X', birthYear: 1950 });
    const t = await createCareTeamWithMembers(pg.pool, {
      id: 'team-s',
      programId: 'heart_failure',
      name: 'S',
      patientIds: ['P-S-1'],
      roles: ['coordinating_nurse'],
    });
    nurse = t.coordinating_nurse.professionalId;
    await setPassword(pg.pool, nurse, 'claire', PASSWORD, 'test');
    hub = await startHub(
      loadHubConfig({
        env: {},
        overrides: {
          postgres: { url: pg.url },
          influx: { url: influx.url, database: influx.database },
          mqtt: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          logLevel: 'silent',
        },
      }),
      pino({ level: 'silent' }),
    );
  }, 60_000);

  afterAll(async () => {
    await hub.stop();
    await pg.drop();
    await influx.drop();
  });

  it('stores argon2id hashes and refuses short passwords', async () => {
    const h = await hashPassword('twelve chars!');
    expect(h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await checkPassword(h, 'twelve chars!')).toBe(true);
    expect(await checkPassword(h, 'twelve chars?')).toBe(false);
    expect(await checkPassword(null, 'anything')).toBe(false);
    await expect(hashPassword('short')).rejects.toMatchObject({ code: 'PASSWORD_TOO_SHORT' });
  });

  it('ends a session after the idle timeout, not while it is used, and at the absolute timeout', async () => {
    const clock = new ManualClock(Date.now());
    const store = new SessionStore(pg.pool, { idleTimeoutMs: 15 * 60_000, absoluteTimeoutMs: 60 * 60_000 }, clock);
    const token = await store.create({ kind: 'professional', id: nurse }, 'active', 'password');
    clock.advance(14 * 60_000);
    expect((await store.use(token))?.principal).toMatchObject({
      kind: 'professional',
      id: nurse,
      role: 'coordinating_nurse',
    });
    // background refreshes do not restart the idle clock
    clock.advance(10 * 60_000);
    expect(await store.use(token, { touch: false })).toBeDefined();
    clock.advance(6 * 60_000);
    expect(await store.use(token, { touch: false })).toBeUndefined();

    const busy = await store.create({ kind: 'professional', id: nurse }, 'active', 'password');
    for (let i = 0; i < 5; i++) {
      clock.advance(10 * 60_000);
      expect(await store.use(busy)).toBeDefined();
    }
    clock.advance(12 * 60_000);
    expect(await store.use(busy)).toBeUndefined(); // used 12 min ago, but 62 min > absolute 60 min
  });

  const form = async (path: string, cookies: string[], body: Record<string, string>) => {
    const page = await fetch(`${hub.httpUrl}${path === '/web/login/totp' ? path : '/web/login'}`, {
      headers: { cookie: cookies.join('; ') },
    });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
    const jar = [...cookies, ...page.headers.getSetCookie().map((c) => c.split(';')[0]!)];
    const res = await fetch(`${hub.httpUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.join('; '), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, ...body }),
    });
    return {
      res,
      jar: [
        ...jar.filter((c) => !c.startsWith('vigil_session=')),
        ...res.headers.getSetCookie().map((c) => c.split(';')[0]!),
      ],
    };
  };

  it('asks for the TOTP code after the password; a session is opened only with the right code', async () => {
    const { secret, uri } = await enableTotp(pg.pool, nurse, 'test');
    expect(uri).toMatch(/^otpauth:\/\/totp\/Vigil/);
    const wrongPw = await form('/web/login', [], { login: 'claire', password: 'not the password' });
    expect(wrongPw.res.status).toBe(401);

    const step1 = await form('/web/login', [], { login: 'claire', password: PASSWORD });
    expect([step1.res.status, step1.res.headers.get('location')]).toEqual([303, '/web/login/totp']);
    // half signed in: the API is still closed
    const api = await fetch(`${hub.httpUrl}/api/worklist`, { headers: { cookie: step1.jar.join('; ') } });
    expect(api.status).toBe(401);

    const bad = await form('/web/login/totp', step1.jar, {
      code: '000000' === (await generate({ secret })) ? '111111' : '000000',
    });
    expect(bad.res.status).toBe(401);
    const ok = await form('/web/login/totp', step1.jar, { code: await generate({ secret }) });
    expect([ok.res.status, ok.res.headers.get('location')]).toEqual([303, '/web/worklist']);
    const worklist = await fetch(`${hub.httpUrl}/api/worklist`, { headers: { cookie: ok.jar.join('; ') } });
    expect(worklist.status).toBe(200);
    const audit = await pg.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE actor = $1 AND action LIKE 'web.%' ORDER BY id`,
      [nurse],
    );
    expect(audit.rows.map((r) => r.action)).toEqual([
      'web.sign_in_failed',
      'web.password_accepted',
      'web.totp_failed',
      'web.signed_in',
    ]);
  });

  it('refuses a form post without its CSRF token', async () => {
    const res = await fetch(`${hub.httpUrl}/web/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ login: 'claire', password: PASSWORD }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('vigil_session='))).toBe(false);
  });

  // last: it blocks this test's address for a while
  it('throttles password guessing: after 20 wrong passwords even the right one is refused for a while', async () => {
    const t = await createCareTeamWithMembers(pg.pool, {
      id: 'team-g',
      programId: 'heart_failure',
      name: 'G',
      patientIds: [],
      roles: ['home_nurse'],
    });
    await setPassword(pg.pool, t.home_nurse.professionalId, 'guessed', PASSWORD, 'test');
    // 20 failures a window per address and per login (the earlier tests of this file used a few)
    const statuses: number[] = [];
    while (statuses.length < 25 && statuses.at(-1) !== 429)
      statuses.push(
        (await form('/web/login', [], { login: 'guessed', password: `wrong guess ${statuses.length}` })).res.status,
      );
    expect(statuses.length).toBeGreaterThanOrEqual(18);
    expect(statuses.slice(0, 17)).toEqual(Array(17).fill(401));
    const right = await form('/web/login', [], { login: 'guessed', password: PASSWORD });
    expect(right.res.status).toBe(429);
    expect(Number(right.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(right.jar.some((c) => c.startsWith('vigil_session=') && c.length > 'vigil_session='.length)).toBe(false);
  });
});
