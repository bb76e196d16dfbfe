import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Outbound HTTP to integrator endpoints (webhooks) without server-side request forgery
 * (OWASP SSRF Prevention Cheat Sheet, "Case 2: the application can send requests to ANY
 * external IP address"): in production only https, every address the name resolves to must be a
 * public unicast address, checked at connect time (no DNS-rebinding window between a check and the
 * request), and redirects are never followed.
 */
export type EgressProfile = 'production' | 'development';

/** Stable codes for delivery failures: the only thing a clinician's screen shows (never raw errors). */
export type EgressErrorCode =
  | 'WEBHOOK_URL_REFUSED'
  | 'WEBHOOK_ADDRESS_REFUSED'
  | 'WEBHOOK_DNS_FAILED'
  | 'WEBHOOK_CONNECT_FAILED'
  | 'WEBHOOK_TLS_FAILED'
  | 'WEBHOOK_TIMEOUT'
  | 'WEBHOOK_REDIRECT_REFUSED'
  | 'WEBHOOK_HTTP_ERROR';

export class EgressError extends Error {
  constructor(
    readonly code: EgressErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** ipaddr.js range names that are public unicast; loopback, private, link-local, CGNAT, ULA... are not. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  return ip.range() === 'unicast';
}

/** URL policy, checked when a webhook is registered and again before each delivery. */
export function checkTargetUrl(raw: string, profile: EgressProfile): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new EgressError('WEBHOOK_URL_REFUSED', 'not a URL');
  }
  if (url.protocol !== 'https:' && !(profile === 'development' && url.protocol === 'http:'))
    throw new EgressError('WEBHOOK_URL_REFUSED', profile === 'production' ? 'https only' : 'http(s) only');
  if (url.username || url.password) throw new EgressError('WEBHOOK_URL_REFUSED', 'credentials in the URL');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (profile === 'production' && ipaddr.isValid(host) && !isPublicAddress(host))
    throw new EgressError('WEBHOOK_ADDRESS_REFUSED', 'not a public address');
  if (profile === 'production' && /^localhost$|\.localhost$|\.local$|\.internal$/i.test(host))
    throw new EgressError('WEBHOOK_ADDRESS_REFUSED', 'not a public name');
  return url;
}

/** dns.lookup that refuses non-public addresses (production): used as the socket's lookup. */
function guardedLookup(profile: EgressProfile): LookupFunction {
  return (hostname: string, options: LookupOptions, callback: (...args: never[]) => void) => {
    const cb = callback as unknown as (
      err: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void;
    dnsLookup(hostname, { ...options, all: true }, (err, list) => {
      const first = list[0];
      if (err || !first) {
        cb(Object.assign(new Error('dns'), { code: 'WEBHOOK_DNS_FAILED' }), '');
      } else if (profile === 'production' && !list.every((a) => isPublicAddress(a.address))) {
        cb(Object.assign(new Error('address refused'), { code: 'WEBHOOK_ADDRESS_REFUSED' }), '');
      } else if (options.all) {
        cb(null, list);
      } else {
        cb(null, first.address, first.family);
      }
    });
  };
}

function failureCode(e: NodeJS.ErrnoException): EgressErrorCode {
  if (e.code === 'WEBHOOK_ADDRESS_REFUSED' || e.code === 'WEBHOOK_DNS_FAILED') return e.code;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return 'WEBHOOK_DNS_FAILED';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO/i.test(e.code ?? '')) return 'WEBHOOK_TLS_FAILED';
  return 'WEBHOOK_CONNECT_FAILED';
}

/**
 * POSTs `body` once. Resolves with the HTTP status (2xx); rejects with an EgressError whose code
 * is stable (a 3xx is WEBHOOK_REDIRECT_REFUSED, other non-2xx WEBHOOK_HTTP_ERROR with `status`).
 */
export async function postOnce(
  rawUrl: string,
  headers: Record<string, string>,
  body: string,
  o: { profile: EgressProfile; timeoutMs: number; ca?: string | Buffer },
): Promise<number> {
  const url = checkTargetUrl(rawUrl, o.profile);
  const mod = url.protocol === 'https:' ? https : http;
  return await new Promise<number>((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: guardedLookup(o.profile),
        timeout: o.timeoutMs,
        ...(o.ca ? { ca: o.ca } : {}),
        // TLS 1.2 at least (ANSSI guide TLS, R3; BSI TR-02102-2)
        ...(url.protocol === 'https:' ? { minVersion: 'TLSv1.2' as const } : {}),
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        res.on('end', () => {
          if (status >= 200 && status < 300) {
            resolve(status);
            return;
          }
          const code = status >= 300 && status < 400 ? 'WEBHOOK_REDIRECT_REFUSED' : 'WEBHOOK_HTTP_ERROR';
          reject(Object.assign(new EgressError(code, `HTTP ${status}`), { status }));
        });
      },
    );
    const deadline = setTimeout(() => req.destroy(new EgressError('WEBHOOK_TIMEOUT', 'timeout')), o.timeoutMs);
    req.on('timeout', () => req.destroy(new EgressError('WEBHOOK_TIMEOUT', 'timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      reject(e instanceof EgressError ? e : new EgressError(failureCode(e), failureCode(e)));
    });
    req.on('close', () => clearTimeout(deadline));
    req.end(body);
  });
}
