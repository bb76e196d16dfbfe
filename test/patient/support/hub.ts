import pino from 'pino';
import { hubConfigSchema } from '../../../hub/config/schema';
import { startHub, type RunningHub } from '../../../hub/main';
import { newKeySpec } from '../../../hub/messaging/kms';
import { createTestInflux, createTestPostgres, type TestPostgres } from '../../support/stores';

export interface PatientHub {
  hub: RunningHub;
  pg: TestPostgres;
  stop(): Promise<void>;
}

/** A real hub in-process: PostgreSQL, InfluxDB, embedded MQTT broker on an ephemeral port, notification channels. */
export async function startPatientHub(opts: {
  smtpUrl?: string;
  smsUrl?: string;
  smsToken?: string;
}): Promise<PatientHub> {
  const pg = await createTestPostgres('vigil_patient');
  const influx = await createTestInflux('vigil_patient');
  const config = hubConfigSchema.parse({
    instanceId: 'patient-test',
    postgres: { url: pg.url },
    influx: { url: influx.url, database: influx.database },
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
    patient: { publicUrl: 'http://127.0.0.1:8080', messageKeys: newKeySpec('k1') },
    notify: { smtpUrl: opts.smtpUrl, smsUrl: opts.smsUrl, smsToken: opts.smsToken, pollMs: 500 },
  });
  const hub = await startHub(config, pino({ level: 'silent' }));
  return {
    hub,
    pg,
    stop: async () => {
      await hub.stop();
      await pg.drop();
      await influx.drop();
    },
  };
}

/** A tiny cookie jar for fetch: the patient space session. */
export class Browserless {
  private cookie = '';
  constructor(readonly base: string) {}

  async req(
    method: string,
    path: string,
    body?: object | FormData | URLSearchParams,
    extra: Record<string, string> = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...extra };
    if (this.cookie) headers.cookie = this.cookie;
    let payload: string | FormData | undefined;
    if (body instanceof FormData) payload = body;
    else if (body instanceof URLSearchParams) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = body.toString();
    } else if (body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(this.base + path, { method, headers, body: payload, redirect: 'manual' });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('vigil_portal='));
    if (set) this.cookie = set.split(';')[0]!;
    return res;
  }
}
