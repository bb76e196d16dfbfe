import { named } from '../storage/postgres/named';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { MetricName } from '../../contract';
import { audit } from '../alerts/audit';
import type { EpisodeStore, RaiseInput } from '../alerts/episode-store';
import type { HubMetrics } from '../observability/metrics';
import { DEFAULT_RULES, ruleById, sameEventRuleIds } from './catalog';
import { systemClock, type Clock } from './clock';
import { History, type Reach } from './history';
import { DeferredBreaches } from './deferred-breaches';
import { dropMemoryCopies } from './memory-copies';
import {
  type Evaluation,
  type FiledReading,
  type Measurement,
  type MeasurementRule,
  type PatientFacts,
  type Rule,
  type ScheduledRule,
  type Severity,
} from './rule';
import {
  effectiveFor,
  patientStatesFrom,
  patientStatesQuery,
  RuleSettings,
  type PatientRuleState,
  type PatientStateJson,
} from './settings';
import { errorMessage } from '../../contract/errors';
import { ambientTransaction } from '../storage/postgres/transaction-scope';

/** A rule evaluation failed and could not be recorded for retry (stable code for logs and callers). */
export class RuleEvaluationError extends Error {
  readonly code = 'RULE_EVALUATION_FAILED';
  readonly store = 'postgres';
  constructor(
    message: string,
    readonly ruleIds: string[],
  ) {
    super(message);
  }
}

/**
 * History window read at once for a group of measurements, for a metric the rules have not been
 * seen reading yet: the longest look-back of the default rules (home BP mean: 31 days) and
 * look-ahead (confirmation of a threshold by a later reading). Once seen, each metric is read over
 * what the rules read of it (History reach: systolic 31 days, diastolic 7, pulse 12 hours...); a
 * rule asking outside it reads on its own, as before.
 */
const HISTORY_PRELOAD_DEFAULT = { before: 32 * 86_400_000, after: 2 * 86_400_000 };
/** prefix of the active-set keys of patient x rule pairs with a pending "please re-measure" request */
const PENDING_REMEASURE = 'remeasure:';

/**
 * What one evaluation pass knows of its patients' state: the patient|rule keys of episodes not
 * resolved (prefixed keys: pending re-measure requests), and when each such episode opened. Read
 * once per pass and kept up to date by the pass's own changes.
 */
class ActiveState extends Set<string> {
  /** patient|rule of each episode not resolved -> opened_at (ms) */
  readonly openedAt = new Map<string, number>();
  /** patient|rule of each episode not resolved -> its severity */
  readonly severity = new Map<string, Severity>();
}

export interface RuleEngineOptions {
  /** defaults to the episode store's pool */
  pool?: pg.Pool;
  clock?: Clock;
  rules?: readonly Rule[];
  /** period of the scheduled rules (missing data, adherence, baselines), claimed once across hub instances */
  scheduledEveryMs?: number;
  /**
   * Inside ingest's shared transaction, write a pass's breaches that only count on an open episode
   * together (deferred-breaches.ts). Default true; false raises each on its own (the reference the
   * tests compare it with).
   */
  countBreachesTogether?: boolean;
}

export interface TickReport {
  scheduledRan: boolean;
  evaluations: number;
  remeasureExpired: number;
  renotified: number;
  /** failed evaluations retried successfully */
  retried: number;
}

/**
 * Evaluates rules and drives alert episodes:
 * - onStored: each newly stored measurement (readings of one patient at one instant) against the
 *   measurement rules of the patient's program, with windows read from the stored history;
 * - tick: scheduled rules (missing data, adherence, personal baselines), expiry of "please
 *   re-measure" requests, and re-notification of unacknowledged red episodes.
 * Breach -> raise episode; normal -> one step towards resolution; remeasure -> pending request.
 */
export class RuleEngine {
  readonly settings: RuleSettings;
  readonly clock: Clock;
  private readonly pool: pg.Pool;
  private readonly rules: readonly Rule[];
  private readonly scheduledEveryMs: number;
  private readonly countBreachesTogether: boolean;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Per metric, the farthest the measurement rules read before and after a measurement, learnt
   * over the passes (it only grows): the window the next group's history is preloaded with
   * (bench/README.md, session 9: 590 000 history rows read for 200 000 readings at 32 days each).
   */
  private readonly historyReach = new Map<MetricName, Reach>();

  constructor(
    private readonly episodes: EpisodeStore,
    private readonly metrics: HubMetrics,
    private readonly log: Logger,
    opts: RuleEngineOptions = {},
  ) {
    this.pool = opts.pool ?? episodes.pool;
    this.clock = opts.clock ?? systemClock;
    this.rules = opts.rules ?? DEFAULT_RULES;
    this.scheduledEveryMs = opts.scheduledEveryMs ?? 5 * 60_000;
    this.countBreachesTogether = opts.countBreachesTogether ?? true;
    this.settings = new RuleSettings(this.pool, this.rules);
  }

  /**
   * Evaluates newly stored readings. Resolves when every evaluation either ran or was recorded for
   * retry; rejects (RuleEvaluationError) only when a failure could not be recorded: the caller must
   * then not acknowledge the readings, so they are evaluated again when re-sent.
   */
  async onStored(readings: readonly FiledReading[]): Promise<void> {
    await this.evaluateMeasurements(await dropMemoryCopies(this.pool, readings), undefined, true);
  }

  private async evaluateMeasurements(
    readings: readonly FiledReading[],
    only: string | undefined,
    recordFailures: boolean,
  ): Promise<void> {
    const measurementRules = this.rules.filter((r): r is MeasurementRule => r.trigger === 'measurement');
    // readings no measurement rule looks at (steps, battery, ...) cost nothing on the ingest path
    const watched = new Set(measurementRules.flatMap((r) => r.metrics));
    const relevant = readings.filter((r) => watched.has(r.metric));
    if (relevant.length === 0) return;
    const now = this.clock.now();
    const byKey = new Map<string, Measurement>();
    for (const r of readings) {
      const k = `${r.patientId}|${r.measuredAt.getTime()}`;
      const m = byKey.get(k) ?? { patientId: r.patientId, measuredAt: r.measuredAt, readings: new Map() };
      m.readings.set(r.metric, r);
      byKey.set(k, m);
    }
    const measurements = [...byKey.values()].sort((a, b) => a.measuredAt.getTime() - b.measuredAt.getTime());
    const patientIds = [...new Set(relevant.map((r) => r.patientId))];
    const [{ states, active }, program] = await Promise.all([
      this.passState(patientIds),
      this.settings.programSettings(),
    ]);
    const history = new History(this.pool, this.historyReach);
    const failed: { rule: MeasurementRule; m: Measurement; err: Error }[] = [];
    // ingest files many gateways' batches at once: their windowed history in one query, each
    // patient's around its own measurements (a group spans weeks of different boxes' backlogs)
    const times = new Map<string, { first: number; last: number }>();
    for (const r of relevant) {
      const t = r.measuredAt.getTime();
      const w = times.get(r.patientId);
      if (!w) times.set(r.patientId, { first: t, last: t });
      else {
        w.first = Math.min(w.first, t);
        w.last = Math.max(w.last, t);
      }
    }
    await history.preloadReadings(times, [...watched], HISTORY_PRELOAD_DEFAULT);
    // inside ingest's shared transaction (its patients locked for the whole pass), breaches that
    // only count on an open episode are written together (deferred-breaches.ts)
    const scope = ambientTransaction();
    const deferred =
      this.countBreachesTogether && scope && !scope.ended ? new DeferredBreaches(this.pool, now) : undefined;
    for (const m of measurements) {
      const state = states.get(m.patientId);
      if (!state) continue;
      for (const rule of measurementRules) {
        if (only && rule.id !== only) continue;
        if (!rule.metrics.some((x) => m.readings.has(x))) continue;
        // the patient's program definition says whether the rule runs (settings resolution)
        const eff = effectiveFor(rule, state, program);
        if (!eff.enabled) continue;
        try {
          history.anchor = m.measuredAt.getTime();
          await this.run(
            rule,
            state.facts,
            eff.params,
            history,
            now,
            `m:${m.measuredAt.toISOString()}`,
            active,
            (ctx) => rule.evaluate(ctx, m),
            deferred,
          );
        } catch (e) {
          failed.push({ rule, m, err: e as Error });
        }
      }
    }
    await deferred?.flush();
    const [first] = failed;
    if (!first) return;
    if (!recordFailures) throw first.err;
    await this.recordFailures(failed, now);
  }

  /**
   * Evaluations that threw (a rule bug, PostgreSQL lost mid-way) are never swallowed: each is
   * recorded as pending and retried by tick() until it succeeds. When even that record cannot be
   * written (PostgreSQL down), onStored throws: ingest sends no receipt and the gateway re-sends
   * the batch, so the evaluation runs again once PostgreSQL is back.
   */
  private async recordFailures(failed: { rule: MeasurementRule; m: Measurement; err: Error }[], now: Date) {
    for (const f of failed) {
      this.metrics.ruleFailures.inc({ rule: f.rule.id });
      this.log.error(
        { ruleId: f.rule.id, patientId: f.m.patientId, err: f.err.message, code: 'RULE_EVALUATION_FAILED' },
        'rule evaluation failed; recorded for retry',
      );
    }
    try {
      for (const f of failed)
        await this.pool.query(
          `INSERT INTO rule_evaluations_pending (patient_id, rule_id, reading_ids, last_error, created_at, next_at)
           VALUES ($1, $2, $3, $4, $5, $5)
           ON CONFLICT (rule_id, reading_ids) DO UPDATE SET attempts = rule_evaluations_pending.attempts + 1,
             last_error = EXCLUDED.last_error, next_at = EXCLUDED.next_at`,
          [
            f.m.patientId,
            f.rule.id,
            [...f.m.readings.values()].map((r) => r.readingId).sort(),
            f.err.message.slice(0, 500),
            now,
          ],
        );
    } catch (e) {
      this.metrics.ruleHeldBatches.inc();
      throw new RuleEvaluationError(
        `rule evaluation failed and could not be recorded: ${(e as Error).message}`,
        failed.map((f) => f.rule.id),
      );
    }
  }

  /**
   * Pending evaluations whose retry is due: the measurement is rebuilt from the ledger and the one
   * rule evaluated again; success deletes the record, failure pushes it back (backoff up to 5 min).
   */
  async retryPending(now: Date = this.clock.now()): Promise<number> {
    const { rows } = await this.pool.query<{ id: string; rule_id: string; reading_ids: string[]; attempts: number }>(
      `SELECT id, rule_id, reading_ids, attempts FROM rule_evaluations_pending WHERE next_at <= $1 ORDER BY id LIMIT 100`,
      [now],
    );
    let done = 0;
    for (const p of rows) {
      const readings = await this.pool.query<{
        reading_id: string;
        patient_id: string;
        metric: MetricName;
        value: number;
        measured_at: Date;
      }>(
        'SELECT reading_id, patient_id, metric, value, measured_at FROM reading_ledger WHERE reading_id = ANY($1::text[])',
        [p.reading_ids],
      );
      const filed = readings.rows.map((r) => ({
        readingId: r.reading_id,
        patientId: r.patient_id,
        metric: r.metric,
        value: r.value,
        measuredAt: r.measured_at,
      }));
      try {
        await this.evaluateMeasurements(filed, p.rule_id, false);
        await this.pool.query('DELETE FROM rule_evaluations_pending WHERE id = $1', [p.id]);
        done++;
      } catch (e) {
        const backoff = Math.min(5 * 60_000, 1000 * 2 ** Math.min(p.attempts, 10));
        await this.pool.query(
          'UPDATE rule_evaluations_pending SET attempts = attempts + 1, last_error = $2, next_at = $3 WHERE id = $1',
          [p.id, (e as Error).message.slice(0, 500), new Date(now.getTime() + backoff)],
        );
      }
    }
    return done;
  }

  /** One scheduler pass; every hub instance may call it, the work is claimed once per period. */
  async tick(): Promise<TickReport> {
    const now = this.clock.now();
    const report: TickReport = { scheduledRan: false, evaluations: 0, remeasureExpired: 0, renotified: 0, retried: 0 };
    if (await this.claim('scheduled-rules', now, this.scheduledEveryMs)) {
      report.scheduledRan = true;
      report.evaluations = await this.evaluateScheduled(now);
    }
    report.retried = await this.retryPending(now);
    report.remeasureExpired = await this.expireRemeasure(now);
    report.renotified = await this.episodes.renotifyDue(
      now,
      undefined,
      (ruleId) => ruleById(ruleId, this.rules)?.notify ?? ['coordinating_nurse'],
    );
    if (report.renotified) this.metrics.notificationsSent.inc({ kind: 'renotified' }, report.renotified);
    return report;
  }

  /** Scheduled rules for every patient (or the given ones), whatever the period claim. */
  async evaluateScheduled(now: Date = this.clock.now(), patientIds?: string[]): Promise<number> {
    const scheduled = this.rules.filter((r): r is ScheduledRule => r.trigger === 'schedule');
    const { states, active } = await this.passState(patientIds ?? 'all');
    const program = await this.settings.programSettings();
    const history = new History(this.pool);
    // the default adherence window (30 days up to now) and the expected devices, for all patients at once
    await history.preload([...states.keys()], new Date(now.getTime() - 30 * 86_400_000), now);
    let n = 0;
    for (const state of states.values()) {
      for (const rule of scheduled) {
        const eff = effectiveFor(rule, state, program);
        if (!eff.enabled) continue;
        try {
          await this.run(rule, state.facts, eff.params, history, now, `s:${now.toISOString()}`, active, (ctx) =>
            rule.evaluate(ctx),
          );
          n++;
        } catch (e) {
          // scheduled rules run again next period; one patient's failure does not stop the others
          this.metrics.ruleFailures.inc({ rule: rule.id });
          this.log.error(
            { ruleId: rule.id, patientId: state.facts.id, err: (e as Error).message, code: 'RULE_EVALUATION_FAILED' },
            'scheduled rule evaluation failed',
          );
        }
      }
    }
    return n;
  }

  start(everyMs = 30_000): void {
    this.timer = setInterval(() => {
      this.tick().catch((e: unknown) => {
        this.log.warn({ err: errorMessage(e), code: 'RULE_TICK_FAILED' }, 'rule scheduler tick failed');
      });
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async run(
    rule: Rule,
    patient: PatientFacts,
    params: Record<string, unknown>,
    history: History,
    now: Date,
    evalKey: string,
    active: ActiveState,
    evaluate: (ctx: {
      patient: PatientFacts;
      params: never;
      now: Date;
      history: History;
    }) => Promise<Evaluation> | Evaluation,
    deferred?: DeferredBreaches,
  ): Promise<void> {
    // errors propagate: onStored records them for retry, the scheduler logs and counts them
    const ev = await evaluate({ patient, params: params as never, now, history });
    this.metrics.ruleEvaluations.inc({ rule: rule.id, outcome: ev.outcome });
    const key = `${patient.id}|${rule.id}`;
    if (ev.outcome === 'breach') {
      const family = rule.family ? sameEventRuleIds(rule.id, this.rules) : [];
      const episodeRule = family.length ? await this.familyEpisodeRule(patient.id, rule.id, family, active) : rule.id;
      const input: RaiseInput = {
        patientId: patient.id,
        ruleId: episodeRule,
        sameEvent: family,
        textUpdate: rule.trigger === 'schedule' ? 'latest' : 'append',
        severity: ev.severity,
        readingIds: ev.readingIds,
        value: ev.value,
        summary: ev.summary,
        ...(ev.summaryFr ? { summaryFr: ev.summaryFr } : {}),
        priority: rule.priority,
        interpretations: ev.interpretations ?? {},
        notify: rule.notify,
        evalKey,
      };
      // the episode is filed under the family's rule: that is the key a later normal may step
      const episodeKey = `${patient.id}|${episodeRule}`;
      const severity = active.severity.get(episodeKey);
      if (
        deferred &&
        input.textUpdate === 'append' &&
        ev.summary &&
        ev.summaryFr &&
        active.openedAt.has(episodeKey) &&
        severity &&
        (ev.severity !== 'red' || severity === 'red')
      )
        // only counts on its open episode: held back and written with the pass's others
        deferred.add(
          {
            patientId: patient.id,
            ruleId: episodeRule,
            evalKey,
            summary: ev.summary,
            summaryFr: ev.summaryFr,
            value: ev.value,
            readingIds: ev.readingIds,
            interpretations: ev.interpretations ?? {},
          },
          () => this.raiseNow(input, rule.id, now, active),
        );
      else {
        await deferred?.flush(episodeKey);
        await this.raiseNow(input, rule.id, now, active);
      }
      await this.closeRemeasure(patient.id, rule.id, 'confirmed', now, active);
    } else if (ev.outcome === 'remeasure') {
      const { rows } = await this.pool.query<{ id: string }>(
        named(`INSERT INTO remeasure_requests (patient_id, rule_id, reading_ids, value, requested_at, expires_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending') ON CONFLICT (patient_id, rule_id) WHERE status = 'pending' DO NOTHING RETURNING id`),
        [patient.id, rule.id, ev.readingIds, JSON.stringify(ev.value), now, ev.expiresAt],
      );
      active.add(`${PENDING_REMEASURE}${key}`);
      if (rows[0]) {
        await audit(this.pool, {
          actor: 'system',
          action: 'remeasure.requested',
          entity: 'patient',
          entityId: patient.id,
          detail: { ruleId: rule.id, requestId: Number(rows[0].id) },
          at: now,
        });
        this.log.info({ patientId: patient.id, ruleId: rule.id }, 'please re-measure');
      }
    } else if (ev.outcome === 'normal') {
      // only a patient x rule with an episode not resolved has a streak to step: once resolved
      // (here or before the pass) a normal evaluation changes nothing, so it costs no statement
      // (bench/README.md: most normal evaluations of a backlog came after the resolution)
      if (active.has(key)) {
        await deferred?.flush(key);
        // measurement evaluations carry the measurement time in their key (m:<ISO time>)
        const measuredAt = evalKey.startsWith('m:') ? new Date(evalKey.slice(2)) : undefined;
        const res = await this.episodes.recordNormal(patient.id, rule.id, evalKey, now, measuredAt);
        if (res?.resolved) {
          active.delete(key);
          active.openedAt.delete(key);
          active.severity.delete(key);
          this.metrics.episodesResolved.inc({ rule: rule.id });
          this.log.info({ episodeId: res.episodeId, ruleId: rule.id }, 'alert episode resolved');
        }
      }
      await this.closeRemeasure(patient.id, rule.id, 'cleared', now, active);
    }
  }

  /** Raises the breach now and keeps the pass's record of open episodes up to date. */
  private async raiseNow(input: RaiseInput, ruleId: string, now: Date, active: ActiveState): Promise<void> {
    const res = await this.episodes.raise(input, now);
    const key = `${input.patientId}|${input.ruleId}`;
    active.add(key);
    if (res.opened) active.openedAt.set(key, now.getTime());
    // an episode keeps its severity unless it opened or turned red (a breach never lowers it)
    if (res.opened || res.escalated) active.severity.set(key, res.escalated ? 'red' : input.severity);
    if (res.opened) {
      this.metrics.episodesOpened.inc({ rule: ruleId, severity: res.escalated ? 'red' : input.severity });
      this.log.info(
        { episodeId: res.episodeId, ruleId, severity: input.severity, escalated: res.escalated },
        'alert episode opened',
      );
    }
    if (res.notificationId !== null)
      this.metrics.notificationsSent.inc({
        kind: res.opened ? (res.escalated ? 'escalated' : 'opened') : 'escalated',
      });
  }

  private async closeRemeasure(
    patientId: string,
    ruleId: string,
    status: 'confirmed' | 'cleared',
    now: Date,
    active: ActiveState,
  ): Promise<void> {
    // no pending request for this patient x rule when the pass began (nor raised since): nothing
    // to close. Skips one UPDATE per breach of an already open episode (bench/README.md profile)
    if (!active.delete(`${PENDING_REMEASURE}${patientId}|${ruleId}`)) return;
    const { rows } = await this.pool.query<{ id: string }>(
      named(
        `UPDATE remeasure_requests SET status = $3, closed_at = $4 WHERE patient_id = $1 AND rule_id = $2 AND status = 'pending' RETURNING id`,
      ),
      [patientId, ruleId, status, now],
    );
    for (const r of rows)
      await audit(this.pool, {
        actor: 'system',
        action: `remeasure.${status}`,
        entity: 'patient',
        entityId: patientId,
        detail: { ruleId, requestId: Number(r.id) },
        at: now,
      });
  }

  /**
   * Expired "please re-measure" requests: no reading came within the window. The rule says whether
   * that needs follow-up (rule 5: an amber episode). The UPDATE claims each request once, whichever
   * hub instance runs it; the episode's evaluation key is the request.
   */
  private async expireRemeasure(now: Date): Promise<number> {
    const { rows } = await this.pool.query<{
      id: string;
      patient_id: string;
      rule_id: string;
      reading_ids: string[];
      value: Record<string, number>;
    }>(
      `UPDATE remeasure_requests SET status = 'expired', closed_at = $1 WHERE status = 'pending' AND expires_at <= $1 RETURNING id, patient_id, rule_id, reading_ids, value`,
      [now],
    );
    if (rows.length === 0) return 0;
    const [states, program] = await Promise.all([
      this.settings.patients([...new Set(rows.map((r) => r.patient_id))], { processable: true }),
      this.settings.programSettings(),
    ]);
    for (const r of rows) {
      await audit(this.pool, {
        actor: 'system',
        action: 'remeasure.expired',
        entity: 'patient',
        entityId: r.patient_id,
        detail: { ruleId: r.rule_id, requestId: Number(r.id) },
        at: now,
      });
      const rule = ruleById(r.rule_id, this.rules);
      const state = states.get(r.patient_id);
      if (!rule || rule.trigger !== 'measurement' || !rule.unconfirmed || !state) continue;
      const eff = effectiveFor(rule, state, program);
      const followUp = eff.enabled ? rule.unconfirmed(eff.params, r.value) : undefined;
      if (!followUp) continue;
      const res = await this.episodes.raise(
        {
          patientId: r.patient_id,
          ruleId: rule.id,
          severity: followUp.severity,
          readingIds: r.reading_ids,
          value: r.value,
          summary: followUp.summary,
          ...(followUp.summaryFr ? { summaryFr: followUp.summaryFr } : {}),
          priority: 'urgent',
          notify: rule.notify,
          evalKey: `x:${r.id}`,
        },
        now,
      );
      if (res.opened) {
        this.metrics.episodesOpened.inc({ rule: rule.id, severity: res.escalated ? 'red' : followUp.severity });
        this.log.info(
          { episodeId: res.episodeId, ruleId: rule.id, severity: followUp.severity, code: 'REMEASURE_EXPIRED' },
          'alert episode opened: reading not re-measured',
        );
      }
      if (res.notificationId !== null)
        this.metrics.notificationsSent.inc({ kind: res.escalated ? 'escalated' : 'opened' });
    }
    return rows.length;
  }

  /**
   * One event, one episode: the rule of the family's active episode, if another rule of the family
   * has one (its own rule first, else the oldest). Inside ingest's shared transaction the pass's
   * patients are locked from the moment their state was read, so the pass's own record is exact
   * and saves a query per breach; elsewhere it is read from PostgreSQL.
   */
  private async familyEpisodeRule(
    patientId: string,
    ruleId: string,
    family: string[],
    active: ActiveState,
  ): Promise<string> {
    const scope = ambientTransaction();
    if (scope && !scope.ended) {
      if (active.openedAt.has(`${patientId}|${ruleId}`)) return ruleId;
      let best: { ruleId: string; at: number } | undefined;
      for (const r of family) {
        const at = active.openedAt.get(`${patientId}|${r}`);
        if (at !== undefined && (!best || at < best.at)) best = { ruleId: r, at };
      }
      return best?.ruleId ?? ruleId;
    }
    const { rows } = await this.pool.query<{ rule_id: string }>(
      named(`SELECT rule_id FROM alert_episodes WHERE patient_id = $1 AND status <> 'resolved' AND rule_id = ANY($2::text[])
       ORDER BY (rule_id = $3) DESC, opened_at LIMIT 1`),
      [patientId, family, ruleId],
    );
    return rows[0]?.rule_id ?? ruleId;
  }

  /**
   * What a pass needs of its patients, read in one statement: their facts and rule overrides
   * (processable patients only), and what a normal evaluation may change: patient|rule pairs with
   * an episode not resolved (their streak, and when it opened) and, under the PENDING_REMEASURE
   * prefix, those with a pending re-measure request. One round trip rather than three: each is
   * a wait of a live group under load (bench/README.md, "Session 16").
   */
  private async passState(patientIds: readonly string[] | 'all'): Promise<{
    states: Map<string, PatientRuleState>;
    active: ActiveState;
  }> {
    const all = patientIds === 'all';
    const forPatients = all ? '' : 'AND patient_id = ANY($1::text[])';
    const { rows } = await this.pool.query<{
      patients: PatientStateJson[];
      active: { k: string; openedMs: number | null; sev: Severity | null }[];
    }>(
      named(`SELECT (${patientStatesQuery(patientIds, { processable: true })}) AS patients,
         (SELECT coalesce(json_agg(json_build_object('k', a.k, 'openedMs', a.opened_ms, 'sev', a.sev)), '[]') FROM (
            SELECT patient_id || '|' || rule_id AS k, (extract(epoch FROM opened_at) * 1000)::bigint AS opened_ms,
                   severity AS sev
              FROM alert_episodes WHERE status <> 'resolved' ${forPatients}
            UNION SELECT '${PENDING_REMEASURE}' || patient_id || '|' || rule_id, NULL, NULL
              FROM remeasure_requests WHERE status = 'pending' ${forPatients}) a) AS active`),
      all ? [] : [patientIds],
    );
    const row = rows[0];
    const active = new ActiveState(row?.active.map((r) => r.k));
    for (const r of row?.active ?? []) {
      if (r.openedMs !== null) active.openedAt.set(r.k, r.openedMs);
      if (r.sev !== null) active.severity.set(r.k, r.sev);
    }
    return { states: patientStatesFrom(row?.patients ?? []), active };
  }

  /** Atomic claim of a periodic job: true for exactly one hub instance per period. */
  private async claim(job: string, now: Date, everyMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO scheduler_jobs (job, last_run_at) VALUES ($1, $2)
       ON CONFLICT (job) DO UPDATE SET last_run_at = EXCLUDED.last_run_at WHERE scheduler_jobs.last_run_at <= $3`,
      [job, now, new Date(now.getTime() - everyMs + 1)],
    );
    return (rowCount ?? 0) > 0;
  }
}
