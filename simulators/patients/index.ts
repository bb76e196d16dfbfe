export * from './model';
export { RULES, type ClinicalRuleNumber } from './rule-ids';
export { generateScenario, simDeviceAddress, localMs, type GenerateOptions } from './generate';
export { firstBreaches } from './oracle';
export { AcceleratedClock, replay } from './clock';
export { mulberry32, hashSeed, type Prng } from './prng';
export { SCENARIOS } from './scenarios';
