import type { Knex } from 'knex';
import type { Migration } from './index';

export const ordersMigrations: Migration[] = [
  {
    name: '0001_orders',
    async up(knex: Knex) {
      await knex.schema.createTable('orders', (t) => {
        t.text('order_id').primary();
        t.text('customer_id').notNullable();
        t.text('restaurant_id').notNullable();
        t.text('status').notNullable();
        t.text('failure_reason');
        t.bigInteger('total_amount').notNullable();
        t.text('delivery_address').notNullable();
        // The saga keeps a copy of the payment's state here so reads never cross into the payments DB.
        t.text('payment_status');
        t.timestamp('acceptance_deadline', { useTz: true });
        t.text('workflow_id').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['restaurant_id', 'created_at']);
        t.index(['customer_id', 'created_at']);
        t.index(['status', 'updated_at']);
      });
      await knex.raw(`ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK
        (status IN ('PENDING','AWAITING_RESTAURANT','CONFIRMED','REJECTED','CANCELLED'))`);
      await knex.schema.createTable('order_items', (t) => {
        t.text('order_id').notNullable().references('order_id').inTable('orders').onDelete('CASCADE');
        t.integer('line_no').notNullable();
        t.text('menu_id').notNullable();
        t.text('name').notNullable();
        t.bigInteger('unit_price').notNullable();
        t.integer('quantity').notNullable();
        t.integer('menu_version').notNullable();
        t.primary(['order_id', 'line_no']);
      });
      await knex.schema.createTable('order_status_history', (t) => {
        t.bigIncrements('id');
        t.text('order_id').notNullable().references('order_id').inTable('orders').onDelete('CASCADE');
        t.text('status').notNullable();
        t.text('reason');
        t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        // A status is entered at most once per order: a retried activity cannot add a second row.
        t.unique(['order_id', 'status']);
      });
      await knex.schema.createTable('idempotency_keys', (t) => {
        t.text('customer_id').notNullable();
        t.text('key').notNullable();
        t.text('request_hash').notNullable();
        t.text('order_id').notNullable();
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.primary(['customer_id', 'key']);
      });
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('idempotency_keys');
      await knex.schema.dropTable('order_status_history');
      await knex.schema.dropTable('order_items');
      await knex.schema.dropTable('orders');
    },
  },
  {
    name: '0002_orders_card_token',
    async up(knex: Knex) {
      // The PSP's card token (never card data): lets a saga be (re)started from the order row alone,
      // e.g. by the sweeper when the API stopped between recording an order and starting its saga.
      await knex.schema.alterTable('orders', (t) => {
        t.text('card_token');
      });
    },
    async down(knex: Knex) {
      await knex.schema.alterTable('orders', (t) => {
        t.dropColumn('card_token');
      });
    },
  },
  {
    name: '0003_operator_actions',
    async up(knex: Knex) {
      // What operators did to orders through the desk (api/services/admin-actions.ts): who, when, why,
      // and what came of it. One row per operator and Idempotency-Key, so a retried request replays
      // the first answer instead of acting twice. Part of the order's story.
      await knex.schema.createTable('operator_actions', (t) => {
        t.text('action_id').primary();
        t.text('order_id').notNullable().references('order_id').inTable('orders');
        t.text('action').notNullable();
        t.text('operator').notNullable();
        t.text('reason').notNullable();
        t.text('idempotency_key').notNullable();
        t.text('request_hash').notNullable();
        t.text('status').notNullable().defaultTo('REQUESTED');
        // The answer the request got (replayed to a retry with the same key) and what it said.
        t.integer('http_status');
        t.jsonb('result');
        t.timestamp('requested_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('finished_at', { useTz: true });
        t.unique(['operator', 'idempotency_key']);
        t.index(['order_id', 'requested_at']);
      });
      await knex.raw(`ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('cancel','retry','reconcile'))`);
      await knex.raw(`ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_status_check CHECK (status IN ('REQUESTED','DONE','REFUSED'))`);
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('operator_actions');
    },
  },
  {
    name: '0004_orders_saga_started',
    async up(knex: Knex) {
      // Set by the saga's first step (createOrder): the sweeper starts only sagas that never ran, and
      // reads only those (a partial index), so a backlog of running sagas costs it nothing.
      await knex.schema.alterTable('orders', (t) => {
        t.timestamp('saga_started_at', { useTz: true });
      });
      await knex.raw(`CREATE INDEX orders_never_started_idx ON orders (updated_at, order_id) WHERE status = 'PENDING' AND saga_started_at IS NULL`);
    },
    async down(knex: Knex) {
      await knex.raw('DROP INDEX IF EXISTS orders_never_started_idx');
      await knex.schema.alterTable('orders', (t) => {
        t.dropColumn('saga_started_at');
      });
    },
  },
  {
    name: '0005_orders_card_token_retention',
    async up(knex: Knex) {
      // A card token is kept only while the order is PENDING (a saga or a repair may still have to
      // authorize); every later transition clears it (activities/order.ts). Orders that left PENDING
      // before that rule keep theirs no longer.
      await knex('orders').whereNot({ status: 'PENDING' }).whereNotNull('card_token').update({ card_token: null });
    },
    async down() {
      // The removed tokens are gone for good; nothing to restore.
    },
  },
  {
    name: '0006_orders_in_flight_by_customer',
    async up(knex: Knex) {
      // POST /orders counts a customer's orders not yet final (ORDERS_IN_FLIGHT_MAX) on every placement.
      await knex.raw(`CREATE INDEX orders_in_flight_by_customer_idx ON orders (customer_id) WHERE status IN ('PENDING', 'AWAITING_RESTAURANT')`);
    },
    async down(knex: Knex) {
      await knex.raw('DROP INDEX IF EXISTS orders_in_flight_by_customer_idx');
    },
  },
];
