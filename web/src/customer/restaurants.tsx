// Restaurants, searched by name and paged (GET /restaurants?q=&limit=&cursor=), and the orders placed
// from this browser.
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
  // What the box holds, and the search the list shows (set on submit; empty: every restaurant).
  const [typed, setTyped] = useState('');
  const [search, setSearch] = useState('');
  const orders = rememberedOrders(session.sub);

  usePoll(
    async (signal) => {
      try {
        const cursor = cursors[page];
        const q = new URLSearchParams({ limit: String(PAGE_SIZE), ...(search ? { q: search } : {}), ...(cursor ? { cursor } : {}) });
        // The token goes along so that a refused token is noticed here, before checkout.
        setData(await api<RestaurantPage>(`/restaurants?${q}`, { token: session.token, signal }));
        setError(undefined);
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    60_000,
    [page, search, session.token],
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
      <form
        class="search-form"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          // A new search starts again from its first page.
          setSearch(typed.trim());
          setCursors([undefined]);
          setPage(0);
        }}
      >
        <label for="restaurant-search" class="visually-hidden">
          {t.searchRestaurants}
        </label>
        <input
          id="restaurant-search"
          type="search"
          maxLength={50}
          autocomplete="off"
          placeholder={t.searchRestaurantsHint}
          value={typed}
          onInput={(e) => setTyped((e.target as HTMLInputElement).value)}
        />
        <button type="submit" class="button primary small">
          {t.search}
        </button>
      </form>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p class="muted">{t.loading}</p>}
      {data && (
        <>
          {data.restaurants.length === 0 && <p class="empty">{t.noRestaurantsFound}</p>}
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
