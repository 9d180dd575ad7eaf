import './node20-shim';
import * as restate from '@restatedev/restate-sdk';
import { ApplicationFailure } from '@temporalio/activity';
import type { OrderSagaInput } from '../../lib/workflow-safe/domain';
import { failureTypeOf, inActivityContext, isBusinessFailure } from './activity-context';
import { POLICIES, runOrderSaga, type SagaSteps } from './saga';
import { serviceActivitiesFromEnv } from './services';

// The order saga on Restate: a workflow service (one run per key, the order id) served by this
// process over HTTP/2. The Restate server (restate-server, a separate process) owns the durable log:
// it journals the invocation and every `ctx.run` result, calls this endpoint to run the handler, and
// after a crash of either side replays the journal to the handler, which skips the recorded steps.
//
// Env: ORDERS/PAYMENTS/RESTAURANTS_DATABASE_URL, PSP_URL, PEER_PORT.

const { acts } = serviceActivitiesFromEnv('restate-peer');

/** What a step's journal entry holds: its value, or the business failure it ended with (not retried). */
type Outcome<T> = { ok: T } | { failure: { type: string; message: string } };

function stepsFor(ctx: restate.WorkflowContext): SagaSteps {
  return {
    async run<T>(name: string, policyName: keyof typeof POLICIES, work: (attempt: number) => Promise<T>): Promise<T> {
      const policy = POLICIES[policyName];
      // Attempts of this run block in this invocation; after a crash the count starts again (the
      // activities' PSP idempotency keys, not the count, are what keep a repeat harmless).
      let attempt = 0;
      const outcome = await ctx.run<Outcome<T>>(
        name,
        async () => {
          attempt += 1;
          try {
            return { ok: await inActivityContext(attempt, name, () => work(attempt)) };
          } catch (err) {
            if (isBusinessFailure(err)) return { failure: { type: failureTypeOf(err)!, message: (err as Error).message } };
            throw err;
          }
        },
        {
          initialRetryInterval: policy.initialMs,
          retryIntervalFactor: policy.coefficient,
          maxRetryInterval: policy.maxIntervalMs,
          ...('totalMs' in policy ? { maxRetryDuration: policy.totalMs } : {}),
        },
      );
      if ('failure' in outcome) throw ApplicationFailure.nonRetryable(outcome.failure.message, outcome.failure.type);
      return outcome.ok;
    },
  };
}

const orderSaga = restate.workflow({
  name: 'OrderSaga',
  handlers: {
    run: async (ctx: restate.WorkflowContext, input: OrderSagaInput) => runOrderSaga(stepsFor(ctx), acts, input),
  },
});

restate
  .serve({ services: [orderSaga], port: Number(process.env.PEER_PORT ?? 9080) })
  .then((port) => process.stdout.write(`restate peer endpoint listening on ${port}\n`))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
