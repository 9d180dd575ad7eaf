import type { Db } from '../../db/knex';
import type { Principal } from '../../lib/node/auth';
import type { OrderStatus } from '../../lib/workflow-safe/domain';
import { InvalidInput, NotFound } from './errors';
import { loadOrder, type OrderRow } from './order-rows';

// Reading orders: one order for those who may see it, a restaurant's orders page by page.

export interface OrderQueryDeps {
  ordersDb: Db;
  menuReadDb: Db;
  uiUrl: (workflowId: string) => string;
}

export function createOrderQueries({ ordersDb, menuReadDb, uiUrl }: OrderQueryDeps) {
  return {
    /** The order as its customer, its restaurant or an admin may see it; 404 for anyone else. */
    async getOrder(principal: Principal, orderId: string) {
      const row = await loadOrder(ordersDb, orderId);
      if (!row || !maySee(principal, row)) throw new NotFound('Order');
      const items = await ordersDb('order_items').where({ order_id: orderId }).orderBy('line_no');
      return {
        orderId: row.order_id,
        restaurantId: row.restaurant_id,
        customerId: row.customer_id,
        status: row.status,
        items: items.map((i) => ({ menuId: i.menu_id as string, name: i.name as string, unitPrice: Number(i.unit_price), quantity: i.quantity as number })),
        totalAmount: Number(row.total_amount),
        deliveryAddress: row.delivery_address,
        payment: { status: row.payment_status },
        failureReason: row.failure_reason,
        acceptanceDeadline: row.acceptance_deadline?.toISOString() ?? null,
        createdAt: row.created_at.toISOString(),
        updatedAt: row.updated_at.toISOString(),
        workflowId: row.workflow_id,
        // The link into Temporal's Web UI is an operator's tool: restaurants and admins get it, customers do not.
        ...(principal.role === 'customer' ? {} : { workflowUrl: uiUrl(row.workflow_id) }),
      };
    },

    /** Newest first, keyset-paged by (created_at, order_id). */
    async listRestaurantOrders(restaurantId: string, q: { status?: OrderStatus; limit: number; cursor?: string }) {
      let query = ordersDb<OrderRow>('orders').where({ restaurant_id: restaurantId });
      if (q.status) query = query.andWhere({ status: q.status });
      if (q.cursor) {
        const [at, id] = decodeCursor(q.cursor);
        query = query.andWhere((w) => w.where('created_at', '<', at).orWhere((w2) => w2.where('created_at', '=', at).andWhere('order_id', '<', id)));
      }
      const rows = await query
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'order_id', order: 'desc' },
        ])
        .limit(q.limit + 1);
      // No orders: tell "no such restaurant" (an admin's typo) from "nothing yet", from the read model.
      if (rows.length === 0 && !q.cursor && !(await menuReadDb('restaurants_read').where({ restaurant_id: restaurantId }).first()))
        throw new NotFound('Restaurant');
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        orders: page.map((r) => ({
          orderId: r.order_id,
          customerId: r.customer_id,
          status: r.status,
          totalAmount: Number(r.total_amount),
          failureReason: r.failure_reason,
          acceptanceDeadline: r.acceptance_deadline?.toISOString() ?? null,
          createdAt: r.created_at.toISOString(),
        })),
        nextCursor: rows.length > q.limit && last ? encodeCursor(last.created_at, last.order_id) : null,
      };
    },
  };
}

function maySee(principal: Principal, row: OrderRow): boolean {
  if (principal.role === 'admin') return true;
  if (principal.role === 'customer') return row.customer_id === principal.sub;
  return principal.restaurantId === row.restaurant_id;
}

// The cursor is base64url("<ISO time>|<orderId>"); api/validation.ts refuses forged ones before they get here.
function encodeCursor(at: Date, id: string): string {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const [at, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime())) throw new InvalidInput('Invalid cursor');
  return [date, id];
}
