// Restaurants, paged (GET /restaurants?limit=&cursor=), and the orders placed from this browser.
import { useState } from 'preact/hooks';
import { api } from '../lib/api';
import { usePoll } from '../lib/hooks';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { RestaurantPage } from '../lib/types';
import { describeError, shortId } from '../lib/ui';
import { rememberedOrders } from './history';

const PAGE_SIZE = 12;

export function RestaurantList({ session }: { session: Session }) {
  const t = useT();
  // cursors[i] is the cursor that loads page i (page 0 has none).
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [page, setPage] = useState(0);
  const [data, setData] = useState<RestaurantPage>();
  const [error, setError] = useState<string>();
  const orders = rememberedOrders(session.sub);

  usePoll(
    async (signal) => {
      try {
        const cursor = cursors[page];
        const q = new URLSearchParams({ limit: String(PAGE_SIZE), ...(cursor ? { cursor } : {}) });
        // The token goes along so that a refused token is noticed here, before checkout.
        setData(await api<RestaurantPage>(`/restaurants?${q}`, { token: session.token, signal }));
        setError(undefined);
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    60_000,
    [page, session.token],
  );

  const next = () => {
    if (!data?.nextCursor) return;
    const cursor = data.nextCursor;
    setCursors((c) => [...c.slice(0, page + 1), cursor]);
    setPage(page + 1);
  };

  return (
    <>
      <h1 tabIndex={-1}>{t.restaurants}</h1>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p class="muted">{t.loading}</p>}
      {data && (
        <>
          <ul class="restaurant-grid" role="list">
            {data.restaurants.map((r) => (
              <li key={r.restaurantId}>
                <a class="tile restaurant-tile" href={`#/r/${encodeURIComponent(r.restaurantId)}`} data-restaurant-id={r.restaurantId}>
                  <span class="tile-title">{r.name}</span>
                  <span class="muted small">{r.restaurantId}</span>
                  {r.autoAccept && <span class="badge status-confirmed">{t.instantConfirm}</span>}
                </a>
              </li>
            ))}
          </ul>
          <nav class="pager" aria-label={t.restaurants}>
            <button type="button" class="button secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>
              ← {t.previousPage}
            </button>
            <span aria-live="polite">{t.pageN(page + 1)}</span>
            <button type="button" class="button secondary" disabled={!data.nextCursor} onClick={next}>
              {t.nextPage} →
            </button>
          </nav>
        </>
      )}
      {orders.length > 0 && (
        <section aria-labelledby="my-orders">
          <h2 id="my-orders">{t.myOrders}</h2>
          <ul class="plain-list" role="list">
            {orders.map((o) => (
              <li key={o.orderId}>
                <a href={`#/orders/${encodeURIComponent(o.orderId)}`}>{shortId(o.orderId)}</a> · {o.restaurantName ?? o.restaurantId} · {t.money(o.totalAmount)}{' '}
                · <span class="muted">{t.time(o.placedAt)}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}
