import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../hub/broker/embedded-broker';
import { createHubMetrics } from '../../hub/observability/metrics';

/**
 * The embedded broker's listener is several sockets sharing one port (docs/security.md "MQTT
 * edge", acceptors), and sharing never hides a port conflict: a port another process listens on,
 * with or without SO_REUSEPORT, still fails with EADDRINUSE.
 */
// never queried: no client logs in here
const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/unused' });
const broker = (port: number) =>
  new EmbeddedBroker(
    { host: '127.0.0.1', port, hubUsername: 'vigil-hub', hubPassword: 'x'.repeat(32), maxPayloadBytes: 65536 },
    pool,
    pino({ level: 'silent' }),
    createHubMetrics(),
  );
const listen = (reusePort: boolean, port = 0) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', reusePort }, () => resolve(s));
  });
const portOf = (s: Server) => (s.address() as { port: number }).port;
const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));
const listeners = (port: number) =>
  execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean).length;

afterAll(async () => {
  await pool.end();
});

describe('MQTT listener acceptors', () => {
  it('listens with 32 sockets on one port and closes them all on stop', async () => {
    const b = broker(0);
    const port = await b.start();
    expect(listeners(port)).toBe(32);
    await b.stop();
    expect(listeners(port)).toBe(0);
    // the port is free again for anyone
    await close(await listen(false, port));
  });

  it('refuses a port another process listens on, with or without SO_REUSEPORT', async () => {
    for (const reusePort of [false, true]) {
      const other = await listen(reusePort);
      const b = broker(portOf(other));
      await expect(b.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await b.stop();
      // nothing of the broker stayed on the port: only the other process's socket
      expect(listeners(portOf(other))).toBe(1);
      await close(other);
    }
  });
});
