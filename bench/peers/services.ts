import { createOrderActivities } from '../../activities/order';
import { createPaymentActivities } from '../../activities/payment';
import { createPspClient } from '../../activities/psp-client';
import { createRestaurantActivities } from '../../activities/restaurant';
import { createDb, type Db } from '../../db/knex';
import type { SagaActivities } from './saga';

// The three services' activities for a peer process, wired as workers/ wires them: each service
// with its own database through its own role's URL, the payment service with the PSP client.
// A peer hosts all three in one process (its engine runs a workflow's steps where the workflow runs).

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

export function serviceActivitiesFromEnv(appName: string): { acts: SagaActivities; dbs: Db[] } {
  const pool = Number(process.env.PEER_DB_POOL ?? 10);
  const orders = createDb(required('ORDERS_DATABASE_URL'), pool, { applicationName: `${appName}-orders` });
  const payments = createDb(required('PAYMENTS_DATABASE_URL'), pool, { applicationName: `${appName}-payments` });
  const restaurants = createDb(required('RESTAURANTS_DATABASE_URL'), pool, { applicationName: `${appName}-restaurants` });
  const pspTimeoutMs = Number(process.env.PSP_TIMEOUT_MS ?? 5000);
  const psp = createPspClient({ baseUrl: required('PSP_URL'), timeoutMs: pspTimeoutMs });
  return {
    acts: {
      order: createOrderActivities({ db: orders }),
      payment: createPaymentActivities({ db: payments, psp, pspTimeouts: { firstMs: pspTimeoutMs, maxMs: Math.max(pspTimeoutMs, 45_000) } }),
      restaurant: createRestaurantActivities({ db: restaurants }),
    },
    dbs: [orders, payments, restaurants],
  };
}
