// Failures in the words of the domain. Services and the request checks throw these; they know
// nothing of HTTP. api/errors.ts is the one place that turns them into statuses and the error shape.

/** Which kind of failure: the error handler maps each kind to one status. */
export type DomainErrorKind =
  'invalidInput' | 'unauthenticated' | 'forbidden' | 'notFound' | 'conflict' | 'unprocessable' | 'preconditionRequired' | 'tooManyRequests' | 'unavailable';

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;

  constructor(
    /** UPPER_SNAKE, stable: clients branch on it. */
    readonly code: string,
    message: string,
    /** Shown to the client with the code (validation issues, the current item on a conflict, ...). */
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed or breaks a rule of its schema. */
export class InvalidInput extends DomainError {
  readonly kind = 'invalidInput';
  constructor(message: string, details?: unknown, code: 'VALIDATION_FAILED' | 'IDEMPOTENCY_KEY_REQUIRED' = 'VALIDATION_FAILED') {
    super(code, message, details);
  }
}

export class Unauthenticated extends DomainError {
  readonly kind = 'unauthenticated';
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

export class Forbidden extends DomainError {
  readonly kind = 'forbidden';
  constructor(message = 'You may not act on this resource') {
    super('FORBIDDEN', message);
  }
}

/** Unknown, or not the caller's to see (the two answer alike). */
export class NotFound extends DomainError {
  readonly kind = 'notFound';
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

export type ConflictCode =
  | 'NOT_CANCELLABLE'
  | 'DECISION_ALREADY_MADE'
  | 'ORDER_CLOSED'
  | 'NOT_AWAITING_DECISION'
  | 'VERSION_CONFLICT'
  // The operator's desk: a cancel after the restaurant's decision, a saga that no longer runs, no step waiting to retry.
  | 'PAST_DECISION'
  | 'SAGA_NOT_RUNNING'
  | 'NO_STEP_TO_RETRY';

/** The resource is not in a state that allows this. */
export class Conflict extends DomainError {
  readonly kind = 'conflict';
  constructor(code: ConflictCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

export type UnprocessableCode =
  | 'ITEM_UNAVAILABLE'
  | 'IDEMPOTENCY_KEY_REUSED'
  // The codec endpoint: a payload of a key the keyring lacks, or tampered with.
  | 'PAYLOAD_NOT_DECRYPTABLE'
  // Production: a card token that only steers the PSP sandbox (tok_slow_*, tok_flaky_*, tok_decline).
  | 'SANDBOX_CARD_TOKEN';

/** Well-formed, but refused by a business rule. */
export class Unprocessable extends DomainError {
  readonly kind = 'unprocessable';
  constructor(code: UnprocessableCode, message: string, details?: unknown) {
    super(code, message, details);
  }
}

/** A change that must name the version it was based on did not. */
export class PreconditionRequired extends DomainError {
  readonly kind = 'preconditionRequired';
  constructor(message: string) {
    super('PRECONDITION_REQUIRED', message);
  }
}

/** A business limit on how much one client may have going at once (not the per-window rate limit). */
export class TooManyRequests extends DomainError {
  readonly kind = 'tooManyRequests';
  constructor(code: 'TOO_MANY_ORDERS_IN_FLIGHT', message: string, details?: unknown) {
    super(code, message, details);
  }
}

export type UnavailableCode = 'TEMPORAL_UNAVAILABLE' | 'DATABASE_UNAVAILABLE' | 'WAIT_CAPACITY_EXHAUSTED';

/** A dependency cannot be reached right now; the same request may succeed later. */
export class Unavailable extends DomainError {
  readonly kind = 'unavailable';
  constructor(
    code: UnavailableCode,
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(code, message);
  }
}
