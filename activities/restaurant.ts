import { ApplicationFailure, log } from '@temporalio/activity';
import type { Db } from '../db/knex';
import type { OrderLine, TicketStatus } from '../lib/workflow-safe/domain';
import { noSagaMetrics, type SagaMetrics } from './saga-metrics';

export interface RestaurantDeps {
  db: Db;
  /** Ticket cancellations (the compensation) that changed something are counted here. */
  metrics?: SagaMetrics;
}

export function ticketIdFor(orderId: string): string {
  return `tkt_${orderId}`;
}

interface MenuRow {
  menu_id: string;
  restaurant_id: string;
  name: string;
  price: number;
  status: string;
  version: number;
}

/**
 * Restaurant service activities: the restaurants database is the source of truth for menus, so the
 * ticket is created only after every line is re-checked against it (the API priced the order from
 * the read model, which may be slightly behind).
 */
export function createRestaurantActivities({ db, metrics = noSagaMetrics }: RestaurantDeps) {
  async function transition(orderId: string, from: TicketStatus[], to: TicketStatus, reason: string | null = null) {
    return db('tickets').where({ order_id: orderId }).whereIn('status', from).update({ status: to, reason, updated_at: db.fn.now() });
  }

  return {
    /**
     * Opens the ticket after re-checking every line against the restaurants database. With
     * `totalAmount` (sagas since the amount check) the order's total must also be the sum of the
     * lines at these prices: the saga does not trust whoever started it with the money.
     *
     * With `acceptIfAutoAccept` (sagas since the hold and the ticket run together) a restaurant that
     * accepts every order gets its ticket ACCEPTED at once, saving the saga a step; `accepted` says
     * which state the ticket is in. The saga cancels it (a compensation) if the hold then fails.
     */
    async createTicket(input: {
      orderId: string;
      restaurantId: string;
      items: OrderLine[];
      totalAmount?: number;
      acceptIfAutoAccept?: boolean;
    }): Promise<{ ticketId: string; autoAccept: boolean; accepted: boolean }> {
      const ticketId = ticketIdFor(input.orderId);
      return db.transaction(async (trx) => {
        const restaurant = await trx('restaurants').where({ restaurant_id: input.restaurantId }).first();
        if (!restaurant) throw ApplicationFailure.nonRetryable('Unknown restaurant', 'ITEM_UNAVAILABLE');
        const existing = await trx('tickets').where({ order_id: input.orderId }).first();
        if (existing) {
          if (existing.status === 'CANCELLED') throw ApplicationFailure.nonRetryable('The ticket was already cancelled', 'SYSTEM_ERROR');
          return { ticketId, autoAccept: Boolean(restaurant.auto_accept), accepted: existing.status === 'ACCEPTED' };
        }
        // FOR SHARE: a concurrent sold-out or price change waits for this check, or this check waits for it.
        const rows: MenuRow[] = await trx('menu_items')
          .whereIn(
            'menu_id',
            input.items.map((i) => i.menuId),
          )
          .forShare();
        const byId = new Map(rows.map((r) => [r.menu_id, r]));
        for (const line of input.items) {
          const row = byId.get(line.menuId);
          if (!row || row.restaurant_id !== input.restaurantId || row.status !== 'ON_SALE') {
            throw ApplicationFailure.nonRetryable(`${line.name} is no longer available`, 'ITEM_UNAVAILABLE', { menuId: line.menuId });
          }
          if (Number(row.price) !== line.unitPrice) {
            throw ApplicationFailure.nonRetryable(`The price of ${line.name} changed`, 'PRICE_CHANGED', {
              menuId: line.menuId,
              orderedPrice: line.unitPrice,
              currentPrice: Number(row.price),
            });
          }
        }
        const total = input.items.reduce((sum, line) => sum + Number(byId.get(line.menuId)!.price) * line.quantity, 0);
        if (input.totalAmount !== undefined && total !== input.totalAmount) {
          throw ApplicationFailure.nonRetryable(`The order's total ${input.totalAmount} is not the sum of its lines (${total})`, 'AMOUNT_MISMATCH', {
            orderedTotal: input.totalAmount,
            total,
          });
        }
        const items = input.items.map((line) => ({ ...line, currentVersion: byId.get(line.menuId)?.version }));
        const autoAccept = Boolean(restaurant.auto_accept);
        const status: TicketStatus = autoAccept && input.acceptIfAutoAccept ? 'ACCEPTED' : 'PENDING';
        const inserted = await trx('tickets')
          .insert({ ticket_id: ticketId, order_id: input.orderId, restaurant_id: input.restaurantId, status, items: JSON.stringify(items) })
          .onConflict('order_id')
          .ignore()
          .returning('status');
        // Nothing inserted: a compensation's tombstone got there first (it is CANCELLED; the saga is closing).
        return { ticketId, autoAccept, accepted: inserted[0]?.status === 'ACCEPTED' };
      });
    },

    /** The ticket as it stands (the reconciler decides forward or backward from it); null if none. */
    async getTicket(input: { orderId: string }): Promise<{ status: TicketStatus } | null> {
      const ticket = await db('tickets').select('status').where({ order_id: input.orderId }).first();
      return ticket ? { status: ticket.status as TicketStatus } : null;
    },

    /**
     * Marks the ticket accepted. A ticket already CANCELLED or REJECTED will never be accepted: that is
     * a non-retryable SYSTEM_ERROR, so the saga compensates (refunds) instead of retrying for ever
     * with the money captured.
     */
    async acceptTicket(input: { orderId: string }): Promise<void> {
      await transition(input.orderId, ['PENDING'], 'ACCEPTED');
      const ticket = await db('tickets').where({ order_id: input.orderId }).first();
      if (ticket?.status === 'ACCEPTED') return;
      const message = `ticket of ${input.orderId} is ${ticket?.status ?? 'missing'}, cannot accept`;
      if (ticket?.status === 'CANCELLED' || ticket?.status === 'REJECTED') throw ApplicationFailure.nonRetryable(message, 'SYSTEM_ERROR');
      throw new Error(message);
    },

    async rejectTicket(input: { orderId: string; reason: string | null }): Promise<void> {
      await transition(input.orderId, ['PENDING'], 'REJECTED', input.reason);
    },

    /**
     * Compensation of createTicket. Safe when the ticket was never created: it leaves a CANCELLED
     * ticket so a late createTicket attempt cannot open one afterwards.
     */
    async cancelTicket(input: { orderId: string; restaurantId: string }): Promise<void> {
      const restaurantExists = await db('restaurants').where({ restaurant_id: input.restaurantId }).first();
      let tombstone = 0;
      if (restaurantExists) {
        const inserted = await db('tickets')
          .insert({
            ticket_id: ticketIdFor(input.orderId),
            order_id: input.orderId,
            restaurant_id: input.restaurantId,
            status: 'CANCELLED',
            items: '[]',
            reason: 'never opened',
          })
          .onConflict('order_id')
          .ignore()
          .returning('ticket_id');
        tombstone = inserted.length;
      }
      const cancelled = await transition(input.orderId, ['PENDING', 'ACCEPTED'], 'CANCELLED', 'compensated');
      if (tombstone + cancelled > 0) {
        metrics.compensation('cancelTicket', 'CANCELLED');
        log.info(tombstone > 0 ? 'ticket cancelled before it was opened' : 'ticket cancelled');
      }
    },
  };
}
