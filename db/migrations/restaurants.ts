import type { Knex } from 'knex';
import { RESTAURANT_CATEGORIES } from '../../lib/workflow-safe/domain';
import type { Migration } from './index';

export const restaurantsMigrations: Migration[] = [
  {
    name: '0001_restaurants',
    async up(knex: Knex) {
      await knex.schema.createTable('restaurants', (t) => {
        t.text('restaurant_id').primary();
        t.text('name').notNullable();
        t.boolean('auto_accept').notNullable().defaultTo(false);
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      });
      await knex.schema.createTable('menu_items', (t) => {
        t.text('menu_id').primary();
        t.text('restaurant_id').notNullable().references('restaurant_id').inTable('restaurants');
        t.text('name').notNullable();
        t.bigInteger('price').notNullable();
        t.text('status').notNullable().defaultTo('ON_SALE');
        // Optimistic locking: every change names the version it read and bumps it.
        t.integer('version').notNullable().defaultTo(1);
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['restaurant_id']);
      });
      await knex.raw(`ALTER TABLE menu_items ADD CONSTRAINT menu_items_status_check CHECK
        (status IN ('ON_SALE','SOLD_OUT','HIDDEN'))`);
      await knex.raw('ALTER TABLE menu_items ADD CONSTRAINT menu_items_price_check CHECK (price > 0)');
      await knex.schema.createTable('tickets', (t) => {
        t.text('ticket_id').primary();
        t.text('order_id').notNullable().unique();
        t.text('restaurant_id').notNullable().references('restaurant_id').inTable('restaurants');
        t.text('status').notNullable();
        t.jsonb('items').notNullable();
        t.text('reason');
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['restaurant_id', 'created_at']);
      });
      await knex.raw(`ALTER TABLE tickets ADD CONSTRAINT tickets_status_check CHECK
        (status IN ('PENDING','ACCEPTED','REJECTED','CANCELLED'))`);
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('tickets');
      await knex.schema.dropTable('menu_items');
      await knex.schema.dropTable('restaurants');
    },
  },
  {
    // What a restaurant mainly serves, for GET /restaurants?category=. Existing rows become 'korean'.
    // The publication streams every column, so the projector carries it to the read model.
    name: '0002_restaurant_category',
    async up(knex: Knex) {
      await knex.schema.alterTable('restaurants', (t) => {
        t.text('category').notNullable().defaultTo('korean');
      });
      const list = RESTAURANT_CATEGORIES.map((c) => `'${c}'`).join(',');
      await knex.raw(`ALTER TABLE restaurants ADD CONSTRAINT restaurants_category_check CHECK (category IN (${list}))`);
    },
    async down(knex: Knex) {
      await knex.schema.alterTable('restaurants', (t) => {
        t.dropColumn('category');
      });
    },
  },
  {
    // Restaurants change prices and statuses all day, and none of those columns is indexed: with room
    // left on each page, an update stays on its page (a HOT update) and writes no index entries. A
    // bulk-loaded or frozen page is full, so without this every update moved its row and wrote both
    // indexes. Applies to pages written from now on (the bulk seed's COPY included).
    name: '0003_menu_items_fillfactor',
    async up(knex: Knex) {
      await knex.raw('ALTER TABLE menu_items SET (fillfactor = 90)');
    },
    async down(knex: Knex) {
      await knex.raw('ALTER TABLE menu_items RESET (fillfactor)');
    },
  },
];
