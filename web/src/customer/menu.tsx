// A restaurant's menu from the read model (GET /restaurants/:id/menu, refreshed while open), the
// cart and the checkout: POST /orders with an Idempotency-Key made once per checkout, so retrying
// the same checkout after a lost answer never places or charges a second order.
import { useRef, useState } from 'preact/hooks';
import { api, ApiError, newIdempotencyKey } from '../lib/api';
import { usePoll } from '../lib/hooks';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { Menu, MenuItem, PlacedOrder, PlaceOrderBody } from '../lib/types';
import { describeError } from '../lib/ui';
import { rememberOrder } from './history';
import { navigate } from './nav';

const POLL_MS = 3000;
const MAX_QUANTITY = 99;

/** Quantities by menuId, per restaurant. */
export type Carts = Record<string, Record<string, number>>;

export const SANDBOX_CARDS = [
  { token: 'tok_ok', label: 'cardOk' },
  { token: 'tok_decline', label: 'cardDecline' },
  // Slower than a person waits comfortably, faster than the payment worker's PSP timeout (PSP_TIMEOUT_MS, 5 s).
  { token: 'tok_slow_3000', label: 'cardSlow' },
] as const;

/** The restaurant's menu from the read model, refreshed while the page is open. */
function useMenu(session: Session, restaurantId: string) {
  const t = useT();
  const [menu, setMenu] = useState<Menu>();
  const [error, setError] = useState<string>();
  const { refresh } = usePoll(
    async (signal) => {
      try {
        setMenu(await api<Menu>(`/restaurants/${encodeURIComponent(restaurantId)}/menu`, { token: session.token, signal }));
        setError(undefined);
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [restaurantId, session.token],
  );
  return { menu, error, refresh };
}

export function CustomerMenu(props: { session: Session; restaurantId: string; carts: Carts; setCarts: (update: (c: Carts) => Carts) => void }) {
  const { session, restaurantId } = props;
  const t = useT();
  const { menu, error, refresh } = useMenu(session, restaurantId);
  const [address, setAddress] = useState('서울시 강남구 테헤란로 1');
  const [card, setCard] = useState<string>('tok_ok');
  const [placing, setPlacing] = useState(false);
  const [problem, setProblem] = useState<string>();
  // The checkout in progress: its key is reused only for the very same body.
  const attempt = useRef<{ key: string; body: string }>();

  const cart = props.carts[restaurantId] ?? {};
  const setQuantity = (menuId: string, quantity: number) => {
    setProblem(undefined);
    props.setCarts((all) => {
      const lines = { ...(all[restaurantId] ?? {}) };
      if (quantity <= 0) delete lines[menuId];
      else lines[menuId] = Math.min(MAX_QUANTITY, quantity);
      return { ...all, [restaurantId]: lines };
    });
  };

  const byId = new Map((menu?.items ?? []).map((i) => [i.menuId, i]));
  const lines: CartLine[] = Object.entries(cart).map(([menuId, quantity]) => ({ menuId, quantity, item: byId.get(menuId) }));
  const unavailable = lines.filter((l) => !l.item || l.item.status !== 'ON_SALE');
  const total = lines.reduce((sum, l) => sum + (l.item ? l.item.price * l.quantity : 0), 0);
  const canOrder = lines.length > 0 && unavailable.length === 0 && !placing && !!menu;

  async function checkout(e: Event) {
    e.preventDefault();
    if (!canOrder) return;
    if (!address.trim()) {
      setProblem(t.addressRequired);
      document.getElementById('address')?.focus();
      return;
    }
    const body: PlaceOrderBody = {
      restaurantId,
      items: lines.map((l) => ({ menuId: l.menuId, quantity: l.quantity })),
      deliveryAddress: address.trim(),
      paymentMethod: { cardToken: card },
    };
    const serialized = JSON.stringify(body);
    if (attempt.current?.body !== serialized) attempt.current = { key: newIdempotencyKey(), body: serialized };
    setPlacing(true);
    setProblem(undefined);
    try {
      const placed = await api<PlacedOrder>('/orders', { method: 'POST', token: session.token, headers: { 'idempotency-key': attempt.current.key }, body });
      attempt.current = undefined;
      rememberOrder(session.sub, {
        orderId: placed.orderId,
        restaurantId,
        restaurantName: menu?.name,
        totalAmount: placed.totalAmount,
        placedAt: new Date().toISOString(),
      });
      props.setCarts((all) => ({ ...all, [restaurantId]: {} }));
      navigate(`#/orders/${encodeURIComponent(placed.orderId)}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ITEM_UNAVAILABLE') {
        const ids = ((err.details as { menuIds?: string[] } | undefined)?.menuIds ?? []).map((id) => byId.get(id)?.name ?? id);
        setProblem(t.itemsUnavailable(ids.join(', ')));
        refresh();
      } else if (err instanceof ApiError && (err.status === 0 || err.status >= 500)) {
        setProblem(t.retrySafe);
      } else {
        setProblem(describeError(t, err));
      }
    } finally {
      setPlacing(false);
    }
  }

  return (
    <>
      <p>
        <a href="#/">← {t.backToRestaurants}</a>
      </p>
      <h1 tabIndex={-1}>
        {menu?.name ?? restaurantId} <span class="muted id">{restaurantId}</span>
      </h1>
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      {!menu && !error && <p class="muted">{t.loading}</p>}
      <div class="columns wide-left">
        <MenuPanel menu={menu} cart={cart} setQuantity={setQuantity} />
        <CartPanel
          lines={lines}
          total={total}
          canOrder={canOrder}
          placing={placing}
          problem={problem}
          address={address}
          setAddress={setAddress}
          card={card}
          setCard={setCard}
          setQuantity={setQuantity}
          checkout={(e) => void checkout(e)}
        />
      </div>
    </>
  );
}

function MenuPanel({
  menu,
  cart,
  setQuantity,
}: {
  menu: Menu | undefined;
  cart: Record<string, number>;
  setQuantity: (menuId: string, quantity: number) => void;
}) {
  const t = useT();
  return (
    <section aria-labelledby="menu-title" class="panel">
      <div class="panel-head">
        <h2 id="menu-title">{t.menu}</h2>
        {menu?.asOf && <span class="muted small">{t.updated(t.time(menu.asOf))}</span>}
      </div>
      <ul class="menu-grid" role="list">
        {menu?.items.map((item) => (
          <MenuCard key={item.menuId} item={item} quantity={cart[item.menuId] ?? 0} setQuantity={(q) => setQuantity(item.menuId, q)} />
        ))}
      </ul>
    </section>
  );
}

/** A cart line: the item as the menu now has it (undefined when the menu no longer lists it). */
type CartLine = { menuId: string; quantity: number; item: MenuItem | undefined };

/** The cart, the delivery address, the card and Place order. */
function CartPanel(props: {
  lines: CartLine[];
  total: number;
  canOrder: boolean;
  placing: boolean;
  problem: string | undefined;
  address: string;
  setAddress: (address: string) => void;
  card: string;
  setCard: (card: string) => void;
  setQuantity: (menuId: string, quantity: number) => void;
  checkout: (e: Event) => void;
}) {
  const { lines, total, problem, setQuantity } = props;
  const t = useT();
  return (
    <section aria-labelledby="cart-title" class="panel cart">
      <h2 id="cart-title">{t.cart}</h2>
      {lines.length === 0 ? (
        <p class="empty">{t.cartEmpty}</p>
      ) : (
        <form onSubmit={props.checkout}>
          <ul class="cart-lines" role="list">
            {lines.map((l) => (
              <li key={l.menuId} class={!l.item || l.item.status !== 'ON_SALE' ? 'unavailable' : ''}>
                <span class="line-name">
                  {l.item?.name ?? l.menuId} × {l.quantity}
                  {(!l.item || l.item.status !== 'ON_SALE') && <span class="line-warning"> — {t.lineSoldOut}</span>}
                </span>
                <span class="num">{l.item ? t.money(l.item.price * l.quantity) : ''}</span>
                <button
                  type="button"
                  class="link-button small"
                  onClick={() => setQuantity(l.menuId, 0)}
                  aria-label={`${t.remove}: ${l.item?.name ?? l.menuId}`}
                >
                  {t.remove}
                </button>
              </li>
            ))}
          </ul>
          <p class="total-line">
            <span>{t.total}</span> <strong>{t.money(total)}</strong>
          </p>
          <label for="address">{t.deliveryAddress}</label>
          <input
            id="address"
            type="text"
            autocomplete="street-address"
            maxLength={500}
            value={props.address}
            onInput={(e) => props.setAddress((e.target as HTMLInputElement).value)}
          />
          <fieldset class="cards">
            <legend>{t.card}</legend>
            {SANDBOX_CARDS.map((c) => (
              <label key={c.token} class="radio">
                <input type="radio" name="card" value={c.token} checked={props.card === c.token} onChange={() => props.setCard(c.token)} />
                <span>
                  {t[c.label]} <code>{c.token}</code>
                </span>
              </label>
            ))}
          </fieldset>
          {problem && (
            <p class="notice error" role="alert">
              {problem}
            </p>
          )}
          <button type="submit" class="button primary block" disabled={!props.canOrder}>
            {props.placing ? t.placing : t.placeOrder(t.money(total))}
          </button>
        </form>
      )}
    </section>
  );
}

function MenuCard({ item, quantity, setQuantity }: { item: MenuItem; quantity: number; setQuantity: (q: number) => void }) {
  const t = useT();
  const onSale = item.status === 'ON_SALE';
  return (
    <li class={`menu-card${onSale ? '' : ' sold-out'}`} data-menu-id={item.menuId} data-status={item.status}>
      <span class="item-name">{item.name}</span>
      <span class="price">{t.money(item.price)}</span>
      {!onSale ? (
        <span class="badge status-sold_out">{t.itemStatus[item.status]}</span>
      ) : quantity === 0 ? (
        <button type="button" class="button secondary small" aria-label={t.addNamed(item.name)} onClick={() => setQuantity(1)}>
          {t.add}
        </button>
      ) : (
        <span class="stepper" role="group" aria-label={t.quantityOf(item.name, quantity)}>
          <button type="button" class="button secondary small" aria-label={t.decrease(item.name)} onClick={() => setQuantity(quantity - 1)}>
            −
          </button>
          <span class="qty" aria-hidden="true">
            {quantity}
          </span>
          <button
            type="button"
            class="button secondary small"
            aria-label={t.increase(item.name)}
            disabled={quantity >= MAX_QUANTITY}
            onClick={() => setQuantity(quantity + 1)}
          >
            +
          </button>
        </span>
      )}
    </li>
  );
}
