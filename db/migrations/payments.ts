import type { Knex } from 'knex';
import type { Migration } from './index';

export const paymentsMigrations: Migration[] = [
  {
    name: '0001_payments',
    async up(knex: Knex) {
      await knex.schema.createTable('payments', (t) => {
        t.text('payment_id').primary();
        // One payment per order: the unique key is what makes a second charge impossible.
        t.text('order_id').notNullable().unique();
        t.bigInteger('amount').notNullable();
        t.text('status').notNullable();
        t.text('psp_reference');
        t.text('decline_reason');
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['status']);
      });
      await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK
        (status IN ('PENDING','AUTHORIZED','CAPTURED','VOIDED','REFUNDED','DECLINED'))`);
      await knex.schema.createTable('payment_events', (t) => {
        t.bigIncrements('id');
        t.text('payment_id').notNullable().references('payment_id').inTable('payments');
        t.text('order_id').notNullable();
        t.text('kind').notNullable();
        t.bigInteger('amount').notNullable();
        t.text('idempotency_key').notNullable().unique();
        t.jsonb('psp_response');
        t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.index(['order_id']);
      });
    },
    async down(knex: Knex) {
      await knex.schema.dropTable('payment_events');
      await knex.schema.dropTable('payments');
    },
  },
];
