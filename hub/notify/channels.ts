import nodemailer, { type Transporter } from 'nodemailer';
import { z } from 'zod';

export type ChannelName = 'email' | 'sms' | 'space';

export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
  /** idempotency key: receivers and providers may dedup on it (at-least-once delivery) */
  key: string;
}

export interface Channel {
  send(m: OutgoingMessage): Promise<void>;
}

/** E-mail over SMTP with nodemailer; `url` is smtp://user:pass@host:port or smtps://... */
export class EmailChannel implements Channel {
  private readonly transport: Transporter;

  constructor(
    url: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport(url);
  }

  async send(m: OutgoingMessage): Promise<void> {
    await this.transport.sendMail({
      from: this.from,
      to: m.to,
      subject: m.subject,
      text: m.text,
      headers: { 'X-Vigil-Idempotency-Key': m.key },
    });
  }

  close(): void {
    this.transport.close();
  }
}

/**
 * SMS through an HTTP provider (docs/patient.md, "SMS provider"). The shape is the common one of
 * SMS gateways: POST <baseUrl>/messages with a bearer token and JSON {to, from, text, reference};
 * any 2xx answer with {id} means accepted. Other answers are errors the delivery log retries.
 */
export const smsAccepted = z.object({ id: z.string().min(1) });

export class HttpSmsChannel implements Channel {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly sender: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(m: OutgoingMessage): Promise<void> {
    const res = await fetch(new URL('messages', this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json', 'idempotency-key': m.key },
      body: JSON.stringify({ to: m.to, from: this.sender, text: m.text, reference: m.key }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw new Error(`SMS provider answered ${res.status}`);
    if (!smsAccepted.safeParse(body).success) throw new Error('SMS provider answer has no message id');
  }
}
