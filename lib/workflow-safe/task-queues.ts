// Task queues and workflow ids in one place, so the API, the workers and the workflow agree.
// Each service polls its own queue; a prefix lets several stacks share one Temporal server.

export interface TaskQueues {
  order: string;
  payment: string;
  restaurant: string;
}

const SUFFIX = { order: 'orders', payment: 'payments', restaurant: 'restaurants' } as const;

export function taskQueuesFor(prefix = ''): TaskQueues {
  return {
    order: `${prefix}${SUFFIX.order}`,
    payment: `${prefix}${SUFFIX.payment}`,
    restaurant: `${prefix}${SUFFIX.restaurant}`,
  };
}

/** The workflow runs on the order queue; it finds its sibling queues from that name. */
export function taskQueuesFromOrderQueue(orderQueue: string): TaskQueues {
  const prefix = orderQueue.endsWith(SUFFIX.order) ? orderQueue.slice(0, -SUFFIX.order.length) : '';
  return taskQueuesFor(prefix);
}

export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}

/** The order id in an order saga's workflow id; undefined for any other workflow. */
export function orderIdFromWorkflowId(workflowId: string): string | undefined {
  return workflowId.startsWith('order-') && workflowId.length > 'order-'.length ? workflowId.slice('order-'.length) : undefined;
}

export function workflowUiUrl(uiBase: string, namespace: string, workflowId: string): string {
  return `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
