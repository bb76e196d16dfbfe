/**
 * Alert rule ids the scenarios expect, keyed by their number in
 * docs/clinical/rules.md ("Default rules" table), with the ids of hub/rules/defaults/.
 * Rules 3 and 3b are one hub rule (missing-data) whose episode turns from amber to red.
 */
export const RULES = {
  '1': { id: 'spo2-low', severity: 'red', title: 'SpO2 < 92 % on 2 readings >= 15 min apart' },
  '2': { id: 'sepsis-red-flags', severity: 'red', title: 'resting heart rate > 130 /min or systolic < 90 mmHg' },
  '3': { id: 'missing-data', severity: 'amber', title: 'no reading from an expected device for 48 h' },
  '3b': { id: 'missing-data', severity: 'red', title: 'no reading from an expected device for 72 h' },
  '4': { id: 'bp-home-mean-7d', severity: 'amber', title: '7-day home BP mean (day 1 dropped) >= 135/85 mmHg' },
  '5': { id: 'bp-hypertensive-crisis', severity: 'red', title: 'systolic >= 180 or diastolic >= 120 mmHg' },
  '6': { id: 'hf-weight-gain-3d', severity: 'amber', title: 'weight up > 2 kg over 3 days' },
  '7': {
    id: 'hf-weight-gain-day-week',
    severity: 'amber',
    title: 'weight up >= 1.4 kg in 1 day or >= 2.3 kg in 7 days',
  },
  '8': { id: 'hf-weight-loss-2d', severity: 'amber', title: 'weight down >= 0.9 kg over 2 days' },
  '10': {
    id: 'chemo-fever',
    severity: 'red',
    title: 'temperature >= 38.3 C once, or >= 38.0 C on 2 readings >= 1 h apart',
  },
  '11': {
    id: 'chemo-activity-decline',
    severity: 'amber',
    title: '3-day mean steps >= 20 % below the 14-day baseline, or resting HR >= 20 % above',
  },
} as const;

export type ClinicalRuleNumber = keyof typeof RULES;
