import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a projector rebuilt its read model from a snapshot (the `reason` label of cdc_projector_resyncs_total). */
export type ResyncReason =
  'first_start' | 'requested' | 'slot_missing' | 'slot_invalidated' | 'slot_plugin' | 'publication_changed' | 'slot_ahead' | 'far_behind';

/**
 * The projector's metrics, labelled by read replica and slot: each replica has its own projector
 * process, so one dashboard shows every replica's lag side by side. Reuses metrics already in the
 * registry so that two projectors (or a restarted one) can share a registry.
 */
export function createProjectorMetrics(registry: Registry, slotName: string, replica = 'read-1') {
  type L = 'replica' | 'slot';
  const labelNames = ['replica', 'slot'] as const;
  const labels = { replica, slot: slotName };
  const gauge = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge({ name, help, labelNames, registers: [registry] });
  const counter = (name: string, help: string) =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
  const histogram = (name: string, help: string, buckets: number[]) =>
    (registry.getSingleMetric(name) as Histogram<L> | undefined) ?? new Histogram({ name, help, labelNames, buckets, registers: [registry] });
  const resyncs =
    (registry.getSingleMetric('cdc_projector_resyncs_total') as Counter<L | 'reason'> | undefined) ??
    new Counter({
      name: 'cdc_projector_resyncs_total',
      help: 'Full re-syncs from a snapshot, by reason (first_start is routine; slot_missing, slot_invalidated and far_behind are the replica healing itself)',
      labelNames: ['replica', 'slot', 'reason'] as const,
      registers: [registry],
    });

  // Every reason's series from the start (at 0): the first self-healing re-sync is then an increase
  // Prometheus can see (a series born at 1 has no increase), and the CdcReplicaResynced alert fires.
  const reasons: ResyncReason[] = [
    'first_start',
    'requested',
    'slot_missing',
    'slot_invalidated',
    'slot_plugin',
    'publication_changed',
    'slot_ahead',
    'far_behind',
  ];
  for (const reason of reasons) resyncs.labels({ ...labels, reason }).inc(0);
  return {
    lagBytes: gauge('cdc_projector_lag_bytes', 'Source WAL written (pg_current_wal_lsn) beyond the applied LSN').labels(labels),
    lagSeconds: gauge(
      'cdc_projector_lag_seconds',
      'Age of the oldest source commit not yet applied; 0 when caught up; while disconnected, time since last caught up',
    ).labels(labels),
    applyDelay: histogram(
      'cdc_projector_apply_delay_seconds',
      'Source commit time to read-model commit, per source transaction',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    ).labels(labels),
    changesApplied: counter('cdc_projector_changes_applied_total', 'Row changes applied to the read model').labels(labels),
    transactionsApplied: counter('cdc_projector_transactions_applied_total', 'Source transactions applied').labels(labels),
    transactionsSkipped: counter(
      'cdc_projector_transactions_skipped_total',
      'Source transactions received again after a restart and skipped (already applied)',
    ).labels(labels),
    batches: counter('cdc_projector_batches_total', 'Read-model transactions committed').labels(labels),
    appliedLsn: gauge('cdc_projector_applied_lsn', 'Applied LSN as a number (bytes)').labels(labels),
    streaming: gauge('cdc_projector_streaming', '1 while the replication stream is up').labels(labels),
    reconnects: counter('cdc_projector_reconnects_total', 'Stream sessions that failed and were retried').labels(labels),
    resyncs: (reason: ResyncReason) => resyncs.labels({ ...labels, reason }),
  };
}

export type ProjectorMetrics = ReturnType<typeof createProjectorMetrics>;
