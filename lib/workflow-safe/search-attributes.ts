import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Typed search attributes on every order workflow, so operators can filter sagas in the Web UI and
// with `temporal workflow list --query 'OrderStatus="REJECTED"'`.
export const ORDER_ID = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const CUSTOMER_ID = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const RESTAURANT_ID = defineSearchAttributeKey('RestaurantId', SearchAttributeType.KEYWORD);
export const ORDER_STATUS = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);

export const ORDER_SEARCH_ATTRIBUTES = [ORDER_ID, CUSTOMER_ID, RESTAURANT_ID, ORDER_STATUS];
