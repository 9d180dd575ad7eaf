import { z } from 'zod';
import { HttpError } from './errors';
import { MENU_ITEM_STATUSES, ORDER_STATUSES } from '../lib/domain';

// Request schemas. Objects are strict: an unknown field is a 400, not silently dropped.

const id = z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only');
const text = (max: number) => z.string().trim().min(1).max(max);

export const MAX_ORDER_LINES = 50;
export const MAX_QUANTITY = 99;
export const MAX_PRICE = 10_000_000;

export const placeOrderBody = z
  .object({
    restaurantId: id,
    items: z
      .array(z.object({ menuId: id, quantity: z.number().int().min(1).max(MAX_QUANTITY) }).strict())
      .min(1)
      .max(MAX_ORDER_LINES)
      .refine((items) => new Set(items.map((i) => i.menuId)).size === items.length, 'each menuId may appear once'),
    deliveryAddress: text(500),
    paymentMethod: z.object({ cardToken: text(100) }).strict(),
  })
  .strict();
export type PlaceOrderBody = z.infer<typeof placeOrderBody>;

export const idempotencyKeyHeader = z.string().trim().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII');

export const rejectBody = z.object({ reason: text(500).optional() }).strict();

export const waitQuery = z.coerce.number().int().min(0).max(30000);

export const pageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export const restaurantOrdersQuery = pageQuery.extend({ status: z.enum(ORDER_STATUSES).optional() }).strict();

export const createMenuItemBody = z
  .object({
    name: text(100),
    price: z.number().int().min(1).max(MAX_PRICE),
    status: z.enum(MENU_ITEM_STATUSES).optional(),
  })
  .strict();

export const updateMenuItemBody = z
  .object({
    name: text(100).optional(),
    price: z.number().int().min(1).max(MAX_PRICE).optional(),
    status: z.enum(MENU_ITEM_STATUSES).optional(),
  })
  .strict()
  .refine((b) => b.name !== undefined || b.price !== undefined || b.status !== undefined, 'name, price or status is required');

export const pathId = id;

export function parse<T>(schema: z.ZodType<T>, value: unknown, where = 'body'): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new HttpError(400, 'VALIDATION_FAILED', `The request ${where} is invalid`, result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  }
  return result.data;
}
