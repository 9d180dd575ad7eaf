import http from 'node:http';
import { DBOS } from '@dbos-inc/dbos-sdk';
import type { OrderSagaInput } from '../../lib/workflow-safe/domain';
import { inActivityContext, isBusinessFailure } from './activity-context';
import { POLICIES, runOrderSaga, type PolicyName, type SagaSteps } from './saga';
import { serviceActivitiesFromEnv } from './services';

// The order saga on DBOS Transact: a library in this process that checkpoints each workflow's input
// and every step's outcome in its system database (Postgres). Orders arrive by HTTP (POST /orders
// with the saga's input); the answer 202 means the workflow is recorded and will run, here or, after
// a crash, when this process starts again (DBOS.launch recovers the pending workflows).
//
// Env: DBOS_SYSTEM_DATABASE_URL, ORDERS/PAYMENTS/RESTAURANTS_DATABASE_URL, PSP_URL, PEER_PORT.

const { acts, dbs } = serviceActivitiesFromEnv('dbos-peer');

/**
 * DBOS retries a step `maxAttempts` times, the wait growing by `backoffRate` with no ceiling: the
 * attempts are chosen so that the waits add up to about what the Temporal policy allows (3 minutes
 * for the payment hold; about an hour where Temporal retries until it succeeds).
 */
const DBOS_ATTEMPTS: Record<PolicyName, number> = { step: 10, payment: 10, capture: 14, compensation: 13 };

const steps: SagaSteps = {
  run(name, policyName, work) {
    const policy = POLICIES[policyName];
    return DBOS.runStep(() => inActivityContext(DBOS.stepStatus?.currentAttempt ?? 1, name, () => work(DBOS.stepStatus?.currentAttempt ?? 1)), {
      name,
      retriesAllowed: true,
      intervalSeconds: policy.initialMs / 1000,
      backoffRate: policy.coefficient,
      maxAttempts: DBOS_ATTEMPTS[policyName],
      timeoutMS: policy.attemptTimeoutMs,
      shouldRetry: (err) => !isBusinessFailure(err),
    });
  },
};

const orderSaga = DBOS.registerWorkflow((input: OrderSagaInput) => runOrderSaga(steps, acts, input), { name: 'orderSaga' });

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (req.method !== 'POST' || req.url !== '/orders') {
    res.writeHead(404).end();
    return;
  }
  const input = JSON.parse(await readBody(req)) as OrderSagaInput;
  // The order id is the workflow id: a repeated POST of the same order starts nothing new.
  await DBOS.startWorkflow(orderSaga, { workflowID: `order-${input.orderId}` })(input);
  res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ orderId: input.orderId }));
}

async function main(): Promise<void> {
  DBOS.setConfig({
    name: 'order-saga-peer',
    systemDatabaseUrl: process.env.DBOS_SYSTEM_DATABASE_URL,
    systemDatabasePoolSize: Number(process.env.PEER_DB_POOL ?? 10) * 2,
    logLevel: 'warn',
  });
  await DBOS.launch();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
    });
  });
  server.listen(Number(process.env.PEER_PORT ?? 0), '127.0.0.1', () => process.stdout.write(`dbos peer listening on ${JSON.stringify(server.address())}\n`));
  const stop = async () => {
    server.close();
    await DBOS.shutdown();
    await Promise.all(dbs.map((db) => db.destroy()));
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
