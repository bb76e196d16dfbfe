import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SentSms {
  to: string;
  from: string;
  text: string;
  reference: string;
}

/**
 * Local test double of the documented SMS provider shape (docs/patient.md): POST /messages with a
 * bearer token and JSON {to, from, text, reference}; answers 201 {id}. `failNext` makes the next
 * n calls answer 503, to exercise the delivery log's retries.
 */
export async function startSmsDouble(
  token: string,
): Promise<{ url: string; sent: SentSms[]; failNext(n: number): void; stop(): Promise<void> }> {
  const sent: SentSms[] = [];
  let failing = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/messages') return res.writeHead(404).end();
      if (req.headers.authorization !== `Bearer ${token}`) return res.writeHead(401).end();
      if (failing > 0) {
        failing--;
        return res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"busy"}');
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SentSms;
      sent.push(body);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `sms-${sent.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    failNext: (n) => {
      failing = n;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
