import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
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

export async function enrollIfNeeded(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<GatewayConfigInput> } = {}, fetchImpl: typeof fetch = fetch): Promise<EnrollOutcome> {
  const input = gatewayConfigInput(opts) as { gatewayId?: string; dataDir?: string; mqtt?: { password?: string }; enrollment?: { hubUrl?: string; code?: string } };
  if (input.gatewayId && input.mqtt?.password) return 'already_enrolled';
  const { hubUrl, code } = input.enrollment ?? {};
  // nothing to exchange: the config loader then reports the missing settings
  if (!hubUrl || !code) return 'already_enrolled';
  let res: Response;
  try {
    res = await fetchImpl(new URL('/enrollment/exchange', hubUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }), signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw new EnrollmentError('ENROLLMENT_HUB_UNREACHABLE', `${hubUrl}: ${(e as Error).message}`);
  }
  if (res.status === 404 || res.status === 400) throw new EnrollmentError('ENROLLMENT_CODE_INVALID', 'the hub does not accept this enrollment code (unknown, used or expired)');
  if (!res.ok) throw new EnrollmentError('ENROLLMENT_HUB_UNREACHABLE', `hub answered ${res.status}`);
  const reply = replySchema.safeParse(await res.json().catch(() => undefined));
  if (!reply.success) throw new EnrollmentError('ENROLLMENT_REPLY_INVALID', 'the hub reply is not an enrollment answer');
  const dataDir = input.dataDir ?? DEFAULT_DATA_DIR;
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, CREDENTIALS_FILE);
  const tmp = `${path}.tmp`;
  // written then renamed: a power cut leaves either no file (exchange again: refused, the code is
  // used; re-issue a code) or the whole file
  writeFileSync(tmp, JSON.stringify({ gatewayId: reply.data.gatewayId, mqtt: { password: reply.data.mqttPassword } }), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return 'enrolled';
}
