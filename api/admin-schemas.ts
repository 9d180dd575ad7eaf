import { z } from 'zod';
import { FAILURE_REASONS, ORDER_STATUSES, PAYMENT_STATUSES } from '../lib/workflow-safe/domain';
import { component } from './route';
import { intParam, ordersCursor, pathId, text } from './validation';

// What the operator's desk (api/routes/admin.ts) takes and answers: components of the OpenAPI
// document like every route's (api/validation.ts, api/responses.ts).

const orderStatus = z.enum(ORDER_STATUSES);
const failureReason = z.enum(FAILURE_REASONS).nullable();
const paymentStatus = z.enum(PAYMENT_STATUSES).nullable();
/** A customer id is a token subject: printable ASCII (lib/node/auth.ts). */
const subject = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'a customer id (printable ASCII, 1-128 characters)');

const ATTENTION_ONLY = ['olderThanSeconds', 'failingAttempts', 'pspWindowSeconds'] as const;
const SEARCH_ONLY = ['orderId', 'customerId', 'restaurantId', 'status', 'cursor'] as const;

export const adminOrdersQuery = z
  .object({
    attention: z.enum(['true', 'false']).optional().meta({
      description:
        '`true`: the orders that need an operator (not final too long, steps or compensations retrying, sagas that ended, PSP mismatches) instead of a search.',
    }),
    orderId: pathId.optional().meta({ description: 'Search: this order.' }),
    customerId: subject.optional().meta({ description: "Search: this customer's orders." }),
    restaurantId: pathId.optional().meta({ description: "Search: this restaurant's orders." }),
    status: orderStatus.optional().meta({ description: 'Search: only orders in this status.' }),
    limit: intParam(1, 200).default(50).meta({ description: 'Page size (digits only).' }),
    cursor: ordersCursor.optional().meta({ description: 'Search: the `nextCursor` of the previous page; opaque.' }),
    olderThanSeconds: intParam(0, 30 * 86400)
      .optional()
      .meta({ description: 'Attention: an order not final after this many seconds is listed (default 900).' }),
    failingAttempts: intParam(1, 10_000).optional().meta({ description: 'Attention: a saga step past this many attempts is listed (default 3).' }),
    pspWindowSeconds: intParam(0, 7 * 86400)
      .optional()
      .meta({
        description: "Attention: final orders changed within this many seconds are checked against the PSP's books (default 3600, at most 100 orders).",
      }),
  })
  .strict()
  .superRefine((q, ctx) => {
    const attention = q.attention === 'true';
    for (const name of attention ? SEARCH_ONLY : ATTENTION_ONLY) {
      if (q[name] !== undefined)
        ctx.addIssue({ code: 'custom', path: [name], message: attention ? 'a search parameter: not with attention=true' : 'only with attention=true' });
    }
  });

export const OperatorActionRequest = component(
  'OperatorActionRequest',
  z.object({ reason: text(500, { multiline: true }).meta({ description: 'Why: kept with the action, shown on the order story' }) }).strict(),
  {
    description: 'The reason is required; it may not hold control characters other than line breaks and tabs.',
    example: { reason: 'Customer called: the address is wrong' },
  },
);

export const RetryStepRequest = component(
  'RetryStepRequest',
  z
    .object({
      reason: text(500, { multiline: true }),
      activityId: pathId.optional().meta({ description: 'The pending step to retry (default: the one furthest into its retries)' }),
    })
    .strict(),
  { description: 'The reason is required.', example: { reason: 'PSP is back: retry the hold now' } },
);

const finding = z.strictObject({
  kind: z.enum(['NOT_FINAL', 'STEP_FAILING', 'COMPENSATION_RETRYING', 'SAGA_NOT_RUNNING', 'PSP_MISMATCH']),
  stage: z.string().meta({ description: 'Where the order is: its status and the saga step it waits on' }),
  detail: z.string(),
  activityId: z.string().optional(),
  activityType: z.string().optional(),
  attempt: z.number().int().optional(),
  lastFailure: z.string().optional(),
  nextAttemptAt: z.string().optional(),
  pspKind: z.string().optional().meta({ description: "The audit's kind (HOLD_OPEN_AT_PSP, PSP_BOOKS_DISAGREE, DOUBLE_CHARGE, ...)" }),
});

const orderSummary = z.strictObject({
  orderId: z.string(),
  customerId: z.string(),
  restaurantId: z.string(),
  status: orderStatus,
  failureReason,
  totalAmount: z.number().int(),
  paymentStatus,
  createdAt: z.string(),
  updatedAt: z.string(),
  workflowUrl: z.string(),
  findings: z.array(finding).optional().meta({ description: 'With attention=true: why the order is listed' }),
});

export const AdminOrdersPage = component(
  'AdminOrdersPage',
  z.strictObject({
    orders: z.array(orderSummary),
    nextCursor: z.string().nullable(),
    attention: z
      .strictObject({
        olderThanSeconds: z.number().int(),
        failingAttempts: z.number().int(),
        pspWindowSeconds: z.number().int(),
        limit: z.number().int(),
        openOrdersScanned: z.number().int(),
        pspChecked: z.boolean(),
        checkedAt: z.string(),
      })
      .optional(),
  }),
);

const actionView = z.strictObject({
  actionId: z.string(),
  orderId: z.string().optional(),
  action: z.enum(['cancel', 'retry', 'reconcile']),
  operator: z.string(),
  reason: z.string(),
  status: z.enum(['REQUESTED', 'DONE', 'REFUSED']),
  httpStatus: z.number().int().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  requestedAt: z.string(),
  finishedAt: z.string().nullable(),
});

export const OperatorAction = component(
  'OperatorAction',
  actionView.meta({ description: 'An action on an order through the desk: who, when, why, and what came of it' }),
);

const workflowRef = z
  .strictObject({
    workflowId: z.string(),
    runId: z.string(),
    status: z.string(),
    startTime: z.string(),
    closeTime: z.string().nullable(),
    historyLength: z.number().int(),
    url: z.string(),
  })
  .nullable();

export const OrderStory = component(
  'OrderStory',
  z.strictObject({
    orderId: z.string(),
    generatedAt: z.string(),
    order: z.strictObject({
      orderId: z.string(),
      customerId: z.string(),
      restaurantId: z.string(),
      status: orderStatus,
      failureReason,
      totalAmount: z.number().int(),
      paymentStatus,
      acceptanceDeadline: z.string().nullable(),
      createdAt: z.string(),
      updatedAt: z.string(),
    }),
    payment: z
      .strictObject({
        paymentId: z.string(),
        status: z.string(),
        amount: z.number().int(),
        createdAt: z.string(),
        updatedAt: z.string(),
        events: z.array(z.strictObject({ kind: z.string(), amount: z.number().int(), idempotencyKey: z.string(), at: z.string() })),
      })
      .nullable(),
    psp: z
      .strictObject({
        authorizations: z.array(
          z.strictObject({
            reference: z.string(),
            orderId: z.string().nullable(),
            status: z.string(),
            amount: z.number().int(),
            capturedAmount: z.number().int().nullable(),
            tombstone: z.boolean(),
            captureEffects: z.number().int(),
          }),
        ),
        findings: z
          .array(z.strictObject({ kind: z.string(), detail: z.string() }))
          .meta({ description: "The audit's PSP check of a final order: empty when the PSP agrees" }),
      })
      .nullable(),
    ticket: z
      .strictObject({ ticketId: z.string(), status: z.string(), reason: z.string().nullable(), createdAt: z.string(), updatedAt: z.string() })
      .nullable(),
    saga: workflowRef,
    repair: workflowRef.meta({ description: "The reconciler's repair workflow repair-<orderId>, if it ever ran" }),
    operatorActions: z.array(actionView),
    timeline: z.array(
      z.strictObject({
        at: z.string(),
        source: z.enum(['order', 'payment', 'psp', 'ticket', 'saga', 'reconciler', 'operator']),
        kind: z.string(),
        summary: z.string(),
        activityType: z.string().optional(),
        attempt: z.number().int().optional(),
        failure: z.string().optional(),
        eventId: z.number().int().optional(),
        link: z.string().optional(),
      }),
    ),
    sources: z
      .record(z.string(), z.string())
      .meta({ description: "Each source's read: `ok`, `not configured`, or `unavailable: <why>` (the rest of the story is still answered)" }),
    workflowUrl: z.string(),
  }),
);
