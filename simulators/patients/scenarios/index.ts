import type { ScenarioDef, ScenarioId } from '../model';
import { activityDecline } from './activity-decline';
import { febrileNeutropenia } from './febrile-neutropenia';
import { heartFailureDecompensation } from './heart-failure-decompensation';
import { householdScale } from './household-scale';
import { hypertensiveCrisis } from './hypertensive-crisis';
import { nonAdherent } from './non-adherent';
import { stableHypertensive } from './stable-hypertensive';

export const SCENARIOS: Record<ScenarioId, ScenarioDef> = {
  'stable-hypertensive': stableHypertensive,
  'hypertensive-crisis': hypertensiveCrisis,
  'heart-failure-decompensation': heartFailureDecompensation,
  'febrile-neutropenia': febrileNeutropenia,
  'activity-decline': activityDecline,
  'non-adherent': nonAdherent,
  'household-scale': householdScale,
};
