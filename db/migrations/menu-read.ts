import type { Knex } from 'knex';
import type { Migration } from './index';

// The read model: denormalized for browsing, written only by the CDC projector (db/projector).
// LSNs are stored as pg_lsn so they compare as positions, not as text.
export const menuReadMigrations: Migration[] = [
  {
    name: '0001_menu_read',
    async up(knex: Knex) {
      await knex.schema.createTable('restaurants_read', (t) => {
        t.text('restaurant_id').primary();
        t.text('name').notNullable();
        t.boolean('auto_accept').notNullable();
        // Menu items of the restaurant that are not HIDDEN; kept by the projector in the same transaction.
        t.integer('item_count').notNullable().defaultTo(0);
        // Commit LSN (end) of the source transaction that last wrote the row, or the snapshot point.
        t.specificType('source_lsn', 'pg_lsn');
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
      await knex.schema.createTable('menu_items_read', (t) => {
        t.text('menu_id').primary();
        t.text('restaurant_id').notNullable();
        t.text('name').notNullable();
        t.bigInteger('price').notNullable();
        t.text('status').notNullable();
        t.integer('version').notNullable();
        t.specificType('source_lsn', 'pg_lsn');
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['restaurant_id', 'menu_id']);
      });
      await knex.schema.createTable('projector_state', (t) => {
        t.text('slot_name').primary();
        // Everything up to this position is in the read model; written in the same transaction as the rows.
        t.specificType('last_lsn', 'pg_lsn').notNullable();
        t.timestamp('last_commit_time', { useTz: true });
        // Row changes applied since the last re-sync: lets tests prove nothing was applied twice.
        t.bigInteger('changes_applied').notNullable().defaultTo(0);
        t.timestamp('resynced_at', { useTz: true });
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('projector_state');
      await knex.schema.dropTable('menu_items_read');
      await knex.schema.dropTable('restaurants_read');
    },
  },
];
