// Every workflow the order worker runs. Workflow code is bundled and replayed: no I/O here.
export { orderSaga } from './order-saga';
export { reconcileOrders, repairOrder } from './reconcile';
