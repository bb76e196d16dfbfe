import {
  createECDH,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';

/**
 * Professionals sign in to Grafana through the hub (docs/security.md "Grafana"): the hub issues a
 * short-lived JWT (RFC 7519, ES256 per RFC 7518 section 3.4) whose `sub` is the professional id,
 * the login of the Grafana user the hub made in that professional's organisation; Grafana's JWT
 * authentication ([auth.jwt], URL login with `auth_token`, no auto sign-up) checks it with the
 * public key the hub writes next to the provisioning. So `${__user.login}` is always a hub
 * professional and a Grafana session exists only for a professional the hub authenticated.
 * The key pair derives from grafana.scopeKey: every hub instance signs with the same key and no
 * private key is stored.
 */
export const GRAFANA_JWT_AUDIENCE = 'vigil-grafana';
export const GRAFANA_JWT_PUBLIC_KEY_FILE = 'jwt-public.pem';
export const GRAFANA_LOGIN_TTL_SEC = 60;

// order of the P-256 group (SEC 2 v2, section 2.4.2)
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

export interface GrafanaSigningKey {
  privateKey: KeyObject;
  publicPem: string;
}

export function grafanaSigningKey(scopeKey: string): GrafanaSigningKey {
  // a private scalar in [1, n-1] from the key (re-hash in the ~2^-32 case it falls outside)
  let seed = createHmac('sha256', scopeKey).update('grafana-jwt-es256').digest();
  while (BigInt(`0x${seed.toString('hex')}`) >= P256_N || seed.every((b) => b === 0))
    seed = createHmac('sha256', scopeKey).update(seed).digest();
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(seed);
  const pub = ecdh.getPublicKey(); // 0x04 || x || y
  const b64 = (b: Buffer) => b.toString('base64url');
  const jwk = { kty: 'EC', crv: 'P-256', d: b64(seed), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33, 65)) };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicPem };
}

/** A login token for one professional, valid GRAFANA_LOGIN_TTL_SEC seconds. */
export function grafanaLoginToken(key: GrafanaSigningKey, professionalId: string, now = new Date()): string {
  const iat = Math.floor(now.getTime() / 1000);
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'ES256', typ: 'JWT' });
  const body = enc({
    sub: professionalId,
    // Grafana's JWT login reads the e-mail claim too; professionals' addresses are not the hub's to share
    email: `${professionalId}@vigil.invalid`,
    aud: GRAFANA_JWT_AUDIENCE,
    iat,
    exp: iat + GRAFANA_LOGIN_TTL_SEC,
    jti: randomBytes(12).toString('base64url'),
  });
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${sig.toString('base64url')}`;
}
