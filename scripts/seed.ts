// Fills the restaurants database with generated restaurants and menus, at bulk-load speed
// (db/bulk-seed.ts): `npm run seed -- --restaurants 572550`. Deterministic for a given --seed;
// existing rows are kept, so a run can be repeated or resumed. The projector carries the rows to the
// read model (a new read model copies them from its snapshot).
//   --restaurants N   how many (default 50, as `npm start` seeds)
//   --items N         items per restaurant (default 10)
//   --seed S          the generator's seed (default 1)
// Env: RESTAURANTS_DATABASE_URL (a role that may write restaurants and menu_items).
import { parseArgs } from 'node:util';
import { bulkSeedRestaurants } from '../db/bulk-seed';
import { createDb } from '../db/knex';
import { loadConfig } from '../lib/node/config';

function whole(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`--${flag} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { restaurants: { type: 'string' }, items: { type: 'string' }, seed: { type: 'string' } } });
  const restaurants = whole('restaurants', values.restaurants, 50);
  const itemsPerRestaurant = whole('items', values.items, 10);
  const seed = whole('seed', values.seed, 1);
  const db = createDb(loadConfig().RESTAURANTS_DATABASE_URL, 2);
  try {
    const started = Date.now();
    const inserted = await bulkSeedRestaurants(db, {
      restaurants,
      itemsPerRestaurant,
      seed,
      onProgress: (p) =>
        console.error(
          `seed: ${p.restaurants.toLocaleString('en')}/${restaurants.toLocaleString('en')} restaurants, ${p.items.toLocaleString('en')} items, ${(p.elapsedMs / 1000).toFixed(1)} s`,
        ),
      log: (msg) => console.error(msg),
    });
    console.error(
      `seed: done in ${((Date.now() - started) / 1000).toFixed(1)} s; inserted ${inserted.restaurants.toLocaleString('en')} restaurants and ${inserted.items.toLocaleString('en')} items (rows already there were kept)`,
    );
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
