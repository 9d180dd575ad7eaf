import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../../db/knex';
import type { MenuItemStatus, RestaurantCategory } from '../../lib/workflow-safe/domain';
import type { Principal } from '../../lib/node/auth';
import { Conflict, NotFound, Unprocessable } from './errors';
import type { MenuCache } from './menu-cache';

export interface MenuServiceDeps {
  /** Commands write the source of truth... */
  restaurantsDb: Db;
  /** ...queries read only the read model that CDC keeps up to date. */
  menuReadDb: Db;
  /** Serialized menus, dropped when the projector announces a change (none: every read queries). */
  menuCache?: MenuCache;
}

/** A restaurant's menu from the read model, items in menu_id order, with the read model's position. */
const MENU_QUERY = `
  SELECT r.name,
         (SELECT max(last_commit_time) FROM projector_state) AS as_of,
         COALESCE((SELECT json_agg(json_build_object('menuId', m.menu_id, 'name', m.name, 'price', m.price, 'status', m.status, 'version', m.version) ORDER BY m.menu_id)
                     FROM menu_items_read m
                    WHERE m.restaurant_id = r.restaurant_id AND ($1::boolean OR m.status <> 'HIDDEN')), '[]'::json) AS items
    FROM restaurants_read r
   WHERE r.restaurant_id = $2`;

/** How many restaurants, in id order, a name search checks one by one before it asks the index. */
const SEARCH_WINDOW = 5000;

/** How long the name pieces' frequencies (pg_stats, refreshed by ANALYZE) are kept before they are read again. */
const PIECE_STATS_TTL_MS = 10 * 60_000;

/**
 * The query's pieces as query_grams() (read-model migration 0002) makes them, with their places in the
 * query, or undefined when lower() here might differ from Postgres's: only printable ASCII and caseless scripts
 * (Hangul, digits, ...) are taken, so a piece computed here is always one the index holds.
 */
export function queryPieces(q: string): Array<{ piece: string; at: number }> | undefined {
  if (!/^[\x20-\x7E\p{Script=Hangul}\p{Script=Han}\p{N}\p{Zs}\p{P}]*$/u.test(q)) return undefined;
  const chars = Array.from(q.toLowerCase());
  if (chars.length === 1) return [{ piece: chars[0]!, at: 0 }];
  const seen = new Set<string>();
  const pieces: Array<{ piece: string; at: number }> = [];
  for (let i = 0; i + 1 < chars.length; i++) {
    const piece = chars[i]! + chars[i + 1]!;
    if (!seen.has(piece)) pieces.push({ piece, at: i });
    seen.add(piece);
  }
  return pieces;
}

/**
 * The SQL that confirms a name holds `q`. lower() over every candidate's name is most of a search's
 * cost in Postgres (about 0.5 µs a row for Korean names), and it changes nothing when q has no
 * letter that has a case: Hangul, Han, digits, spaces and punctuation. Lower-casing never turns a
 * letter into one of those, so there `strpos(name, q)` gives the same answer.
 */
export function nameHolds(q: string, column = 'name'): { sql: string; bindings: string[] } {
  return /^[\p{Script=Hangul}\p{Script=Han}\p{Nd}\p{Zs}\p{P}]*$/u.test(q)
    ? { sql: `strpos(${column}, ?) > 0`, bindings: [q] }
    : { sql: `strpos(lower(${column}), lower(?)) > 0`, bindings: [q] };
}

/**
 * The pieces the index is asked for: the rarest piece, and the rarest one that does not overlap it in
 * the query. Every other piece costs a read of its whole posting list (치킨 is in a fifth of all names)
 * for little: pieces that overlap go together (교촌 and 촌치), and strpos confirms every candidate anyway,
 * so asking for fewer pieces never changes the answer, only how many rows are checked. A piece
 * missing from the statistics is rarer than every piece in them.
 */
export function rarestPieces(pieces: Array<{ piece: string; at: number }>, frequency: ReadonlyMap<string, number>): string[] {
  const byRarity = [...pieces].sort((a, b) => (frequency.get(a.piece) ?? 0) - (frequency.get(b.piece) ?? 0) || a.at - b.at);
  const first = byRarity[0];
  if (!first) return [];
  const second = byRarity.find((p) => Math.abs(p.at - first.at) >= 2);
  return second ? [first.piece, second.piece] : [first.piece];
}

/** One page of `limit` restaurants from `limit + 1` rows; the extra one says whether another page follows. */
function pageOf(rows: Array<{ restaurant_id: string; name: string; auto_accept: boolean; category: string }>, limit: number) {
  const page = rows.slice(0, limit);
  return {
    restaurants: page.map((r) => ({ restaurantId: r.restaurant_id, name: r.name, autoAccept: r.auto_accept, category: r.category as RestaurantCategory })),
    nextCursor: rows.length > limit ? page[page.length - 1]!.restaurant_id : null,
  };
}

export function createMenuService({ restaurantsDb, menuReadDb, menuCache }: MenuServiceDeps) {
  let pieceStats: { at: number; frequency: Promise<Map<string, number>> } | undefined;
  /** The planner's statistics on name_grams: its most common elements and their frequencies. */
  function readPieceFrequencies(): Promise<Map<string, number>> {
    return menuReadDb
      .raw(
        `SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs
           FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'restaurants_read' AND attname = 'name_grams'`,
      )
      .then((r: { rows: Array<{ elems: string[] | null; freqs: number[] | null }> }) => {
        const { elems, freqs } = r.rows[0] ?? { elems: null, freqs: null };
        return new Map((elems ?? []).map((e, i) => [e, freqs?.[i] ?? 0]));
      });
  }
  /**
   * How often each name piece occurs (ANALYZE keeps the statistics current). Empty before the first
   * ANALYZE, or when they cannot be read: then every piece is asked for. Only the first search of a
   * process waits for them (80 ms at 572,550 restaurants, BENCHMARKS.md): when they are old, searches
   * go on with the ones in hand while a fresh read replaces them (a failed one keeps them).
   */
  function pieceFrequencies(): Promise<Map<string, number>> {
    if (!pieceStats) {
      pieceStats = { at: Date.now(), frequency: readPieceFrequencies().catch(() => new Map<string, number>()) };
    } else if (Date.now() - pieceStats.at > PIECE_STATS_TTL_MS) {
      pieceStats.at = Date.now();
      readPieceFrequencies().then(
        (fresh) => (pieceStats = { at: Date.now(), frequency: Promise.resolve(fresh) }),
        () => undefined,
      );
    }
    return pieceStats.frequency;
  }

  /** A restaurant's menu from the read model, serialized (what the cache keeps). */
  async function loadMenuBody(restaurantId: string, seesHidden: boolean): Promise<string> {
    // The hottest read of the system: one statement, one round trip (restaurant, items, read-model
    // position) instead of three; measured by `npm run bench` (BENCHMARKS.md, menu reads).
    // A named (prepared) statement: parsed and planned once per connection.
    const conn = await menuReadDb.client.acquireConnection();
    let rows: unknown[];
    try {
      rows = (await conn.query({ name: 'menu_read_v1', text: MENU_QUERY, values: [seesHidden, restaurantId] })).rows;
    } finally {
      await menuReadDb.client.releaseConnection(conn);
    }
    const row = rows[0] as
      { name: string; items: Array<{ menuId: string; name: string; price: number; status: string; version: number }>; as_of: Date | null } | undefined;
    if (!row) throw new NotFound('Restaurant');
    return JSON.stringify({
      restaurantId,
      name: row.name,
      items: row.items.map((i) => ({ menuId: i.menuId, name: i.name, price: Number(i.price), status: i.status, version: i.version })),
      // The read model's position when this menu was read. A cached menu keeps the position it was
      // read at: no change to it has arrived since, so it is at least that fresh.
      asOf: row.as_of ? new Date(row.as_of).toISOString() : null,
    });
  }

  return {
    /**
     * Restaurants in restaurant_id order, keyset-paged on that id (it never changes, so a page never
     * repeats or skips a restaurant that existed throughout, whatever is added or renamed meanwhile).
     * `q` matches anywhere in the name, case-insensitively: the name pieces in id order (read-model
     * migrations 0005, 0006) or, for one character, the GIN index (0002) find the candidates, strpos
     * confirms them.
     */
    async listRestaurants(q: { limit: number; cursor?: string; q?: string; category?: RestaurantCategory }) {
      const filtered = (from: Knex.QueryBuilder) => {
        let query = from;
        if (q.cursor) query = query.where('restaurant_id', '>', q.cursor);
        if (q.category) query = query.where('category', q.category);
        return query;
      };
      const columns = ['restaurant_id', 'name', 'auto_accept', 'category'];
      let rows: Array<{ restaurant_id: string; name: string; auto_accept: boolean; category: string }> = [];
      const pieces = q.q ? queryPieces(q.q) : undefined;
      if (q.q && pieces && pieces[0]!.piece.length === 2) {
        // Two characters or more: walk the rarest piece's restaurants in id order from the cursor
        // (read-model migration 0005), keep those that also have the rarest piece not overlapping it,
        // confirm each with strpos, and stop once the page is full. A later page costs what the first does.
        const [walked, probed] = rarestPieces(pieces, pieces.length > 1 ? await pieceFrequencies() : new Map());
        const holds = nameHolds(q.q, 'r.name');
        let query = menuReadDb({ p: 'restaurant_name_pieces' })
          .join({ r: 'restaurants_read' }, 'r.restaurant_id', 'p.restaurant_id')
          .select(columns.map((c) => `r.${c}`))
          .where('p.piece', walked!);
        if (probed) {
          query = query.whereExists((sub) => {
            sub
              .select(menuReadDb.raw('1'))
              .from({ o: 'restaurant_name_pieces' })
              .where('o.piece', probed)
              .where('o.restaurant_id', menuReadDb.ref('p.restaurant_id'));
            // Said again here so a merge join starts this list at the cursor too, not at its beginning.
            if (q.cursor) sub.where('o.restaurant_id', '>', q.cursor);
          });
        }
        if (q.cursor) query = query.where('p.restaurant_id', '>', q.cursor);
        // On the piece's row: the walk is then the (piece, category) list alone (migration 0006).
        if (q.category) query = query.where('p.category', q.category);
        rows = await query
          .whereRaw(holds.sql, holds.bindings)
          .orderBy('p.restaurant_id')
          .limit(q.limit + 1);
        return pageOf(rows, q.limit);
      }
      if (q.q) {
        // One character, or a script whose lower() may differ from Postgres's: the next SEARCH_WINDOW
        // restaurants in id order, checked one by one. Enough matches there fill the page; otherwise
        // the GIN index answers below. The check is strpos alone (q matched literally, no wildcards
        // to escape, unlike LIKE).
        const window = filtered(menuReadDb('restaurants_read').select(columns)).orderBy('restaurant_id').limit(SEARCH_WINDOW).as('w');
        const holds = nameHolds(q.q);
        rows = await menuReadDb
          .select(columns)
          .from(window)
          .whereRaw(holds.sql, holds.bindings)
          .orderBy('restaurant_id')
          .limit(q.limit + 1);
      }
      if (rows.length <= q.limit && q.q) {
        // Rare matches: every match after the cursor, found by the GIN index on the name's pieces and
        // confirmed by strpos, then sorted. MATERIALIZED keeps the planner from walking the primary
        // key instead, hoping for early matches that a rare query does not have.
        let candidates = filtered(menuReadDb('restaurants_read').select(columns)).whereRaw('name_grams @> query_grams(?)', [q.q]);
        const holds = nameHolds(q.q);
        candidates = candidates.whereRaw(holds.sql, holds.bindings);
        rows = await menuReadDb
          .withMaterialized('m', candidates)
          .select(columns)
          .from('m')
          .orderBy('restaurant_id')
          .limit(q.limit + 1);
      } else if (rows.length <= q.limit) {
        rows = await filtered(menuReadDb('restaurants_read').select(columns))
          .orderBy('restaurant_id')
          .limit(q.limit + 1);
      }
      return pageOf(rows, q.limit);
    },

    /**
     * The menu as a JSON body. Hidden items are shown only to the restaurant itself and to admins;
     * both variants are cached separately.
     */
    async getMenuBody(restaurantId: string, principal: Principal | undefined): Promise<string> {
      const seesHidden = principal?.role === 'admin' || (principal?.role === 'restaurant' && principal.restaurantId === restaurantId);
      const load = () => loadMenuBody(restaurantId, seesHidden);
      return menuCache ? menuCache.get(restaurantId, seesHidden ? 'full' : 'public', load) : load();
    },

    /**
     * With an Idempotency-Key the item's id is derived from it, so a retried create returns the
     * item it made the first time instead of making a second one.
     */
    async createMenuItem(restaurantId: string, body: { name: string; price: number; status?: MenuItemStatus }, idempotencyKey?: string) {
      const restaurant = await restaurantsDb('restaurants').where({ restaurant_id: restaurantId }).first();
      if (!restaurant) throw new NotFound('Restaurant');
      const menuId = idempotencyKey
        ? `mnu_${createHash('sha256').update(`${restaurantId}\n${idempotencyKey}`).digest('hex').slice(0, 24)}`
        : `mnu_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
      const status = body.status ?? 'ON_SALE';
      const inserted = await restaurantsDb('menu_items')
        .insert({ menu_id: menuId, restaurant_id: restaurantId, name: body.name, price: body.price, status, version: 1 })
        .onConflict('menu_id')
        .ignore()
        .returning(['menu_id', 'version']);
      if (inserted.length > 0) return { created: true, item: { menuId, version: inserted[0].version as number } };
      const existing = await restaurantsDb('menu_items').where({ menu_id: menuId }).first();
      if (!existing || existing.restaurant_id !== restaurantId || existing.name !== body.name || Number(existing.price) !== body.price) {
        throw new Unprocessable('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request body');
      }
      return { created: false, item: { menuId, version: existing.version as number } };
    },

    /** Optimistic locking: the change applies only to the version the caller read. */
    async updateMenuItem(restaurantId: string, menuId: string, expectedVersion: number, patch: { name?: string; price?: number; status?: MenuItemStatus }) {
      const updated = await restaurantsDb('menu_items')
        .where({ menu_id: menuId, restaurant_id: restaurantId, version: expectedVersion })
        .update({ ...patch, version: restaurantsDb.raw('version + 1'), updated_at: restaurantsDb.fn.now() })
        .returning(['menu_id', 'version']);
      if (updated.length > 0) return { menuId, version: updated[0].version as number };
      const current = await restaurantsDb('menu_items').where({ menu_id: menuId, restaurant_id: restaurantId }).first();
      if (!current) throw new NotFound('Menu item');
      // A retried PATCH whose first attempt applied also lands here: it changes nothing a second
      // time, and the 409's details show the item as it now stands.
      throw new Conflict('VERSION_CONFLICT', 'The menu item changed since you read it', {
        currentVersion: current.version,
        current: { menuId, name: current.name, price: Number(current.price), status: current.status, version: current.version },
      });
    },
  };
}

export type MenuService = ReturnType<typeof createMenuService>;
