import http from 'node:http';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabases, type TestDatabases } from './support/databases';
import { seedRestaurants } from '../db/seed';
import { createPspSandbox, type PspSandbox } from '../psp/sandbox';
import { violationCount } from '../ops/audit';
import { auditDatabases } from './support/audit';
import { freePort } from '../lib/node/ports';
import { dbosEngine, restateEngine, type PeerEngine, type PeerEnvironment } from '../bench/peers/engines';
import { autoAcceptMenus, orderInput } from '../bench/peers/orders';

// Smoke run of the benchmark's peer engines (bench/peers/): each runs the order saga against real
// service databases and the PSP sandbox: a good card is confirmed with one capture, a declined card
// is rejected with the compensations run, a flaky PSP is retried through. The audit checks the books.

jest.setTimeout(240_000);

let dbs: TestDatabases;
let psp: PspSandbox;
let pspServer: http.Server;
let env: PeerEnvironment;
let dataDir: string;

beforeAll(async () => {
  dbs = await createTestDatabases('peers');
  await seedRestaurants(dbs.restaurants, { restaurants: 4, itemsPerRestaurant: 3 });
  psp = createPspSandbox();
  const pspPort = await freePort();
  pspServer = http.createServer(psp.app).listen(pspPort, '127.0.0.1');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peers-test-'));
  const admin = new URL(dbs.urls.orders);
  admin.pathname = '/postgres';
  env = {
    adminUrl: admin.toString(),
    serviceUrls: {
      orders: dbs.roleUrl('orders_service', 'orders'),
      payments: dbs.roleUrl('payments_service', 'payments'),
      restaurants: dbs.roleUrl('restaurants_service', 'restaurants'),
    },
    pspUrl: `http://127.0.0.1:${pspPort}`,
    dataDir,
    log: () => undefined,
    env: { LOG_LEVEL: 'warn' },
  };
});

afterAll(async () => {
  await new Promise((resolve) => pspServer.close(resolve));
  await dbs.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function finalStatus(orderId: string, timeoutMs = 60_000): Promise<{ status: string; failure_reason: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await dbs.orders('orders').where({ order_id: orderId }).first();
    if (row && ['CONFIRMED', 'REJECTED', 'CANCELLED'].includes(row.status)) return row;
    if (Date.now() > deadline) throw new Error(`${orderId} is ${row?.status ?? 'missing'} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function smoke(engine: PeerEngine): Promise<void> {
  const menus = await autoAcceptMenus(dbs.restaurants);
  await engine.start();
  try {
    const tag = `${engine.name}-smoke`;
    const writes0 = await engine.durableWrites();
    const cards = ['tok_ok', 'tok_decline', 'tok_flaky_2'];
    const inputs = cards.map((cardToken, n) => ({ ...orderInput(menus, n, `${tag}-${n}`), cardToken }));
    for (const input of inputs) await engine.submit(input);
    // A repeated submission of an order starts nothing new (the order id is the workflow's key).
    await engine.submit(inputs[0]!);
    const [ok, declined, flaky] = await Promise.all(inputs.map((i) => finalStatus(i.orderId)));
    expect(ok!.status).toBe('CONFIRMED');
    expect(declined).toMatchObject({ status: 'REJECTED', failure_reason: 'PAYMENT_DECLINED' });
    expect(flaky!.status).toBe('CONFIRMED');
    expect(psp.authorizations.get(`pay_${inputs[0]!.orderId}`)?.status).toBe('CAPTURED');
    expect(psp.authorizations.get(`pay_${inputs[2]!.orderId}`)?.status).toBe('CAPTURED');
    expect(await dbs.restaurants('tickets').where({ order_id: inputs[1]!.orderId }).first()).toMatchObject({ status: 'CANCELLED' });
    // The engine recorded its steps somewhere durable.
    await sleep(1500); // Postgres publishes its table statistics about once a second
    expect((await engine.durableWrites()) - writes0).toBeGreaterThan(0);
  } finally {
    await engine.stop();
  }
}

test('DBOS runs the saga: confirmed, declined with compensations, retried through a flaky PSP', async () => {
  await smoke(dbosEngine(env, `dbos_peer_test_${process.pid}`));
});

test('Restate runs the saga: confirmed, declined with compensations, retried through a flaky PSP', async () => {
  await smoke(restateEngine(env));
});

test('the books of both peers are clean (audit with the PSP)', async () => {
  const report = await auditDatabases(dbs, { psp: { url: env.pspUrl } });
  expect(report.orders).toBe(6);
  expect(violationCount(report)).toBe(0);
});
