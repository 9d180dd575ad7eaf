import type { Db } from '../../db/knex';

type Row = Record<string, unknown>;
const byKey = (k: string) => (a: Row, b: Row) => String(a[k]).localeCompare(String(b[k]));

/** The menu as the source has it, shaped like the read model (item_count computed), sorted by key. */
export async function sourceModel(db: Db) {
  const items = (await db.raw('SELECT menu_id, restaurant_id, name, price::text AS price, status, version FROM menu_items')).rows as Row[];
  const restaurants = (
    await db.raw(
      `SELECT r.restaurant_id, r.name, r.auto_accept, r.category,
            (SELECT count(*) FROM menu_items m WHERE m.restaurant_id = r.restaurant_id AND m.status <> 'HIDDEN')::int AS item_count
       FROM restaurants r`,
    )
  ).rows as Row[];
  return { items: items.sort(byKey('menu_id')), restaurants: restaurants.sort(byKey('restaurant_id')) };
}

/** The read model's rows in the same shape: equal to sourceModel() once it has caught up. */
export async function readModel(db: Db) {
  const items = (await db.raw('SELECT menu_id, restaurant_id, name, price::text AS price, status, version FROM menu_items_read')).rows as Row[];
  const restaurants = (await db.raw('SELECT restaurant_id, name, auto_accept, category, item_count FROM restaurants_read')).rows as Row[];
  return { items: items.sort(byKey('menu_id')), restaurants: restaurants.sort(byKey('restaurant_id')) };
}

/**
 * Rows where restaurant_name_pieces differs from the pieces of the read model's names (every
 * 2-character piece of each lower-cased name, with its category): none once the table is in step.
 */
export async function namePiecesDrift(db: Db): Promise<Row[]> {
  const res = await db.raw(`
    (SELECT piece, restaurant_id, category FROM restaurant_name_pieces
     EXCEPT SELECT g, restaurant_id, category FROM restaurants_read, unnest(name_grams) AS g WHERE char_length(g) = 2)
    UNION ALL
    (SELECT g, restaurant_id, category FROM restaurants_read, unnest(name_grams) AS g WHERE char_length(g) = 2
     EXCEPT SELECT piece, restaurant_id, category FROM restaurant_name_pieces)`);
  return res.rows as Row[];
}
