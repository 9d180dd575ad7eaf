import { z } from 'zod';
import { MENU_ITEM_STATUSES, ORDER_STATUSES, RESTAURANT_CATEGORIES } from '../lib/workflow-safe/domain';
import { component } from './route';
import { InvalidInput } from './services/errors';

// Request schemas. Objects are strict: an unknown field (in a body or a query string) is a 400, not
// silently dropped. Every string is bounded, and text that is stored is refused when it holds
// characters Postgres cannot store (NUL) or that are not well-formed Unicode (lone surrogates).

const id = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only');

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Trimmed text of 1..max UTF-16 units; `multiline` allows tab and line breaks. */
export const text = (max: number, { multiline = false } = {}) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !(multiline ? CONTROL : CONTROL_OR_NEWLINE).test(s), 'control characters are not allowed')
    .refine((s) => !LONE_SURROGATE.test(s), 'must be well-formed Unicode');

export const MAX_ORDER_LINES = 50;
export const MAX_QUANTITY = 99;
export const MAX_PRICE = 10_000_000;
/** An order's total can be at most MAX_ORDER_LINES * MAX_QUANTITY * MAX_PRICE: a safe integer and a bigint column. */
export const MAX_ORDER_TOTAL = MAX_ORDER_LINES * MAX_QUANTITY * MAX_PRICE;

const price = z.number().int().min(1).max(MAX_PRICE);

export const placeOrderBody = z
  .object({
    restaurantId: id,
    items: z
      .array(z.object({ menuId: id, quantity: z.number().int().min(1).max(MAX_QUANTITY) }).strict())
      .min(1)
      .max(MAX_ORDER_LINES)
      .refine((items) => new Set(items.map((i) => i.menuId)).size === items.length, 'each menuId may appear once'),
    deliveryAddress: text(500, { multiline: true }),
    paymentMethod: z.object({ cardToken: text(100) }).strict(),
  })
  .strict();
export type PlaceOrderBody = z.infer<typeof placeOrderBody>;

export const idempotencyKeyHeader = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII');

/** `If-Match: 3`, `"3"` or `W/"3"`: the menu item version the change is based on. */
export const ifMatchHeader = z
  .string()
  .regex(/^\s*(?:W\/)?"?\d{1,9}"?\s*$/, 'the item version')
  .transform((v) => Number(/\d+/.exec(v)![0]));

export const rejectBody = z.object({ reason: text(500, { multiline: true }).optional() }).strict();

/** Routes that take no body accept none, or `{}`. */
export const emptyBody = z.object({}).strict();

// Query strings are parsed flat (app.ts: `query parser` = simple): a value is a string, or an
// array when the name repeats, which these schemas refuse.
export const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const waitQuery = intParam(0, 30000);

/** Routes that take no query parameters refuse any. */
export const noQuery = z.object({}).strict();

export const placeOrderQuery = z
  .object({
    wait: waitQuery.optional().meta({
      description: 'Hold the answer up to this many milliseconds in all (digits only) while the saga is started and until the order leaves `PENDING`.',
    }),
  })
  .strict();

const PAGE_SIZE = 'Page size (digits only).';
const NEXT_CURSOR = 'The `nextCursor` of the previous page; opaque.';

export const pageQuery = z
  .object({
    limit: intParam(1, 200).default(50).meta({ description: PAGE_SIZE }),
    cursor: id.optional().meta({ description: NEXT_CURSOR }),
  })
  .strict();

/** GET /restaurants: the page query plus an optional name search and category filter. */
export const restaurantSearchQuery = pageQuery
  .extend({
    q: text(50)
      .optional()
      .meta({
        description:
          'Part of the name, case-insensitive, in any script (`치킨` finds "교촌치킨 강남점"; prefixes and substrings alike). ' +
          '1 to 50 characters after trimming; `%`, `_` and `\\` are matched literally.',
      }),
    category: z.enum(RESTAURANT_CATEGORIES).optional().meta({ description: 'Only restaurants of this category' }),
  })
  .strict();

// The restaurant-orders cursor is base64url("<ISO time>|<orderId>") (api/services/orders.ts); it is
// checked here so that a forged one is a 400, not a database error.
export const ordersCursor = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_-]+$/, 'an opaque cursor from a previous page')
  .refine((c) => {
    const [at, orderId, ...rest] = Buffer.from(c, 'base64url').toString('utf8').split('|');
    if (rest.length > 0 || !orderId || !/^[A-Za-z0-9_-]{1,64}$/.test(orderId)) return false;
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(at ?? '')) return false;
    // Within what Postgres's timestamptz and a JS Date both represent (no year 0, no BC).
    const t = new Date(at!).getTime();
    return t >= 0 && t <= Date.UTC(9999, 11, 31);
  }, 'an opaque cursor from a previous page');

export const restaurantOrdersQuery = z
  .object({
    limit: intParam(1, 200).default(50).meta({ description: PAGE_SIZE }),
    cursor: ordersCursor.optional().meta({ description: NEXT_CURSOR }),
    status: z.enum(ORDER_STATUSES).optional().meta({ description: 'Only orders in this status.' }),
  })
  .strict();

export const createMenuItemBody = z
  .object({
    name: text(100),
    price,
    status: z.enum(MENU_ITEM_STATUSES).optional(),
  })
  .strict();

export const updateMenuItemBody = z
  .object({
    name: text(100).optional(),
    price: price.optional(),
    status: z.enum(MENU_ITEM_STATUSES).optional(),
  })
  .strict()
  .refine((b) => b.name !== undefined || b.price !== undefined || b.status !== undefined, 'name, price or status is required');

export const pathId = id;

const MAX_DETAILS = 20;
const clip = (s: string, max = 200) => (s.length > max ? `${s.slice(0, max)}…` : s);

/**
 * The value as the schema parses it, or a 400 VALIDATION_FAILED naming `where` (body, query, path,
 * a header) and each issue's path, under `at` when given (a path parameter's name).
 */
export function parse<T>(schema: z.ZodType<T>, value: unknown, where = 'body', at?: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    // Bounded: a body of 10,000 bad lines does not produce a 10,000-entry answer.
    const details = result.error.issues
      .slice(0, MAX_DETAILS)
      .map((i) => ({ path: clip([...(at ? [at] : []), ...i.path.map(String)].join('.')), message: clip(i.message) }));
    throw new InvalidInput(`The request ${where} is invalid`, details);
  }
  return result.data;
}

// Named request bodies: components of the OpenAPI document, with what their refinements check in words.

export const PlaceOrderRequest = component('PlaceOrderRequest', placeOrderBody, {
  description: 'Each `menuId` may appear once. Text may not hold control characters (the address may hold line breaks) or lone surrogates.',
  example: {
    restaurantId: 'rst_0003',
    items: [{ menuId: 'mnu_0003_01', quantity: 2 }],
    deliveryAddress: '서울시 강남구 테헤란로 1',
    paymentMethod: { cardToken: 'tok_ok' },
  },
});
export const RejectRequest = component('RejectRequest', rejectBody, {
  description: 'The reason may not hold control characters other than line breaks and tabs.',
  example: { reason: 'Out of rice' },
});
export const EmptyBody = component('EmptyBody', emptyBody, { description: 'No body, or `{}`.', example: {} });
export const CreateMenuItemRequest = component('CreateMenuItemRequest', createMenuItemBody, {
  description: 'The name may not hold control characters.',
  example: { name: 'Kimchi fried rice', price: 9000, status: 'ON_SALE' },
});
export const UpdateMenuItemRequest = component('UpdateMenuItemRequest', updateMenuItemBody, {
  description: 'At least one of name, price, status.',
  // The refinement "name, price or status is required" of a strict object of optional fields is exactly this.
  jsonSchema: { minProperties: 1 },
  example: { status: 'SOLD_OUT' },
});
