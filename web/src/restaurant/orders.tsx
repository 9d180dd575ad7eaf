// Incoming orders, polled from GET /restaurants/:id/orders, with the acceptance countdown and
// Accept / Reject (POST /restaurants/:id/orders/:orderId/accept|reject).
import { useRef, useState } from 'preact/hooks';
import { api } from '../lib/api';
import { formatRemaining, useNow, usePoll } from '../lib/hooks';
import { useT, type Messages } from '../lib/i18n';
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

const isOpen = (o: RestaurantOrder) => o.status === 'AWAITING_RESTAURANT' || o.status === 'PENDING';

/**
 * The restaurant's recent orders, polled, and the lines and address of each open one (read once).
 * Orders that arrived since the last poll (not those already there at sign-in) are announced.
 */
function useRestaurantOrders(session: Session, base: string, t: Messages, announce: (text: string) => void) {
  const [orders, setOrders] = useState<RestaurantOrder[]>();
  const [details, setDetails] = useState<Record<string, Order>>({});
  const [error, setError] = useState<string>();
  const [updatedAt, setUpdatedAt] = useState<number>();
  const seen = useRef<Set<string>>();
  const known = useRef<Record<string, Order>>({});

  const { refresh } = usePoll(
    async (signal) => {
      try {
        const page = await api<{ orders: RestaurantOrder[] }>(`${base}/orders?limit=30`, { token: session.token, signal });
        setOrders(page.orders);
        setError(undefined);
        setUpdatedAt(Date.now());
        const open = page.orders.filter(isOpen);
        // Announce orders that arrived since the last poll (not the ones already there at sign-in).
        const waiting = page.orders.filter((o) => o.status === 'AWAITING_RESTAURANT').map((o) => o.orderId);
        if (seen.current) {
          const fresh = waiting.filter((id) => !seen.current!.has(id));
          if (fresh.length > 0) announce(fresh.map((id) => t.newOrderAnnounce(shortId(id))).join('. '));
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
    [session.restaurantId, session.token],
  );

  return { orders, setOrders, details, error, updatedAt, refresh };
}

export function Orders({ session }: { session: Session }) {
  const t = useT();
  const rid = session.restaurantId!;
  const base = `/restaurants/${encodeURIComponent(rid)}`;
  const [announcement, setAnnouncement] = useState('');
  const [busy, setBusy] = useState<Record<string, Decision>>({});
  const [rejecting, setRejecting] = useState<string>();
  const [reason, setReason] = useState('');
  const [failures, setFailures] = useState<Record<string, string>>({});
  const now = useNow();
  const { orders, setOrders, details, error, updatedAt, refresh } = useRestaurantOrders(session, base, t, setAnnouncement);

  async function decide(orderId: string, decision: Decision) {
    setBusy((b) => ({ ...b, [orderId]: decision }));
    setFailures(({ [orderId]: _, ...rest }) => rest);
    try {
      const body = decision === 'reject' ? (reason.trim() ? { reason: reason.trim() } : {}) : undefined;
      const result = await api<{ status: OrderStatus }>(`${base}/orders/${encodeURIComponent(orderId)}/${decision}`, {
        method: 'POST',
        token: session.token,
        body,
      });
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

  const open = orders?.filter(isOpen) ?? [];
  const closed = orders?.filter((o) => !isOpen(o)) ?? [];

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
        {open.map((o) => (
          <OpenOrder
            key={o.orderId}
            order={o}
            detail={details[o.orderId]}
            now={now}
            busy={busy[o.orderId]}
            failure={failures[o.orderId]}
            rejecting={rejecting === o.orderId}
            reason={reason}
            setReason={setReason}
            decide={(decision) => void decide(o.orderId, decision)}
            startRejecting={() => {
              setReason('');
              setRejecting(o.orderId);
            }}
            stopRejecting={() => setRejecting(undefined)}
          />
        ))}
      </ul>
      <RecentOrders loaded={!!orders} closed={closed} />
    </section>
  );
}

/** One order waiting for the restaurant: its lines, the countdown, and Accept / Reject. */
function OpenOrder(props: {
  order: RestaurantOrder;
  detail: Order | undefined;
  now: number;
  busy: Decision | undefined;
  failure: string | undefined;
  /** This order's reject form is open (one at a time, sharing `reason`). */
  rejecting: boolean;
  reason: string;
  setReason: (reason: string) => void;
  decide: (decision: Decision) => void;
  startRejecting: () => void;
  stopRejecting: () => void;
}) {
  const { order: o, detail: d, failure } = props;
  const t = useT();
  const deadline = o.acceptanceDeadline ? Date.parse(o.acceptanceDeadline) : undefined;
  const left = deadline !== undefined ? deadline - props.now : undefined;
  const span = deadline !== undefined ? deadline - Date.parse(o.createdAt) : undefined;
  const fraction = left !== undefined && span ? Math.max(0, Math.min(1, left / span)) : 0;
  const titleId = `order-${o.orderId}`;
  return (
    <li class="order-card" aria-labelledby={titleId} data-order-id={o.orderId} data-status={o.status}>
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
          {props.rejecting ? <RejectForm {...props} /> : <Decisions {...props} titleId={titleId} />}
        </>
      )}
      {failure && (
        <p class="notice error" role="alert">
          {failure}
        </p>
      )}
    </li>
  );
}

function RejectForm({ order: o, busy, reason, setReason, decide, stopRejecting }: Parameters<typeof OpenOrder>[0]) {
  const t = useT();
  return (
    <form
      class="reject-form"
      onSubmit={(e) => {
        e.preventDefault();
        decide('reject');
      }}
    >
      <label for={`reason-${o.orderId}`}>{t.rejectReason}</label>
      <input
        id={`reason-${o.orderId}`}
        ref={focusOnMount}
        type="text"
        maxLength={500}
        value={reason}
        onInput={(e) => setReason((e.target as HTMLInputElement).value)}
      />
      <div class="actions">
        <button type="submit" class="button danger" disabled={!!busy}>
          {t.confirmReject}
        </button>
        <button type="button" class="button secondary" onClick={stopRejecting}>
          {t.keepOrder}
        </button>
      </div>
    </form>
  );
}

function Decisions({ busy, titleId, decide, startRejecting }: Parameters<typeof OpenOrder>[0] & { titleId: string }) {
  const t = useT();
  return (
    <div class="actions">
      <button type="button" class="button accept" disabled={!!busy} aria-describedby={titleId} onClick={() => decide('accept')}>
        {busy === 'accept' ? '…' : t.accept}
      </button>
      <button type="button" class="button danger outline" disabled={!!busy} aria-describedby={titleId} onClick={startRejecting}>
        {t.reject}
      </button>
    </div>
  );
}

/** The orders that no longer wait for the restaurant. */
function RecentOrders({ loaded, closed }: { loaded: boolean; closed: RestaurantOrder[] }) {
  const t = useT();
  return (
    <>
      <h2 class="subhead">{t.recentOrders}</h2>
      {loaded && closed.length === 0 && <p class="empty">{t.noRecent}</p>}
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
    </>
  );
}
