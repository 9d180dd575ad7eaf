import { runAudit, type AuditOptions, type AuditReport } from '../../ops/audit';

/** The three service databases an audit reads, as the test stacks and TestDatabases hold them. */
export type AuditedDatabases = Pick<AuditOptions, 'orders' | 'payments' | 'restaurants'>;

/**
 * The consistency audit over a test's databases with the tests' usual settings: every open order
 * counts as stuck at once, a placeholder Web UI address, the default namespace. `overrides` changes
 * any of them (the PSP's books, batch sizes, another namespace).
 */
export function auditDatabases(dbs: AuditedDatabases, overrides: Partial<AuditOptions> = {}): Promise<AuditReport> {
  return runAudit({
    orders: dbs.orders,
    payments: dbs.payments,
    restaurants: dbs.restaurants,
    stuckAfterSeconds: 0,
    temporalUiUrl: 'http://ui',
    namespace: 'default',
    ...overrides,
  });
}
