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

interface TicketInput {
  orderId: string;
  restaurantId: string;
  items: OrderLine[];
  totalAmount?: number;
  acceptIfAutoAccept?: boolean;
}

interface TicketRow {
  ticket_id: string;
  order_id: string;
  restaurant_id: string;
  status: TicketStatus;
  /** JSON */
  items: string;
}

/** A menu row changed between the check and the insert this many times in a row: the activity retries. */
const TICKET_CHECKS = 3;

/** The restaurant (auto_accept null: unknown), the order's ticket if any and the ordered menu rows, in one round trip. */
async function readForTicket(db: Db, input: TicketInput) {
  const { rows } = await db.raw<{ rows: Array<{ auto_accept: boolean | null; ticket_status: TicketStatus | null; menu: MenuRow[] }> }>(
    `SELECT (SELECT auto_accept FROM restaurants WHERE restaurant_id = ?) AS auto_accept,
            (SELECT status FROM tickets WHERE order_id = ?) AS ticket_status,
            (SELECT coalesce(json_agg(m), '[]') FROM (
               SELECT menu_id, restaurant_id, name, price, status, version FROM menu_items WHERE menu_id = ANY(?::text[])
             ) m) AS menu`,
    [input.restaurantId, input.orderId, input.items.map((i) => i.menuId)],
  );
  return rows[0]!;
}

/** Every line against the restaurant's rows: on sale there, at the ordered price, summing to the order's total. */
function checkLines(input: TicketInput, rows: MenuRow[]): Map<string, MenuRow> {
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
  return byId;
}

/**
 * Inserts the ticket only if every checked menu row is still as checked (same restaurant, on sale,
 * same price and version). `unchanged` false: nothing inserted, check again. `status` null with
 * `unchanged`: the order already had a ticket (ON CONFLICT).
 *
 * FOR SHARE, held until this statement commits, keeps the old transaction's guarantee: a sold-out or
 * price change in flight makes this wait and is then compared in its committed form, and a later one
 * waits for the ticket. The comparison catches whatever committed since the check's read.
 */
async function insertIfUnchanged(db: Db, ticket: TicketRow, checked: MenuRow[]) {
  const { rows } = await db.raw<{ rows: Array<{ unchanged: boolean; status: TicketStatus | null }> }>(
    `WITH checked AS MATERIALIZED (
       SELECT m.menu_id FROM menu_items m
       JOIN jsonb_to_recordset(?::jsonb) AS c(menu_id text, price bigint, version int)
         ON c.menu_id = m.menu_id AND c.price = m.price AND c.version = m.version
       WHERE m.menu_id = ANY(?::text[]) AND m.restaurant_id = ? AND m.status = 'ON_SALE'
       FOR SHARE OF m
     ), inserted AS (
       INSERT INTO tickets (ticket_id, order_id, restaurant_id, status, items)
       SELECT ?, ?, ?, ?, ?::jsonb WHERE (SELECT count(*) FROM checked) = ?
       ON CONFLICT (order_id) DO NOTHING
       RETURNING status
     )
     SELECT (SELECT count(*) FROM checked) = ? AS unchanged, (SELECT status FROM inserted) AS status`,
    [
      JSON.stringify(checked.map(({ menu_id, price, version }) => ({ menu_id, price, version }))),
      checked.map((r) => r.menu_id),
      ticket.restaurant_id,
      ticket.ticket_id,
      ticket.order_id,
      ticket.restaurant_id,
      ticket.status,
      ticket.items,
      checked.length,
      checked.length,
    ],
  );
  return rows[0]!;
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
     *
     * Two round trips (the read, the guarded insert), each its own transaction.
     */
    async createTicket(input: TicketInput): Promise<{ ticketId: string; autoAccept: boolean; accepted: boolean }> {
      const ticketId = ticketIdFor(input.orderId);
      for (let check = 1; ; check++) {
        const found = await readForTicket(db, input);
        if (found.auto_accept === null) throw ApplicationFailure.nonRetryable('Unknown restaurant', 'ITEM_UNAVAILABLE');
        const autoAccept = Boolean(found.auto_accept);
        if (found.ticket_status) {
          if (found.ticket_status === 'CANCELLED') throw ApplicationFailure.nonRetryable('The ticket was already cancelled', 'SYSTEM_ERROR');
          return { ticketId, autoAccept, accepted: found.ticket_status === 'ACCEPTED' };
        }
        const byId = checkLines(input, found.menu);
        const items = input.items.map((line) => ({ ...line, currentVersion: byId.get(line.menuId)?.version }));
        const status: TicketStatus = autoAccept && input.acceptIfAutoAccept ? 'ACCEPTED' : 'PENDING';
        const ticket: TicketRow = { ticket_id: ticketId, order_id: input.orderId, restaurant_id: input.restaurantId, status, items: JSON.stringify(items) };
        const outcome = await insertIfUnchanged(db, ticket, found.menu);
        // Nothing inserted on conflict: a compensation's tombstone got there first (it is CANCELLED; the saga is closing).
        if (outcome.unchanged) return { ticketId, autoAccept, accepted: outcome.status === 'ACCEPTED' };
        // A menu row changed since the read: check again, so its change is judged (never a ticket on the old one).
        if (check === TICKET_CHECKS) throw new Error(`the menu of ${input.orderId} changed during each of ${TICKET_CHECKS} checks`);
      }
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
      // The usual case (PENDING) is one round trip; otherwise a fresh read says what the ticket is.
      if ((await transition(input.orderId, ['PENDING'], 'ACCEPTED')) > 0) return;
      const ticket = await db('tickets').select('status').where({ order_id: input.orderId }).first();
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
      // Two statements, not one: a ticket that createTicket commits while the tombstone waits on its
      // key must be seen by the cancel, which a second statement's fresh snapshot does.
      const { rows } = await db.raw(
        `INSERT INTO tickets (ticket_id, order_id, restaurant_id, status, items, reason)
         SELECT ?, ?, ?, 'CANCELLED', '[]', 'never opened'
          WHERE EXISTS (SELECT 1 FROM restaurants WHERE restaurant_id = ?)
         ON CONFLICT (order_id) DO NOTHING
         RETURNING ticket_id`,
        [ticketIdFor(input.orderId), input.orderId, input.restaurantId, input.restaurantId],
      );
      const tombstone = rows.length;
      const cancelled = await transition(input.orderId, ['PENDING', 'ACCEPTED'], 'CANCELLED', 'compensated');
      if (tombstone + cancelled > 0) {
        metrics.compensation('cancelTicket', 'CANCELLED');
        log.info(tombstone > 0 ? 'ticket cancelled before it was opened' : 'ticket cancelled');
      }
    },
  };
}
