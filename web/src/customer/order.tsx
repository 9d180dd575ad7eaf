// One order as it moves through the saga (GET /orders/:id, polled until it ends), with its reason
// in plain words when it does not go through, and Cancel while the restaurant has not accepted.
import { useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../lib/api';
import { formatRemaining, useNow, usePoll } from '../lib/hooks';
import { reasonSentence, useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import { TERMINAL_STATUSES, type Order, type OrderStatus } from '../lib/types';
import { describeError, shortId } from '../lib/ui';
import { findRemembered } from './history';

const POLL_MS = 1000;

type StepState = 'done' | 'current' | 'failed' | 'todo';

function steps(order: Order): [StepState, StepState, StepState] {
  switch (order.status) {
    case 'PENDING':
      return ['done', 'current', 'todo'];
    case 'AWAITING_RESTAURANT':
      return ['done', 'done', 'current'];
    case 'CONFIRMED':
      return ['done', 'done', 'done'];
    default: {
      const paymentFailed =
        ['PAYMENT_DECLINED', 'PAYMENT_UNAVAILABLE'].includes(order.failureReason ?? '') || order.payment.status === 'DECLINED' || order.payment.status === null;
      return paymentFailed ? ['done', 'failed', 'todo'] : ['done', 'done', 'failed'];
    }
  }
}

export function CustomerOrder({ session, orderId }: { session: Session; orderId: string }) {
  const t = useT();
  const [order, setOrder] = useState<Order>();
  const [error, setError] = useState<string>();
  const [cancelling, setCancelling] = useState(false);
  const [cancelProblem, setCancelProblem] = useState<string>();
  const now = useNow();
  const remembered = findRemembered(session.sub, orderId);
  const terminal = !!order && TERMINAL_STATUSES.includes(order.status);
  // Polling stops once the API has shown the order in a final state (with its reason).
  const settled = useRef(false);

  const { refresh } = usePoll(
    async (signal) => {
      if (settled.current) return;
      try {
        const fresh = await api<Order>(`/orders/${encodeURIComponent(orderId)}`, { token: session.token, signal });
        settled.current = TERMINAL_STATUSES.includes(fresh.status);
        setOrder(fresh);
        setError(undefined);
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [orderId, session.token],
  );

  async function cancel() {
    setCancelling(true);
    setCancelProblem(undefined);
    try {
      const result = await api<{ status: OrderStatus }>(`/orders/${encodeURIComponent(orderId)}/cancel`, { method: 'POST', token: session.token });
      setOrder((o) => (o ? { ...o, status: result.status } : o));
    } catch (err) {
      setCancelProblem(err instanceof ApiError && err.code === 'NOT_CANCELLABLE' ? t.notCancellable : describeError(t, err));
    } finally {
      setCancelling(false);
      refresh();
    }
  }

  const restaurantName = remembered?.restaurantName ?? order?.restaurantId;
  const deadline = order?.acceptanceDeadline ? Date.parse(order.acceptanceDeadline) : undefined;
  const state = order ? steps(order) : undefined;

  return (
    <>
      <p>
        <a href="#/">← {t.backToRestaurants}</a>
      </p>
      <h1 tabIndex={-1} title={orderId}>
        {t.orderHeading(shortId(orderId))}
      </h1>
      {restaurantName && <p class="muted">{t.orderFrom(restaurantName)}</p>}
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!order && !error && <p class="muted">{t.loading}</p>}
      {order && state && (
        <div class="columns wide-left">
          <section class="panel" aria-labelledby="progress-title">
            <h2 id="progress-title" class="visually-hidden">
              {t.colStatus}
            </h2>
            <div
              class={`order-status status-${order.status.toLowerCase()}`}
              role="status"
              aria-live="polite"
              data-order-status={order.status}
              data-failure-reason={order.failureReason ?? ''}
            >
              <p class="status-headline">{t.statusSentence[order.status]}</p>
              {(order.status === 'REJECTED' || order.status === 'CANCELLED') && <p class="reason">{reasonSentence(t, order.failureReason)}</p>}
              {order.status === 'CONFIRMED' && <p>{t.chargedTotal(t.money(order.totalAmount))}</p>}
            </div>
            {order.status === 'AWAITING_RESTAURANT' && deadline !== undefined && (
              <p class="countdown-text">{t.restaurantHasLeft(formatRemaining(deadline - now))}</p>
            )}
            <StepList state={state} />
            {!terminal && (
              <div class="actions">
                <button type="button" class="button danger outline" disabled={cancelling} onClick={() => void cancel()}>
                  {cancelling ? t.cancelling : t.cancelOrder}
                </button>
              </div>
            )}
            {cancelProblem && (
              <p class="notice error" role="alert">
                {cancelProblem}
              </p>
            )}
            {terminal && (
              <p class="actions">
                <a class="button primary" href={`#/r/${encodeURIComponent(order.restaurantId)}`}>
                  {t.orderAgain}
                </a>
              </p>
            )}
          </section>
          <Receipt order={order} />
        </div>
      )}
    </>
  );
}

/** The three steps of the order (placed, payment held, accepted), each done, current, failed or to do. */
function StepList({ state }: { state: [StepState, StepState, StepState] }) {
  const t = useT();
  const stepLabels = [t.stepPlaced, t.stepPaymentHeld, t.stepAccepted];
  return (
    <ol class="steps">
      {state.map((s, i) => (
        <li key={i} class={`step ${s}`}>
          <span class="step-mark" aria-hidden="true">
            {s === 'done' ? '✓' : s === 'failed' ? '✕' : s === 'current' ? '…' : ''}
          </span>
          <span>{stepLabels[i]}</span>
          <span class="visually-hidden"> ({t.stepState[s]})</span>
        </li>
      ))}
    </ol>
  );
}

/** What was ordered, the total, where to, and the payment's state. */
function Receipt({ order }: { order: Order }) {
  const t = useT();
  return (
    <section class="panel" aria-labelledby="receipt-title">
      <h2 id="receipt-title">{t.cart}</h2>
      <ul class="cart-lines" role="list">
        {order.items.map((i) => (
          <li key={i.menuId}>
            <span class="line-name">
              {i.name} × {i.quantity}
            </span>
            <span class="num">{t.money(i.unitPrice * i.quantity)}</span>
          </li>
        ))}
      </ul>
      <p class="total-line">
        <span>{t.total}</span> <strong>{t.money(order.totalAmount)}</strong>
      </p>
      {order.deliveryAddress && <p class="small">{t.deliverTo(order.deliveryAddress)}</p>}
      <p class="small">
        {t.payment}: {order.payment.status ? (t.paymentStatus[order.payment.status] ?? order.payment.status) : t.paymentStatus.PENDING}
      </p>
    </section>
  );
}
