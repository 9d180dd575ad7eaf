import type { RestaurantCategory } from '../lib/workflow-safe/domain';
import type { Db } from './knex';

// Restaurants and menu items at the scale of a real delivery app (`npm run seed -- --restaurants
// 572550`), generated inside Postgres: each batch is one INSERT ... SELECT over generate_series, so
// no row crosses the wire and nothing goes row by row. Names, categories and prices are picked by
// hashint8extended(n, seed), the hash Postgres keeps stable for hash partitioning: the same seed
// gives the same rows on any server. Ids are those of db/seed.ts (rst_0001, mnu_0001_01, ...), and
// existing rows are left as they are, so a run can be repeated or resumed.

/** Name prefixes ("엄마손 김밥 홍대점"). */
const PREFIXES = [
  '엄마손',
  '할매',
  '원조',
  '황금',
  '행복한',
  '옛날',
  '대박',
  '청춘',
  '소문난',
  '착한',
  '우리동네',
  '바른',
  '진짜',
  '시골',
  '명품',
  '달빛',
  '큰손',
  '푸른',
  '정성',
  '고향',
  '왕',
  '새벽',
  '으뜸',
  '해피',
  '미소',
  '장인',
  '한입',
  '골목',
  '본가',
  '참',
];

/** What the place is, and so its category. */
const KINDS: Array<[string, RestaurantCategory]> = [
  ['국밥', 'korean'],
  ['한식당', 'korean'],
  ['백반', 'korean'],
  ['찌개', 'korean'],
  ['보쌈', 'korean'],
  ['갈비', 'korean'],
  ['반점', 'chinese'],
  ['중화요리', 'chinese'],
  ['마라탕', 'chinese'],
  ['스시', 'japanese'],
  ['돈카츠', 'japanese'],
  ['라멘', 'japanese'],
  ['파스타', 'western'],
  ['브런치', 'western'],
  ['치킨', 'chicken'],
  ['통닭', 'chicken'],
  ['닭강정', 'chicken'],
  ['피자', 'pizza'],
  ['화덕피자', 'pizza'],
  ['버거', 'burger'],
  ['수제버거', 'burger'],
  ['김밥', 'snack'],
  ['떡볶이', 'snack'],
  ['분식', 'snack'],
  ['카페', 'cafe'],
  ['베이커리', 'cafe'],
  ['포차', 'late_night'],
  ['족발', 'late_night'],
  ['곱창', 'late_night'],
];

export const PLACES = [
  '강남',
  '홍대',
  '신촌',
  '종로',
  '잠실',
  '성수',
  '이태원',
  '판교',
  '서면',
  '동성로',
  '수원역',
  '일산',
  '분당',
  '노원',
  '건대입구',
  '합정',
  '을지로',
  '여의도',
  '목동',
  '광교',
  '해운대',
  '전주',
  '청주',
  '대전역',
  '광주',
  '송도',
  '동탄',
  '마포',
  '사당',
  '왕십리',
];

/** Dishes by category with their base price (won); a restaurant serves consecutive ones. */
const DISHES: Record<RestaurantCategory, Array<[string, number]>> = {
  korean: [
    ['김치찌개', 9000],
    ['된장찌개', 8500],
    ['비빔밥', 10000],
    ['불고기', 15000],
    ['제육볶음', 11000],
    ['순두부찌개', 9000],
    ['갈비탕', 14000],
    ['돼지국밥', 9500],
    ['보쌈 정식', 13000],
    ['냉면', 10000],
    ['삼계탕', 17000],
    ['육회비빔밥', 13000],
  ],
  chinese: [
    ['짜장면', 7000],
    ['짬뽕', 8500],
    ['탕수육', 18000],
    ['볶음밥', 8000],
    ['마라탕', 12000],
    ['깐풍기', 22000],
    ['유산슬', 25000],
    ['군만두', 6000],
    ['울면', 8000],
    ['양장피', 28000],
    ['마파두부밥', 9000],
    ['꿔바로우', 19000],
  ],
  japanese: [
    ['모둠초밥', 16000],
    ['연어초밥', 15000],
    ['돈카츠', 11000],
    ['치즈카츠', 12500],
    ['돈코츠라멘', 10000],
    ['미소라멘', 9500],
    ['우동', 8000],
    ['규동', 9000],
    ['사케동', 14000],
    ['가라아게', 9000],
    ['타코야키', 6000],
    ['오코노미야키', 13000],
  ],
  western: [
    ['토마토 파스타', 14000],
    ['크림 파스타', 15000],
    ['봉골레', 16000],
    ['리조또', 15000],
    ['스테이크', 32000],
    ['시저 샐러드', 11000],
    ['에그 베네딕트', 14000],
    ['프렌치토스트', 12000],
    ['감바스', 17000],
    ['라자냐', 16000],
    ['뇨끼', 15000],
    ['클럽 샌드위치', 11000],
  ],
  chicken: [
    ['후라이드치킨', 19000],
    ['양념치킨', 21000],
    ['간장치킨', 21000],
    ['반반치킨', 21000],
    ['파닭', 22000],
    ['닭강정', 18000],
    ['순살치킨', 21000],
    ['마늘치킨', 22000],
    ['치즈볼', 5000],
    ['치킨무', 1000],
    ['똥집튀김', 15000],
    ['통닭', 16000],
  ],
  pizza: [
    ['페퍼로니 피자', 20000],
    ['콤비네이션 피자', 22000],
    ['불고기 피자', 23000],
    ['고구마 피자', 24000],
    ['포테이토 피자', 24000],
    ['마르게리타', 19000],
    ['하와이안 피자', 22000],
    ['치즈 피자', 18000],
    ['스파게티', 9000],
    ['치킨 윙', 8000],
    ['콘샐러드', 4000],
    ['갈릭 브레드', 5000],
  ],
  burger: [
    ['치즈버거', 7000],
    ['베이컨버거', 8500],
    ['더블버거', 10000],
    ['치킨버거', 7500],
    ['새우버거', 7000],
    ['불고기버거', 6500],
    ['감자튀김', 3000],
    ['어니언링', 3500],
    ['밀크셰이크', 4500],
    ['핫도그', 4000],
    ['너겟', 4000],
    ['콜라', 2000],
  ],
  snack: [
    ['떡볶이', 6000],
    ['김밥', 4000],
    ['참치김밥', 5000],
    ['라면', 5000],
    ['순대', 6000],
    ['튀김 모둠', 6000],
    ['어묵', 4000],
    ['쫄면', 7000],
    ['라볶이', 7000],
    ['만두', 6500],
    ['주먹밥', 3000],
    ['로제떡볶이', 8000],
  ],
  cafe: [
    ['아메리카노', 4000],
    ['카페라떼', 4500],
    ['바닐라라떼', 5000],
    ['콜드브루', 5000],
    ['녹차라떼', 5000],
    ['딸기스무디', 6000],
    ['크루아상', 3500],
    ['치즈케이크', 6500],
    ['마카롱', 2500],
    ['소금빵', 3000],
    ['베이글', 3500],
    ['티라미수', 7000],
  ],
  late_night: [
    ['족발', 35000],
    ['보쌈', 33000],
    ['곱창구이', 25000],
    ['막창', 24000],
    ['닭발', 18000],
    ['계란말이', 12000],
    ['어묵탕', 15000],
    ['골뱅이무침', 19000],
    ['해물파전', 16000],
    ['오돌뼈', 17000],
    ['두부김치', 15000],
    ['나가사키짬뽕', 18000],
  ],
};

export interface BulkSeedOptions {
  restaurants: number;
  /** The first restaurant's number (default 1): restaurants from..from+restaurants-1. */
  from?: number;
  itemsPerRestaurant?: number;
  /** Same seed, same rows (default 1). */
  seed?: number;
  /** Restaurants per statement (default 10,000). */
  batch?: number;
  /** Statements at once, each on its own connection (default 2; the pool must allow as many). */
  concurrency?: number;
  onProgress?: (p: { restaurants: number; items: number; elapsedMs: number }) => void;
  /** Told when the closing VACUUM starts and how long it took. */
  log?: (msg: string) => void;
}

/**
 * One batch: restaurants from..to and their items, in one statement (the items' foreign keys are
 * checked at its end, when both inserts are done). Picks come from bits of one hash per restaurant
 * and one per item; the 0x7fffffff masks keep them non-negative.
 */
const BATCH_SQL = `
  WITH kinds AS (
    SELECT k.ord, k.kind, k.category FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS k(kind, category, ord)
  ), dishes AS (
    SELECT d.category, d.name, d.price, (row_number() OVER (PARTITION BY d.category ORDER BY d.ord))::int AS n,
           count(*) OVER (PARTITION BY d.category)::int AS per_category
      FROM unnest(?::text[], ?::text[], ?::int[]) WITH ORDINALITY AS d(category, name, price, ord)
  ), base AS (
    SELECT g.i, 'rst_' || lpad(g.i::text, greatest(4, length(g.i::text)), '0') AS restaurant_id, h.h,
           (?::text[])[1 + (h.h & 2147483647) % ?] AS prefix,
           ((h.h >> 31) & 2147483647) % ? + 1 AS kind_ord,
           (?::text[])[1 + ((h.h >> 20) & 2147483647) % ?] AS place
      FROM generate_series(?::int, ?::int) AS g(i), LATERAL (SELECT hashint8extended(g.i, ?::bigint) AS h) AS h
  ), r AS (
    SELECT b.*, k.kind, k.category FROM base b JOIN kinds k ON k.ord = b.kind_ord
  ), ins AS (
    INSERT INTO restaurants (restaurant_id, name, auto_accept, category)
    SELECT restaurant_id, prefix || ' ' || kind || ' ' || place || '점', i % 3 = 0, category FROM r
    ON CONFLICT (restaurant_id) DO NOTHING
    RETURNING 1
  ), items AS (
    INSERT INTO menu_items (menu_id, restaurant_id, name, price, status, version)
    SELECT 'mnu_' || lpad(r.i::text, greatest(4, length(r.i::text)), '0') || '_' || lpad(j::text, 2, '0'), r.restaurant_id, d.name,
           d.price + 500 * ((ih.h & 2147483647) % 5), 'ON_SALE', 1
      FROM r CROSS JOIN generate_series(1, ?::int) AS j
      CROSS JOIN LATERAL (SELECT hashint8extended(r.i::bigint * 1000 + j, ?::bigint) AS h) AS ih
      JOIN dishes d ON d.category = r.category
                   AND d.n = 1 + (((r.h >> 40) & 2147483647) + j - 1) % d.per_category
    ON CONFLICT (menu_id) DO NOTHING
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins)::int AS restaurants, (SELECT count(*) FROM items)::int AS items`;

/**
 * Generates restaurants from..from+n-1 (1..n by default) and their items in the restaurants database at bulk-load speed.
 * Returns how many rows it inserted (rows already there are kept, not counted).
 */
export async function bulkSeedRestaurants(db: Db, opts: BulkSeedOptions): Promise<{ restaurants: number; items: number }> {
  const items = opts.itemsPerRestaurant ?? 10;
  const seed = opts.seed ?? 1;
  const batch = opts.batch ?? 10_000;
  if (!Number.isSafeInteger(opts.restaurants) || opts.restaurants < 0) throw new Error('restaurants must be a whole number >= 0');
  if (!Number.isSafeInteger(items) || items < 1 || items > 99) throw new Error('items per restaurant must be 1..99 (menu ids have two digits)');
  if (!Number.isSafeInteger(seed)) throw new Error('seed must be a whole number');
  const dishes = Object.entries(DISHES).flatMap(([category, list]) => list.map(([name, price]) => ({ category, name, price })));
  const first = opts.from ?? 1;
  if (!Number.isSafeInteger(first) || first < 1) throw new Error('from must be a whole number >= 1');
  const last = first + opts.restaurants - 1;
  const concurrency = opts.concurrency ?? 2;
  const started = Date.now();
  const total = { restaurants: 0, items: 0 };
  let next = first;
  let done = 0;
  // Batches are independent (each inserts its own ids), so `concurrency` connections run them side by
  // side: one statement keeps one core busy.
  const worker = async () => {
    while (next <= last) {
      const from = next;
      const to = Math.min(last, from + batch - 1);
      next = to + 1;
      const res = await db.raw(BATCH_SQL, [
        KINDS.map(([k]) => k),
        KINDS.map(([, c]) => c),
        dishes.map((d) => d.category),
        dishes.map((d) => d.name),
        dishes.map((d) => d.price),
        PREFIXES,
        PREFIXES.length,
        KINDS.length,
        PLACES,
        PLACES.length,
        from,
        to,
        seed,
        items,
        seed,
      ]);
      const row = (res.rows as Array<{ restaurants: number; items: number }>)[0]!;
      total.restaurants += row.restaurants;
      total.items += row.items;
      done += to - from + 1;
      opts.onProgress?.({ restaurants: done, items: done * items, elapsedMs: Date.now() - started });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (total.restaurants + total.items > 0) await settleBulkLoad(db, opts.log);
  return total;
}

/**
 * What a bulk load leaves is otherwise the next reader's work: the first read of each new row sets
 * its hint bits, which with data checksums (initdb's default since Postgres 18) writes the page to
 * the WAL, and autovacuum later freezes every page, writing it again. Done here, before any
 * replication slot exists, it is not WAL that each slot holds and each projector reads after its
 * snapshot (1.3 GB at full size). ANALYZE gives the planner, and the search's rarity estimates, the
 * new rows' statistics.
 */
async function settleBulkLoad(db: Db, log?: (msg: string) => void): Promise<void> {
  const started = Date.now();
  log?.('bulk seed: VACUUM (FREEZE, ANALYZE) of restaurants and menu_items');
  await db.raw('VACUUM (FREEZE, ANALYZE) restaurants, menu_items');
  log?.(`bulk seed: vacuumed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
