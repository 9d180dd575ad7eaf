// Restaurant search at the seed's scale: fills a fresh read model with N restaurants (default
// 572,550) named like Korean restaurants, then times GET /restaurants' query (the service function
// the route calls) for name searches, category filters and both, and prints p50/p99 and the plans.
//
//   npx tsx bench/restaurant-search.ts [--restaurants N] [--rounds R]
import path from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { createMenuService } from '../api/services/menus';
import { createDb } from '../db/knex';
import { PLACES as SEED_PLACES } from '../db/bulk-seed';
import { migrateLatest } from '../db/migrations';
import { RESTAURANT_CATEGORIES } from '../lib/workflow-safe/domain';
import { startPostgres } from '../lib/node/embedded-postgres';
import { freePort, startHarnessRun } from '../harness/bootstrap';

const BRANDS = [
  '교촌치킨',
  'BBQ치킨',
  '굽네치킨',
  '네네치킨',
  '맘스터치',
  '김밥천국',
  '홍콩반점',
  '이디야커피',
  '도미노피자',
  '본죽',
  '엽기떡볶이',
  '원할머니보쌈',
  '역전할머니맥주',
  '신전떡볶이',
  '투썸플레이스',
  '버거킹',
  '청년다방',
  '명륜진사갈비',
  '봉구스밥버거',
  '한솥도시락',
];
// The seed's first 20 places (db/bulk-seed.ts).
const PLACES = SEED_PLACES.slice(0, 20);

const QUERIES: Array<Record<string, string>> = [
  { q: '치킨' },
  { q: '교촌' },
  { q: '교촌치킨 강남' },
  { q: '강남점' },
  { q: '떡볶이' },
  { q: '피자' },
  { q: '없는가게' },
  { q: '홍' },
  { category: 'chicken' },
  { category: 'late_night' },
  { q: '치킨', category: 'chicken' },
  { q: '강남', category: 'cafe' },
  {},
];

async function main() {
  const { values } = parseArgs({ options: { restaurants: { type: 'string' }, rounds: { type: 'string' } } });
  const n = Number(values.restaurants ?? 572550);
  const rounds = Number(values.rounds ?? 200);
  const run = startHarnessRun({ prefix: 'search-bench-', log: (m) => console.error(m) });
  try {
    const pgInstance = await startPostgres({ dataDir: path.join(run.dataDir, 'read'), port: await freePort() });
    run.onClose(() => pgInstance.stop().catch(() => undefined));
    await pgInstance.createDatabase('menu_read');
    const db = createDb(pgInstance.url('menu_read'), 4);
    run.onClose(() => db.destroy());
    await migrateLatest(db, 'menu_read');
    const started = Date.now();
    await db.raw(
      `INSERT INTO restaurants_read (restaurant_id, name, auto_accept, category)
       SELECT 'rst_' || lpad(i::text, 7, '0'),
              (?::text[])[1 + (hashint4(i) & 1023) % ?] || ' ' || (?::text[])[1 + (hashint4(i + 7) & 1023) % ?] || '점 ' || (i % 97),
              i % 3 = 0,
              (?::text[])[1 + (hashint4(i + 13) & 1023) % ?]
         FROM generate_series(1, ?) AS i`,
      [BRANDS, BRANDS.length, PLACES, PLACES.length, [...RESTAURANT_CATEGORIES], RESTAURANT_CATEGORIES.length, n],
    );
    await db.raw('VACUUM ANALYZE restaurants_read, restaurant_name_pieces');
    console.log(`${n} restaurants loaded and indexed in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const menus = createMenuService({ restaurantsDb: db, menuReadDb: db });
    for (const query of QUERIES) {
      // The first call of each query is timed apart: it may read the name statistics, which a
      // running API has cached (api/services/menus.ts, pieceFrequencies).
      const f0 = process.hrtime.bigint();
      await menus.listRestaurants({ limit: 50, ...query } as Parameters<typeof menus.listRestaurants>[0]);
      const firstMs = Number(process.hrtime.bigint() - f0) / 1e6;
      const times: number[] = [];
      let cursor: string | undefined;
      let found = 0;
      for (let r = 0; r < rounds; r++) {
        // Every fourth round follows the cursor: later pages cost the same as the first.
        const t0 = process.hrtime.bigint();
        const page = await menus.listRestaurants({ limit: 50, ...query, ...(r % 4 === 0 ? {} : { cursor }) } as Parameters<typeof menus.listRestaurants>[0]);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        cursor = page.nextCursor ?? undefined;
        found = page.restaurants.length;
      }
      times.sort((a, b) => a - b);
      const pct = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!.toFixed(2);
      console.log(
        `${JSON.stringify(query).padEnd(40)} p50 ${pct(50)} ms  p99 ${pct(99)} ms  max ${times[times.length - 1]!.toFixed(2)} ms  (page of ${found}; first call ${firstMs.toFixed(2)} ms)`,
      );
    }
    // The plans of exactly the statements the service runs for these queries (window, then index),
    // on the first page and on a later one: three timed rounds in four follow a cursor.
    for (const query of [{ q: '치킨' }, { q: '교촌치킨 강남' }, { q: '없는가게' }]) {
      const first = await menus.listRestaurants({ limit: 50, ...query });
      const pages = [{ page: 'first page' }, ...(first.nextCursor ? [{ page: `page after ${first.nextCursor}`, cursor: first.nextCursor }] : [])];
      for (const { page, cursor } of pages as Array<{ page: string; cursor?: string }>) {
        const statements: Array<{ sql: string; bindings: readonly unknown[] }> = [];
        // Knex reports each statement as the driver receives it too: $1-style placeholders, bindings in order.
        const record = (data: { sql: string; bindings?: readonly unknown[] }) => {
          if (!data.sql.includes('pg_stats') && !data.sql.includes('?')) statements.push({ sql: data.sql, bindings: data.bindings ?? [] });
        };
        db.on('query', record);
        await menus.listRestaurants({ limit: 50, ...query, ...(cursor ? { cursor } : {}) });
        db.off('query', record);
        const conn = (await db.client.acquireConnection()) as pg.PoolClient;
        try {
          for (const { sql, bindings } of statements) {
            const plan = (await conn.query(`EXPLAIN (ANALYZE, BUFFERS OFF) ${sql}`, [...bindings])).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']);
            console.log(`\nEXPLAIN ANALYZE q=${query.q}, ${page}\n${plan.join('\n')}`);
          }
        } finally {
          await db.client.releaseConnection(conn);
        }
      }
    }
  } finally {
    await run.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
