// A list of orders the operator can pick one from: status, amount and, on the attention list, why.
import { useT } from '../lib/i18n';
import type { AdminOrder } from '../lib/types';
import { shortId } from '../lib/ui';

export function OrderRows(props: { orders: AdminOrder[]; onSelect: (orderId: string) => void; selected: string | undefined; label: string }) {
  const t = useT();
  return (
    <ul class="plain-list desk-orders" data-list={props.label}>
      {props.orders.map((o) => (
        <li key={o.orderId} data-order-id={o.orderId} class={o.orderId === props.selected ? 'selected' : undefined}>
          <button type="button" class="link-button" aria-current={o.orderId === props.selected ? 'true' : undefined} onClick={() => props.onSelect(o.orderId)}>
            {shortId(o.orderId)}
          </button>{' '}
          <span class={`badge status-${o.status.toLowerCase()}`}>{t.orderStatus[o.status]}</span> <span class="muted">{t.money(o.totalAmount)}</span>
          {o.findings?.map((f, i) => (
            <p class="finding" key={i} data-finding={f.kind}>
              <strong>{t.findingKind[f.kind] ?? f.kind}</strong> · <span class="stage">{f.stage}</span>
              <br />
              <span class="muted">{f.detail}</span>
            </p>
          ))}
        </li>
      ))}
    </ul>
  );
}
