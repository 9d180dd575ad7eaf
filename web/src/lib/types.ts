// The HTTP contract as the console sees it (the API's OpenAPI document, /openapi.json). The console uses only these
// endpoints, the same ones any other client uses.

export type Role = 'customer' | 'restaurant' | 'admin';
export type MenuItemStatus = 'ON_SALE' | 'SOLD_OUT' | 'HIDDEN';
export const MENU_ITEM_STATUSES: readonly MenuItemStatus[] = ['ON_SALE', 'SOLD_OUT', 'HIDDEN'];
export type OrderStatus = 'PENDING' | 'AWAITING_RESTAURANT' | 'CONFIRMED' | 'REJECTED' | 'CANCELLED';
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['CONFIRMED', 'REJECTED', 'CANCELLED'];

export interface RestaurantSummary {
  restaurantId: string;
  name: string;
  autoAccept: boolean;
}

export interface RestaurantPage {
  restaurants: RestaurantSummary[];
  nextCursor: string | null;
}

export interface MenuItem {
  menuId: string;
  name: string;
  price: number;
  status: MenuItemStatus;
  version: number;
}

export interface Menu {
  restaurantId: string;
  name?: string;
  items: MenuItem[];
  asOf: string | null;
}

export interface OrderLine {
  menuId: string;
  name: string;
  unitPrice: number;
  quantity: number;
}

export interface Order {
  orderId: string;
  restaurantId: string;
  customerId: string;
  status: OrderStatus;
  items: OrderLine[];
  totalAmount: number;
  deliveryAddress?: string;
  payment: { status: string | null };
  failureReason: string | null;
  acceptanceDeadline?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface RestaurantOrder {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  totalAmount: number;
  failureReason: string | null;
  acceptanceDeadline: string | null;
  createdAt: string;
}

export interface PlacedOrder {
  orderId: string;
  status: OrderStatus;
  totalAmount: number;
}

export interface PlaceOrderBody {
  restaurantId: string;
  items: Array<{ menuId: string; quantity: number }>;
  deliveryAddress: string;
  paymentMethod: { cardToken: string };
}

// The operator's desk (admin routes, tag Admin in /openapi.json).

export type StorySource = 'order' | 'payment' | 'psp' | 'ticket' | 'saga' | 'reconciler' | 'operator';

export interface TimelineEntry {
  at: string;
  source: StorySource;
  kind: string;
  summary: string;
  activityType?: string;
  attempt?: number;
  failure?: string;
  eventId?: number;
  link?: string;
}

export interface WorkflowRef {
  workflowId: string;
  runId: string;
  status: string;
  url: string;
}

export interface OperatorAction {
  actionId: string;
  orderId?: string;
  action: 'cancel' | 'retry' | 'reconcile';
  operator: string;
  reason: string;
  status: 'REQUESTED' | 'DONE' | 'REFUSED';
  httpStatus: number | null;
  result: { message?: string; code?: string; details?: Record<string, unknown> } | null;
  requestedAt: string;
  finishedAt: string | null;
}

export interface OrderStory {
  orderId: string;
  order: {
    orderId: string;
    customerId: string;
    restaurantId: string;
    status: OrderStatus;
    failureReason: string | null;
    totalAmount: number;
    paymentStatus: string | null;
    createdAt: string;
  };
  payment: { status: string } | null;
  psp: { findings: Array<{ kind: string; detail: string }> } | null;
  ticket: { status: string } | null;
  saga: WorkflowRef | null;
  repair: WorkflowRef | null;
  operatorActions: OperatorAction[];
  timeline: TimelineEntry[];
  sources: Record<string, string>;
  workflowUrl: string;
}

export interface Finding {
  kind: 'NOT_FINAL' | 'STEP_FAILING' | 'COMPENSATION_RETRYING' | 'SAGA_NOT_RUNNING' | 'PSP_MISMATCH';
  stage: string;
  detail: string;
  activityType?: string;
  attempt?: number;
  lastFailure?: string;
  pspKind?: string;
}

export interface AdminOrder {
  orderId: string;
  customerId: string;
  restaurantId: string;
  status: OrderStatus;
  failureReason: string | null;
  totalAmount: number;
  createdAt: string;
  workflowUrl: string;
  findings?: Finding[];
}

export interface AdminOrdersPage {
  orders: AdminOrder[];
  nextCursor: string | null;
}
