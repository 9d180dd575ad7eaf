// The orders placed from this browser, per customer (the API has no "my orders" list for
// customers; GET /orders/:id reads each one).

export interface RememberedOrder {
  orderId: string;
  restaurantId: string;
  restaurantName?: string | undefined;
  totalAmount: number;
  placedAt: string;
}

const MAX = 10;
const key = (sub: string) => `console.orders.${sub}`;

export function rememberedOrders(sub: string): RememberedOrder[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(key(sub)) ?? '[]') as unknown;
    return Array.isArray(parsed) ? (parsed as RememberedOrder[]).filter((o) => typeof o?.orderId === 'string') : [];
  } catch {
    return [];
  }
}

export function rememberOrder(sub: string, order: RememberedOrder): void {
  const rest = rememberedOrders(sub).filter((o) => o.orderId !== order.orderId);
  try {
    localStorage.setItem(key(sub), JSON.stringify([order, ...rest].slice(0, MAX)));
  } catch {
    // storage disabled: the order page still works from its URL
  }
}

export function findRemembered(sub: string, orderId: string): RememberedOrder | undefined {
  return rememberedOrders(sub).find((o) => o.orderId === orderId);
}
