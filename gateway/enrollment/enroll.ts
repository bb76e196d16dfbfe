import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { z } from 'zod';
import { CREDENTIALS_FILE, DEFAULT_DATA_DIR, gatewayConfigInput } from '../config/load';
import type { GatewayConfigInput } from '../config/schema';

/**
 * Plug-in onboarding (issue 4 item 8): a box that has no credential yet but an enrollment code
 * (printed on it, in its config file) exchanges the code once at the hub
 * (POST <hubUrl>/enrollment/exchange, hub/api/enrollment.ts) and keeps the answer in
 * <dataDir>/credentials.json (mode 0600). Every later start reads that file: the box needs nothing.
 */
export class EnrollmentError extends Error {
  constructor(
    readonly code: 'ENROLLMENT_CODE_INVALID' | 'ENROLLMENT_HUB_UNREACHABLE' | 'ENROLLMENT_REPLY_INVALID',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'EnrollmentError';
  }
}

const replySchema = z.object({ gatewayId: z.string().min(1), mqttPassword: z.string().min(1) });

export type EnrollOutcome = 'enrolled' | 'already_enrolled';

/**
 * POSTs JSON with node:http(s), not fetch: fetch needs WebAssembly (undici's HTTP parser), which
 * the box's V8 runs without (--jitless, deploy/vigil-gateway.service) to stay within its memory
 * budget. An https hub URL is checked against the pinned CA of the MQTT link when one is set.
 */
export function postJson(
  url: URL,
  body: unknown,
  o: { timeoutMs: number; ca?: Buffer },
): Promise<{ status: number; json: unknown }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: o.timeoutMs,
        ...(o.ca ? { ca: o.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function enrollIfNeeded(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<GatewayConfigInput> } = {},
): Promise<EnrollOutcome> {
  const input = gatewayConfigInput(opts) as {
    gatewayId?: string;
    dataDir?: string;
    mqtt?: { password?: string; caFile?: string };
    enrollment?: { hubUrl?: string; code?: string };
  };
  if (input.gatewayId && input.mqtt?.password) return 'already_enrolled';
  const { hubUrl, code } = input.enrollment ?? {};
  // nothing to exchange: the config loader then reports the missing settings
  if (!hubUrl || !code) return 'already_enrolled';
  let res: { status: number; json: unknown };
  try {
    const ca = input.mqtt?.caFile ? readFileSync(input.mqtt.caFile) : undefined;
    res = await postJson(
      new URL('/enrollment/exchange', hubUrl),
      { code },
      { timeoutMs: 15_000, ...(ca ? { ca } : {}) },
    );
  } catch (e) {
    throw new EnrollmentError('ENROLLMENT_HUB_UNREACHABLE', `${hubUrl}: ${(e as Error).message}`);
  }
  if (res.status === 404 || res.status === 400)
    throw new EnrollmentError(
      'ENROLLMENT_CODE_INVALID',
      'the hub does not accept this enrollment code (unknown, used or expired)',
    );
  if (res.status < 200 || res.status > 299)
    throw new EnrollmentError('ENROLLMENT_HUB_UNREACHABLE', `hub answered ${res.status}`);
  const reply = replySchema.safeParse(res.json);
  if (!reply.success)
    throw new EnrollmentError('ENROLLMENT_REPLY_INVALID', 'the hub reply is not an enrollment answer');
  const dataDir = input.dataDir ?? DEFAULT_DATA_DIR;
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, CREDENTIALS_FILE);
  const tmp = `${path}.tmp`;
  // written then renamed: a power cut leaves either no file (exchange again: refused, the code is
  // used; re-issue a code) or the whole file
  writeFileSync(tmp, JSON.stringify({ gatewayId: reply.data.gatewayId, mqtt: { password: reply.data.mqttPassword } }), {
    mode: 0o600,
  });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return 'enrolled';
}
