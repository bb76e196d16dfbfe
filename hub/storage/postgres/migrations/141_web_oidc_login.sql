-- OpenID Connect sign-in (docs/web.md): the state, nonce and PKCE verifier of a login in flight,
-- kept server-side so the callback may reach any hub instance; the browser holds only a random
-- id (its SHA-256 here). Rows live ten minutes.
CREATE TABLE web_oidc_logins (
  id_hash        text PRIMARY KEY,
  state          text NOT NULL,
  nonce          text NOT NULL,
  code_verifier  text NOT NULL,
  redirect_uri   text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX web_oidc_logins_created ON web_oidc_logins (created_at);
