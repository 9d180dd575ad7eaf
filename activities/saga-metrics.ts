import { Counter, Histogram, type Registry } from 'prom-client';

// The saga's business metrics. Workflow code is replayed and must stay deterministic, so nothing is
// counted there: the activities count what they actually changed (an order closed, a compensation
// that voided, refunded or cancelled something), after their transaction committed. A retried
// activity that finds the change already made counts nothing, so every outcome is counted once.

export type SagaOutcomeStatus = 'CONFIRMED' | 'REJECTED' | 'CANCELLED';
export type Compensation = 'voidAuthorization' | 'refundPayment' | 'cancelTicket';
export type PspOutcome = 'ok' | 'rejected' | 'unavailable';
/** How the reconciler closed an order whose saga had ended without closing it. */
export type RepairAction = 'confirmed' | 'rejected';

export interface SagaMetrics {
  /** An order reached its final state (reason `none` for CONFIRMED). */
  outcome(status: SagaOutcomeStatus, reason: string | null): void;
  /** A compensation changed something; `result` is where it left the payment or ticket. */
  compensation(name: Compensation, result: string): void;
  /** One HTTP call to the PSP (activities/psp-client.ts `observe`). */
  pspCall(operation: string, outcome: PspOutcome, seconds: number): void;
  /** The reconciler closed an order its saga had left open (counted by the order activity that closed it). */
  repair(action: RepairAction): void;
}

/** For activities built without metrics (tests, tools). */
export const noSagaMetrics: SagaMetrics = { outcome: () => undefined, compensation: () => undefined, pspCall: () => undefined, repair: () => undefined };

export const SAGA_METRIC_NAMES = {
  outcomes: 'order_saga_outcomes_total',
  compensations: 'order_saga_compensations_total',
  pspCalls: 'psp_calls_total',
  pspDuration: 'psp_call_duration_seconds',
  repairs: 'reconciler_repairs_total',
} as const;

/** Registers the saga metrics in a registry (reusing them if already there) and returns the recorders. */
export function createSagaMetrics(registry: Registry): SagaMetrics {
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  const outcomes =
    existing<Counter<'status' | 'reason'>>(SAGA_METRIC_NAMES.outcomes) ??
    new Counter({
      name: SAGA_METRIC_NAMES.outcomes,
      help: 'Orders closed by the saga, by final status and failure reason',
      labelNames: ['status', 'reason'],
      registers: [registry],
    });
  const compensations =
    existing<Counter<'compensation' | 'result'>>(SAGA_METRIC_NAMES.compensations) ??
    new Counter({
      name: SAGA_METRIC_NAMES.compensations,
      help: 'Compensations that changed something (voided, refunded, cancelled), by compensation and resulting status',
      labelNames: ['compensation', 'result'],
      registers: [registry],
    });
  const pspCalls =
    existing<Counter<'operation' | 'outcome'>>(SAGA_METRIC_NAMES.pspCalls) ??
    new Counter({
      name: SAGA_METRIC_NAMES.pspCalls,
      help: 'Calls to the PSP by operation and outcome (ok, rejected, unavailable)',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
  const pspDuration =
    existing<Histogram<'operation' | 'outcome'>>(SAGA_METRIC_NAMES.pspDuration) ??
    new Histogram({
      name: SAGA_METRIC_NAMES.pspDuration,
      help: 'PSP call latency by operation and outcome',
      labelNames: ['operation', 'outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  const repairs =
    existing<Counter<'action'>>(SAGA_METRIC_NAMES.repairs) ??
    new Counter({
      name: SAGA_METRIC_NAMES.repairs,
      help: 'Orders the reconciler closed after their saga ended without closing them, by action (confirmed, rejected)',
      labelNames: ['action'],
      registers: [registry],
    });
  return {
    outcome: (status, reason) => outcomes.inc({ status, reason: reason ?? 'none' }),
    compensation: (name, result) => compensations.inc({ compensation: name, result }),
    pspCall: (operation, outcome, seconds) => {
      pspCalls.inc({ operation, outcome });
      pspDuration.observe({ operation, outcome }, seconds);
    },
    repair: (action) => repairs.inc({ action }),
  };
}
