import type { Knex } from 'knex';
import { ordersMigrations } from './orders';
import { paymentsMigrations } from './payments';
import { restaurantsMigrations } from './restaurants';
import { menuReadMigrations } from './menu-read';

export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export type DatabaseName = 'orders' | 'payments' | 'restaurants' | 'menu_read';

const MIGRATIONS: Record<DatabaseName, Migration[]> = {
  orders: ordersMigrations,
  payments: paymentsMigrations,
  restaurants: restaurantsMigrations,
  menu_read: menuReadMigrations,
};

/**
 * Migrations are listed in code rather than discovered on disk, so they work the same under
 * tsx, jest and a compiled build.
 */
class ListMigrationSource implements Knex.MigrationSource<Migration> {
  constructor(private readonly list: Migration[]) {}
  getMigrations() {
    return Promise.resolve(this.list);
  }
  getMigrationName(m: Migration) {
    return m.name;
  }
  getMigration(m: Migration) {
    return Promise.resolve({ up: m.up, down: m.down });
  }
}

export async function migrateLatest(knex: Knex, database: DatabaseName): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({
    migrationSource: new ListMigrationSource(MIGRATIONS[database]),
    tableName: 'knex_migrations',
  })) as [number, string[]];
  return applied;
}
