import type { Logger } from 'pino';
import type pg from 'pg';
import { heartbeatSchema } from '../../contract';
import { recordUpdateReport } from '../fleet/ota';
import type { ConcurrencyLimit } from './concurrency-limit';
import { HEARTBEAT_MEASUREMENT, type TimeSeriesStore } from '../storage/influx/timeseries';

/**
 * Files a gateway heartbeat (contract heartbeatSchema) for the fleet board: one point in
 * gateway_heartbeat (tag gateway; float fields queue_depth, queue_bytes, uptime_s) and the
 * gateway's last_seen_at and software version. Heartbeats are telemetry: an invalid one is logged and dropped.
 */
export async function fileHeartbeat(
  gatewayId: string,
  payload: Buffer,
  d: {
    timeseries: TimeSeriesStore;
    pool: pg.Pool;
    log: Logger;
    /** presence statements share a small limit, not the whole pool (mqtt-ingest.ts) */
    presence: ConcurrencyLimit;
  },
): Promise<boolean> {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    d.log.warn({ gatewayId, code: 'HEARTBEAT_MALFORMED' }, 'heartbeat is not JSON');
    return false;
  }
  const hb = heartbeatSchema.safeParse(json);
  if (!hb.success || hb.data.gatewayId !== gatewayId) {
    d.log.warn({ gatewayId, code: 'HEARTBEAT_INVALID' }, 'heartbeat does not match the contract or its topic');
    return false;
  }
  const q = hb.data.queue;
  await d.timeseries.writeTelemetry([
    {
      measurement: HEARTBEAT_MEASUREMENT,
      tags: { gateway: gatewayId },
      // written as floats, always (InfluxDB refuses a later type change of a field)
      fields: { queue_depth: q.depth, queue_bytes: q.bytes, uptime_s: hb.data.uptimeS },
      timestamp: new Date(hb.data.at),
    },
  ]);
  // the software version feeds the fleet view of versions and the rollout's progress
  await d.presence.run(() =>
    d.pool.query(
      'UPDATE gateways SET last_seen_at = now(), software_version = $2, software_reported_at = now() WHERE id = $1',
      [gatewayId, hb.data.version],
    ),
  );
  // over-the-air update states per box, and the rollout's automatic halt (hub/fleet/ota.ts)
  if (hb.data.update) await recordUpdateReport(d.pool, gatewayId, hb.data.update, d.log);
  return true;
}
