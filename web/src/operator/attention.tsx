// The orders that need an operator (GET /admin/orders?attention=true), refreshed every 15 s.
import { useState } from 'preact/hooks';
import { api } from '../lib/api';
import { usePoll } from '../lib/hooks';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { AdminOrder, AdminOrdersPage } from '../lib/types';
import { describeError } from '../lib/ui';
import { OrderRows } from './rows';

const POLL_MS = 15_000;

export function Attention(props: { session: Session; onSelect: (orderId: string) => void; selected: string | undefined; version: number }) {
  const t = useT();
  const [orders, setOrders] = useState<AdminOrder[]>();
  const [error, setError] = useState<string>();
  const [updatedAt, setUpdatedAt] = useState<number>();
  const { refresh } = usePoll(
    async (signal) => {
      try {
        const page = await api<AdminOrdersPage>('/admin/orders?attention=true&limit=50', { token: props.session.token, signal });
        setOrders(page.orders);
        setError(undefined);
        setUpdatedAt(Date.now());
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [props.session.token, props.version],
  );
  return (
    <section class="card" aria-labelledby="attention-title">
      <div class="panel-head">
        <h2 id="attention-title">{t.attentionHeading}</h2>
        <button type="button" class="button secondary small" onClick={refresh}>
          {t.refresh}
        </button>
      </div>
      {updatedAt && <p class="hint">{t.updated(t.time(updatedAt))}</p>}
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!orders && !error && <p class="muted">{t.loading}</p>}
      {orders && orders.length === 0 && <p class="empty">{t.attentionEmpty}</p>}
      {orders && orders.length > 0 && <OrderRows orders={orders} onSelect={props.onSelect} selected={props.selected} label="attention" />}
    </section>
  );
}
