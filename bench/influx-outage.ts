/**
 * Issue 5: InfluxDB stopped for 30 s during ingest (its own influxd on port 18097, SIGTERM, then
 * restarted). Prints one JSON line: readings stored before/while down, held messages, time from
 * restart to the first stored reading, to no held message and to everything receipted, and the
 * exactly-once check (InfluxDB points = ledger rows = readings, no receipt while down).
 *   npx tsx bench/influx-outage.ts [--outage-ms 30000] [--gateways 50] [--per-gateway 100] [--batch 10] [--receipt-timeout-ms 10000]
 */
import { parseArgs } from 'node:util';
import { runInfluxOutage } from '../test/integration/hub-ingest-support';

const { values } = parseArgs({
  options: {
    'outage-ms': { type: 'string', default: '30000' },
    gateways: { type: 'string', default: '50' },
    'per-gateway': { type: 'string', default: '100' },
    batch: { type: 'string', default: '10' },
    'receipt-timeout-ms': { type: 'string', default: '10000' },
  },
});
const r = await runInfluxOutage({
  port: 18097,
  dataDir: '.data/influxdb-outage-bench',
  outageMs: Number(values['outage-ms']),
  gateways: Number(values.gateways),
  perGateway: Number(values['per-gateway']),
  batch: Number(values.batch),
  // the default writer setting: retry 60 s, so a 30 s outage is absorbed by the writer's backoff
  giveUpAfterMs: 60_000,
  receiptTimeoutMs: Number(values['receipt-timeout-ms']),
  logLevel: process.env.VIGIL_BENCH_LOG === '1' ? 'warn' : 'silent',
  progress: process.env.VIGIL_BENCH_LOG === '1',
});
console.log(
  JSON.stringify({
    bench: 'influx-outage',
    outageSeconds: Number(values['outage-ms']) / 1000,
    ...r,
    exactlyOnce:
      r.influxPoints === r.total && r.ledgerRows === r.total && r.unreceipted === 0 && r.storedWhileDown === 0,
  }),
);
process.exit(0);
