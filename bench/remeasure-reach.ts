import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { z } from 'zod';
import { METRICS, readingId, type MetricName, type Reading } from '../contract';
import { createGateway, createPatient, newKeySpec } from '../hub';
import { percentile } from '../simulators/fleet/fleet';
import { benchArgs, int, loadAverage } from './lib/args';
import { log, report, scratchStores, startHubProcess } from './lib/env';
import { connectGateway, publishBatch } from './lib/raw-gateway';

/**
 * Re-measure reach (issue 13 "done when": within 10 s): a first crisis reading (>= 180/120, not
 * yet confirmed) published over MQTT by a probe gateway -> the "please re-measure" request stored
 * for the patient space (notify_deliveries, channel space) and the e-mail accepted by a real SMTP
 * server (smtp-server on loopback). One fresh patient per probe; the hub is its own process.
 *   npx tsx bench/remeasure-reach.ts [--probes 30] [--interval-ms 300]
 */
const args = benchArgs(z.object({ probes: int(1, 1000, 30), 'interval-ms': int(0, 10_000, 300) }));

const mailAt = new Map<string, number>();
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onData(stream, session, done) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      for (const r of session.envelope.rcptTo) if (!mailAt.has(r.address)) mailAt.set(r.address, Date.now());
      done();
    });
  },
});
await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;

function firstCrisis(gatewayId: string, i: number, now: number): Reading[] {
  // one cuff per probe: reading ids are per device, two probes in the same second must not collide
  const device = {
    address:
      `A4:C1:38:BE:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`.toUpperCase(),
    driver: 'sig-blood-pressure',
  };
  const deviceTime = new Date(now).toISOString().slice(0, 19);
  return (
    [
      ['blood_pressure_systolic', 188],
      ['blood_pressure_diastolic', 121],
    ] as [MetricName, number][]
  ).map(([metric, value]) => ({
    id: readingId({ device, metric, deviceTime, value }),
    gatewayId,
    device,
    metric,
    value,
    unit: METRICS[metric].unit,
    measuredAt: `${deviceTime}.000Z`,
    deviceTime,
    flags: [],
    clock: { offsetMs: 0, trusted: true },
  }));
}

const s = await scratchStores('vigil_bench_remeasure');
const hub = await startHubProcess(s, { VIGIL_SMTP_URL: smtpUrl, VIGIL_MESSAGE_KEYS: newKeySpec('bench') });
const clients: { end(force?: boolean): unknown }[] = [];
try {
  const probes: { gatewayId: string; patientId: string; email: string; password: string }[] = [];
  for (let i = 0; i < args.probes; i++) {
    const gatewayId = `rm-probe-${String(i).padStart(4, '0')}`;
    const patientId = `rm-patient-${i}`;
    const email = `rm-${i}@example.org`;
    await createPatient(
      s.pool,
      { id: patientId, programId: 'cardiovascular_prevention', displayName: `probe ${i}` },
      'bench',
    );
    // no quiet hours matter here (a re-measure request ignores them), set anyway to measure the plain path
    await s.pool.query(
      `INSERT INTO patient_accounts (patient_id, email, quiet_start, quiet_end) VALUES ($1, $2, 0, 0)`,
      [patientId, email],
    );
    probes.push({
      gatewayId,
      patientId,
      email,
      ...(await createGateway(s.pool, { id: gatewayId, patientId }, 'bench')),
    });
  }
  const probeClients = await Promise.all(probes.map((p) => connectGateway(hub.mqttUrl, p.gatewayId, p.password)));
  clients.push(...probeClients);
  const pg = await s.pool.connect();
  const space: number[] = [];
  const email: number[] = [];
  log(`re-measure reach: ${args.probes} probes`);
  for (let i = 0; i < probes.length; i++) {
    const p = probes[i]!;
    const t0 = Date.now();
    await publishBatch(probeClients[i]!, p.gatewayId, firstCrisis(p.gatewayId, i, t0));
    let spaceMs: number | undefined;
    for (;;) {
      if (spaceMs === undefined) {
        const r = await pg.query(
          `SELECT 1 FROM notify_deliveries WHERE patient_id = $1 AND channel = 'space' AND template_key LIKE 'remeasure%'`,
          [p.patientId],
        );
        if (r.rowCount) spaceMs = Date.now() - t0;
      }
      const m = mailAt.get(p.email);
      if (spaceMs !== undefined && m !== undefined) {
        space.push(spaceMs);
        email.push(m - t0);
        break;
      }
      if (Date.now() - t0 > 60_000) throw new Error(`probe ${i}: not reached after 60 s`);
      await new Promise((res) => setTimeout(res, 5));
    }
    await new Promise((res) => setTimeout(res, args['interval-ms']));
  }
  pg.release();
  space.sort((a, b) => a - b);
  email.sort((a, b) => a - b);
  report('remeasure-reach', {
    spaceP50Ms: percentile(space, 50),
    spaceP99Ms: percentile(space, 99),
    spaceMaxMs: space.at(-1),
    emailP50Ms: percentile(email, 50),
    emailP99Ms: percentile(email, 99),
    emailMaxMs: email.at(-1),
    targetMs: 10_000,
    probes: args.probes,
    measured:
      'MQTT publish of a first crisis reading -> space delivery row visible (5 ms polling) / e-mail accepted by the SMTP server',
    loadAverage1m: loadAverage(),
  });
} finally {
  for (const c of clients) c.end(true);
  await hub.stop();
  await s.cleanup();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
}
