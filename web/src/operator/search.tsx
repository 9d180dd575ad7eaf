// Find orders by id, customer or restaurant (GET /admin/orders?<field>=…), newest first, paged.
import { useState } from 'preact/hooks';
import { api } from '../lib/api';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { AdminOrder, AdminOrdersPage } from '../lib/types';
import { describeError } from '../lib/ui';
import { OrderRows } from './rows';

type Field = 'orderId' | 'customerId' | 'restaurantId';
const FIELDS: Field[] = ['orderId', 'customerId', 'restaurantId'];

export function Search(props: { session: Session; onSelect: (orderId: string) => void; selected: string | undefined }) {
  const t = useT();
  const [field, setField] = useState<Field>('orderId');
  const [value, setValue] = useState('');
  const [orders, setOrders] = useState<AdminOrder[]>();
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string>();

  async function load(cursor?: string) {
    const q = new URLSearchParams({ [field]: value.trim(), limit: '20', ...(cursor ? { cursor } : {}) });
    try {
      const page = await api<AdminOrdersPage>(`/admin/orders?${q}`, { token: props.session.token });
      setOrders((before) => (cursor ? [...(before ?? []), ...page.orders] : page.orders));
      setNext(page.nextCursor);
      setError(undefined);
      if (!cursor && field === 'orderId' && page.orders.length === 1) props.onSelect(page.orders[0]!.orderId);
    } catch (err) {
      setError(describeError(t, err));
    }
  }

  return (
    <section class="card" aria-labelledby="search-title">
      <h2 id="search-title">{t.searchHeading}</h2>
      <form
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) void load();
        }}
      >
        <label for="search-field">{t.searchBy}</label>
        <select id="search-field" value={field} onChange={(e) => setField((e.target as HTMLSelectElement).value as Field)}>
          {FIELDS.map((f) => (
            <option value={f} key={f}>
              {t.searchField[f]}
            </option>
          ))}
        </select>
        <label for="search-value" class="visually-hidden">
          {t.searchValue}
        </label>
        <input
          id="search-value"
          type="search"
          spellcheck={false}
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
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
      {orders && orders.length === 0 && <p class="empty">{t.noResults}</p>}
      {orders && orders.length > 0 && <OrderRows orders={orders} onSelect={props.onSelect} selected={props.selected} label="search-results" />}
      {next && (
        <button type="button" class="button secondary small" onClick={() => void load(next)}>
          {t.moreResults}
        </button>
      )}
    </section>
  );
}
