import { createHash, randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import type pg from 'pg';
import { audit } from '../../alerts/audit';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** absent: derived from the request (https://<host>/web/oidc/callback) */
  redirectUri?: string | undefined;
}

const FLIGHT_MS = 10 * 60_000;

/** plain HTTP is accepted only for a provider on this machine (tests, a lab Keycloak) */
const loopbackHttp = (issuer: string): boolean => {
  const u = new URL(issuer);
  return u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
};
// the library marks this option deprecated on purpose, to make every use stand out
// eslint-disable-next-line @typescript-eslint/no-deprecated
const insecureLoopback = client.allowInsecureRequests;
const hash = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * OpenID Connect sign-in for professionals (OpenID Connect Core 1.0, authorization code flow with
 * PKCE, RFC 7636) through `openid-client`: a hospital plugs its identity provider (Keycloak, Pro
 * Santé Connect). A professional is found by (issuer, subject) linked beforehand by an admin
 * (linkOidcIdentity): the hub never creates an account from a token.
 */
export class OidcLogin {
  private config: Promise<client.Configuration> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly s: OidcSettings,
  ) {}

  /** provider metadata, discovered once (and again after a failure) */
  private discovery(): Promise<client.Configuration> {
    this.config ??= client
      .discovery(
        new URL(this.s.issuer),
        this.s.clientId,
        this.s.clientSecret,
        undefined,
        loopbackHttp(this.s.issuer) ? { execute: [insecureLoopback] } : undefined,
      )
      .catch((e: unknown) => {
        this.config = undefined;
        throw e;
      });
    return this.config;
  }

  /** Starts a login: returns the browser's flight id (for an HttpOnly cookie) and the provider URL. */
  async start(redirectUri: string): Promise<{ flight: string; url: string }> {
    const config = await this.discovery();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const flight = randomBytes(24).toString('base64url');
    const uri = this.s.redirectUri ?? redirectUri;
    await this.pool.query('DELETE FROM web_oidc_logins WHERE created_at < $1', [new Date(Date.now() - FLIGHT_MS)]);
    await this.pool.query(
      'INSERT INTO web_oidc_logins (id_hash, state, nonce, code_verifier, redirect_uri) VALUES ($1, $2, $3, $4, $5)',
      [hash(flight), state, nonce, verifier, uri],
    );
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: uri,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { flight, url: url.href };
  }

  /**
   * Completes a login from the provider's redirect: checks state, nonce and PKCE, and returns the
   * linked professional's id, or undefined (with the reason) when the flight or the link is missing.
   */
  async finish(
    flight: string | undefined,
    currentUrl: URL,
  ): Promise<{ professionalId: string } | { refused: 'NO_FLIGHT' | 'NOT_LINKED' | 'PROVIDER_ERROR' }> {
    if (!flight) return { refused: 'NO_FLIGHT' };
    const { rows } = await this.pool.query<{
      state: string;
      nonce: string;
      code_verifier: string;
      redirect_uri: string;
    }>(
      'DELETE FROM web_oidc_logins WHERE id_hash = $1 AND created_at > $2 RETURNING state, nonce, code_verifier, redirect_uri',
      [hash(flight), new Date(Date.now() - FLIGHT_MS)],
    );
    const f = rows[0];
    if (!f) return { refused: 'NO_FLIGHT' };
    const config = await this.discovery();
    // the token request must name the redirect URI the provider saw, whatever host served the callback
    const url = new URL(f.redirect_uri);
    url.search = currentUrl.search;
    let claims: { iss: string; sub: string } | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: f.code_verifier,
        expectedState: f.state,
        expectedNonce: f.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch {
      return { refused: 'PROVIDER_ERROR' };
    }
    if (!claims) return { refused: 'PROVIDER_ERROR' };
    const pro = await this.pool.query<{ id: string }>(
      'SELECT id FROM professionals WHERE oidc_issuer = $1 AND oidc_subject = $2 AND disabled_at IS NULL',
      [claims.iss, claims.sub],
    );
    const id = pro.rows[0]?.id;
    return id ? { professionalId: id } : { refused: 'NOT_LINKED' };
  }
}

/** Links a professional to her identity at the hospital's provider (issuer + subject claim). */
export async function linkOidcIdentity(
  pool: pg.Pool,
  professionalId: string,
  identity: { issuer: string; subject: string },
  actor: string,
): Promise<void> {
  await pool.query('UPDATE professionals SET oidc_issuer = $2, oidc_subject = $3 WHERE id = $1', [
    professionalId,
    identity.issuer,
    identity.subject,
  ]);
  await audit(pool, {
    actor,
    action: 'professional.oidc_linked',
    entity: 'professional',
    entityId: professionalId,
    detail: { issuer: identity.issuer },
    at: new Date(),
  });
}
