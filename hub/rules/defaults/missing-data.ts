import { z } from 'zod';
import { HOUR } from '../clock';
import { both, deviceName, say, summaryOf } from '../messages';
import { defineScheduledRule, type Evaluation } from '../rule';

/**
 * Default rules 3 and 3b: no reading from an expected device (a device bound to the patient) for
 * 48 h -> amber; for 72 h -> red to the coordinating nurse. One rule, one episode whose severity
 * rises: missing data is its own episode, never a side effect of a threshold rule (grafana#90447).
 * Source: program heuristic, no published number (docs/clinical/rules.md #3, #3b).
 */
export const missingData = defineScheduledRule({
  id: 'missing-data',
  title: 'No reading from an expected device for 48 h (amber) or 72 h (red)',
  kind: 'missing-data',
  source: 'Program heuristic, no published number (docs/clinical/rules.md #3, #3b)',
  programs: 'all',
  params: z
    .object({ amberHours: z.number().positive().default(48), redHours: z.number().positive().default(72) })
    .strict(),
  priority: 'routine',
  notify: ['coordinating_nurse'],
  treatmentRelated: false,
  trigger: 'schedule',
  async evaluate(ctx): Promise<Evaluation> {
    const devices = await ctx.history.expectedDevices(ctx.patient.id);
    if (devices.length === 0) return { outcome: 'skip' };
    const now = ctx.now.getTime();
    const silent = devices
      .map((d) => ({ ...d, hours: Math.floor((now - d.since.getTime()) / HOUR) }))
      .filter((d) => d.hours >= ctx.params.amberHours);
    if (silent.length === 0) return { outcome: 'normal' };
    const worst = Math.max(...silent.map((d) => d.hours));
    return {
      outcome: 'breach',
      severity: worst >= ctx.params.redHours ? 'red' : 'amber',
      readingIds: [],
      value: { silentDevices: silent.length, hoursSinceLastReading: worst },
      ...summaryOf(
        both((l) => {
          const names = [...new Set(silent.map((d) => deviceName(d.driver, l)))].join(', ');
          return say(
            l,
            `No reading received for ${worst} h from the ${names}: call the patient (device, gateway or health problem?).`,
            `Aucune mesure reçue depuis ${worst} h (${names}) : appeler le patient (appareil, box ou problème de santé ?).`,
          );
        }),
      ),
    };
  },
});
