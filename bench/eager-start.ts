/**
 * Eager workflow start, measured (issue #15, lever 2): `npm run bench:eager [-- --orders N --rate R]`.
 *
 * Starts the stack without an order worker process; this process runs the order worker itself and
 * starts sagas (auto-accepting restaurants) two ways on the same worker: through a plain client
 * Connection, and through a client sharing the worker's NativeConnection with `requestEagerStart`
 * (the server hands the first workflow task back in the start call). Per mode: one saga at a time
 * (start-to-CONFIRMED latency), then an open loop at a fixed rate (CPU of Temporal and of this
 * process per order); state transitions and history events per saga by Temporal's own count.
 *
 * In the product the API starts sagas and the order worker runs them in separate processes (the
 * layout the lint fences keep); this measures what sharing one process would buy before deciding.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createDb } from '../db/knex';
import { insertOrder } from '../db/orders/store';
import { startHarnessRun, startStackOnFreePorts } from '../harness/bootstrap';
import { LOAD_HARNESS_LIMITS } from '../harness/local-stack';
import { dataConverterFor } from '../lib/node/payload-codec';
import { startOrderSaga } from '../lib/order-saga-starter';
import type { OrderSagaInput } from '../lib/workflow-safe/domain';
import { orderWorkflowId } from '../lib/workflow-safe/task-queues';
import { createOrderWorker } from '../workers/service-workers';
import { cpuBetween, ProcessAccounting } from './lib/proc';
import { summarize } from './lib/stats';

const say = (m: string) => process.stderr.write(`[eager ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

interface Menu {
  restaurantId: string;
  menuId: string;
  name: string;
  price: number;
  version: number;
}

async function main() {
  const { values } = parseArgs({
    options: { orders: { type: 'string', default: '20' }, rate: { type: 'string', default: '3' }, seconds: { type: 'string', default: '15' } },
  });
  const [idleOrders, rate, seconds] = [Number(values.orders), Number(values.rate), Number(values.seconds)];
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const run = startHarnessRun({ prefix: 'eager-start-', log: say });
  const stack = await startStackOnFreePorts((ports) => ({
    dataDir: run.dataDir,
    ports,
    workers: { order: 0, payment: 1, restaurant: 1 },
    env: { AUTH_SECRET: run.secret, ...LOAD_HARNESS_LIMITS },
    seed: { restaurants: 300, itemsPerRestaurant: 10 },
    log: say,
  }));
  run.onClose(() => stack.stop());
  const ordersDb = createDb(stack.roleUrl('orders_service', 'orders'), 10);
  const restaurantsDb = createDb(stack.urls.restaurants, 2);
  const native = await NativeConnection.connect({ address: stack.temporalAddress });
  const plainConnection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const dataConverter = dataConverterFor(stack.payloadCodec);
    const taskQueuePrefix = stack.env.TASK_QUEUE_PREFIX ?? '';
    const worker = await createOrderWorker({ connection: native, namespace: 'default', taskQueuePrefix, payloadCodec: stack.payloadCodec, db: ordersDb });
    const running = worker.run();
    const clients = {
      plain: new Client({ connection: plainConnection, dataConverter }),
      eager: new Client({ connection: native, dataConverter }),
    };
    const menus: Menu[] = (
      await restaurantsDb('menu_items as m')
        .join('restaurants as r', 'r.restaurant_id', 'm.restaurant_id')
        .where({ 'r.auto_accept': true, 'm.status': 'ON_SALE' })
        .select('m.restaurant_id', 'm.menu_id', 'm.name', 'm.price', 'm.version')
        .limit(500)
    ).map((r) => ({ restaurantId: r.restaurant_id, menuId: r.menu_id, name: r.name, price: Number(r.price), version: Number(r.version) }));
    let n = 0;
    const oneSaga = async (mode: keyof typeof clients) => {
      const m = menus[n++ % menus.length]!;
      const input: OrderSagaInput = {
        orderId: `ord_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
        customerId: 'bench-eager',
        restaurantId: m.restaurantId,
        items: [{ menuId: m.menuId, name: m.name, unitPrice: m.price, quantity: 1, menuVersion: m.version }],
        totalAmount: m.price,
        deliveryAddress: 'bench eager start',
        cardToken: 'tok_ok',
      };
      await insertOrder(ordersDb, input);
      const t0 = performance.now();
      await startOrderSaga(clients[mode], input, taskQueuePrefix, 'first-run', { eager: mode === 'eager' });
      const startMs = performance.now() - t0;
      const handle = clients[mode].workflow.getHandle(orderWorkflowId(input.orderId));
      const result = (await handle.result()) as { status: string };
      const doneMs = performance.now() - t0;
      const d = await handle.describe();
      return {
        status: result.status,
        startMs,
        doneMs,
        transitions: Number(d.raw.workflowExecutionInfo?.stateTransitionCount ?? NaN),
        events: d.historyLength,
      };
    };
    const acct = new ProcessAccounting([
      { name: 'temporal', roots: () => stack.temporal.processes().map((p) => p.pid) },
      { name: 'this process (order worker + client)', roots: () => [process.pid] },
    ]);
    say('warming up: 10 sagas each way');
    for (let i = 0; i < 10; i++) await Promise.all([oneSaga('plain'), oneSaga('eager')]);
    const report: Record<string, unknown> = {};
    for (const mode of ['plain', 'eager', 'plain', 'eager'] as const) {
      say(`${mode}: ${idleOrders} sagas one at a time, then ${rate}/s for ${seconds} s`);
      const idle = [];
      for (let i = 0; i < idleOrders; i++) idle.push(await oneSaga(mode));
      const c0 = acct.snapshot();
      const loop: Array<Promise<Awaited<ReturnType<typeof oneSaga>>>> = [];
      const began = Date.now();
      for (let i = 0; i < rate * seconds; i++) {
        await sleep(Math.max(0, began + (i * 1000) / rate - Date.now()));
        loop.push(oneSaga(mode));
      }
      const loaded = await Promise.all(loop);
      const cpu = cpuBetween(c0, acct.snapshot());
      const all = [...idle, ...loaded];
      const key = `${mode}${report[mode] ? ' (again)' : ''}`;
      report[key] = {
        confirmed: `${all.filter((r) => r.status === 'CONFIRMED').length}/${all.length}`,
        transitionsPerSaga: summarize(all.map((r) => r.transitions)).mean,
        historyEventsPerSaga: summarize(all.map((r) => r.events)).mean,
        idleStartMsP50: summarize(idle.map((r) => r.startMs)).p50,
        idleConfirmedMsP50: summarize(idle.map((r) => r.doneMs)).p50,
        loadedConfirmedMsP50: summarize(loaded.map((r) => r.doneMs)).p50,
        loadedConfirmedMsP99: summarize(loaded.map((r) => r.doneMs)).p99,
        cpuMsPerOrder: Object.fromEntries(Object.entries(cpu.groups).map(([g, s]) => [g, Math.round((s / loaded.length) * 1000 * 10) / 10])),
        // Everything on the machine, the payment and restaurant workers, Postgres and other people's work included.
        machineCoresBusy: Math.round((cpu.machineBusy / cpu.wallSeconds) * 100) / 100,
      };
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    worker.shutdown();
    await running;
  } finally {
    await plainConnection.close();
    await native.close();
    await ordersDb.destroy();
    await restaurantsDb.destroy();
    await run.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
