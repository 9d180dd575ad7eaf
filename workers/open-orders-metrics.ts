import { Gauge, type Registry } from 'prom-client';
import type { Db } from '../db/knex';
import type { Logger } from '../lib/node/logger';

// Gauges of the orders that are not final, read from the orders database when Prometheus scrapes the
// order worker: what the alert "orders not final past their window" (ops/prometheus/alerts.yml) and
// the operator's desk's attention list are about. Every order-worker replica reports the same values
// (alert on max). A failed read keeps the last values: a scrape must not fail because of it.

const OPEN = ['PENDING', 'AWAITING_RESTAURANT'] as const;

export const OPEN_ORDER_METRIC_NAMES = {
  open: 'orders_open',
  oldestAge: 'orders_open_oldest_age_seconds',
  pastDeadline: 'orders_past_acceptance_deadline',
} as const;

/** How long after its acceptance deadline an AWAITING_RESTAURANT order counts as overdue (the saga closes it at the deadline). */
export const PAST_DEADLINE_MARGIN_SECONDS = 120;

export function registerOpenOrderMetrics(registry: Registry, db: Db, logger: Logger): void {
  // One read sets all three gauges; each gauge's collect() joins a read started within the last second,
  // so a scrape reads the database once however the registry collects them.
  let last: { at: number; read: Promise<void> } | undefined;
  const collect = () => {
    if (!last || Date.now() - last.at > 1000) last = { at: Date.now(), read: read() };
    return last.read;
  };
  const open = new Gauge({
    name: OPEN_ORDER_METRIC_NAMES.open,
    help: 'Orders not final yet, by status',
    labelNames: ['status'],
    registers: [registry],
    collect,
  });
  const oldest = new Gauge({
    name: OPEN_ORDER_METRIC_NAMES.oldestAge,
    help: 'Age of the oldest order not final yet, by status (0: none)',
    labelNames: ['status'],
    registers: [registry],
    collect,
  });
  const pastDeadline = new Gauge({
    name: OPEN_ORDER_METRIC_NAMES.pastDeadline,
    help: `Orders still AWAITING_RESTAURANT more than ${PAST_DEADLINE_MARGIN_SECONDS} s after their acceptance deadline`,
    registers: [registry],
    collect,
  });

  async function read(): Promise<void> {
    try {
      const rows: Array<{ status: string; n: number; oldest: number; overdue: number }> = await db('orders')
        .select('status')
        .select(db.raw('count(*)::int AS n'))
        .select(db.raw('coalesce(max(extract(epoch FROM now() - created_at)), 0)::float8 AS oldest'))
        .select(db.raw('count(*) FILTER (WHERE acceptance_deadline < now() - make_interval(secs => ?))::int AS overdue', [PAST_DEADLINE_MARGIN_SECONDS]))
        .whereIn('status', OPEN)
        .groupBy('status');
      for (const status of OPEN) {
        const row = rows.find((r) => r.status === status);
        open.set({ status }, row?.n ?? 0);
        oldest.set({ status }, row?.oldest ?? 0);
      }
      pastDeadline.set(rows.find((r) => r.status === 'AWAITING_RESTAURANT')?.overdue ?? 0);
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'could not read the open orders for /metrics; keeping the last values');
    }
  }
}
