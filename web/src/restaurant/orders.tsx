// Incoming orders, polled from GET /restaurants/:id/orders, with the acceptance countdown and
// Accept / Reject (POST /restaurants/:id/orders/:orderId/accept|reject).
import { useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { formatRemaining, useNow, usePoll } from '../lib/hooks';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { Order, OrderStatus, RestaurantOrder } from '../lib/types';
import { describeError, shortId } from '../lib/ui';

const POLL_MS = 2000;

type Decision = 'accept' | 'reject';

/** A ref callback that focuses the element once, when it appears. */
const focusOnMount = (el: HTMLElement | null) => {
  if (el && document.activeElement !== el && !el.dataset.focused) {
    el.dataset.focused = '1';
    el.focus();
  }
};

export function Orders({ session }: { session: Session }) {
  const t = useT();
  const rid = session.restaurantId!;
  const base = `/restaurants/${encodeURIComponent(rid)}`;
  const [orders, setOrders] = useState<RestaurantOrder[]>();
  const [details, setDetails] = useState<Record<string, Order>>({});
  const [error, setError] = useState<string>();
  const [updatedAt, setUpdatedAt] = useState<number>();
  const [announcement, setAnnouncement] = useState('');
  const [busy, setBusy] = useState<Record<string, Decision>>({});
  const [rejecting, setRejecting] = useState<string>();
  const [reason, setReason] = useState('');
  const [failures, setFailures] = useState<Record<string, string>>({});
  const seen = useRef<Set<string>>();
  const known = useRef<Record<string, Order>>({});
  const now = useNow();

  const { refresh } = usePoll(
    async (signal) => {
      try {
        const page = await api<{ orders: RestaurantOrder[] }>(`${base}/orders?limit=30`, { token: session.token, signal });
        setOrders(page.orders);
        setError(undefined);
        setUpdatedAt(Date.now());
        const open = page.orders.filter((o) => o.status === 'AWAITING_RESTAURANT' || o.status === 'PENDING');
        // Announce orders that arrived since the last poll (not the ones already there at sign-in).
        const waiting = page.orders.filter((o) => o.status === 'AWAITING_RESTAURANT').map((o) => o.orderId);
        if (seen.current) {
          const fresh = waiting.filter((id) => !seen.current!.has(id));
          if (fresh.length > 0) setAnnouncement(fresh.map((id) => t.newOrderAnnounce(shortId(id))).join('. '));
        }
        seen.current = new Set([...(seen.current ?? []), ...waiting]);
        // The list has no lines or address: read each open order once (GET /orders/:id).
        for (const o of open) {
          if (known.current[o.orderId]) continue;
          const order = await api<Order>(`/orders/${encodeURIComponent(o.orderId)}`, { token: session.token, signal });
          known.current = { ...known.current, [o.orderId]: order };
          setDetails(known.current);
        }
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [rid, session.token],
  );

  async function decide(orderId: string, decision: Decision) {
    setBusy((b) => ({ ...b, [orderId]: decision }));
    setFailures(({ [orderId]: _, ...rest }) => rest);
    try {
      const body = decision === 'reject' ? (reason.trim() ? { reason: reason.trim() } : {}) : undefined;
      const result = await api<{ status: OrderStatus }>(`${base}/orders/${encodeURIComponent(orderId)}/${decision}`, { method: 'POST', token: session.token, body });
      setOrders((list) => list?.map((o) => (o.orderId === orderId ? { ...o, status: result.status } : o)));
      setAnnouncement(t.decided(shortId(orderId), t.orderStatus[result.status]));
      if (decision === 'reject') {
        setRejecting(undefined);
        setReason('');
      }
    } catch (err) {
      setFailures((f) => ({ ...f, [orderId]: describeError(t, err) }));
    } finally {
      setBusy(({ [orderId]: _, ...rest }) => rest);
      refresh();
    }
  }

  const open = orders?.filter((o) => o.status === 'AWAITING_RESTAURANT' || o.status === 'PENDING') ?? [];
  const closed = orders?.filter((o) => o.status !== 'AWAITING_RESTAURANT' && o.status !== 'PENDING') ?? [];

  return (
    <section class="panel" aria-labelledby="orders-title">
      <div class="panel-head">
        <h2 id="orders-title">{t.incomingOrders}</h2>
        {updatedAt && <span class="muted small">{t.updated(t.time(updatedAt))}</span>}
      </div>
      <p class="visually-hidden" role="status" aria-live="polite">
        {announcement}
      </p>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!orders && !error && <p class="muted">{t.loading}</p>}
      {orders && open.length === 0 && <p class="empty">{t.noIncoming}</p>}
      <ul class="order-list" role="list">
        {open.map((o) => {
          const d = details[o.orderId];
          const deadline = o.acceptanceDeadline ? Date.parse(o.acceptanceDeadline) : undefined;
          const left = deadline !== undefined ? deadline - now : undefined;
          const span = deadline !== undefined ? deadline - Date.parse(o.createdAt) : undefined;
          const fraction = left !== undefined && span ? Math.max(0, Math.min(1, left / span)) : 0;
          const titleId = `order-${o.orderId}`;
          return (
            <li key={o.orderId} class="order-card" aria-labelledby={titleId} data-order-id={o.orderId} data-status={o.status}>
              <div class="order-head">
                <h3 id={titleId} title={o.orderId}>
                  {shortId(o.orderId)}
                </h3>
                <strong class="amount">{t.money(o.totalAmount)}</strong>
              </div>
              <p class="muted small">
                {t.placedAt(t.time(o.createdAt))} · {o.customerId}
              </p>
              {d && (
                <ul class="lines" role="list">
                  {d.items.map((i) => (
                    <li key={i.menuId}>
                      <span>{i.name}</span> <span class="qty">× {i.quantity}</span>
                    </li>
                  ))}
                </ul>
              )}
              {d?.deliveryAddress && <p class="small">{t.deliverTo(d.deliveryAddress)}</p>}
              {o.status === 'PENDING' ? (
                <p class="status-line pending">{t.orderStatus.PENDING}…</p>
              ) : (
                <>
                  {left !== undefined && (
                    <div class={`countdown${left < 60_000 ? ' urgent' : ''}`}>
                      <span class="countdown-text">{left > 0 ? t.timeLeft(formatRemaining(left)) : t.windowPassed}</span>
                      <span class="bar" aria-hidden="true">
                        <span style={{ width: `${Math.round(fraction * 100)}%` }} />
                      </span>
                    </div>
                  )}
                  {rejecting === o.orderId ? (
                    <form
                      class="reject-form"
                      onSubmit={(e) => {
                        e.preventDefault();
                        void decide(o.orderId, 'reject');
                      }}
                    >
                      <label for={`reason-${o.orderId}`}>{t.rejectReason}</label>
                      <input id={`reason-${o.orderId}`} ref={focusOnMount} type="text" maxLength={500} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
                      <div class="actions">
                        <button type="submit" class="button danger" disabled={!!busy[o.orderId]}>
                          {t.confirmReject}
                        </button>
                        <button type="button" class="button secondary" onClick={() => setRejecting(undefined)}>
                          {t.keepOrder}
                        </button>
                      </div>
                    </form>
                  ) : (
                    <div class="actions">
                      <button type="button" class="button accept" disabled={!!busy[o.orderId]} aria-describedby={titleId} onClick={() => void decide(o.orderId, 'accept')}>
                        {busy[o.orderId] === 'accept' ? '…' : t.accept}
                      </button>
                      <button
                        type="button"
                        class="button danger outline"
                        disabled={!!busy[o.orderId]}
                        aria-describedby={titleId}
                        onClick={() => {
                          setReason('');
                          setRejecting(o.orderId);
                        }}
                      >
                        {t.reject}
                      </button>
                    </div>
                  )}
                </>
              )}
              {failures[o.orderId] && (
                <p class="notice error" role="alert">
                  {failures[o.orderId]}
                </p>
              )}
            </li>
          );
        })}
      </ul>

      <h2 class="subhead">{t.recentOrders}</h2>
      {orders && closed.length === 0 && <p class="empty">{t.noRecent}</p>}
      {closed.length > 0 && (
        <table class="table compact">
          <thead>
            <tr>
              <th scope="col">{t.colOrder}</th>
              <th scope="col">{t.colPlaced}</th>
              <th scope="col" class="num">
                {t.total}
              </th>
              <th scope="col">{t.colStatus}</th>
            </tr>
          </thead>
          <tbody>
            {closed.map((o) => (
              <tr key={o.orderId} data-order-id={o.orderId} data-status={o.status}>
                <td title={o.orderId}>{shortId(o.orderId)}</td>
                <td>{t.time(o.createdAt)}</td>
                <td class="num">{t.money(o.totalAmount)}</td>
                <td>
                  <span class={`badge status-${o.status.toLowerCase()}`}>{t.orderStatus[o.status]}</span>
                  {o.failureReason && <span class="muted small"> ({t.reasonShort[o.failureReason] ?? o.failureReason})</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
