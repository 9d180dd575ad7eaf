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
