import type { Db } from '../../db/knex';
import type { OrderLine, OrderSagaInput } from '../../lib/workflow-safe/domain';

// What the peers order: the seeded auto-accepting restaurants' items at their current prices (what
// the API would have priced), one or two lines, as bench/lib/orders.ts varies them.

export interface MenuItem {
  restaurantId: string;
  menuId: string;
  name: string;
  price: number;
  version: number;
}

export async function autoAcceptMenus(restaurants: Db, maxRestaurants = 200): Promise<MenuItem[][]> {
  const rows = await restaurants('menu_items as m')
    .join('restaurants as r', 'r.restaurant_id', 'm.restaurant_id')
    .where('r.auto_accept', true)
    .andWhere('m.status', 'ON_SALE')
    .whereIn('m.restaurant_id', restaurants('restaurants').select('restaurant_id').where('auto_accept', true).orderBy('restaurant_id').limit(maxRestaurants))
    .select('m.restaurant_id', 'm.menu_id', 'm.name', 'm.price', 'm.version');
  const byRestaurant = new Map<string, MenuItem[]>();
  for (const r of rows as Array<{ restaurant_id: string; menu_id: string; name: string; price: string | number; version: number }>) {
    const list = byRestaurant.get(r.restaurant_id) ?? [];
    list.push({ restaurantId: r.restaurant_id, menuId: r.menu_id, name: r.name, price: Number(r.price), version: r.version });
    byRestaurant.set(r.restaurant_id, list);
  }
  const menus = [...byRestaurant.values()].filter((m) => m.length >= 2);
  if (menus.length === 0) throw new Error('no auto-accepting restaurant with two items on sale');
  return menus;
}

/** The saga input of order number `n`, id `orderId`. */
export function orderInput(menus: MenuItem[][], n: number, orderId: string): OrderSagaInput {
  const menu = menus[n % menus.length]!;
  const line = (item: MenuItem, quantity: number): OrderLine => ({
    menuId: item.menuId,
    name: item.name,
    unitPrice: item.price,
    quantity,
    menuVersion: item.version,
  });
  const items = [line(menu[n % menu.length]!, 1 + (n % 3))];
  if (n % 2 === 0) items.push(line(menu[(n + 1) % menu.length]!, 1));
  return {
    orderId,
    customerId: `bench-customer-${n % 50}`,
    restaurantId: menu[0]!.restaurantId,
    items,
    totalAmount: items.reduce((s, l) => s + l.unitPrice * l.quantity, 0),
    deliveryAddress: `서울시 강남구 테헤란로 ${n}`,
    cardToken: 'tok_ok',
  };
}
