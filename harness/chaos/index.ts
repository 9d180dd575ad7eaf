// The chaos harness (`npm run chaos`): plan.ts decides the order mix and the fault schedule from a
// seed; customers.ts, restaurants.ts, operator.ts and faults.ts act; checks.ts verifies; run.ts
// drives one run; summary.ts prints it.
export { runChaos, type ChaosOptions } from './run';
export { CLUSTER_FAULT_KINDS, FAULT_KINDS, faultKindsFor, WINDOW_FAULTS, type FaultKind } from './plan';
export { chaosRunClean, formatChaosSummary, type ChaosSummary } from './summary';
