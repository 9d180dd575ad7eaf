import { bulkSeedRestaurants } from '../db/bulk-seed';
import { menuIdFor, restaurantIdFor } from '../db/seed';
import { RESTAURANT_CATEGORIES } from '../lib/workflow-safe/domain';
import { createTestDatabases, type TestDatabases } from './support/databases';
import { startTestProjector, type TestProjector } from './support/projector';
import { untilPasses } from './support/retry';

// `npm run seed`'s generator at a small size: counts, realistic rows, the same rows for the same
// seed (and others for another), a re-run that adds nothing, and the projector's snapshot of it.
describe('bulk seed (npm run seed -- --restaurants N)', () => {
  let a: TestDatabases;
  let b: TestDatabases;
  let projector: TestProjector | undefined;
  const N = 2000;

  beforeAll(async () => {
    a = await createTestDatabases('bulkseed-a');
    b = await createTestDatabases('bulkseed-b');
  });
  afterAll(async () => {
    await projector?.stop();
    await a?.destroy();
    await b?.destroy();
  });

  /** Every restaurant and item, as one digest. */
  const digest = async (dbs: TestDatabases) =>
    (
      await dbs.restaurants.raw(`SELECT md5(string_agg(restaurant_id || name || auto_accept || category, ',' ORDER BY restaurant_id)) AS r,
                                        (SELECT md5(string_agg(menu_id || restaurant_id || name || price, ',' ORDER BY menu_id)) FROM menu_items) AS m
                                   FROM restaurants`)
    ).rows[0] as { r: string; m: string };

  it('inserts N restaurants with 10 items each, in batches with progress, and nothing on a second run', async () => {
    const progress: number[] = [];
    const first = await bulkSeedRestaurants(a.restaurants, { restaurants: N, seed: 7, batch: 500, onProgress: (p) => progress.push(p.restaurants) });
    expect(first).toEqual({ restaurants: N, items: N * 10 });
    expect(progress).toEqual([500, 1000, 1500, 2000]);
    expect(Number((await a.restaurants('restaurants').count('* as n').first())?.n)).toBe(N);
    expect(Number((await a.restaurants('menu_items').count('* as n').first())?.n)).toBe(N * 10);
    expect(await bulkSeedRestaurants(a.restaurants, { restaurants: N, seed: 7, batch: 500 })).toEqual({ restaurants: 0, items: 0 });
  });

  it('leaves the rows settled: their first read after a checkpoint writes no WAL (no hint bits, no freezing left for later)', async () => {
    // With data checksums, setting a page's hint bits after a checkpoint writes the whole page to the
    // WAL; at full size, readers (a projector's snapshot) and autovacuum wrote 1.3 GB that way after
    // the replication slots existed. The seed's VACUUM (FREEZE, ANALYZE) does it before.
    const c = await createTestDatabases('bulkseed-c');
    try {
      await bulkSeedRestaurants(c.restaurants, { restaurants: N, seed: 7 });
      await c.restaurants.raw('CHECKPOINT');
      const lsn = async () => ((await c.restaurants.raw('SELECT pg_current_wal_lsn()::text AS l')).rows[0] as { l: string }).l;
      const before = await lsn();
      const { n } = (await c.restaurants.raw('SELECT count(*)::int AS n FROM menu_items WHERE price >= 0')).rows[0] as { n: number };
      const wal = Number((await c.restaurants.raw('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn)::bigint AS b', [before])).rows[0].b);
      expect(n).toBe(N * 10);
      expect(wal).toBeLessThan(64 * 1024);
      const stats = (await c.restaurants.raw("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'menu_items'")).rows[0] as {
        last_vacuum: Date | null;
        last_analyze: Date | null;
      };
      expect(stats.last_vacuum).not.toBeNull();
      expect(stats.last_analyze).not.toBeNull();
    } finally {
      await c.destroy();
    }
  });

  it('makes Korean names, every category, distinct dishes per restaurant and plausible prices', async () => {
    const r = await a.restaurants('restaurants').where({ restaurant_id: 'rst_0042' }).first();
    expect(r.name).toMatch(/^\S+ \S+ \S+점$/);
    expect(r.name).toMatch(/[가-힣]/);
    const categories = (await a.restaurants('restaurants').distinct('category')).map((c: { category: string }) => c.category).sort();
    expect(categories).toEqual([...RESTAURANT_CATEGORIES].sort());
    const dup = await a.restaurants.raw('SELECT restaurant_id FROM menu_items GROUP BY restaurant_id HAVING count(DISTINCT name) <> count(*) LIMIT 1');
    expect(dup.rows).toEqual([]);
    const prices = (await a.restaurants.raw('SELECT min(price)::int AS lo, max(price)::int AS hi FROM menu_items')).rows[0];
    expect(prices.lo).toBeGreaterThanOrEqual(1000);
    expect(prices.hi).toBeLessThanOrEqual(40000);
    expect(Number((await a.restaurants('restaurants').where({ auto_accept: true }).count('* as n').first())?.n)).toBe(Math.floor(N / 3));
  });

  it('is deterministic for a seed: the same rows in another database; another seed gives other rows', async () => {
    await bulkSeedRestaurants(b.restaurants, { restaurants: N, seed: 7 });
    expect(await digest(b)).toEqual(await digest(a));
    await b.restaurants('menu_items').delete();
    await b.restaurants('restaurants').delete();
    await bulkSeedRestaurants(b.restaurants, { restaurants: N, seed: 8 });
    const other = await digest(b);
    const same = await digest(a);
    expect(other.r).not.toBe(same.r);
    expect(other.m).not.toBe(same.m);
  });

  it("the projector's snapshot brings all of it to the read model", async () => {
    projector = await startTestProjector(a, 'bulkseed');
    await projector.waitForCatchUp();
    expect(Number((await a.menuRead('restaurants_read').count('* as n').first())?.n)).toBe(N);
    expect(Number((await a.menuRead('menu_items_read').count('* as n').first())?.n)).toBe(N * 10);
    const chicken = await a.menuRead('restaurants_read').where({ category: 'chicken' }).count('* as n').first();
    expect(chicken).toEqual(await a.restaurants('restaurants').where({ category: 'chicken' }).count('* as n').first());
  });

  it('leaves room on each page: menu changes after the seed and their projection stay on their pages (HOT), writing no index entries', async () => {
    // The seed's pages are frozen full; a change of price or status (no indexed column) could then
    // only move its row to another page and write both indexes, on the source and in the read model.
    const items = Array.from({ length: 300 }, (_, i) => menuIdFor(1 + ((i * 7) % N), 1 + (i % 10)));
    const hotUpdates = async (db: TestDatabases['restaurants'], table: string) => {
      const row = (await db.raw('SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = ?', [table])).rows[0];
      return row as { upd: number; hot: number };
    };
    const [source0, read0] = [await hotUpdates(a.restaurants, 'menu_items'), await hotUpdates(a.menuRead, 'menu_items_read')];
    for (const id of items)
      await a
        .restaurants('menu_items')
        .where({ menu_id: id })
        .update({ price: a.restaurants.raw('price + 10'), version: a.restaurants.raw('version + 1') });
    await projector!.waitForCatchUp();
    await untilPasses(
      async () => {
        const [source, read] = [await hotUpdates(a.restaurants, 'menu_items'), await hotUpdates(a.menuRead, 'menu_items_read')];
        expect(source.upd - source0.upd).toBe(items.length);
        expect(source.hot - source0.hot).toBeGreaterThanOrEqual(items.length * 0.95);
        expect(read.upd - read0.upd).toBe(items.length);
        expect(read.hot - read0.hot).toBeGreaterThanOrEqual(items.length * 0.95);
      },
      10_000,
      200,
    );
  });

  it('names restaurants past 9,999 as db/seed.ts does (rst_10000, mnu_10000_01), without collisions', async () => {
    expect(await bulkSeedRestaurants(b.restaurants, { from: 9998, restaurants: 4, itemsPerRestaurant: 2 })).toEqual({ restaurants: 4, items: 8 });
    for (const n of [9998, 9999, 10000, 10001]) {
      expect(
        await b
          .restaurants('restaurants')
          .where({ restaurant_id: restaurantIdFor(n) })
          .first(),
      ).toBeDefined();
      expect(
        await b
          .restaurants('menu_items')
          .where({ menu_id: menuIdFor(n, 2), restaurant_id: restaurantIdFor(n) })
          .first(),
      ).toBeDefined();
    }
  });

  it('refuses sizes it cannot name', async () => {
    await expect(bulkSeedRestaurants(a.restaurants, { restaurants: -1 })).rejects.toThrow(/restaurants/);
    await expect(bulkSeedRestaurants(a.restaurants, { restaurants: 1, itemsPerRestaurant: 100 })).rejects.toThrow(/items/);
    await expect(bulkSeedRestaurants(a.restaurants, { restaurants: 1, from: 0 })).rejects.toThrow(/from/);
  });
});
