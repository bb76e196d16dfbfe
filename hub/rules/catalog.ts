import { activityDecline } from './defaults/activity-decline';
import { adherence } from './defaults/adherence';
import { bpGrade3 } from './defaults/bp-grade-3';
import { febrileNeutropenia } from './defaults/febrile-neutropenia';
import { glucoseOutOfRange } from './defaults/glucose';
import { homeBpMean } from './defaults/home-bp-mean';
import { homeEarlyWarning } from './defaults/home-early-warning';
import { hypertensiveCrisis } from './defaults/hypertensive-crisis';
import { missingData } from './defaults/missing-data';
import { sepsisRedFlags } from './defaults/sepsis-red-flags';
import { spo2Low } from './defaults/spo2-low';
import { weightGain3Days, weightGainDayWeek, weightLoss2Days } from './defaults/weight-change';
import type { Rule } from './rule';

/** The default rules (docs/clinical/rules.md gives each one's published source). */
export const DEFAULT_RULES: readonly Rule[] = [
  spo2Low,
  sepsisRedFlags,
  missingData,
  homeBpMean,
  hypertensiveCrisis,
  bpGrade3,
  weightGain3Days,
  weightGainDayWeek,
  weightLoss2Days,
  febrileNeutropenia,
  activityDecline,
  glucoseOutOfRange,
  homeEarlyWarning,
  adherence,
];

export function ruleById(id: string, rules: readonly Rule[] = DEFAULT_RULES): Rule | undefined {
  return rules.find((r) => r.id === id);
}

/** The rule ids announcing the same physiological event as `ruleId` (its family), itself included. */
export function sameEventRuleIds(ruleId: string, rules: readonly Rule[] = DEFAULT_RULES): string[] {
  const family = ruleById(ruleId, rules)?.family;
  return family ? rules.filter((r) => r.family === family).map((r) => r.id) : [ruleId];
}
