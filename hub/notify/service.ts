import { named } from '../storage/postgres/named';
import type { Logger } from 'pino';
import type pg from 'pg';
import { audit, inTransaction } from '../alerts/audit';
import { systemClock, type Clock } from '../rules/clock';
import type { Channel, ChannelName } from './channels';
import { notBefore } from './quiet-hours';
import { loadTemplate, render, type Locale } from './templates';

export interface Recipient {
  kind: 'patient' | 'caregiver' | 'professional';
  id: string;
  email: string | null;
  phone: string | null;
  locale: Locale;
  quietStart: number;
  quietEnd: number;
}

export interface DeliverySpec {
  key: string;
  eventId?: number;
  patientId: string | null;
  recipient: Recipient;
  channel: ChannelName;
  template: string;
  params: Record<string, string | number>;
  /** urgent messages ignore quiet hours (a re-measure request, a red alert to the on-call person) */
  urgent: boolean;
}

/** Retry schedule of failed sends: 30 s, 1 min, 2 min ... capped at 30 min; failed after 8 tries. */
export const MAX_ATTEMPTS = 8;
export const retryDelayMs = (attempt: number): number => Math.min(30_000 * 2 ** (attempt - 1), 30 * 60_000);

export interface NotifyChannels {
  email?: Channel;
  sms?: Channel;
}

/**
 * The notification service: events (filled by database triggers and by the patient side) become
 * deliveries, one per recipient and channel, written to a delivery log and sent at least once with
 * retries. The patient space is a channel too: its deliveries are what the space lists. Every hub
 * instance may run it; events and deliveries are claimed with SKIP LOCKED.
 */
export class NotifyService {
  private timer: NodeJS.Timeout | undefined;
  private listener: pg.PoolClient | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly channels: NotifyChannels,
    private readonly log: Pick<Logger, 'info' | 'warn'>,
    private readonly clock: Clock = systemClock,
  ) {}

  get hasEmail(): boolean {
    return !!this.channels.email;
  }
  get hasSms(): boolean {
    return !!this.channels.sms;
  }

  /** Wakes on pg NOTIFY 'vigil_notify' and polls every `pollMs` as a safety net. */
  async start(pollMs = 1000): Promise<void> {
    this.stopped = false;
    await this.listen();
    this.timer = setInterval(() => this.kick(), pollMs);
    this.kick();
  }

  private async listen(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', () => this.kick());
    // a lost connection (PostgreSQL restart): give the client back broken; the poll keeps going
    // and the next pass listens again
    client.on('error', () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.release(true);
    });
    try {
      await client.query('LISTEN vigil_notify');
    } catch (e) {
      client.release(true);
      throw e;
    }
    this.listener = client;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.listener) {
      await this.listener.query('UNLISTEN vigil_notify').catch(() => undefined);
      this.listener.release();
      this.listener = undefined;
    }
    await this.running;
  }

  /** Runs one pass now (or right after the current one). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runOnce()
      .then(() => undefined)
      .catch((e: unknown) =>
        this.log.warn({ code: 'NOTIFY_PASS_FAILED', err: String(e).slice(0, 200) }, 'notify pass failed'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async runOnce(): Promise<{ events: number; sent: number; failed: number }> {
    if (this.timer && !this.listener) await this.listen().catch(() => undefined);
    const events = await this.processEvents();
    const { sent, failed } = await this.sendDue();
    return { events, sent, failed };
  }

  /** Queues one delivery (idempotent on its key). Space deliveries are delivered by being stored. */
  async enqueue(q: Pick<pg.Pool, 'query'>, d: DeliverySpec): Promise<void> {
    const now = this.clock.now();
    const r = d.recipient;
    const at = d.urgent || d.channel === 'space' ? now : notBefore(now, r.quietStart, r.quietEnd);
    await q.query(
      `INSERT INTO notify_deliveries (idempotency_key, event_id, patient_id, recipient_kind, recipient_id, channel, template_key,
                                      locale, params, urgent, status, next_attempt_at, sent_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        d.key,
        d.eventId ?? null,
        d.patientId,
        r.kind,
        r.id,
        d.channel,
        d.template,
        r.locale,
        JSON.stringify(d.params),
        d.urgent,
        d.channel === 'space' ? 'sent' : 'pending',
        at,
        d.channel === 'space' ? now : null,
        now,
      ],
    );
  }

  /** Queues the same message on the space and on every channel the recipient has an address for. */
  async enqueueAll(
    q: Pick<pg.Pool, 'query'>,
    base: Omit<DeliverySpec, 'channel' | 'key'> & { key: string },
    space: boolean,
  ): Promise<void> {
    const r = base.recipient;
    const channels: ChannelName[] = [];
    if (space) channels.push('space');
    if (r.email && this.channels.email) channels.push('email');
    if (r.phone && this.channels.sms) channels.push('sms');
    for (const channel of channels)
      await this.enqueue(q, { ...base, channel, key: `${base.key}:${r.kind}:${r.id}:${channel}` });
  }

  /**
   * Sends a message now, outside the queue: sign-in codes must not sit in the delivery log in
   * clear. The log gets the row (without the secret) and the outcome.
   */
  async sendNow(d: DeliverySpec, secret: Record<string, string | number>): Promise<void> {
    const ch = d.channel === 'email' ? this.channels.email : d.channel === 'sms' ? this.channels.sms : undefined;
    const to = d.channel === 'email' ? d.recipient.email : d.recipient.phone;
    if (!ch || !to)
      throw Object.assign(new Error(`no ${d.channel} channel for this person`), { code: 'CHANNEL_UNAVAILABLE' });
    const now = this.clock.now();
    const t = render(await loadTemplate(this.pool, d.template, d.recipient.locale), { ...d.params, ...secret });
    let error: string | null = null;
    try {
      await ch.send({ to, subject: t.subject, text: t.body, key: d.key });
    } catch (e) {
      error = String(e).slice(0, 300);
    }
    await this.pool.query(
      `INSERT INTO notify_deliveries (idempotency_key, patient_id, recipient_kind, recipient_id, channel, template_key, locale,
                                      params, urgent, status, attempts, next_attempt_at, last_error, sent_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true, $9, 1, $10, $11, $12, $10)`,
      [
        d.key,
        d.patientId,
        d.recipient.kind,
        d.recipient.id,
        d.channel,
        d.template,
        d.recipient.locale,
        JSON.stringify(d.params),
        error ? 'failed' : 'sent',
        now,
        error,
        error ? null : now,
      ],
    );
    if (error) throw Object.assign(new Error('the message could not be sent'), { code: 'DELIVERY_FAILED' });
  }

  private async processEvents(): Promise<number> {
    let n = 0;
    for (;;) {
      const done = await inTransaction(this.pool, async (c) => {
        const { rows } = await c.query<{
          id: string;
          kind: string;
          patient_id: string;
          ref_id: string | null;
          data: Record<string, unknown>;
        }>(
          `SELECT id, kind, patient_id, ref_id, data FROM notify_events WHERE processed_at IS NULL ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED`,
        );
        for (const e of rows) {
          await this.expand(c, {
            id: Number(e.id),
            kind: e.kind,
            patientId: e.patient_id,
            refId: e.ref_id === null ? null : Number(e.ref_id),
            data: e.data,
          });
          await c.query('UPDATE notify_events SET processed_at = $2 WHERE id = $1', [e.id, this.clock.now()]);
        }
        return rows.length;
      });
      n += done;
      if (done < 20) return n;
    }
  }

  /** Who hears about an event, on which channels. */
  private async expand(
    c: pg.PoolClient,
    e: { id: number; kind: string; patientId: string; refId: number | null; data: Record<string, unknown> },
  ): Promise<void> {
    if (e.kind === 'remeasure') {
      const patient = await patientRecipient(c, e.patientId);
      const ruleId = typeof e.data.ruleId === 'string' ? e.data.ruleId : '';
      const template = ruleId.startsWith('bp-')
        ? 'remeasure_blood_pressure'
        : ruleId.includes('febrile') || ruleId.includes('temperature')
          ? 'remeasure_temperature'
          : 'remeasure_other';
      // asked now, useful now: a re-measure request ignores quiet hours
      await this.enqueueAll(
        c,
        {
          key: `remeasure-${e.refId ?? e.id}`,
          eventId: e.id,
          patientId: e.patientId,
          recipient: patient,
          template,
          params: {},
          urgent: true,
        },
        true,
      );
    } else if (e.kind === 'red_episode') {
      const { rows } = await c.query<{ summary: string; rule_id: string }>(
        'SELECT summary, rule_id FROM alert_episodes WHERE id = $1',
        [e.refId],
      );
      const summary = rows[0]?.summary || rows[0]?.rule_id || '';
      for (const pro of await onCallFor(c, e.patientId, this.clock.now()))
        await this.enqueueAll(
          c,
          {
            key: `red-${e.refId ?? 0}-${typeof e.data.notificationId === 'number' ? e.data.notificationId : e.id}`,
            eventId: e.id,
            patientId: e.patientId,
            recipient: pro,
            template: 'red_episode',
            params: { patientId: e.patientId, episodeId: e.refId ?? 0, summary },
            urgent: true,
          },
          false,
        );
    } else if (e.kind === 'new_message' || e.kind === 'questionnaire_due') {
      const people = [await patientRecipient(c, e.patientId), ...(await caregiverRecipients(c, e.patientId))];
      for (const r of people)
        await this.enqueueAll(
          c,
          {
            key: `${e.kind}-${e.id}`,
            eventId: e.id,
            patientId: e.patientId,
            recipient: r,
            template: e.kind,
            params: { title: typeof e.data.title === 'string' ? e.data.title : '' },
            urgent: false,
          },
          r.kind === 'patient',
        );
    } else {
      this.log.warn({ code: 'NOTIFY_EVENT_UNKNOWN', kind: e.kind }, 'notification event of unknown kind skipped');
    }
  }

  private async sendDue(): Promise<{ sent: number; failed: number }> {
    const now = this.clock.now();
    // lease: a claimed delivery is pushed 2 min ahead, so a crashed instance's claim is retried
    const { rows } = await this.pool.query<{
      id: string;
      idempotency_key: string;
      recipient_kind: Recipient['kind'];
      recipient_id: string;
      channel: ChannelName;
      template_key: string;
      locale: Locale;
      params: Record<string, string | number>;
      attempts: number;
      patient_id: string | null;
    }>(
      `UPDATE notify_deliveries SET attempts = attempts + 1, next_attempt_at = $1::timestamptz + interval '2 minutes'
       WHERE id IN (SELECT id FROM notify_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED)
       RETURNING id, idempotency_key, recipient_kind, recipient_id, channel, template_key, locale, params, attempts, patient_id`,
      [now],
    );
    let sent = 0;
    let failed = 0;
    for (const d of rows) {
      try {
        const ch = d.channel === 'email' ? this.channels.email : this.channels.sms;
        if (!ch) throw new Error(`channel ${d.channel} not configured`);
        const to = await addressOf(this.pool, d.recipient_kind, d.recipient_id, d.channel);
        if (!to) throw new Error(`no ${d.channel} address`);
        const t = render(await loadTemplate(this.pool, d.template_key, d.locale), d.params);
        await ch.send({ to, subject: t.subject, text: t.body, key: d.idempotency_key });
        await this.pool.query(
          `UPDATE notify_deliveries SET status = 'sent', sent_at = $2, last_error = NULL WHERE id = $1`,
          [d.id, this.clock.now()],
        );
        sent++;
      } catch (e) {
        const giveUp = d.attempts >= MAX_ATTEMPTS;
        await this.pool.query(
          `UPDATE notify_deliveries SET status = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1`,
          [
            d.id,
            giveUp ? 'failed' : 'pending',
            new Date(this.clock.now().getTime() + retryDelayMs(d.attempts)),
            String(e).slice(0, 300),
          ],
        );
        if (giveUp) {
          failed++;
          await audit(this.pool, {
            actor: 'system',
            action: 'notify.failed',
            entity: 'notify_delivery',
            entityId: d.id,
            detail: { channel: d.channel, template: d.template_key },
            at: this.clock.now(),
          });
        }
        this.log.warn(
          { code: 'NOTIFY_SEND_FAILED', deliveryId: Number(d.id), channel: d.channel, attempt: d.attempts },
          'notification not sent; will retry',
        );
      }
    }
    return { sent, failed };
  }
}

type Q = Pick<pg.Pool, 'query'>;

export async function patientRecipient(q: Q, patientId: string): Promise<Recipient> {
  const { rows } = await q.query<{
    email: string | null;
    phone: string | null;
    locale: Locale;
    quiet_start: number;
    quiet_end: number;
  }>('SELECT email, phone, locale, quiet_start, quiet_end FROM patient_accounts WHERE patient_id = $1', [patientId]);
  const a = rows[0];
  return {
    kind: 'patient',
    id: patientId,
    email: a?.email ?? null,
    phone: a?.phone ?? null,
    locale: a?.locale ?? 'fr',
    quietStart: a?.quiet_start ?? 21,
    quietEnd: a?.quiet_end ?? 8,
  };
}

async function caregiverRecipients(q: Q, patientId: string): Promise<Recipient[]> {
  const { rows } = await q.query<{
    id: string;
    email: string | null;
    phone: string | null;
    locale: Locale | null;
    quiet_start: number | null;
    quiet_end: number | null;
  }>(
    `SELECT c.id, c.email, c.phone, a.locale, a.quiet_start, a.quiet_end FROM caregivers c LEFT JOIN patient_accounts a ON a.patient_id = c.patient_id
     WHERE c.patient_id = $1 AND c.revoked_at IS NULL`,
    [patientId],
  );
  return rows.map((r) => ({
    kind: 'caregiver',
    id: r.id,
    email: r.email,
    phone: r.phone,
    locale: r.locale ?? 'fr',
    quietStart: r.quiet_start ?? 21,
    quietEnd: r.quiet_end ?? 8,
  }));
}

/**
 * The on-call professional of each care team of the patient at `now` (latest-starting shift wins);
 * a team with nobody on call falls back to its coordinating nurses, so a red alert never goes nowhere.
 */
export async function onCallFor(q: Q, patientId: string, now: Date): Promise<Recipient[]> {
  // named: planned once per connection, not at each notification (0.5 s of planning over the
  // ingest bench's 754 notifications, bench/README.md session 13)
  const { rows } = await q.query<{ id: string; email: string | null; phone: string | null }>(
    named(`SELECT DISTINCT p.id, pc.email, pc.phone FROM care_team_patients ctp
       CROSS JOIN LATERAL (
         SELECT s.professional_id AS id FROM oncall_shifts s WHERE s.care_team_id = ctp.care_team_id AND s.starts_at <= $2 AND s.ends_at > $2
         ORDER BY s.starts_at DESC LIMIT 1) oc
       JOIN professionals p ON p.id = oc.id
       LEFT JOIN professional_contacts pc ON pc.professional_id = p.id
     WHERE ctp.patient_id = $1
     UNION
     SELECT DISTINCT p.id, pc.email, pc.phone FROM care_team_patients ctp
       JOIN care_team_members m ON m.care_team_id = ctp.care_team_id AND m.role = 'coordinating_nurse'
       JOIN professionals p ON p.id = m.professional_id
       LEFT JOIN professional_contacts pc ON pc.professional_id = p.id
     WHERE ctp.patient_id = $1
       AND NOT EXISTS (SELECT 1 FROM oncall_shifts s WHERE s.care_team_id = ctp.care_team_id AND s.starts_at <= $2 AND s.ends_at > $2)`),
    [patientId, now],
  );
  return rows.map((r) => ({
    kind: 'professional',
    id: r.id,
    email: r.email,
    phone: r.phone,
    locale: 'fr',
    quietStart: 0,
    quietEnd: 0,
  }));
}

async function addressOf(q: Q, kind: Recipient['kind'], id: string, channel: ChannelName): Promise<string | null> {
  const col = channel === 'email' ? 'email' : 'phone';
  const sql =
    kind === 'patient'
      ? `SELECT ${col} AS a FROM patient_accounts WHERE patient_id = $1`
      : kind === 'caregiver'
        ? `SELECT ${col} AS a FROM caregivers WHERE id = $1 AND revoked_at IS NULL`
        : `SELECT ${col} AS a FROM professional_contacts WHERE professional_id = $1`;
  const { rows } = await q.query<{ a: string | null }>(sql, [id]);
  return rows[0]?.a ?? null;
}
