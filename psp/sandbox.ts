import express, { type Request, type Response } from 'express';
import { seededRandom } from '../lib/random';

/**
 * A stand-in for a card processor. It keeps authorizations in memory, honours an Idempotency-Key
 * on every call (the same key replays the first answer) and is steered by card tokens:
 *
 *   tok_ok            approves
 *   tok_decline       declines (declineCode CARD_DECLINED)
 *   tok_slow_<ms>     approves after <ms> milliseconds (max 30000)
 *   tok_flaky_<n>     answers 503 to the first <n> attempts of each call, then behaves like tok_ok
 *
 * and by faults set at run time with POST /_sandbox/faults (for chaos and retry tests):
 *   { delayMs, failRate, timeoutAfterProcessRate, seed }
 * `timeoutAfterProcessRate` makes it process a call and then never answer, as a PSP does when the
 * network drops the reply.
 */

type Status = 'AUTHORIZED' | 'DECLINED' | 'CAPTURED' | 'VOIDED' | 'REFUNDED';

interface Authorization {
  reference: string;
  amount: number;
  cardToken: string;
  status: Status;
  declineCode?: string;
}

export interface SandboxFaults {
  delayMs: number;
  failRate: number;
  timeoutAfterProcessRate: number;
}

export interface SandboxStats {
  /** Operations that changed an authorization's state, by kind: a retry that replays adds nothing. */
  effects: Record<string, number>;
  /** Every HTTP call received, by operation. */
  calls: Record<string, number>;
}

interface StoredReply {
  status: number;
  body: unknown;
  fingerprint: string;
}

export interface PspSandbox {
  app: express.Express;
  stats: SandboxStats;
  authorizations: Map<string, Authorization>;
  setFaults(f: Partial<SandboxFaults>): void;
}

export function createPspSandbox(): PspSandbox {
  const authorizations = new Map<string, Authorization>();
  const replies = new Map<string, StoredReply>();
  const attempts = new Map<string, number>();
  const stats: SandboxStats = { effects: {}, calls: {} };
  const faults: SandboxFaults = { delayMs: 0, failRate: 0, timeoutAfterProcessRate: 0 };
  let random = seededRandom(1);

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const fail = (res: Response, status: number, code: string, message: string) =>
    res.status(status).json({ error: { code, message } });

  function tokenBehaviour(token: string): { delayMs: number; flaky: number } {
    const slow = /^tok_slow_(\d+)$/.exec(token);
    const flaky = /^tok_flaky_(\d+)$/.exec(token);
    return {
      delayMs: slow ? Math.min(Number(slow[1]), 30000) : 0,
      flaky: flaky ? Number(flaky[1]) : 0,
    };
  }

  /** Runs one state-changing operation under the idempotency key, with faults applied. */
  async function operate(
    req: Request,
    res: Response,
    operation: string,
    cardToken: string | undefined,
    act: () => { status: number; body: unknown; effect: boolean },
  ) {
    bump(stats.calls, operation);
    const key = req.header('idempotency-key');
    if (!key) return fail(res, 400, 'IDEMPOTENCY_KEY_REQUIRED', 'Idempotency-Key header is required');
    const fingerprint = `${operation}:${req.params.reference ?? ''}:${JSON.stringify(req.body ?? {})}`;
    const behaviour = tokenBehaviour(cardToken ?? '');
    const delay = faults.delayMs + behaviour.delayMs;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));

    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    if (attempt <= behaviour.flaky) return fail(res, 503, 'TEMPORARILY_UNAVAILABLE', `flaky attempt ${attempt}`);
    if (faults.failRate > 0 && random() < faults.failRate) return fail(res, 503, 'TEMPORARILY_UNAVAILABLE', 'injected failure');

    let reply = replies.get(key);
    if (reply && reply.fingerprint !== fingerprint) {
      return fail(res, 422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used for another request');
    }
    if (!reply) {
      const outcome = act();
      if (outcome.effect) bump(stats.effects, operation);
      reply = { status: outcome.status, body: outcome.body, fingerprint };
      if (outcome.status < 500) replies.set(key, reply);
    }
    if (faults.timeoutAfterProcessRate > 0 && random() < faults.timeoutAfterProcessRate) {
      // Processed, but the answer is lost: the caller sees a dropped connection and must retry.
      res.socket?.destroy();
      return undefined;
    }
    return res.status(reply.status).json(reply.body);
  }

  const view = (a: Authorization) => ({ reference: a.reference, status: a.status, amount: a.amount, ...(a.declineCode ? { declineCode: a.declineCode } : {}) });

  app.post('/v1/authorizations', (req, res) => {
    const { reference, amount, cardToken } = (req.body ?? {}) as { reference?: unknown; amount?: unknown; cardToken?: unknown };
    if (typeof reference !== 'string' || typeof cardToken !== 'string' || !Number.isInteger(amount) || (amount as number) <= 0) {
      return fail(res, 400, 'VALIDATION_FAILED', 'reference, cardToken and a positive integer amount are required');
    }
    return operate(req, res, 'authorize', cardToken, () => {
      const existing = authorizations.get(reference);
      // A void that arrived first (a compensation racing a slow authorize) blocks the hold for good.
      if (existing) return { status: 200, body: view(existing), effect: false };
      const declined = cardToken === 'tok_decline';
      const auth: Authorization = {
        reference,
        amount: amount as number,
        cardToken,
        status: declined ? 'DECLINED' : 'AUTHORIZED',
        ...(declined ? { declineCode: 'CARD_DECLINED' } : {}),
      };
      authorizations.set(reference, auth);
      return { status: 201, body: view(auth), effect: true };
    });
  });

  app.post('/v1/authorizations/:reference/capture', (req, res) => {
    const auth = authorizations.get(req.params.reference);
    return operate(req, res, 'capture', auth?.cardToken, () => {
      if (!auth) return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'No such authorization' } }, effect: false };
      if (auth.status === 'CAPTURED') return { status: 200, body: view(auth), effect: false };
      if (auth.status !== 'AUTHORIZED') {
        return { status: 409, body: { error: { code: 'NOT_CAPTURABLE', message: `Authorization is ${auth.status}` } }, effect: false };
      }
      auth.status = 'CAPTURED';
      return { status: 200, body: view(auth), effect: true };
    });
  });

  app.post('/v1/authorizations/:reference/void', (req, res) => {
    const reference = req.params.reference;
    const auth = authorizations.get(reference);
    return operate(req, res, 'void', auth?.cardToken, () => {
      if (!auth) {
        // Nothing held yet: record the void so a late authorize for this reference is refused.
        const tomb: Authorization = { reference, amount: 0, cardToken: '', status: 'VOIDED' };
        authorizations.set(reference, tomb);
        return { status: 200, body: view(tomb), effect: false };
      }
      if (auth.status === 'AUTHORIZED') {
        auth.status = 'VOIDED';
        return { status: 200, body: view(auth), effect: true };
      }
      if (auth.status === 'CAPTURED') {
        return { status: 409, body: { error: { code: 'NOT_VOIDABLE', message: 'Captured: refund instead' } }, effect: false };
      }
      return { status: 200, body: view(auth), effect: false };
    });
  });

  app.post('/v1/authorizations/:reference/refund', (req, res) => {
    const auth = authorizations.get(req.params.reference);
    return operate(req, res, 'refund', auth?.cardToken, () => {
      if (!auth) return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'No such authorization' } }, effect: false };
      if (auth.status === 'REFUNDED') return { status: 200, body: view(auth), effect: false };
      if (auth.status !== 'CAPTURED') {
        return { status: 409, body: { error: { code: 'NOT_REFUNDABLE', message: `Authorization is ${auth.status}` } }, effect: false };
      }
      auth.status = 'REFUNDED';
      return { status: 200, body: view(auth), effect: true };
    });
  });

  app.get('/v1/authorizations/:reference', (req, res) => {
    const auth = authorizations.get(req.params.reference);
    if (!auth) return fail(res, 404, 'NOT_FOUND', 'No such authorization');
    return res.json(view(auth));
  });

  app.post('/_sandbox/faults', (req, res) => {
    const body = (req.body ?? {}) as Partial<SandboxFaults> & { seed?: number };
    setFaults(body);
    if (typeof body.seed === 'number') random = seededRandom(body.seed);
    res.json(faults);
  });
  app.get('/_sandbox/stats', (_req, res) => res.json(stats));
  // Every authorization as the PSP sees it: audits reconcile it with the payments database.
  app.get('/_sandbox/authorizations', (_req, res) => res.json([...authorizations.values()].map(view)));
  app.get('/healthz', (_req, res) => res.json({ ok: true }));

  function setFaults(f: Partial<SandboxFaults>) {
    if (typeof f.delayMs === 'number' && f.delayMs >= 0) faults.delayMs = Math.min(f.delayMs, 60000);
    if (typeof f.failRate === 'number' && f.failRate >= 0 && f.failRate <= 1) faults.failRate = f.failRate;
    if (typeof f.timeoutAfterProcessRate === 'number' && f.timeoutAfterProcessRate >= 0 && f.timeoutAfterProcessRate <= 1) {
      faults.timeoutAfterProcessRate = f.timeoutAfterProcessRate;
    }
  }

  return { app, stats, authorizations, setFaults };
}
