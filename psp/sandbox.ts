import express, { type Request, type Response } from 'express';
import { seededRandom } from '../lib/workflow-safe/random';
import { Books, type Authorization, type Change, type OperationKind, type OperationRecord, type ReportFilter } from './books';

export type { Authorization, OperationRecord, PspStatus } from './books';

/**
 * A stand-in for a card processor. It honours an Idempotency-Key on every call (the same key
 * replays the first answer), keeps its books in a file when given one (they survive its restart),
 * lists every change to its books in a settlement report, and is steered by card tokens:
 *
 *   tok_ok            approves
 *   tok_decline       declines (declineCode CARD_DECLINED)
 *   tok_slow_<ms>     approves after <ms> milliseconds (max 120000)
 *   tok_flaky_<n>     answers 503 to the first <n> attempts of each call, then behaves like tok_ok
 *   anything not matching /^tok_[A-Za-z0-9_]+$/ is refused: 400 INVALID_CARD_TOKEN, nothing recorded
 *
 * and by faults set at run time with POST /_sandbox/faults (for chaos and retry tests):
 *   { delayMs, failRate, timeoutAfterProcessRate, rejectAfterProcessRate, seed }
 * `delayMs` (max 120000) and `failRate` apply to every /v1/authorizations call, reads included; the
 * delay comes before the PSP acts, and it acts even if the caller has given up meanwhile.
 * `timeoutAfterProcessRate` makes it act and then never answer (the network dropped the reply);
 * `rejectAfterProcessRate` makes it act and then answer 409 CONFLICT (a processor that acted but
 * reported an error). Either way the real answer is kept under the key: a retry gets it.
 *
 * Endpoints: POST /v1/authorizations {reference, amount, cardToken, orderReference?},
 * POST /v1/authorizations/:reference/{capture {amount?}, void, refund}, GET /v1/authorizations/:reference,
 * GET /v1/reports/operations?after=&limit=[&reference=][&orderReference=] (the whole report, or the lines of
 * one payment or one merchant order: what the operator's desk shows), and /_sandbox/{faults,stats,authorizations}.
 * See docs/design.md.
 */

export interface SandboxFaults {
  delayMs: number;
  failRate: number;
  timeoutAfterProcessRate: number;
  rejectAfterProcessRate: number;
}

export interface SandboxStats {
  /** Operations that changed an authorization's state, by kind: a retry that replays adds nothing. */
  effects: Record<string, number>;
  /** Every HTTP call received, by operation. */
  calls: Record<string, number>;
}

export interface PspSandbox {
  app: express.Express;
  /** Since this instance started (not kept in the data file). */
  stats: SandboxStats;
  authorizations: ReadonlyMap<string, Authorization>;
  /** The settlement report: every operation that changed the books, in order (seq from 1). */
  operations: readonly OperationRecord[];
  setFaults(f: Partial<SandboxFaults>): void;
}

// Long enough to outlast the payment client's longest per-call timeout.
export const MAX_DELAY_MS = 120_000;
const REPORT_DEFAULT_LIMIT = 1000;
const REPORT_MAX_LIMIT = 5000;
const CARD_TOKEN = /^tok_[A-Za-z0-9_]+$/;

/** What an operation decided: the answer, and the authorization as it now stands if it changed. */
interface Outcome {
  status: number;
  body: unknown;
  authorization?: Authorization;
  /** Set when the books changed: the report line's operation and amount. */
  effect?: { operation: OperationKind; amount: number; counted: boolean };
}

const view = (a: Authorization) => ({
  reference: a.reference,
  status: a.status,
  amount: a.amount,
  orderReference: a.orderReference,
  ...(a.capturedAmount !== undefined ? { capturedAmount: a.capturedAmount } : {}),
  ...(a.declineCode ? { declineCode: a.declineCode } : {}),
});
const error = (status: number, code: string, message: string): Outcome => ({ status, body: { error: { code, message } } });
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};
const send = (res: Response, o: Outcome) => res.status(o.status).json(o.body);
const fail = (res: Response, status: number, code: string, message: string) => send(res, error(status, code, message));

/** What a card token says about the call's slowness and transient failures. */
function tokenBehaviour(token: string): { delayMs: number; flaky: number } {
  const slow = /^tok_slow_(\d+)$/.exec(token);
  const flaky = /^tok_flaky_(\d+)$/.exec(token);
  return {
    delayMs: slow ? Math.min(Number(slow[1]), MAX_DELAY_MS) : 0,
    flaky: flaky ? Number(flaky[1]) : 0,
  };
}

const isRate = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 1;

/** Sets the valid fields of `f` on `faults` (a delay is capped at MAX_DELAY_MS); ignores the rest. */
function applyFaults(faults: SandboxFaults, f: Partial<SandboxFaults>): void {
  if (typeof f.delayMs === 'number' && f.delayMs >= 0) faults.delayMs = Math.min(f.delayMs, MAX_DELAY_MS);
  if (isRate(f.failRate)) faults.failRate = f.failRate;
  if (isRate(f.timeoutAfterProcessRate)) faults.timeoutAfterProcessRate = f.timeoutAfterProcessRate;
  if (isRate(f.rejectAfterProcessRate)) faults.rejectAfterProcessRate = f.rejectAfterProcessRate;
}

/** POST /v1/authorizations's body, checked; or the 400 that refuses it. */
function authorizationRequest(raw: unknown): { reference: string; amount: number; cardToken: string; orderReference: string | null } | { refusal: Outcome } {
  const { reference, amount, cardToken, orderReference } = (raw ?? {}) as Record<string, unknown>;
  if (typeof reference !== 'string' || reference === '' || typeof cardToken !== 'string' || !isPositiveInt(amount)) {
    return { refusal: error(400, 'VALIDATION_FAILED', 'reference, cardToken and a positive integer amount are required') };
  }
  if (orderReference !== undefined && (typeof orderReference !== 'string' || orderReference === '' || orderReference.length > 200)) {
    return { refusal: error(400, 'VALIDATION_FAILED', 'orderReference, when given, is a string of 1 to 200 characters') };
  }
  if (!CARD_TOKEN.test(cardToken)) return { refusal: error(400, 'INVALID_CARD_TOKEN', 'cardToken is not a card token') };
  return { reference, amount, cardToken, orderReference: orderReference ?? null };
}

/** The routes that only read: never faulted, never counted in the stats. */
function mountReadRoutes(app: express.Express, books: Books, stats: SandboxStats): void {
  // The settlement report: what changed the books, in order, paged by seq. Never faulted (it is
  // how reconciliation reads the truth, as a processor's report files are). `reference` or
  // `orderReference` narrows it to one payment or one merchant order.
  app.get('/v1/reports/operations', (req, res) => {
    const after = intParam(req.query.after, 0);
    const limit = intParam(req.query.limit, REPORT_DEFAULT_LIMIT);
    if (after === null || limit === null || limit < 1 || limit > REPORT_MAX_LIMIT) {
      return fail(res, 400, 'VALIDATION_FAILED', `after is a seq (integer >= 0), limit an integer from 1 to ${REPORT_MAX_LIMIT}`);
    }
    const filter: ReportFilter = {};
    for (const name of ['reference', 'orderReference'] as const) {
      const value = req.query[name];
      if (value === undefined) continue;
      if (typeof value !== 'string' || value === '' || value.length > 200)
        return fail(res, 400, 'VALIDATION_FAILED', `${name}, when given, is a string of 1 to 200 characters`);
      filter[name] = value;
    }
    return res.json(books.page(after, limit, filter));
  });
  app.get('/_sandbox/stats', (_req, res) => res.json(stats));
  // Every authorization as the PSP sees it: audits reconcile it with the payments database.
  app.get('/_sandbox/authorizations', (_req, res) => res.json([...books.authorizations.values()].map(view)));
  app.get('/healthz', (_req, res) => res.json({ ok: true }));
}

/** GET and POST /_sandbox/faults: the faults in force, and setting them (`seed` also restarts the dice). */
function mountFaultControls(app: express.Express, faults: SandboxFaults, reseed: (seed: number) => void): void {
  app.get('/_sandbox/faults', (_req, res) => res.json(faults));
  app.post('/_sandbox/faults', (req, res) => {
    const body = (req.body ?? {}) as Partial<SandboxFaults> & { seed?: number };
    applyFaults(faults, body);
    if (typeof body.seed === 'number') reseed(body.seed);
    res.json(faults);
  });
}

// What each operation does to the authorization the books hold for its reference (`existing`).

function authorizeOutcome(existing: Authorization | undefined, reference: string, amount: number, cardToken: string, orderReference: string | null): Outcome {
  // A void that arrived first (a compensation racing a slow authorize) blocks the hold for good.
  if (existing) return { status: 200, body: view(existing) };
  const declined = cardToken === 'tok_decline';
  const auth: Authorization = {
    reference,
    orderReference,
    amount,
    cardToken,
    status: declined ? 'DECLINED' : 'AUTHORIZED',
    ...(declined ? { declineCode: 'CARD_DECLINED' } : {}),
  };
  return { status: 201, body: view(auth), authorization: auth, effect: { operation: 'authorize', amount, counted: true } };
}

function captureOutcome(auth: Authorization | undefined, amount: number | undefined): Outcome {
  if (!auth) return error(404, 'NOT_FOUND', 'No such authorization');
  if (auth.status === 'CAPTURED') return { status: 200, body: view(auth) };
  if (auth.status !== 'AUTHORIZED') return error(409, 'NOT_CAPTURABLE', `Authorization is ${auth.status}`);
  const taken = amount ?? auth.amount;
  if (taken > auth.amount) return error(409, 'AMOUNT_EXCEEDS_AUTHORIZATION', `Cannot capture ${taken} of ${auth.amount}`);
  const captured: Authorization = { ...auth, status: 'CAPTURED', capturedAmount: taken };
  return { status: 200, body: view(captured), authorization: captured, effect: { operation: 'capture', amount: taken, counted: true } };
}

function voidOutcome(reference: string, auth: Authorization | undefined): Outcome {
  if (!auth) {
    // Nothing held yet: record the void so a late authorize for this reference is refused.
    const tomb: Authorization = { reference, orderReference: null, amount: 0, cardToken: '', status: 'VOIDED' };
    return { status: 200, body: view(tomb), authorization: tomb, effect: { operation: 'void', amount: 0, counted: false } };
  }
  if (auth.status === 'AUTHORIZED') {
    const voided: Authorization = { ...auth, status: 'VOIDED' };
    return { status: 200, body: view(voided), authorization: voided, effect: { operation: 'void', amount: auth.amount, counted: true } };
  }
  if (auth.status === 'CAPTURED') return error(409, 'NOT_VOIDABLE', 'Captured: refund instead');
  return { status: 200, body: view(auth) };
}

function refundOutcome(auth: Authorization | undefined): Outcome {
  if (!auth) return error(404, 'NOT_FOUND', 'No such authorization');
  if (auth.status === 'REFUNDED') return { status: 200, body: view(auth) };
  if (auth.status !== 'CAPTURED') return error(409, 'NOT_REFUNDABLE', `Authorization is ${auth.status}`);
  // The whole capture goes back (the sandbox has no partial refunds).
  const refunded: Authorization = { ...auth, status: 'REFUNDED' };
  return {
    status: 200,
    body: view(refunded),
    authorization: refunded,
    effect: { operation: 'refund', amount: auth.capturedAmount ?? auth.amount, counted: true },
  };
}

export function createPspSandbox(opts: { dataFile?: string } = {}): PspSandbox {
  const books = new Books(opts.dataFile);
  const attempts = new Map<string, number>();
  const stats: SandboxStats = { effects: {}, calls: {} };
  const faults: SandboxFaults = { delayMs: 0, failRate: 0, timeoutAfterProcessRate: 0, rejectAfterProcessRate: 0 };
  let random = seededRandom(1);
  const chance = (rate: number) => rate > 0 && random() < rate;

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  /** The slowness and transient failures of a PSP under stress; true when the call was failed. */
  async function suffer(res: Response, extraDelayMs: number, flakyKey: string | null, flaky: number): Promise<boolean> {
    const delay = faults.delayMs + extraDelayMs;
    // Before acting: the caller may time out and retry while the PSP is still about to act.
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (flakyKey !== null) {
      const attempt = (attempts.get(flakyKey) ?? 0) + 1;
      attempts.set(flakyKey, attempt);
      if (attempt <= flaky) {
        fail(res, 503, 'TEMPORARILY_UNAVAILABLE', `flaky attempt ${attempt}`);
        return true;
      }
    }
    if (!chance(faults.failRate)) return false;
    fail(res, 503, 'TEMPORARILY_UNAVAILABLE', 'injected failure');
    return true;
  }

  // The card's token steers the call's slowness; what it acts on is read only when it acts (after any
  // delay), since authorizations are replaced, not changed in place.
  const tokenOf = (reference: string) => books.authorizations.get(reference)?.cardToken;

  /** Runs one state-changing operation under the idempotency key, with faults applied. */
  async function operate(req: Request, res: Response, operation: OperationKind, cardToken: string | undefined, act: () => Outcome) {
    bump(stats.calls, operation);
    const key = req.header('idempotency-key');
    if (!key) return fail(res, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'Idempotency-Key header is required');
    const fingerprint = `${operation}:${req.params.reference ?? ''}:${JSON.stringify(req.body ?? {})}`;
    const behaviour = tokenBehaviour(cardToken ?? '');
    if (await suffer(res, behaviour.delayMs, key, behaviour.flaky)) return undefined;

    let reply = books.replies.get(key);
    if (reply && reply.fingerprint !== fingerprint) {
      return fail(res, 422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for another request');
    }
    if (!reply) {
      const outcome = act();
      reply = { status: outcome.status, body: outcome.body, fingerprint };
      const change: Change = { key, reply, authorization: outcome.authorization };
      if (outcome.effect) change.operation = { operation: outcome.effect.operation, amount: outcome.effect.amount };
      try {
        books.commit(change);
      } catch (err) {
        // Not kept, so not done: the caller retries.
        return fail(res, 500, 'BOOKS_UNAVAILABLE', `could not record the operation: ${(err as Error).message}`);
      }
      if (outcome.effect?.counted) bump(stats.effects, operation);
    }
    return answer(res, reply.status, reply.body);
  }

  /** The answer to a call the PSP has processed, unless a fault loses or replaces it. */
  function answer(res: Response, status: number, body: unknown) {
    if (chance(faults.timeoutAfterProcessRate)) {
      // Processed, but the answer is lost: the caller sees a dropped connection and must retry.
      res.socket?.destroy();
      return undefined;
    }
    if (chance(faults.rejectAfterProcessRate)) return fail(res, 409, 'CONFLICT', 'injected conflict after processing');
    return res.status(status).json(body);
  }

  app.post('/v1/authorizations', (req, res) => {
    const body = authorizationRequest(req.body);
    if ('refusal' in body) return send(res, body.refusal);
    const { reference, amount, cardToken, orderReference } = body;
    return operate(req, res, 'authorize', cardToken, () => authorizeOutcome(books.authorizations.get(reference), reference, amount, cardToken, orderReference));
  });

  app.post('/v1/authorizations/:reference/capture', (req, res) => {
    const { amount } = (req.body ?? {}) as { amount?: unknown };
    if (amount !== undefined && !isPositiveInt(amount)) return fail(res, 400, 'VALIDATION_FAILED', 'amount, when given, is a positive integer');
    const reference = req.params.reference;
    return operate(req, res, 'capture', tokenOf(reference), () => captureOutcome(books.authorizations.get(reference), amount));
  });

  app.post('/v1/authorizations/:reference/void', (req, res) => {
    const reference = req.params.reference;
    return operate(req, res, 'void', tokenOf(reference), () => voidOutcome(reference, books.authorizations.get(reference)));
  });

  app.post('/v1/authorizations/:reference/refund', (req, res) => {
    const { amount } = (req.body ?? {}) as { amount?: unknown };
    if (amount !== undefined && !isPositiveInt(amount)) return fail(res, 400, 'VALIDATION_FAILED', 'amount, when given, is a positive integer');
    const reference = req.params.reference;
    return operate(req, res, 'refund', tokenOf(reference), () => refundOutcome(books.authorizations.get(reference)));
  });

  app.get('/v1/authorizations/:reference', async (req, res) => {
    bump(stats.calls, 'lookup');
    if (await suffer(res, 0, null, 0)) return undefined;
    const auth = books.authorizations.get(req.params.reference);
    if (!auth) return fail(res, 404, 'NOT_FOUND', 'No such authorization');
    return res.json(view(auth));
  });

  mountReadRoutes(app, books, stats);
  mountFaultControls(app, faults, (seed) => {
    random = seededRandom(seed);
  });

  return { app, stats, authorizations: books.authorizations, operations: books.operations, setFaults: (f) => applyFaults(faults, f) };
}

/** A non-negative integer query parameter; `fallback` when absent, null when malformed. */
function intParam(value: unknown, fallback: number): number | null {
  if (value === undefined) return fallback;
  return typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : null;
}
