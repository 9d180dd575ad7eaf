import { createMenuService, nameHolds, queryPieces, rarestPieces } from '../api/services/menus';
import { restaurantIdFor } from '../db/seed';
import { eventually, http, startStack, type TestStack } from './support/stack';
import { namePiecesDrift } from './support/read-model';

// GET /restaurants?q=&category=: name search (Korean substrings and prefixes), category filter and
// keyset pages that neither repeat nor skip while restaurants are added and renamed, all from the
// read model (the rows below are written to the source and reach the read model through CDC).
describe('finding a restaurant: GET /restaurants with q and category', () => {
  let stack: TestStack;

  interface Listed {
    restaurantId: string;
    name: string;
    autoAccept: boolean;
    category: string;
  }

  const PLACES: Array<[string, string, string]> = [
    ['rst_s01', '교촌치킨 강남점', 'chicken'],
    ['rst_s02', '치킨매니아 홍대점', 'chicken'],
    ['rst_s03', 'BHC치킨 신촌점', 'chicken'],
    ['rst_s04', '맘스터치 치킨버거', 'burger'],
    ['rst_s05', '홍콩반점 강남점', 'chinese'],
    ['rst_s06', '100%_할인\\포차', 'late_night'],
    ['rst_s07', '100원 포차', 'late_night'],
  ];

  beforeAll(async () => {
    stack = await startStack('search', { workers: false });
    await stack.dbs.restaurants('restaurants').insert(PLACES.map(([restaurant_id, name, category]) => ({ restaurant_id, name, category })));
    await eventually(async () => (await stack.dbs.menuRead('restaurants_read').whereIn('restaurant_id', ['rst_s07']).first()) as unknown);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const list = async (query: string) => {
    const res = await http(stack.baseUrl, 'GET', `/restaurants${query}`);
    expect(res.status).toBe(200);
    return res.body as { restaurants: Listed[]; nextCursor: string | null };
  };
  const ids = (page: { restaurants: Listed[] }) => page.restaurants.map((r) => r.restaurantId);
  const search = (q: string, extra = '') => list(`?q=${encodeURIComponent(q)}${extra}`);

  it('a two-syllable Korean word is found inside names, at their start and in the middle', async () => {
    // (rst_0003 is the seed's "종로 치킨 3호점".)
    expect(ids(await search('치킨'))).toEqual(['rst_0003', 'rst_s01', 'rst_s02', 'rst_s03', 'rst_s04']);
    // Prefix and longer substrings.
    expect(ids(await search('교촌'))).toEqual(['rst_s01']);
    expect(ids(await search('교촌치킨 강남'))).toEqual(['rst_s01']);
    expect(ids(await search('강남점'))).toEqual(['rst_s01', 'rst_s05']);
    // One character, and Latin text case-insensitively.
    expect(ids(await search('홍'))).toEqual(['rst_0001', 'rst_s02', 'rst_s05']);
    expect(ids(await search('bhc'))).toEqual(['rst_s03']);
    // Pieces that are all in a name but not next to each other are not a match.
    expect(ids(await search('치킨강남'))).toEqual([]);
    expect(ids(await search('피자'))).toEqual([]);
  });

  it('LIKE wildcards in q are matched literally', async () => {
    expect(ids(await search('%'))).toEqual(['rst_s06']);
    expect(ids(await search('0%_'))).toEqual(['rst_s06']);
    expect(ids(await search('\\'))).toEqual(['rst_s06']);
    expect(ids(await search('_'))).toEqual(['rst_s06']);
    expect(ids(await search('100'))).toEqual(['rst_s06', 'rst_s07']);
  });

  it('category filters, alone and with q; the page shows each restaurant category', async () => {
    const chicken = await list('?category=chicken&limit=200');
    expect(chicken.restaurants.every((r) => r.category === 'chicken')).toBe(true);
    // rst_0003 reached the read model by the projector's snapshot, the others by the change stream.
    expect(ids(chicken)).toEqual(expect.arrayContaining(['rst_0003', 'rst_s01', 'rst_s02', 'rst_s03']));
    expect(ids(chicken)).not.toContain('rst_s04');
    expect(ids(await search('치킨', '&category=burger'))).toEqual(['rst_s04']);
    expect(ids(await search('강남', '&category=chinese'))).toEqual(['rst_s05']);
    // A change of category in the source reaches the read model.
    await stack.dbs.restaurants('restaurants').where({ restaurant_id: 'rst_s07' }).update({ category: 'cafe' });
    expect(await eventually(async () => ids(await list('?category=cafe')).join() === 'rst_s07')).toBe(true);
    expect(ids(await search('포차', '&category=late_night'))).toEqual(['rst_s06']);
  });

  it('the old form (no q, no category) lists every restaurant in id order, as before', async () => {
    const page = await list('');
    const expected = [...Array.from({ length: 6 }, (_, i) => restaurantIdFor(i + 1)), ...PLACES.map(([id]) => id)].sort();
    expect(ids(page)).toEqual(expected);
    expect(page.nextCursor).toBeNull();
    const first = await list('?limit=2');
    expect(ids(first)).toEqual(expected.slice(0, 2));
    expect(first.nextCursor).toBe(expected[1]);
  });

  it('pages follow each other with no repeat and no gap while restaurants are added and renamed between pages', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({
      restaurant_id: `rst_p${String(i * 2).padStart(3, '0')}`,
      name: `페이지치킨 ${i}호점`,
      category: 'chicken',
    }));
    await stack.dbs.restaurants('restaurants').insert(many);
    await eventually(async () => (await search('페이지치킨', '&limit=200')).restaurants.length === 30);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { restaurants: Listed[]; nextCursor: string | null } = await search(
        '페이지치킨',
        `&category=chicken&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...ids(page));
      cursor = page.nextCursor;
      pages++;
      // Between pages: a new restaurant before the cursor, one after it, and a rename of one not yet listed.
      const before = `rst_p${String(pages * 2 - 1).padStart(3, '0')}a`;
      const after = `rst_p${String(59 - pages * 2).padStart(3, '0')}b`;
      await stack.dbs.restaurants('restaurants').insert([
        { restaurant_id: before, name: `페이지치킨 새 ${pages}`, category: 'chicken' },
        { restaurant_id: after, name: `페이지치킨 뒤 ${pages}`, category: 'chicken' },
      ]);
      await stack.dbs
        .restaurants('restaurants')
        .where({ restaurant_id: 'rst_p058' })
        .update({ name: `페이지치킨 바뀜 ${pages}` });
      await eventually(async () => ((await stack.dbs.menuRead('restaurants_read').where({ restaurant_id: after }).first()) as unknown) ?? false);
    } while (cursor && pages < 50);
    // Every original restaurant exactly once, in order; nothing repeated.
    expect(new Set(seen).size).toBe(seen.length);
    for (const r of many) expect(seen).toContain(r.restaurant_id);
    expect([...seen].sort()).toEqual(seen);
    // The renamed one is listed with its latest name (it was not yet reached when renamed).
    const renamed = (await search('페이지치킨 바뀜')).restaurants;
    expect(ids({ restaurants: renamed })).toEqual(['rst_p058']);
  });

  it("the name pieces a search walks are exactly the read model's, after the snapshot, the stream's inserts, renames and new categories, and a delete", async () => {
    await stack.dbs.restaurants('restaurants').insert({ restaurant_id: 'rst_pgone', name: '곧닫는치킨', category: 'chicken' });
    await eventually(async () => (await search('곧닫는')).restaurants.length === 1);
    await stack.dbs.restaurants('restaurants').where({ restaurant_id: 'rst_pgone' }).delete();
    await eventually(async () => (await search('곧닫는')).restaurants.length === 0);
    expect(await namePiecesDrift(stack.dbs.menuRead)).toEqual([]);
    // rst_0003 came by the snapshot, rst_p058 was renamed by the stream.
    const held = await stack.dbs.menuRead('restaurant_name_pieces').whereIn('restaurant_id', ['rst_0003', 'rst_p058', 'rst_pgone']).distinct('restaurant_id');
    expect(held.map((r: { restaurant_id: string }) => r.restaurant_id).sort()).toEqual(['rst_0003', 'rst_p058']);
  });

  it('bad q, category and cursor are 400 in the documented error shape', async () => {
    for (const query of [
      '?q=',
      '?q=%20%20',
      `?q=${'가'.repeat(51)}`,
      '?q=a%00b',
      '?category=sushi',
      '?category=',
      '?cursor=bad%20cursor',
      "?cursor=x'--",
      '?q=a&q=b',
      '?sort=name',
    ]) {
      const res = await http(stack.baseUrl, 'GET', `/restaurants${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(typeof res.body.error.message).toBe('string');
    }
  });

  it('with the name statistics in place (ANALYZE) a search walks the rarest pieces only, and every answer and page stays the same', async () => {
    const queries = ['치킨', '교촌', '교촌치킨 강남', '강남점', '홍', 'bhc', 'BHC치킨 신촌', '치킨강남', '피자', '%', '100%_할인', '페이지치킨', '바뀜'];
    const before = new Map<string, string[]>();
    for (const q of queries) before.set(q, ids(await search(q, '&limit=200')));
    await stack.dbs.menuRead.raw('ANALYZE restaurants_read, restaurant_name_pieces');
    const stats = await stack.dbs.menuRead.raw(
      "SELECT most_common_elems IS NOT NULL AS present FROM pg_stats WHERE tablename = 'restaurants_read' AND attname = 'name_grams'",
    );
    expect(stats.rows).toEqual([{ present: true }]);
    // A service of its own: it reads the statistics ANALYZE has just written.
    const menus = createMenuService({ restaurantsDb: stack.dbs.restaurants, menuReadDb: stack.dbs.menuRead });
    for (const q of queries) {
      const all = await menus.listRestaurants({ limit: 200, q });
      expect({ q, ids: all.restaurants.map((r) => r.restaurantId) }).toEqual({ q, ids: before.get(q) });
      const paged: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await menus.listRestaurants({ limit: 2, q, cursor });
        paged.push(...page.restaurants.map((r) => r.restaurantId));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect({ q, paged }).toEqual({ q, paged: before.get(q) });
    }
  });

  it('reads the name statistics once; when they are old a search goes on with them while fresh ones are read', async () => {
    // The read of pg_stats is held at a gate, so a search that waited for it would not finish.
    let statsReads = 0;
    let openGate: () => void = () => undefined;
    let gate: Promise<void> = Promise.resolve();
    const db = stack.dbs.menuRead;
    const gatedDb = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'raw') return Reflect.get(target, prop, receiver);
        return (sql: string, bindings?: unknown) => {
          if (!sql.includes('pg_stats')) return target.raw(sql, bindings as never);
          statsReads += 1;
          return gate.then(() => target.raw(sql));
        };
      },
    });
    const menus = createMenuService({ restaurantsDb: stack.dbs.restaurants, menuReadDb: gatedDb });
    const expected = ids(await search('교촌치킨 강남'));
    expect((await menus.listRestaurants({ limit: 50, q: '교촌치킨 강남' })).restaurants.map((r) => r.restaurantId)).toEqual(expected);
    await menus.listRestaurants({ limit: 50, q: '강남점' });
    expect(statsReads).toBe(1);

    gate = new Promise((resolve) => (openGate = resolve));
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 11 * 60_000);
    try {
      const page = await menus.listRestaurants({ limit: 50, q: '교촌치킨 강남' });
      expect(page.restaurants.map((r) => r.restaurantId)).toEqual(expected);
      expect(statsReads).toBe(2);
      // Only one refresh at a time.
      await menus.listRestaurants({ limit: 50, q: '교촌치킨 강남' });
      expect(statsReads).toBe(2);
    } finally {
      openGate();
      clock.mockRestore();
    }
  });
});

describe("a name search's pieces (api/services/menus.ts)", () => {
  it('are the pieces query_grams() makes, with their places; none where lower() could differ from Postgres', () => {
    expect(queryPieces('교촌치킨 강남')).toEqual([
      { piece: '교촌', at: 0 },
      { piece: '촌치', at: 1 },
      { piece: '치킨', at: 2 },
      { piece: '킨 ', at: 3 },
      { piece: ' 강', at: 4 },
      { piece: '강남', at: 5 },
    ]);
    expect(queryPieces('BHC')).toEqual([
      { piece: 'bh', at: 0 },
      { piece: 'hc', at: 1 },
    ]);
    expect(queryPieces('홍')).toEqual([{ piece: '홍', at: 0 }]);
    // A piece met again is the one at its first place.
    expect(queryPieces('치킨치킨')).toEqual([
      { piece: '치킨', at: 0 },
      { piece: '킨치', at: 1 },
    ]);
    expect(queryPieces('İstanbul')).toBeUndefined();
    expect(queryPieces('Ärzte')).toBeUndefined();
  });

  it('are confirmed without lower() only when q has no letter with a case (the searches above run both ways)', () => {
    for (const q of ['치킨', '교촌치킨 강남', '홍', '100', '0%_', '\\', '饭店', '1 세트!', '(주)한솥']) expect(nameHolds(q).sql).toBe('strpos(name, ?) > 0');
    for (const q of ['bhc', 'BBQ치킨', 'İstanbul', 'é', 'a\u0307', '1+1 세트']) expect(nameHolds(q).sql).toBe('strpos(lower(name), lower(?)) > 0');
    expect(nameHolds('치킨').bindings).toEqual(['치킨']);
  });

  it('asks for the rarest piece and the rarest one that does not overlap it', () => {
    const pieces = queryPieces('교촌치킨 강남')!;
    const frequency = new Map([
      ['교촌', 0.049],
      ['촌치', 0.049],
      ['치킨', 0.2],
      ['킨 ', 0.2],
      [' 강', 0.05],
      ['강남', 0.05],
    ]);
    // 촌치 is as rare as 교촌 but always goes with it: the next piece clear of 교촌 is taken instead.
    expect(rarestPieces(pieces, frequency)).toEqual(['교촌', ' 강']);
    // A piece the statistics do not list is rarer than every piece they list.
    expect(rarestPieces(pieces, new Map([...frequency].filter(([p]) => p !== '강남')))).toEqual(['강남', '교촌']);
    // Pieces that all overlap: one.
    expect(rarestPieces(queryPieces('강남점')!, frequency)).toEqual(['남점']);
    expect(rarestPieces([], frequency)).toEqual([]);
  });
});
