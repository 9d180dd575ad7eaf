import { z } from 'zod';
import { FAILURE_REASONS, MENU_ITEM_STATUSES, ORDER_STATUSES, PAYMENT_STATUSES, RESTAURANT_CATEGORIES } from '../lib/workflow-safe/domain';
import { component } from './route';

// What the routes answer. Each is a component of the OpenAPI document, named by the routes that
// answer it (api/routes/*), and the type a handler's reply must have. Objects are strict: an answer
// carries exactly these fields (the document says `additionalProperties: false`), and in tests every
// answer is checked against its schema (ApiDeps.checkResponses).

const orderStatus = z.enum(ORDER_STATUSES);
const failureReason = z.enum(FAILURE_REASONS).nullable();

export const ErrorBody = component(
  'Error',
  z
    .strictObject({
      error: z.strictObject({
        code: z.string().meta({ description: 'UPPER_SNAKE code, e.g. VALIDATION_FAILED, NOT_FOUND, VERSION_CONFLICT' }),
        message: z.string().meta({ description: 'For a person' }),
        details: z.unknown().optional().meta({ description: 'Present for some codes: validation issues, the current menu item on a conflict, ...' }),
      }),
    })
    .meta({ description: 'Every 4xx and 5xx answer' }),
);

export const PlacedOrder = component(
  'PlacedOrder',
  z.strictObject({
    orderId: z.string(),
    status: orderStatus,
    totalAmount: z.number().int().meta({ description: 'KRW' }),
    workflowId: z.string().meta({ description: '`order-<orderId>`: the saga in Temporal' }),
    workflowUrl: z
      .string()
      .optional()
      .meta({ description: "The saga in Temporal's Web UI. Not sent to customers (the only callers of this route): kept for clients of earlier versions" }),
  }),
);

export const Order = component(
  'Order',
  z.strictObject({
    orderId: z.string(),
    restaurantId: z.string(),
    customerId: z.string(),
    status: orderStatus,
    items: z.array(z.strictObject({ menuId: z.string(), name: z.string(), unitPrice: z.number().int(), quantity: z.number().int() })),
    totalAmount: z.number().int(),
    deliveryAddress: z.string(),
    payment: z.strictObject({ status: z.enum(PAYMENT_STATUSES).nullable() }),
    failureReason: failureReason.meta({ description: 'Set for REJECTED and CANCELLED' }),
    acceptanceDeadline: z.string().nullable().meta({ description: 'ISO time until which the restaurant may accept' }),
    createdAt: z.string(),
    updatedAt: z.string(),
    workflowId: z.string(),
    workflowUrl: z.string().optional().meta({ description: "The saga in Temporal's Web UI: in restaurants' and admins' answers, never in a customer's" }),
  }),
);

export const OrderStatusAnswer = component('OrderStatusAnswer', z.strictObject({ status: orderStatus }));

export const RestaurantOrdersPage = component(
  'RestaurantOrdersPage',
  z.strictObject({
    orders: z.array(
      z.strictObject({
        orderId: z.string(),
        customerId: z.string(),
        status: orderStatus,
        totalAmount: z.number().int(),
        failureReason,
        acceptanceDeadline: z.string().nullable(),
        createdAt: z.string(),
      }),
    ),
    nextCursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  }),
);

export const RestaurantsPage = component(
  'RestaurantsPage',
  z.strictObject({
    restaurants: z.array(z.strictObject({ restaurantId: z.string(), name: z.string(), autoAccept: z.boolean(), category: z.enum(RESTAURANT_CATEGORIES) })),
    nextCursor: z.string().nullable(),
  }),
);

export const Menu = component(
  'Menu',
  z.strictObject({
    restaurantId: z.string(),
    name: z.string(),
    items: z.array(
      z.strictObject({ menuId: z.string(), name: z.string(), price: z.number().int(), status: z.enum(MENU_ITEM_STATUSES), version: z.number().int() }),
    ),
    asOf: z.string().nullable().meta({ description: 'Commit time of the last source change the read model has applied (CDC)' }),
  }),
);

export const MenuItemVersion = component('MenuItemVersion', z.strictObject({ menuId: z.string(), version: z.number().int() }));
