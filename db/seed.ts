import type { RestaurantCategory } from '../lib/workflow-safe/domain';
import type { Db } from './knex';

const DISHES: Array<[string, number]> = [
  ['김치찌개', 9000],
  ['된장찌개', 8500],
  ['비빔밥', 10000],
  ['불고기', 15000],
  ['제육볶음', 11000],
  ['떡볶이', 6000],
  ['김밥', 4000],
  ['라면', 5000],
  ['냉면', 10000],
  ['삼계탕', 17000],
  ['짜장면', 7000],
  ['짬뽕', 8500],
  ['탕수육', 18000],
  ['양념치킨', 21000],
  ['후라이드치킨', 19000],
  ['순두부찌개', 9000],
  ['갈비탕', 14000],
  ['칼국수', 8000],
  ['만두', 6500],
  ['잡채', 12000],
];
const KINDS: Array<[string, RestaurantCategory]> = [
  ['분식', 'snack'],
  ['한식', 'korean'],
  ['중식', 'chinese'],
  ['치킨', 'chicken'],
  ['국밥', 'korean'],
  ['식당', 'korean'],
  ['밥집', 'korean'],
  ['포차', 'late_night'],
];
const PLACES = ['강남', '홍대', '신촌', '종로', '잠실', '성수', '이태원', '판교', '부산', '대구'];

export interface SeedOptions {
  restaurants?: number;
  itemsPerRestaurant?: number;
}

export function restaurantIdFor(n: number): string {
  return `rst_${String(n).padStart(4, '0')}`;
}

export function menuIdFor(restaurantNo: number, itemNo: number): string {
  return `mnu_${String(restaurantNo).padStart(4, '0')}_${String(itemNo).padStart(2, '0')}`;
}

/** Every third restaurant auto-accepts, so demos and benchmarks have both kinds. */
export function isAutoAccept(n: number): boolean {
  return n % 3 === 0;
}

/** Seeds the restaurants database. Idempotent: existing rows are left as they are. */
export async function seedRestaurants(db: Db, opts: SeedOptions = {}): Promise<{ restaurants: number; items: number }> {
  const restaurants = opts.restaurants ?? 50;
  const perRestaurant = opts.itemsPerRestaurant ?? 10;
  const restaurantRows: Array<Record<string, unknown>> = [];
  const itemRows: Array<Record<string, unknown>> = [];
  for (let r = 1; r <= restaurants; r++) {
    const [kind, category] = KINDS[r % KINDS.length]!;
    restaurantRows.push({
      restaurant_id: restaurantIdFor(r),
      name: `${PLACES[r % PLACES.length]} ${kind} ${r}호점`,
      auto_accept: isAutoAccept(r),
      category,
    });
    for (let i = 1; i <= perRestaurant; i++) {
      const [dish, price] = DISHES[(r + i) % DISHES.length]!;
      itemRows.push({
        menu_id: menuIdFor(r, i),
        restaurant_id: restaurantIdFor(r),
        name: dish,
        price: price + (r % 5) * 500,
        status: 'ON_SALE',
        version: 1,
      });
    }
  }
  await db.transaction(async (trx) => {
    for (let i = 0; i < restaurantRows.length; i += 500) {
      await trx('restaurants')
        .insert(restaurantRows.slice(i, i + 500))
        .onConflict('restaurant_id')
        .ignore();
    }
    for (let i = 0; i < itemRows.length; i += 1000) {
      await trx('menu_items')
        .insert(itemRows.slice(i, i + 1000))
        .onConflict('menu_id')
        .ignore();
    }
  });
  return { restaurants: restaurantRows.length, items: itemRows.length };
}
