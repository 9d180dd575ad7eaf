import { spawnSync } from 'node:child_process';
import path from 'node:path';

// The import fences of eslint.config.mjs, each shown failing on a deliberate crossing and passing
// on the import it is meant to allow. Each snippet is linted in memory as if it stood at its path
// (ESLint's lintText with a filePath), with the project's own config: no stack, a few seconds.

const ROOT = path.resolve(__dirname, '..');

interface Case {
  /** What the case shows. */
  name: string;
  /** Where the snippet pretends to live (relative to the repository). */
  at: string;
  code: string;
  /** For a crossing: part of the message of the fence that must stop it; for an allowed import, null. */
  fence: string | null;
}

/** The crossing issue 14 found: the API writing orders with the order worker's function. */
const ISSUE_14_CROSSING = "import { insertOrder } from '../activities/order';\nexport const i = insertOrder;\n";

const crossing = (name: string, at: string, code: string, fence: string): Case => ({ name, at, code, fence });
const allowed = (name: string, at: string, code: string): Case => ({ name, at, code, fence: null });

const CASES: Case[] = [
  // workflows/: only the workflow-safe lib, activities by type only, two Temporal packages.
  crossing(
    'workflow imports an activity as a value',
    'workflows/order-saga.ts',
    "import { createOrderActivities } from '../activities/order';\nexport const a = createOrderActivities;\n",
    'Import activities with `import type` only',
  ),
  allowed(
    'workflow imports an activity as a type',
    'workflows/order-saga.ts',
    "import type { createOrderActivities } from '../activities/order';\nexport type A = ReturnType<typeof createOrderActivities>;\n",
  ),
  crossing(
    'workflow imports Node-only lib',
    'workflows/order-saga.ts',
    "import { loadConfig } from '../lib/node/config';\nexport const c = loadConfig;\n",
    'Workflow code imports only lib/workflow-safe/',
  ),
  crossing(
    'workflow imports a database module',
    'workflows/order-saga.ts',
    "import { insertOrder } from '../db/orders/store';\nexport const i = insertOrder;\n",
    'Workflow code imports only lib/workflow-safe/',
  ),
  crossing(
    'workflow imports the saga starter (Temporal client code)',
    'workflows/order-saga.ts',
    "import { startOrderSaga } from '../lib/order-saga-starter';\nexport const s = startOrderSaga;\n",
    'Workflow code imports only lib/workflow-safe/',
  ),
  crossing(
    'workflow imports a Node built-in',
    'workflows/order-saga.ts',
    "import fs from 'node:fs';\nexport const f = fs;\n",
    'of packages it imports only @temporalio/workflow',
  ),
  crossing(
    'workflow imports an I/O package',
    'workflows/order-saga.ts',
    "import { Client } from '@temporalio/client';\nexport const c = Client;\n",
    'of packages it imports only @temporalio/workflow',
  ),
  allowed(
    'workflow imports the workflow-safe lib and its SDK',
    'workflows/order-saga.ts',
    "import { proxyActivities } from '@temporalio/workflow';\nimport { ORDER_STATUSES } from '../lib/workflow-safe/domain';\nimport { taskQueuesFor } from '../lib/workflow-safe/task-queues';\nimport { ORDER_STATUS } from '../lib/workflow-safe/search-attributes';\nimport { decideUpdate } from './messages';\nexport const all = [proxyActivities, ORDER_STATUSES, taskQueuesFor, ORDER_STATUS, decideUpdate];\n",
  ),

  // lib/workflow-safe/: imports only itself.
  crossing(
    'workflow-safe lib imports Node-only lib',
    'lib/workflow-safe/domain.ts',
    "import { createLogger } from '../node/logger';\nexport const l = createLogger;\n",
    'lib/workflow-safe/ imports only lib/workflow-safe/',
  ),
  crossing(
    'workflow-safe lib imports a Node built-in',
    'lib/workflow-safe/task-queues.ts',
    "import net from 'node:net';\nexport const n = net;\n",
    'of packages it imports only @temporalio/workflow',
  ),
  crossing(
    'workflow-safe lib imports an I/O package',
    'lib/workflow-safe/domain.ts',
    "import pg from 'pg';\nexport const p = pg;\n",
    'of packages it imports only @temporalio/workflow',
  ),
  allowed(
    'workflow-safe lib imports itself and @temporalio/common',
    'lib/workflow-safe/search-attributes.ts',
    "import { defineSearchAttributeKey } from '@temporalio/common';\nimport { orderWorkflowId } from './task-queues';\nexport const all = [defineSearchAttributeKey, orderWorkflowId];\n",
  ),

  // lib/node/: the ground floor.
  crossing(
    'Node lib imports a database module',
    'lib/node/logger.ts',
    "import { insertOrder } from '../../db/orders/store';\nexport const i = insertOrder;\n",
    'lib/node/ is the ground floor',
  ),
  crossing(
    'Node lib imports the saga starter above it',
    'lib/node/metrics.ts',
    "import { startOrderSaga } from '../order-saga-starter';\nexport const s = startOrderSaga;\n",
    'lib/node/ is the ground floor',
  ),
  allowed(
    'Node lib imports lib/node and lib/workflow-safe',
    'lib/node/temporal-logger.ts',
    "import { createLogger } from './logger';\nimport { orderIdFromWorkflowId } from '../workflow-safe/task-queues';\nexport const all = [createLogger, orderIdFromWorkflowId];\n",
  ),

  // lib/'s own modules: shared by the API and the workers, below both.
  crossing(
    'the saga starter imports the workflow it starts (issue 14)',
    'lib/order-saga-starter.ts',
    "import type { orderSaga } from '../workflows/order-saga';\nexport type S = typeof orderSaga;\n",
    "lib/'s modules are shared by the API and the workers",
  ),
  crossing(
    'the saga starter imports a service database module',
    'lib/order-saga-starter.ts',
    "import { insertOrder } from '../db/orders/store';\nexport const i = insertOrder;\n",
    "lib/'s modules are shared by the API and the workers",
  ),
  allowed(
    'the saga starter imports lib/ and db/knex',
    'lib/order-saga-starter.ts',
    "import type { Db } from '../db/knex';\nimport { orderWorkflowId } from './workflow-safe/task-queues';\nexport type D = Db;\nexport const o = orderWorkflowId;\n",
  ),

  // api/: no worker, activity or projector code.
  crossing('API writes orders with the order activities (issue 14)', 'api/app.ts', ISSUE_14_CROSSING, "activities/ and workers/ are the workers' code"),
  crossing(
    'API imports a worker',
    'api/app.ts',
    "import { createOrderWorker } from '../workers/service-workers';\nexport const w = createOrderWorker;\n",
    "activities/ and workers/ are the workers' code",
  ),
  crossing(
    'API imports saga metrics from the activities',
    'api/server.ts',
    "import { createSagaMetrics } from '../activities/saga-metrics';\nexport const m = createSagaMetrics;\n",
    "activities/ and workers/ are the workers' code",
  ),
  crossing(
    'API reads the notices from the projector (issue 14)',
    'api/services/menu-cache.ts',
    "import { MENU_CHANGES_CHANNEL } from '../../db/projector/menu-change-notices';\nexport const c = MENU_CHANGES_CHANNEL;\n",
    "db/projector/ is the CDC projector's process",
  ),
  crossing(
    'API imports projector internals',
    'api/services/menus.ts',
    "import { parseLsn } from '../../db/projector/lsn';\nexport const p = parseLsn;\n",
    "db/projector/ is the CDC projector's process",
  ),
  crossing(
    'API imports workflow code as a value',
    'api/services/orders.ts',
    "import { orderSaga } from '../../workflows/order-saga';\nexport const o = orderSaga;\n",
    'its types only',
  ),
  crossing(
    'API imports the test harness',
    'api/server.ts',
    "import { startLocalStack } from '../harness/local-stack';\nexport const s = startLocalStack;\n",
    'Tools, tests and the PSP sandbox',
  ),
  allowed(
    'API imports the shared homes, workflow messages and workflow types',
    'api/services/orders.ts',
    "import { insertOrder } from '../../db/orders/store';\nimport { MENU_CHANGES_CHANNEL } from '../../db/menu-read/change-notices';\nimport { decideUpdate } from '../../workflows/messages';\nimport type { orderSaga } from '../../workflows/order-saga';\nimport { loadConfig } from '../../lib/node/config';\nexport type O = typeof orderSaga;\nexport const all = [insertOrder, MENU_CHANGES_CHANNEL, decideUpdate, loadConfig];\n",
  ),

  // activities/: no API, no workers, one service never another's.
  crossing(
    'activity imports the API',
    'activities/order.ts',
    "import { createApp } from '../api/app';\nexport const a = createApp;\n",
    'they import neither the API nor the workers',
  ),
  crossing(
    'activity imports a worker',
    'activities/payment.ts',
    "import { startWorkerTelemetry } from '../workers/telemetry';\nexport const t = startWorkerTelemetry;\n",
    'they import neither the API nor the workers',
  ),
  crossing(
    'order activities import the restaurant service',
    'activities/order.ts',
    "import { createRestaurantActivities } from './restaurant';\nexport const r = createRestaurantActivities;\n",
    "One service's activities do not import another's",
  ),
  crossing(
    'payment activities import the order service',
    'activities/payment.ts',
    "import { createOrderActivities } from './order';\nexport const o = createOrderActivities;\n",
    "One service's activities do not import another's",
  ),
  crossing(
    'PSP client imports the restaurant service',
    'activities/psp-client.ts',
    "import { createRestaurantActivities } from '../activities/restaurant';\nexport const r = createRestaurantActivities;\n",
    "One service's activities do not import another's",
  ),
  crossing(
    'restaurant activities import the payment service',
    'activities/restaurant.ts',
    "import { createPspClient } from './psp-client';\nexport const p = createPspClient;\n",
    "One service's activities do not import another's",
  ),
  crossing(
    'restaurant activities write the orders database',
    'activities/restaurant.ts',
    "import { insertOrder } from '../db/orders/store';\nexport const i = insertOrder;\n",
    'The orders database belongs to the order service',
  ),
  crossing(
    'shared saga metrics import one service',
    'activities/saga-metrics.ts',
    "import { createOrderActivities } from './order';\nexport const o = createOrderActivities;\n",
    "One service's activities do not import another's",
  ),
  allowed(
    'activities import their own service, the shared metrics, their database and lib',
    'activities/payment.ts',
    "import { createPspClient } from './psp-client';\nimport { noSagaMetrics } from './saga-metrics';\nimport type { Db } from '../db/knex';\nimport type { PaymentStatus } from '../lib/workflow-safe/domain';\nexport type T = [Db, PaymentStatus];\nexport const all = [createPspClient, noSagaMetrics];\n",
  ),
  allowed(
    'order activities write through the order store',
    'activities/order.ts',
    "import { insertOrder } from '../db/orders/store';\nexport const i = insertOrder;\n",
  ),

  // workers/: build activities and workflows, never the API or the projector.
  crossing(
    'worker imports the API',
    'workers/run-worker.ts',
    "import { createApp } from '../api/app';\nexport const a = createApp;\n",
    'nothing below it imports it',
  ),
  allowed(
    'worker imports activities and the workflow bundle types',
    'workers/service-workers.ts',
    "import { createOrderActivities } from '../activities/order';\nimport type { orderSaga } from '../workflows/order-saga';\nexport type O = typeof orderSaga;\nexport const a = createOrderActivities;\n",
  ),

  // processes/: the one place the API and a worker run together (API_ORDER_WORKER, eager saga starts).
  allowed(
    'the combined process imports the API and the order worker',
    'processes/api-order-worker.ts',
    "import { startApi } from '../api/start-api';\nimport { buildOrderService } from '../workers/order-service';\nimport { runWorkerProcess } from '../workers/run-worker';\nexport const all = [startApi, buildOrderService, runWorkerProcess];\n",
  ),
  crossing(
    'the combined process imports the test harness',
    'processes/api-order-worker.ts',
    "import { startLocalStack } from '../harness/local-stack';\nexport const s = startLocalStack;\n",
    'Tools, tests and the PSP sandbox',
  ),
  crossing(
    'the combined process imports workflow code as a value',
    'processes/api-order-worker.ts',
    "import { orderSaga } from '../workflows/order-saga';\nexport const o = orderSaga;\n",
    'its types only',
  ),
  crossing(
    'API imports the combined process',
    'api/server.ts',
    "import { startApi } from '../processes/api-order-worker';\nexport const s = startApi;\n",
    'processes/ composes the API and the workers',
  ),
  crossing(
    'worker imports the combined process',
    'workers/order-worker.ts',
    "import { startApi } from '../processes/api-order-worker';\nexport const s = startApi;\n",
    'processes/ composes the API and the workers',
  ),

  // db/projector/: its own process.
  crossing(
    'projector imports the API',
    'db/projector/apply.ts',
    "import { MenuCache } from '../../api/services/menu-cache';\nexport const m = MenuCache;\n",
    'nothing below it imports it',
  ),
  crossing(
    'projector writes the orders database',
    'db/projector/apply.ts',
    "import { insertOrder } from '../orders/store';\nexport const i = insertOrder;\n",
    'The projector is its own process',
  ),
  allowed(
    'projector imports the notice contract and its database',
    'db/projector/apply.ts',
    "import { notifyMenuChanges } from '../menu-read/change-notices';\nimport type { Db } from '../knex';\nimport type { Logger } from '../../lib/node/logger';\nexport type T = [Db, Logger];\nexport const n = notifyMenuChanges;\n",
  ),

  // Shared homes: depend on neither side.
  crossing(
    'order store imports the order activities',
    'db/orders/store.ts',
    "import { createOrderActivities } from '../../activities/order';\nexport const o = createOrderActivities;\n",
    'A shared module imports neither',
  ),
  crossing(
    'notice contract imports the API',
    'db/menu-read/change-notices.ts',
    "import { MenuCache } from '../../api/services/menu-cache';\nexport const m = MenuCache;\n",
    'A shared module imports neither',
  ),
  crossing(
    'notice contract imports the projector',
    'db/menu-read/change-notices.ts',
    "import { parseLsn } from '../projector/lsn';\nexport const p = parseLsn;\n",
    'A shared module imports neither',
  ),
];

interface Message {
  ruleId: string | null;
  message: string;
  fatal: boolean;
}

let results: Message[][];

beforeAll(() => {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'test/support/lint-snippets.mjs')], {
    cwd: ROOT,
    // The last snippet is the first crossing again, from test/ (not fenced).
    input: JSON.stringify([...CASES.map((c) => ({ filePath: c.at, code: c.code })), { filePath: 'test/fences.test.ts', code: ISSUE_14_CROSSING }]),
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`lint-snippets failed (${run.status}): ${run.stderr}`);
  results = JSON.parse(run.stdout) as Message[][];
}, 90_000);

describe('import fences (eslint.config.mjs)', () => {
  it.each(CASES.map((c, i) => [c.fence ? 'fails' : 'passes', c.name, c.at, i] as const))('%s: %s (%s)', (_verdict, _name, _at, i) => {
    const messages = results[i]!;
    expect(messages.filter((m) => m.fatal)).toEqual([]);
    const fired = messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
    const { fence } = CASES[i]!;
    if (fence) expect(fired).toEqual([expect.stringContaining(fence)]);
    else expect(fired).toEqual([]);
  });

  it('fences by where the importing file stands: a test may import what the API may not', () => {
    const i = CASES.length;
    expect(results[i]!.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  });
});
