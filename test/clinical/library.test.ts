import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemplate, replay, type ReplayResult } from '../../hub/rules/replay/run';
import { TEST_PG_BASE } from '../support/stores';
import { LIBRARY } from './library';

/**
 * The clinical scenario library through the replay path (drivers, reading factory, ingest, rules
 * on PostgreSQL). Done when: 0 missed red, 0 false red on stable patients, <= 1 false amber per
 * 10 stable patient-weeks (issue 18). The figures are printed as JSON.
 */
const rank = { amber: 1, red: 2 } as const;
const results = new Map<string, ReplayResult>();
let template: { name: string; drop(): Promise<void> };

beforeAll(async () => {
  template = await createTemplate(TEST_PG_BASE);
});
afterAll(async () => {
  await template.drop();
});

describe('clinical scenario library', () => {
  it('has at least 60 scenarios, each citing its source', () => {
    expect(LIBRARY.length).toBeGreaterThanOrEqual(60);
    for (const s of LIBRARY) expect(s.source.length).toBeGreaterThan(10);
  });

  for (const s of LIBRARY)
    it(s.name, { timeout: 120_000 }, async () => {
      const r = await replay(s, { pgBase: TEST_PG_BASE, template: template.name });
      results.set(s.name, r);
      expect(r.undecoded).toEqual([]);
      const wanted = s.expect?.episodes ?? [];
      for (const w of wanted) {
        const hit = r.episodes.find((e) => e.patient === w.patient && (!w.rule || e.rule === w.rule));
        expect(hit, `${w.severity} ${w.rule ?? ''} must open`).toBeDefined();
        expect(hit!.severity).toBe(w.severity);
      }
      const unexpected = r.episodes.filter(
        (e) => !wanted.some((w) => w.patient === e.patient && (!w.rule || w.rule === e.rule)),
      );
      expect(unexpected.map((e) => `${e.rule} ${e.severity}: ${e.summary}`)).toEqual([]);
    });

  it('meets the done-when figures', () => {
    let redWanted = 0;
    let redHit = 0;
    let amberWanted = 0;
    let amberHit = 0;
    let stableWeeks = 0;
    let falseRed = 0;
    let falseAmber = 0;
    for (const s of LIBRARY) {
      const r = results.get(s.name);
      if (!r) continue;
      for (const w of s.expect?.episodes ?? []) {
        const hit = r.episodes.find((e) => e.patient === w.patient && (!w.rule || e.rule === w.rule));
        if (w.severity === 'red') {
          redWanted++;
          if (hit?.severity === 'red') redHit++;
        } else {
          amberWanted++;
          if (hit && rank[hit.severity] >= rank.amber) amberHit++;
        }
      }
      if (s.expect?.stablePatientWeeks) {
        stableWeeks += s.expect.stablePatientWeeks;
        falseRed += r.episodes.filter((e) => e.severity === 'red').length;
        falseAmber += r.episodes.filter((e) => e.severity === 'amber').length;
      }
    }
    const report = {
      scenarios: results.size,
      redSensitivity: redWanted ? redHit / redWanted : 1,
      amberSensitivity: amberWanted ? amberHit / amberWanted : 1,
      missedRed: redWanted - redHit,
      stablePatientWeeks: Math.round(stableWeeks * 10) / 10,
      falseRedOnStable: falseRed,
      falseAmberPer10StablePatientWeeks: stableWeeks ? Math.round((falseAmber / stableWeeks) * 100) / 10 : 0,
    };
    process.stdout.write(`clinical library: ${JSON.stringify(report)}\n`);
    expect(results.size).toBe(LIBRARY.length);
    expect(report.missedRed).toBe(0);
    expect(report.falseRedOnStable).toBe(0);
    expect(report.falseAmberPer10StablePatientWeeks).toBeLessThanOrEqual(1);
  });
});
