/*
 * The order saga's protocol, for the Spin model checker (issue 21). docs/model.md says what it
 * covers, what it abstracts away, its bounds and how to read a counterexample; `npm run model-check`
 * (model/check.ts, scripts/model-check.ts) builds and checks it; test/model.test.ts runs it in npm test.
 *
 * Read it like workflows/order-saga.ts. proctype saga is the workflow, one instance per run (the
 * reconciler may start a second run of a saga that was terminated while its order was PENDING). An
 * activity attempt runs inside its caller while the caller waits for it; an attempt its caller stops
 * waiting for (timed out, cancelled, terminated, given up) goes on as a zombie, its effects still to
 * come. The PSP's operations are atomic (it is serial per payment) and its process acts on requests
 * that reached it after their caller had given up. restaurant, customer and operator send the Updates
 * and the Temporal cancel and terminate requests; sweeper and reconciler are
 * workers/pending-order-sweeper.ts and workflows/reconcile.ts (its decision in
 * lib/workflow-safe/reconcile.ts).
 *
 * Known holes put back with -D switches (the known-bad controls of test/model.test.ts):
 *   TRUST_ROW                   compensations act on the local payments row (no PSP lookup first)
 *   NO_RECONCILER               no reconciler: a terminated saga's order is never repaired
 *   CANCELLABLE_AFTER_DECISION  capture, acceptTicket and confirmOrder in the cancellable scope
 *   CAPTURE_REFUSAL_TRUSTED     a refused capture fails the saga without asking the PSP
 *   REGISTER_LATE               each compensation registered just before its own step (voidAuthorization
 *                               before authorizePayment, cancelTicket before createTicket), as before
 *                               patch compensations-registered-first: a run that fails before those
 *                               steps leaves alone what an earlier run held
 *   SWEEPER_RESTARTS            the PENDING sweeper starts a new run as soon as the last one closed
 *                               (reuse policy ALLOW_DUPLICATE_FAILED_ONLY, no grace period), while
 *                               attempts of the old run may still act
 * REGISTER_LATE with SWEEPER_RESTARTS is the code before issue 21's fix (docs/model.md: the hole).
 *
 * Not holes, but the other generations of the saga, which must hold every property too:
 *   STEPS_IN_SEQUENCE           sagas started before patch hold-and-ticket-together: authorizePayment,
 *                               then createTicket (its ticket always PENDING), and after the decision
 *                               capturePayment, then acceptTicket. REGISTER_LATE is older still, so it
 *                               implies this.
 *   PSP_503                     adds the PSP answering 503 without acting, and lookups that fail, to the faults.
 */
#ifdef REGISTER_LATE
#define STEPS_IN_SEQUENCE
#endif

/* ---- bounds (spin -D to change) ---- */
#ifndef MAXF
#define MAXF 1        /* faults in all: a PSP answer lost or late or 409 after acting, an attempt timed out */
#endif
#ifndef MAXTERM
#define MAXTERM 1     /* operator terminations */
#endif
#ifndef MAXCANCEL
#define MAXCANCEL 1   /* Temporal cancel requests (an operator's, or the reconciler's for a saga open too long) */
#endif
/* Saga runs: the first (the API's or the sweeper's), then one more per terminate at most (only a
 * terminated run closes without closing its order, and only then is another run started). */
#define MAXRUNS (MAXTERM + 1)

/*
 * The saga's activities and the repair's. test/model.test.ts checks that proctype saga calls
 * step()/register() in the order in which workflows/order-saga.ts calls step(<proxy>.<name>, and
 * that proctype reconciler calls step() in the order of repairOrder's activities.
 */
mtype = {
  createOrder, voidAuthorization, authorizePayment, cancelTicket, createTicket,
  markAwaitingRestaurant, rejectTicket, refundPayment, capturePayment, acceptTicket,
  confirmOrder, rejectOrder,
  syncPaymentFromPsp, getTicket, releasePayment
};
/* failure reasons (lib/domain.ts) */
#define NO_REASON 0             /* variables start at 0: these two are 0, not mtype values */
#define UNDECIDED 0
mtype = {
  AMOUNT_MISMATCH, PAYMENT_DECLINED, PAYMENT_UNAVAILABLE, SYSTEM_ERROR, ITEM_UNAVAILABLE,
  CUSTOMER_CANCELLED, OPERATOR_CANCELLED, RESTAURANT_TIMEOUT, RESTAURANT_REJECTED,
  PAYMENT_CAPTURE_FAILED, SAGA_ABORTED
};
mtype = { ACCEPT, REJECT };
/* order, ticket and payment states; REFUSED (4xx) and UNAVAILABLE (no answer, 5xx) are answers */
mtype = { PENDING, AWAITING_RESTAURANT, CONFIRMED, REJECTED, CANCELLED };
mtype = { NO_TICKET, TICKET_PENDING, TICKET_ACCEPTED, TICKET_REJECTED, TICKET_CANCELLED };
mtype = { NO_RECORD, PAY_PENDING, AUTHORIZED, CAPTURED, VOIDED, REFUNDED, DECLINED, REFUSED, UNAVAILABLE };
mtype = { PSP_AUTHORIZE, PSP_CAPTURE, PSP_VOID, PSP_REFUND };

#define isOpen(o)   ((o) == PENDING || (o) == AWAITING_RESTAURANT)
#define released(s) ((s) == VOIDED || (s) == REFUNDED || (s) == DECLINED)

/* ---- the services' rows ---- */
mtype order = PENDING;         /* orders DB: the API recorded it before starting the saga */
mtype ticket = NO_TICKET;      /* restaurants DB */
mtype pay = NO_RECORD;         /* payments DB: the local row */

/* ---- the PSP's books for pay_<orderId> ---- */
mtype psp = NO_RECORD;         /* VOIDED is also the tombstone of a void with no hold */
byte captures;                 /* capture effects */
mtype keep[4];                 /* first answer kept per idempotency key (authorize, capture, void, refund) */
byte late;                     /* bit per operation: a request it will act on though its caller gave up */
#define bit(op)   (op == PSP_AUTHORIZE -> 1 : (op == PSP_CAPTURE -> 2 : (op == PSP_VOID -> 4 : 8)))
#define index(op) (op == PSP_AUTHORIZE -> 0 : (op == PSP_CAPTURE -> 1 : (op == PSP_VOID -> 2 : 3)))

/* ---- inputs, chosen by init ---- */
#define CARD_OK      0
#define CARD_DECLINE 1         /* the PSP records DECLINED */
#define CARD_INVALID 2         /* 400 before its books: nothing recorded, nothing kept */
byte card;
bool amountOk;                 /* the total is the sum of the lines and the stored total */
bool autoAccept;

/* ---- Temporal: the runs of order-<orderId> ---- */
byte runs;                     /* runs started */
byte cur;                      /* the latest run: Updates, cancel and terminate go to it */
bool running;                  /* the latest run is open */
bool completed;                /* a run completed: reuse policy ALLOW_DUPLICATE_FAILED_ONLY starts no other */
mtype status[MAXRUNS + 1];     /* workflow state per run (0: PENDING) */
mtype decision[MAXRUNS + 1];
bool cancelRequested[MAXRUNS + 1];
bool closing[MAXRUNS + 1];
bool cancelled[MAXRUNS + 1];   /* a Temporal cancel request reached the run */
bool terminated[MAXRUNS + 1];
byte nterm, ncancel, faults;
bool customerCancelled;
byte busy;                     /* saga processes and zombie attempts not ended (the grace waits for 0) */
bool captureFailed;            /* a run failed with PAYMENT_CAPTURE_FAILED */
bool repairing;                /* a repair-<orderId> run is open */
bool repairDone;               /* one completed: ALLOW_DUPLICATE_FAILED_ONLY starts no other */

/* Two steps a run schedules together (patch hold-and-ticket-together), each awaited by a partner
 * process as the run awaits a step: pairStep[i] is the step partner i runs (0: idle), pairOut[i] how
 * it ended, pairReason[i] its failure, pairV[i] what it returned. A run has one pair at a time, and a
 * later run starts only once every attempt of the earlier one ended: one set serves every run. */
#define P_OK     1
#define P_FAILED 2
#define P_ENDED  3             /* the run was terminated */
byte pairStep[2];
byte pairOut[2];
mtype pairReason[2];
mtype pairV[2];
byte pairWho;
bool pairCancellable;

#define FAULT (faults < MAXF) -> faults++

/* Result of an attempt */
#define A_OK    0
#define A_RETRY 1              /* retryable: a plain Error, an unavailable PSP */
#define A_FAIL  2              /* non-retryable ApplicationFailure, with a reason */

/* ============================================================================== the PSP */

/* One operation as psp/sandbox.ts decides it: the same idempotency key replays the first answer,
 * a void with no record leaves a tombstone, a capture or refund in the wrong state is refused. */
inline psp_act(op, reply) {
  if
  :: op == PSP_AUTHORIZE && card == CARD_INVALID -> reply = REFUSED
  :: else ->
    if
    :: keep[index(op)] != 0 -> reply = keep[index(op)]
    :: else ->
      if
      :: op == PSP_AUTHORIZE ->
         if
         :: psp == NO_RECORD && card == CARD_DECLINE -> psp = DECLINED
         :: psp == NO_RECORD && card == CARD_OK -> psp = AUTHORIZED
         :: else                                     /* a void tombstone got there first */
         fi;
         reply = psp
      :: op == PSP_CAPTURE ->
         if
         :: psp == AUTHORIZED -> psp = CAPTURED; captures++; reply = CAPTURED
         :: psp == CAPTURED -> reply = CAPTURED
         :: else -> reply = REFUSED                  /* 404 NOT_FOUND, 409 NOT_CAPTURABLE */
         fi
      :: op == PSP_VOID ->
         if
         :: psp == NO_RECORD || psp == AUTHORIZED -> psp = VOIDED; reply = VOIDED
         :: psp == CAPTURED -> reply = REFUSED       /* 409 NOT_VOIDABLE */
         :: else -> reply = psp
         fi
      :: op == PSP_REFUND ->
         if
         :: psp == CAPTURED -> psp = REFUNDED; reply = REFUNDED
         :: psp == REFUNDED -> reply = REFUNDED
         :: else -> reply = REFUSED                  /* 404, 409 NOT_REFUNDABLE */
         fi
      fi;
      keep[index(op)] = reply
    fi
  fi
}

/* One call from a payment activity (psp-client.ts): answered in time, or one fault. */
inline psp_call(op, seen) {
  if
  :: psp_act(op, seen); printf("  %e -> %e; PSP now %e\n", op, seen, psp)
  :: FAULT -> psp_act(op, seen); seen = UNAVAILABLE;
     printf("FAULT: the PSP acts on %e (PSP now %e) but its answer is lost: the call times out\n", op, psp)
  :: FAULT -> psp_act(op, seen); seen = REFUSED;
     printf("FAULT: the PSP acts on %e (PSP now %e) and answers 409 CONFLICT\n", op, psp)
  :: FAULT -> late = late | bit(op); seen = UNAVAILABLE;
     printf("FAULT: the PSP is slower than our timeout: %e will act later\n", op)
#ifdef PSP_503
  :: FAULT -> seen = UNAVAILABLE; printf("FAULT: the PSP answers 503 to %e without acting\n", op)
#endif
  fi
}

/* GET /v1/authorizations/pay_<orderId>: no effect. */
inline psp_lookup(seen) {
#ifdef PSP_503
  if
  :: seen = psp
  :: FAULT -> seen = UNAVAILABLE; printf("FAULT: a PSP lookup is unavailable\n")
  fi
#else
  seen = psp
#endif
}

/* The PSP acting on requests whose callers stopped waiting (the sandbox's delay before acting). */
proctype processor() {
  mtype op, ignored;
end:
  do
  :: atomic {
       late != 0 ->
       if
       :: late & 1 -> op = PSP_AUTHORIZE
       :: late & 2 -> op = PSP_CAPTURE
       :: late & 4 -> op = PSP_VOID
       :: late & 8 -> op = PSP_REFUND
       fi;
       late = late & ~bit(op);
       psp_act(op, ignored);
       printf("PSP: the late %e acts: PSP now %e\n", op, psp);
       op = 0; ignored = 0
     }
  od
}

/* ======================================================================= the activities */
/* Each attempt_<step>() is one attempt of that activity, in its await points' atomic steps.
 * It leaves r (A_OK, A_RETRY, or A_FAIL with reason w) and v (a returned status). Callers declare
 * who, first, r, w, v, arg and the scratch variables row, known, truth, result, before, round. */

/* An attempt starts only while its caller still waits (z: it runs on a zombie, which always goes on).
 * Folded into each attempt's first atomic step so that starting is not a step of its own. */
#define mayStart (z || (!terminated[who] && !(cancellable && cancelled[who])))

/* Writes the PSP's state into the row if the row is still what was read (adopt in payment.ts). */
inline adopt(snapshot, to) {
  atomic { if :: pay == snapshot && pay != to -> pay = to :: else fi }
}

/* loadOrCreatePending */
inline load_or_create(into) {
  atomic { mayStart -> if :: pay == NO_RECORD -> pay = PAY_PENDING :: else fi; into = pay }
}

inline attempt_createOrder() {
  mayStart                                  /* the API recorded the order: returns the stored total */
}

inline attempt_authorizePayment() {
  load_or_create(row);
  if
  :: row == AUTHORIZED || row == CAPTURED -> skip
  :: row == DECLINED -> r = A_FAIL; w = PAYMENT_DECLINED
  :: row == VOIDED || row == REFUNDED -> r = A_FAIL; w = SYSTEM_ERROR
  :: row == PAY_PENDING ->
     known = NO_RECORD;
     if :: !first -> atomic { psp_lookup(known) } :: else fi;      /* a retry asks before sending again */
     if
     :: known == NO_RECORD -> atomic { psp_call(PSP_AUTHORIZE, known);
                                       if :: known == REFUSED -> known = DECLINED :: else fi }  /* a 4xx is a decline */
     :: else
     fi;
     if
     :: known == UNAVAILABLE -> r = A_RETRY
     :: known == DECLINED -> atomic { if :: pay == PAY_PENDING -> pay = DECLINED :: else fi };
        r = A_FAIL; w = PAYMENT_DECLINED
     :: known == AUTHORIZED -> atomic { if :: pay == PAY_PENDING -> pay = AUTHORIZED :: else fi }
     :: else -> adopt(PAY_PENDING, known); r = A_FAIL; w = SYSTEM_ERROR   /* a void got there first */
     fi
  fi
}

inline attempt_capturePayment() {
  atomic { mayStart -> row = pay };
  if
  :: row == NO_RECORD -> r = A_FAIL; w = PAYMENT_CAPTURE_FAILED
  :: row == CAPTURED -> skip
  :: else ->
     known = NO_RECORD;
     if :: row != AUTHORIZED || !first -> atomic { psp_lookup(known) } :: else fi;
     if
     :: known == UNAVAILABLE -> r = A_RETRY
     :: known == CAPTURED -> adopt(row, CAPTURED)
     :: known != UNAVAILABLE && known != CAPTURED && row != AUTHORIZED ->
        if :: known != NO_RECORD -> adopt(row, known) :: else fi;
        r = A_FAIL; w = PAYMENT_CAPTURE_FAILED
     :: known != UNAVAILABLE && known != CAPTURED && row == AUTHORIZED ->
        atomic { psp_call(PSP_CAPTURE, result) };
        if
        :: result == UNAVAILABLE -> r = A_RETRY
        :: result == REFUSED ->
#ifdef CAPTURE_REFUSAL_TRUSTED
           r = A_FAIL; w = PAYMENT_CAPTURE_FAILED
#else
           atomic { psp_lookup(truth) };          /* a capture that acted and answered an error is a capture */
           if
           :: truth == UNAVAILABLE -> r = A_RETRY
           :: truth == CAPTURED -> adopt(row, CAPTURED)
           :: else -> if :: truth != NO_RECORD -> adopt(row, truth) :: else fi;
              r = A_FAIL; w = PAYMENT_CAPTURE_FAILED
           fi
#endif
        :: else -> atomic { if :: pay == AUTHORIZED -> pay = CAPTURED :: else fi }
        fi
     fi
  fi
}

/* release(): voidAuthorization, refundPayment and the reconciler's releasePayment */
inline attempt_release() {
  load_or_create(row);
#ifdef TRUST_ROW
  /* the hole put back: act on the row (the code before the PSP lookups), give up on a refused void */
  if
  :: row == CAPTURED ->
     atomic { psp_call(PSP_REFUND, result) };
     if
     :: result == UNAVAILABLE || result == REFUSED -> r = A_RETRY
     :: else -> atomic { if :: pay == CAPTURED -> pay = REFUNDED :: else fi }
     fi
  :: row == PAY_PENDING || row == AUTHORIZED ->
     atomic { psp_call(PSP_VOID, result) };
     if
     :: result == UNAVAILABLE -> r = A_RETRY
     :: result == REFUSED -> printf("  the void is refused: left to the refund\n")   /* "captured meanwhile: the refund's business" */
     :: else -> atomic { if :: pay == PAY_PENDING || pay == AUTHORIZED -> pay = result :: else fi }
     fi
  :: else -> printf("  the payments row says %e: nothing to release\n", row)
  fi
#else
  round = 0;
  do
  :: round == 4 -> r = A_RETRY; break       /* not released after 4 rounds: throws, retried */
  :: round < 4 ->
     round++;
     atomic { psp_lookup(truth) };
     if
     :: truth == UNAVAILABLE -> r = A_RETRY; break
     :: released(truth) -> atomic { before = pay }; adopt(before, truth); break
     :: truth == NO_RECORD || truth == AUTHORIZED || truth == CAPTURED ->
        atomic {
          if
          :: truth == CAPTURED -> psp_call(PSP_REFUND, result)
          :: else -> psp_call(PSP_VOID, result)
          fi
        };
        if
        :: result == UNAVAILABLE -> r = A_RETRY; break
        :: result == REFUSED -> skip        /* its state moved under us: ask again */
        :: else ->
           atomic { before = pay };
           if
           :: truth == NO_RECORD && before == DECLINED -> break    /* a 4xx decline stays DECLINED */
           :: else ->
              atomic { if :: pay == before && pay != result -> pay = result :: else fi; row = pay };
              if :: released(row) -> break :: else fi
           fi
        fi
     fi
  od
#endif
}
#define attempt_voidAuthorization() attempt_release()
#define attempt_refundPayment() attempt_release()
#define attempt_releasePayment() attempt_release()

inline attempt_syncPaymentFromPsp() {
  atomic { mayStart -> psp_lookup(truth) };
  if
  :: truth == UNAVAILABLE -> r = A_RETRY
  :: truth == NO_RECORD -> atomic { v = pay }
  :: else -> load_or_create(row); adopt(row, truth); atomic { v = pay }
  fi
}

inline attempt_createTicket() {
  atomic {
    mayStart;
    if
    :: ticket == TICKET_CANCELLED -> r = A_FAIL; w = SYSTEM_ERROR
    :: ticket == TICKET_PENDING || ticket == TICKET_ACCEPTED || ticket == TICKET_REJECTED -> skip
#ifdef STEPS_IN_SEQUENCE
    :: ticket == NO_TICKET -> ticket = TICKET_PENDING; printf("  ticket PENDING\n")
#else
    /* acceptIfAutoAccept: an auto-accept restaurant's ticket is ACCEPTED at once */
    :: ticket == NO_TICKET -> ticket = (autoAccept -> TICKET_ACCEPTED : TICKET_PENDING); printf("  ticket %e\n", ticket)
#endif
    :: ticket == NO_TICKET -> r = A_FAIL; w = ITEM_UNAVAILABLE     /* a line sold out or repriced */
    fi;
#ifndef STEPS_IN_SEQUENCE
    v = ticket                  /* accepted: the ticket is ACCEPTED (created so, or found so) */
#endif
  }
}

inline attempt_getTicket() {
  atomic { mayStart -> v = ticket }
}

/* A ticket that was cancelled or rejected cannot be accepted: a non-retryable SYSTEM_ERROR (the saga
 * compensates; a repair fails and the next pass repairs backward). A missing ticket is a plain Error. */
inline attempt_acceptTicket() {
  atomic {
    mayStart;
    if :: ticket == TICKET_PENDING -> ticket = TICKET_ACCEPTED; printf("  ticket ACCEPTED\n") :: else fi;
    if
    :: ticket == TICKET_CANCELLED || ticket == TICKET_REJECTED -> r = A_FAIL; w = SYSTEM_ERROR;
       printf("  acceptTicket: the ticket is %e (non-retryable SYSTEM_ERROR)\n", ticket)
    :: ticket == NO_TICKET -> r = A_RETRY; printf("  acceptTicket: no ticket (throws, retried)\n")
    :: else
    fi
  }
}

inline attempt_rejectTicket() {
  atomic { mayStart -> if :: ticket == TICKET_PENDING -> ticket = TICKET_REJECTED :: else fi }
}

inline attempt_cancelTicket() {
  atomic {
    mayStart;
    if
    :: ticket == NO_TICKET -> ticket = TICKET_CANCELLED; printf("  ticket CANCELLED (tombstone)\n")
    :: ticket == TICKET_PENDING || ticket == TICKET_ACCEPTED -> ticket = TICKET_CANCELLED; printf("  ticket CANCELLED\n")
    :: else
    fi
  }
}

inline attempt_markAwaitingRestaurant() {
  atomic { mayStart -> if :: order == PENDING -> order = AWAITING_RESTAURANT; printf("  order AWAITING_RESTAURANT\n") :: else fi }
}

inline attempt_confirmOrder() {
  atomic { mayStart -> if :: isOpen(order) -> order = CONFIRMED; printf("  order CONFIRMED\n") :: else fi }
}

inline attempt_rejectOrder() {
  atomic { mayStart -> if :: isOpen(order) -> order = arg; printf("  order %e\n", order) :: else fi }
}

/* ========================================================================== the zombies */

/* Attempts whose callers stopped waiting for them. A pool (the lowest idle one takes the next),
 * big enough for every attempt the bounds let callers abandon. */
#ifndef POOL
#define POOL (1 + MAXF + MAXCANCEL + MAXTERM)
#endif
byte job[POOL];                /* the step a zombie runs (0: idle) */
byte jobWho[POOL];
bool jobFirst[POOL];
mtype jobArg[POOL];

proctype zombie(byte me) {
  byte s, who, round, r, w;
  bool first, cancellable, z = true;
  mtype row, known, truth, result, before, v, arg;
end:
  do
  :: atomic { job[me] != 0 -> s = job[me]; who = jobWho[me]; first = jobFirst[me]; arg = jobArg[me] };
     if
     :: s == createOrder -> attempt_createOrder()
     :: s == authorizePayment -> attempt_authorizePayment()
     :: s == capturePayment -> attempt_capturePayment()
     :: s == voidAuthorization || s == refundPayment || s == releasePayment -> attempt_release()
     :: s == syncPaymentFromPsp -> attempt_syncPaymentFromPsp()
     :: s == createTicket -> attempt_createTicket()
     :: s == getTicket -> attempt_getTicket()
     :: s == acceptTicket -> attempt_acceptTicket()
     :: s == rejectTicket -> attempt_rejectTicket()
     :: s == cancelTicket -> attempt_cancelTicket()
     :: s == markAwaitingRestaurant -> attempt_markAwaitingRestaurant()
     :: s == confirmOrder -> attempt_confirmOrder()
     :: s == rejectOrder -> attempt_rejectOrder()
     fi;
     atomic {
       printf("  (the abandoned attempt of %e ends; nobody listens)\n", s);
       busy--; job[me] = 0; jobWho[me] = 0; jobFirst[me] = 0; jobArg[me] = 0;
       row = 0; known = 0; truth = 0; result = 0; before = 0; round = 0; r = 0; w = 0; v = 0;
       s = 0; who = 0; first = 0; arg = 0
     }
  od
}

/* Hands the attempt of step s to the lowest idle zombie. */
inline abandon(s) {
  if
  :: job[0] == 0 -> k = 0
#if POOL > 1
  :: job[0] != 0 && job[1] == 0 -> k = 1
#endif
#if POOL > 2
  :: job[0] != 0 && job[1] != 0 && job[2] == 0 -> k = 2
#endif
#if POOL > 3
  :: job[0] != 0 && job[1] != 0 && job[2] != 0 && job[3] == 0 -> k = 3
#endif
#if POOL > 4
  :: job[0] != 0 && job[1] != 0 && job[2] != 0 && job[3] != 0 && job[4] == 0 -> k = 4
#endif
#if POOL > 5
  :: job[0] != 0 && job[1] != 0 && job[2] != 0 && job[3] != 0 && job[4] != 0 && job[5] == 0 -> k = 5
#endif
  :: else -> assert(false)              /* the pool is too small for the bounds */
  fi;
  job[k] = s; jobWho[k] = who; jobFirst[k] = first; jobArg[k] = arg; busy++; k = 0
}

/* ====================================================================== how a workflow awaits */

/* Runs step s until it succeeds or fails for good, as Temporal does. An attempt is waited for, or
 * abandoned (it runs on as a zombie) when it times out (then retried), when a cancel request reaches
 * a cancellable scope, when the run is terminated, or when the step gives up (schedule-to-close).
 * A terminated run goes to `ended`, a failure to `failed`. */
#define AWAIT(s, ATTEMPT) \
  atomic { if :: who == 0 -> printf("repair: %e\n", s) :: else -> printf("run %d: %e\n", who, s) fi; first = true }; \
  AWAIT_ATTEMPTS(s, ATTEMPT)
#define AWAIT_ATTEMPTS(s, ATTEMPT) \
  do \
  :: atomic { terminated[who] -> goto ended } \
  :: atomic { cancellable && cancelled[who] -> reason = OPERATOR_CANCELLED; \
              printf("run %d: %e not started: cancel request\n", who, s); goto failed } \
  :: ATTEMPT; \
     atomic { \
       row = 0; known = 0; truth = 0; result = 0; before = 0; round = 0; \
       if \
       :: r == A_RETRY -> first = false; r = A_OK; w = 0 \
       :: r == A_FAIL -> reason = w; r = A_OK; w = 0; \
          if :: terminated[who] -> goto ended :: else -> goto failed fi \
       :: r == A_OK -> if :: terminated[who] -> goto ended :: else -> break fi \
       fi \
     } \
  :: atomic { \
       (faults < MAXF || terminated[who] || (cancellable && cancelled[who]) || (mayGiveUp && !first)) -> \
       abandon(s); \
       if \
       :: FAULT -> first = false; \
          printf("FAULT: an attempt of %e times out (caller %d): retried, it runs on\n", s, who) \
       :: terminated[who] -> goto ended \
       :: cancellable && cancelled[who] -> reason = OPERATOR_CANCELLED; \
          printf("run %d: %e abandoned on the cancel request (it runs on)\n", who, s); goto failed \
       :: mayGiveUp && !first -> reason = PAYMENT_UNAVAILABLE; \
          printf("run %d: %e gives up: schedule-to-close timeout (it runs on)\n", who, s); goto failed \
       fi \
     } \
  od; \
  first = false

#define step(s)       AWAIT(s, attempt_##s())
#define compensate(s) AWAIT(s, attempt_##s())
#define R_VOID   1
#define R_CANCEL 2
#define R_REFUND 4
#define register(s) registered = registered | (s == voidAuthorization -> R_VOID : (s == cancelTicket -> R_CANCEL : R_REFUND))
#define stopIfCancelled() if :: cancelRequested[who] -> reason = CUSTOMER_CANCELLED; goto failed :: else fi

/* ========================================================================== the partners */

#ifndef STEPS_IN_SEQUENCE
/* Partner i takes step x of the pair when it is its (the first attempt starts in the next step). */
#define take(x) \
  atomic { pairStep[me] == x && pairOut[me] == 0 -> \
           s = x; who = pairWho; cancellable = pairCancellable; mayGiveUp = (x == authorizePayment); first = true; \
           printf("run %d: %e\n", who, x) }
#define idle() s = 0; who = 0; first = 0; cancellable = 0; mayGiveUp = 0; reason = 0; v = 0
/* Partner i awaits one step of a pair exactly as a run awaits a step (attempts, retries, abandoned
 * attempts; the hold may give up), for run pairWho, in its scope (pairCancellable), and reports how it
 * ended. The run waits for both partners (settleBoth: a compensation must not overtake a step still
 * running); a cancel request or terminate reaches both, and each abandons its own attempt. */
proctype partner(byte me) {
  byte s, who, k, round, r, w;
  bool z, first, cancellable, mayGiveUp;
  mtype reason, row, known, truth, result, before, v, arg;
end:
  do
  :: take(authorizePayment); AWAIT_ATTEMPTS(authorizePayment, attempt_authorizePayment()); goto done
  :: take(createTicket); AWAIT_ATTEMPTS(createTicket, attempt_createTicket()); goto done
  :: take(capturePayment); AWAIT_ATTEMPTS(capturePayment, attempt_capturePayment()); goto done
  :: take(acceptTicket); AWAIT_ATTEMPTS(acceptTicket, attempt_acceptTicket()); goto done
done:
     atomic { pairV[me] = v; pairOut[me] = P_OK; idle(); goto end };
failed:
     atomic { pairReason[me] = reason; pairOut[me] = P_FAILED; idle(); goto end };
ended:
     atomic { pairOut[me] = P_ENDED; idle() }
  od
}

/* Schedules steps a and b together and waits for both; then the first's failure is the reason, then
 * a customer's cancel request (stopIfCancelled), then the second's failure. ok is what b returned. */
#define pair(a, b) \
  atomic { printf("run %d: %e and %e together\n", who, a, b); \
           pairWho = who; pairCancellable = cancellable; pairStep[0] = a; pairStep[1] = b }; \
  atomic { \
    pairOut[0] != 0 && pairOut[1] != 0 -> \
    if \
    :: terminated[who] -> reason = 0 \
    :: !terminated[who] && pairOut[0] == P_FAILED -> reason = pairReason[0] \
    :: !terminated[who] && pairOut[0] != P_FAILED && cancelRequested[who] -> reason = CUSTOMER_CANCELLED \
    :: !terminated[who] && pairOut[0] != P_FAILED && !cancelRequested[who] && pairOut[1] == P_FAILED -> reason = pairReason[1] \
    :: !terminated[who] && pairOut[0] != P_FAILED && !cancelRequested[who] && pairOut[1] != P_FAILED -> \
       ok = (pairV[1] == TICKET_ACCEPTED) \
    fi; \
    pairStep[0] = 0; pairStep[1] = 0; pairOut[0] = 0; pairOut[1] = 0; pairReason[0] = 0; pairReason[1] = 0; \
    pairV[0] = 0; pairV[1] = 0; pairWho = 0; pairCancellable = 0; \
    if \
    :: terminated[who] -> goto ended \
    :: !terminated[who] && reason != 0 -> goto failed \
    :: else \
    fi \
  }
#endif

/* ============================================================================== the saga */

proctype saga(byte who) {
  byte registered, k, round, r, w;
  bool z, ok;
  mtype reason, row, known, truth, result, before, v, arg;
  bool first, cancellable = true, mayGiveUp;

#ifndef REGISTER_LATE
  /* patch compensations-registered-first: both are safe when their steps never ran (a void tombstone
   * at the PSP, a CANCELLED ticket tombstone), so they are registered before the first step, and a run
   * that fails early also releases what an earlier run of the order left held. */
  register(voidAuthorization);
  register(cancelTicket);
#endif
  step(createOrder);
  if :: !amountOk -> reason = AMOUNT_MISMATCH; goto failed :: else fi;

#ifdef STEPS_IN_SEQUENCE
#ifdef REGISTER_LATE
  register(voidAuthorization);
#endif
  mayGiveUp = true;
  step(authorizePayment);
  mayGiveUp = false;
  stopIfCancelled();

#ifdef REGISTER_LATE
  register(cancelTicket);
#endif
  step(createTicket);
  stopIfCancelled();
#else
  /* patch hold-and-ticket-together; ok: the ticket was created (or found) ACCEPTED */
  pair(authorizePayment, createTicket);
#endif

  if :: autoAccept && decision[who] == UNDECIDED -> decision[who] = ACCEPT :: else fi;
  if
  :: decision[who] == UNDECIDED ->
     step(markAwaitingRestaurant);
     status[who] = AWAITING_RESTAURANT;
     /* condition(decided or cancel requested, acceptance window): the timer races the Updates */
     if
     :: decision[who] != UNDECIDED || cancelRequested[who] -> skip
     :: atomic { decision[who] == UNDECIDED && !cancelRequested[who] -> reason = RESTAURANT_TIMEOUT;
                 printf("run %d: the acceptance timer fires\n", who) }; goto failed
     :: cancelled[who] -> reason = OPERATOR_CANCELLED; goto failed
     :: terminated[who] -> goto ended
     fi;
     stopIfCancelled()
  :: else
  fi;

  /* The restaurant has decided: from here the saga finishes what the decision implies. */
#ifndef CANCELLABLE_AFTER_DECISION
  cancellable = false;
#endif
  if
  :: decision[who] == REJECT ->
     step(rejectTicket);
     reason = RESTAURANT_REJECTED; goto failed
  :: decision[who] == ACCEPT
  fi;
  register(refundPayment);
#ifdef STEPS_IN_SEQUENCE
  step(capturePayment);
  step(acceptTicket);
#else
  if
  :: ok -> ok = false; step(capturePayment)       /* the ticket is ACCEPTED already */
  :: else -> pair(capturePayment, acceptTicket)
  fi;
#endif
  step(confirmOrder);
  status[who] = CONFIRMED;
  goto done;

failed:
  assert(!closing[who]);          /* compensations never fail for good: the catch block runs once */
  atomic { closing[who] = true; cancellable = false; mayGiveUp = false;
           if :: reason == PAYMENT_CAPTURE_FAILED -> captureFailed = true :: else fi;
           printf("run %d: fails %e; compensating\n", who, reason) };
  if :: registered & R_REFUND -> compensate(refundPayment) :: else fi;
  if :: registered & R_CANCEL -> compensate(cancelTicket) :: else fi;
  if :: registered & R_VOID -> compensate(voidAuthorization) :: else fi;
  arg = (reason == CUSTOMER_CANCELLED || reason == OPERATOR_CANCELLED -> CANCELLED : REJECTED);
  step(rejectOrder);
  status[who] = arg;

done:
  atomic {
    if
    :: terminated[who] -> goto ended     /* it closed TERMINATED when it was terminated */
    :: else -> running = false; completed = true; printf("run %d: completes\n", who); goto exit
    fi
  };
ended:
  printf("run %d: terminated, nothing more runs in it\n", who);
exit:
  atomic {                             /* nothing reads a closed run's state any more */
    status[who] = 0; decision[who] = 0; cancelRequested[who] = false; closing[who] = false;
    cancelled[who] = false;
    registered = 0; reason = 0; first = 0; cancellable = 0; mayGiveUp = 0; arg = 0; v = 0; ok = 0;
    busy--
  }
}

/* ======================================================================= the environment */

/* The restaurant's decide Update, admitted when its validator passes. */
proctype restaurant() {
end:
  do
  :: atomic {
       (running && status[cur] == AWAITING_RESTAURANT && decision[cur] == UNDECIDED &&
        !cancelRequested[cur] && !closing[cur]) ->
       if
       :: decision[cur] = ACCEPT; printf("restaurant accepts (run %d)\n", cur)
       :: decision[cur] = REJECT; printf("restaurant rejects (run %d)\n", cur)
       fi
     }
  od
}

/* The customer's cancel Update, admitted before the decision while the saga is not closing. */
proctype customer() {
end:
  do
  :: atomic {
       (!customerCancelled && running && !cancelRequested[cur] && decision[cur] == UNDECIDED &&
        !closing[cur]) ->
       cancelRequested[cur] = true; customerCancelled = true; printf("customer cancels (run %d)\n", cur)
     }
  od
}

/* An operator's (or the reconciler's, for a saga open far too long) Temporal cancel request, and an
 * operator's terminate: the run closes at once; its attempt in flight goes on. */
proctype operator() {
end:
  do
  :: atomic { running && ncancel < MAXCANCEL && !cancelled[cur] ->
              cancelled[cur] = true; ncancel++; printf("operator requests cancellation of run %d\n", cur) }
  :: atomic { running && nterm < MAXTERM ->
              terminated[cur] = true; running = false; nterm++; printf("operator terminates run %d\n", cur) }
  od
}

/* Starts run `runs + 1` of order-<orderId> (the caller checked that Temporal's policies allow it). */
inline startRun() {
  assert(runs < MAXRUNS);
  runs++; cur = runs; running = true; busy++;
  printf(" starts saga run %d (order %e)\n", cur, order);
  run saga(cur)
}

/* workers/pending-order-sweeper.ts: a PENDING order whose saga never ran gets its first run (the API
 * stopped between recording the order and starting it). Reuse policy REJECT_DUPLICATE: a run that
 * closed, whatever its end, is left to the reconciler. */
proctype sweeper() {
end:
  do
#ifdef SWEEPER_RESTARTS
  /* the hole put back: ALLOW_DUPLICATE_FAILED_ONLY at once, while the old run's attempts may still act */
  :: atomic { order == PENDING && !running && !completed -> printf("sweeper:"); startRun() }
#else
  :: atomic { order == PENDING && runs == 0 -> printf("sweeper:"); startRun() }
#endif
  od
}

/* The grace period (RECONCILE_GRACE_SECONDS) is longer than any activity attempt: once the saga has
 * closed for that long, no saga process or attempt of it is still going and no request of it is still
 * to reach the PSP. */
#define graceOver (!running && busy == 0 && late == 0)

/*
 * workflows/reconcile.ts, as lib/workflow-safe/reconcile.ts decides for an open order whose saga
 * closed longer ago than the grace period:
 *   PENDING, the saga not completed   → a new saga run (ALLOW_DUPLICATE_FAILED_ONLY), forward;
 *   any other (AWAITING_RESTAURANT,   → the repair workflow repair-<orderId> (repairOrder): ask the
 *   or PENDING behind a completed       PSP; CAPTURED with an open ticket → forward, else backward.
 *   saga, which no run can follow)      (A completed run has closed its order: the second case is
 *                                       not reached here.)
 * So saga runs and repairs are exclusive by the order's status. A repair that failed
 * (ALLOW_DUPLICATE_FAILED_ONLY) runs again on a later pass; one that completed never does.
 * A saga running far too long is asked to cancel: that is the operator's cancel request below.
 */
proctype reconciler() {
  byte who = 0;
  byte k, round, r, w;
  bool z;
  mtype reason, held, tk, row, known, truth, result, before, v, arg;
  bool first, cancellable, mayGiveUp;
endIdle:
  do
  :: atomic { graceOver && order == PENDING && runs > 0 && !completed -> printf("reconciler:"); startRun() }
  :: atomic { graceOver && (order == AWAITING_RESTAURANT || (order == PENDING && completed)) && !repairDone && !repairing ->
              repairing = true; printf("reconciler: repair-<orderId> (saga closed, grace period over)\n") };
     break
  od;
  step(syncPaymentFromPsp);
  atomic { held = v; v = 0 };
  step(getTicket);
  atomic { tk = v; v = 0 };
  if
  :: atomic { held == CAPTURED && (tk == TICKET_PENDING || tk == TICKET_ACCEPTED) ->
              printf("repair: forward (PSP CAPTURED, %e)\n", tk); held = 0; tk = 0 };
     step(acceptTicket);
     step(confirmOrder)
  :: atomic { !(held == CAPTURED && (tk == TICKET_PENDING || tk == TICKET_ACCEPTED)) ->
              printf("repair: backward (payment %e, %e)\n", held, tk); held = 0; tk = 0 };
     step(releasePayment);
     step(cancelTicket);
     arg = REJECTED;
     step(rejectOrder);
     arg = 0
  fi;
  atomic { repairDone = true; repairing = false; printf("repair completes\n"); goto endIdle };
failed:                                /* only acceptTicket fails for good: repair-<orderId> FAILED */
  atomic { repairing = false; printf("repair fails (%e); a later pass repairs again\n", reason); reason = 0;
           held = 0; tk = 0; first = false; goto endIdle };
ended:
  assert(false)                        /* nobody terminates a repair in this model */
}

init {
  byte i;
  atomic {
    if :: amountOk = true :: amountOk = false fi;
    if :: autoAccept = false :: autoAccept = true fi;
    if :: card = CARD_OK :: card = CARD_DECLINE :: card = CARD_INVALID fi;
    printf("order placed:");
    if
    :: card == CARD_OK -> printf(" a good card")
    :: card == CARD_DECLINE -> printf(" a card the PSP declines")
    :: card == CARD_INVALID -> printf(" a card the PSP refuses with a 4xx, recording nothing")
    fi;
    if :: autoAccept -> printf(", an auto-accepting restaurant") :: else -> printf(", a restaurant that decides") fi;
    if :: amountOk -> printf("\n") :: else -> printf(", a total that does not add up\n") fi;
    run processor(); run restaurant(); run customer(); run operator(); run sweeper();
#ifndef NO_RECONCILER
    run reconciler();
#endif
    for (i : 0 .. POOL - 1) { run zombie(i) };
#ifndef STEPS_IN_SEQUENCE
    run partner(0); run partner(1);
#endif
    i = 0;
    if
    :: printf("the API:"); startRun()
    :: printf("the API stops before starting the saga\n")
    fi
  }
}

/* ============================================================================ properties */

#define isFinal (order == CONFIRMED || order == REJECTED || order == CANCELLED)
/* Nothing can act any more: no run open, no saga process or zombie attempt going, no request still
 * to reach the PSP, no repair under way. With the order final, this is the outcome (the sweeper and
 * the reconciler only take open orders). */
#define atRest (!running && busy == 0 && late == 0 && !repairing)
#define moneyAgrees ((order == CONFIRMED -> (psp == CAPTURED && captures == 1)) && \
                     (order != CONFIRMED -> (psp != CAPTURED && psp != AUTHORIZED)))
#define ticketAgrees ((order == CONFIRMED -> ticket == TICKET_ACCEPTED) && \
                      (order != CONFIRMED -> (ticket != TICKET_PENDING && ticket != TICKET_ACCEPTED)))

/* The order is final and everything has landed: the PSP agrees with it. CONFIRMED is one standing
 * capture of the total; any other end keeps nothing, neither a hold nor a capture. */
ltl money { [] ((isFinal && atRest) -> moneyAgrees) }
/* The PSP never takes the money twice. */
ltl nodouble { [] (captures <= 1) }
/* The ticket agrees: CONFIRMED has an ACCEPTED ticket; any other end leaves no ticket open. */
ltl ticketagrees { [] ((isFinal && atRest) -> ticketAgrees) }
/* A saga that fails for a refused capture (PAYMENT_CAPTURE_FAILED) is right: the PSP never captured.
 * (Otherwise an order the restaurant accepted and the PSP charged ends REJECTED; the refund keeps the
 * money right, so money alone does not see it.) */
ltl capturetruth { [] (captureFailed -> captures == 0) }
/* Liveness (under weak fairness; model/check.ts first checks every execution, which implies it):
 * every placed order becomes final; every hold is released or captured; and the order becomes final
 * with every run, attempt, PSP request and repair ended. A final order at rest stays so for ever
 * (nothing acts on a final order), so settles is <>[] of the same. */
ltl ends { <> isFinal }
ltl holdreleased { [] (psp == AUTHORIZED -> <> (psp != AUTHORIZED)) }
ltl settles { <> (isFinal && atRest) }
