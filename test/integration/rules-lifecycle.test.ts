import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpisodeStore } from '../../hub/alerts/episode-store';
import { createSilence } from '../../hub/alerts/silences';
import { createHubMetrics } from '../../hub/observability/metrics';
import { HOUR, MINUTE } from '../../hub/rules/clock';
import { RuleEngine } from '../../hub/rules/engine';
import { rulesFixture, type RulesFixture } from './rules-fixture';

/** Episode lifecycle (docs/clinical/rules.md "Alert engineering defaults") with a manual clock. */
let f: RulesFixture;
let seq = 0;
const pid = (tag: string) => `L${++seq}-${tag}`;
const active = async (p: string) => (await f.episodeRows(p)).filter((e) => e.status !== 'resolved');
const auditActions = async (episodeId: string) =>
  (
    await f.pool.query<{ action: string }>(
      `SELECT action FROM audit_log WHERE entity = 'alert_episode' AND entity_id = $1 ORDER BY id`,
      [episodeId],
    )
  ).rows.map((r) => r.action);

beforeAll(async () => {
  f = await rulesFixture({ scheduledEveryMs: 60 * MINUTE });
});
afterAll(async () => {
  await f.pg.drop();
});

describe('one episode per patient x rule', () => {
  it('concurrent breaches open exactly one episode (atomic, not read-then-write)', async () => {
    const p = pid('race');
    await f.enroll(p, 'oral_chemotherapy');
    const t = f.clock.now().getTime();
    const batches = await Promise.all(
      Array.from({ length: 8 }, (_, i) => f.file(p, new Date(t + i * 1000), { heart_rate: 140 + i })),
    );
    await Promise.all(batches.map((b) => f.engine.onStored(b)));
    const eps = await f.episodeRows(p);
    expect(eps).toHaveLength(1);
    expect(eps[0]!.breach_count).toBe(8);
    expect((await f.notifications(p)).length).toBe(1);
  });

  it('a breach while acknowledged updates the same episode; after resolution a new breach opens a new one', async () => {
    const p = pid('ack');
    await f.enroll(p, 'oral_chemotherapy');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { heart_rate: 140 });
    const [ep] = await active(p);
    await f.episodes.acknowledge(Number(ep!.id), 'nurse-1', f.clock.now());
    await f.measure(p, new Date(t + MINUTE), { heart_rate: 150 });
    let eps = await f.episodeRows(p);
    expect(eps.map((e) => [e.status, e.breach_count])).toEqual([['acknowledged', 2]]);
    await f.episodes.assign(Number(ep!.id), 'nurse-2', 'nurse-1', f.clock.now());
    await f.episodes.resolve(Number(ep!.id), 'nurse-2', 'seen at home', f.clock.now());
    await expect(f.episodes.acknowledge(Number(ep!.id), 'nurse-1', f.clock.now())).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
    });
    await f.measure(p, new Date(t + 2 * MINUTE), { heart_rate: 145 });
    eps = await f.episodeRows(p);
    expect(eps.map((e) => e.status)).toEqual(['resolved', 'open']);
    expect(await auditActions(ep!.id)).toEqual([
      'episode.opened',
      'notification.opened',
      'episode.acknowledged',
      'episode.assigned',
      'episode.resolved',
    ]);
  });
});

describe('hysteresis: resolve after 2 consecutive normal evaluations', () => {
  it('a breach between two normals resets the count; a re-sent evaluation counts once', async () => {
    const p = pid('flap');
    await f.enroll(p, 'oral_chemotherapy');
    const t = f.clock.now().getTime();
    await f.measure(p, new Date(t), { heart_rate: 140 });
    const normal1 = await f.measure(p, new Date(t + 10 * MINUTE), { heart_rate: 90 });
    await f.engine.onStored(normal1); // the same evaluation again (second hub instance, redelivery)
    expect((await active(p)).map((e) => e.normal_streak)).toEqual([1]);
    await f.measure(p, new Date(t + 20 * MINUTE), { heart_rate: 135 });
    expect((await active(p)).map((e) => [e.normal_streak, e.breach_count])).toEqual([[0, 2]]);
    await f.measure(p, new Date(t + 30 * MINUTE), { heart_rate: 95 });
    expect(await active(p)).toHaveLength(1);
    await f.measure(p, new Date(t + 40 * MINUTE), { heart_rate: 92 });
    expect(await active(p)).toHaveLength(0);
    const [ep] = await f.episodeRows(p);
    expect(await auditActions(ep!.id)).toContain('episode.resolved');
    const { rows } = await f.pool.query<{ resolved_by: string | null }>(
      `SELECT resolved_by FROM alert_episodes WHERE id = $1`,
      [ep!.id],
    );
    expect(rows[0]?.resolved_by).toBe('system');
  });
});

describe('re-notification of red episodes every 15 min until acknowledged', () => {
  it('notifies at 15 and 30 min, stops after acknowledge; amber never repeats', async () => {
    const p = pid('renotify');
    const a = pid('amber');
    await f.enroll(p, 'oral_chemotherapy');
    await f.enroll(a, 'cardiovascular_prevention');
    const t = f.clock.now().getTime() + HOUR;
    f.clock.set(t);
    await f.measure(p, new Date(t), { body_temperature: 38.6 });
    await f.measure(a, new Date(t), { glucose: 3.5 });
    const kinds = async (x: string) => (await f.notifications(x)).map((n) => n.kind);
    f.clock.set(t + 14 * MINUTE);
    await f.engine.tick();
    expect(await kinds(p)).toEqual(['opened']);
    f.clock.set(t + 15 * MINUTE);
    await f.engine.tick();
    expect(await kinds(p)).toEqual(['opened', 'renotified']);
    f.clock.set(t + 30 * MINUTE);
    await f.engine.tick();
    await f.engine.tick();
    expect(await kinds(p)).toEqual(['opened', 'renotified', 'renotified']);
    const [ep] = await active(p);
    await f.episodes.acknowledge(Number(ep!.id), 'nurse-1', f.clock.now());
    f.clock.set(t + 60 * MINUTE);
    await f.engine.tick();
    expect(await kinds(p)).toEqual(['opened', 'renotified', 'renotified']);
    expect(await kinds(a)).toEqual(['opened']);
  });
});

describe('two ambers for one patient within 24 h escalate to red', () => {
  it('the second amber opens red, linked to the first; an amber 25 h later does not escalate', async () => {
    const p = pid('esc');
    await f.enroll(p, 'heart_failure');
    const t = f.clock.now().getTime() + 2 * HOUR;
    await f.measure(p, new Date(t), { glucose: 3.6 });
    await f.measure(p, new Date(t + 3 * HOUR), { glucose: 14.5 }); // same rule, still open: no new episode
    // weigh-ins on two days: only the first weigh-in of a day is a protocol reading (issue 18)
    await f.measure(p, new Date(t + 5 * HOUR - 25 * HOUR), { body_weight: 70 });
    await f.measure(p, new Date(t + 5 * HOUR), { body_weight: 71.6 }); // rule 7 amber -> second amber
    const eps = await f.episodeRows(p);
    expect(eps.map((e) => [e.rule_id, e.severity, e.escalated_from])).toEqual([
      ['glucose-out-of-range', 'amber', null],
      ['hf-weight-gain-day-week', 'red', 'amber'],
    ]);
    expect((await f.notifications(p)).map((n) => [n.kind, n.severity])).toEqual([
      ['opened', 'amber'],
      ['escalated', 'red'],
    ]);
    const q = pid('noesc');
    await f.enroll(q, 'heart_failure');
    const t2 = t + 10 * HOUR;
    await f.measure(q, new Date(t2), { glucose: 3.6 });
    await f.measure(q, new Date(t2 - 1 * HOUR), { body_weight: 70 });
    await f.measure(q, new Date(t2 + 25 * HOUR), { body_weight: 71.6 });
    expect((await f.episodeRows(q)).map((e) => e.severity)).toEqual(['amber', 'amber']);
  });
});

describe('per-patient silences with expiry', () => {
  it('records the episode without notifying during the silence; re-notification resumes after expiry', async () => {
    const p = pid('silence');
    await f.enroll(p, 'oral_chemotherapy');
    const t = f.clock.now().getTime() + 30 * HOUR;
    f.clock.set(t);
    await createSilence(f.pool, {
      patientId: p,
      startsAt: new Date(t),
      endsAt: new Date(t + HOUR),
      reason: 'hospital stay',
      actor: 'nurse-1',
    });
    await f.measure(p, new Date(t + MINUTE), { body_temperature: 39 });
    expect(await active(p)).toHaveLength(1);
    expect(await f.notifications(p)).toHaveLength(0);
    f.clock.set(t + 20 * MINUTE);
    await f.engine.tick();
    expect(await f.notifications(p)).toHaveLength(0);
    f.clock.set(t + HOUR + MINUTE);
    await f.engine.tick();
    expect((await f.notifications(p)).map((n) => n.kind)).toEqual(['renotified']);
    const [ep] = await active(p);
    expect(await auditActions(ep!.id)).toEqual([
      'episode.opened',
      'notification.silenced',
      'notification.silenced',
      'notification.renotified',
    ]);
  });
});

describe('two hub instances on the same database', () => {
  it('evaluating the same patients (readings and scheduled rules) open each expected episode once and notify once', async () => {
    const metrics = createHubMetrics();
    const second = new RuleEngine(new EpisodeStore(f.pool), metrics, pino({ level: 'silent' }), {
      pool: f.pool,
      clock: f.clock,
      scheduledEveryMs: 60 * MINUTE,
    });
    const ps = [pid('two-a'), pid('two-b'), pid('two-c')];
    const t = f.clock.now().getTime() + 40 * HOUR;
    f.clock.set(t);
    for (const p of ps) await f.enroll(p, 'oral_chemotherapy');
    // both instances get readings of the same patients at the same time (shared subscription split)
    const work: Promise<void>[] = [];
    for (const [i, p] of ps.entries()) {
      const a = await f.file(p, new Date(t + i), { body_temperature: 38.7, heart_rate: 135 });
      const b = await f.file(p, new Date(t + i + 500), { body_temperature: 38.9, heart_rate: 138 });
      work.push(f.engine.onStored(a), second.onStored(b));
    }
    await Promise.all(work);
    // then 49 h without data: both run their scheduler at the same moment, and again later
    f.clock.set(t + 49 * HOUR);
    const [r1, r2] = await Promise.all([f.engine.tick(), second.tick()]);
    expect([r1.scheduledRan, r2.scheduledRan].filter(Boolean)).toHaveLength(1);
    await Promise.all([f.engine.evaluateScheduled(f.clock.now(), ps), second.evaluateScheduled(f.clock.now(), ps)]);
    for (const p of ps) {
      const eps = await f.episodeRows(p);
      expect(eps.map((e) => e.rule_id).sort()).toEqual(['chemo-fever', 'missing-data', 'sepsis-red-flags']);
    }
    const { rows } = await f.pool.query<{ patient_id: string; kind: string; n: number }>(
      `SELECT patient_id, kind, count(*)::int n FROM notifications WHERE patient_id = ANY($1) GROUP BY 1, 2 ORDER BY 1, 2`,
      [ps],
    );
    // per patient: 3 opened (fever, sepsis, missing data); re-notifications of the red ones exactly once each
    for (const p of ps) expect(rows.filter((r) => r.patient_id === p && r.kind === 'opened')[0]?.n).toBe(3);
    for (const p of ps) expect(rows.filter((r) => r.patient_id === p && r.kind === 'renotified')[0]?.n).toBe(2);
  });
});
