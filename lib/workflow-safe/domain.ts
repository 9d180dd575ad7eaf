// Domain vocabulary shared by the API, the activities and the workflow. No imports: the workflow
// bundle includes this file, so it must stay free of I/O.

export const ORDER_STATUSES = ['PENDING', 'AWAITING_RESTAURANT', 'CONFIRMED', 'REJECTED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const TERMINAL_ORDER_STATUSES: readonly OrderStatus[] = ['CONFIRMED', 'REJECTED', 'CANCELLED'];

export const PAYMENT_STATUSES = ['PENDING', 'AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED', 'DECLINED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const TICKET_STATUSES = ['PENDING', 'ACCEPTED', 'REJECTED', 'CANCELLED'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export const MENU_ITEM_STATUSES = ['ON_SALE', 'SOLD_OUT', 'HIDDEN'] as const;
export type MenuItemStatus = (typeof MENU_ITEM_STATUSES)[number];

/** What a restaurant mainly serves: the `category` filter of GET /restaurants. */
export const RESTAURANT_CATEGORIES = ['korean', 'chinese', 'japanese', 'western', 'chicken', 'pizza', 'burger', 'snack', 'cafe', 'late_night'] as const;
export type RestaurantCategory = (typeof RESTAURANT_CATEGORIES)[number];

/** Why an order ended REJECTED or CANCELLED; also the ApplicationFailure type of business failures. */
export const FAILURE_REASONS = [
  'PAYMENT_DECLINED',
  'ITEM_UNAVAILABLE',
  'PRICE_CHANGED',
  'RESTAURANT_REJECTED',
  'RESTAURANT_TIMEOUT',
  'CUSTOMER_CANCELLED',
  'PAYMENT_CAPTURE_FAILED',
  // The PSP stayed unreachable for the whole authorization window; nothing was charged.
  'PAYMENT_UNAVAILABLE',
  // An unexpected failure; the compensations still ran.
  'SYSTEM_ERROR',
  // An operator cancelled the saga (Web UI "Request cancellation", `temporal workflow cancel`)
  // before the restaurant's decision; every compensation ran.
  'OPERATOR_CANCELLED',
  // The order's total is not the sum of its lines at the restaurant's prices, or differs from the
  // stored order: nothing is kept (the saga checks the money itself, whoever started it).
  'AMOUNT_MISMATCH',
  // The saga ended from outside (terminated, failed, timed out) before the order was final; the
  // reconciler released the payment, cancelled the ticket and closed the order.
  'SAGA_ABORTED',
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && (FAILURE_REASONS as readonly string[]).includes(value);
}

export interface OrderLine {
  menuId: string;
  name: string;
  unitPrice: number;
  quantity: number;
  /** The menu item's version the API priced the order from. */
  menuVersion: number;
}

export interface OrderSagaInput {
  orderId: string;
  customerId: string;
  restaurantId: string;
  items: OrderLine[];
  totalAmount: number;
  deliveryAddress: string;
  cardToken: string;
  /** Overrides the default acceptance window (tests, per-restaurant settings). */
  acceptanceWindowSeconds?: number;
}

export interface OrderSagaResult {
  orderId: string;
  status: OrderStatus;
  failureReason: FailureReason | null;
  paymentStatus: PaymentStatus | null;
}

export type RestaurantDecision = { decision: 'ACCEPT' } | { decision: 'REJECT'; reason?: string };
