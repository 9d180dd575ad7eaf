import { ApplicationFailure, Context, asyncLocalStorage, type Info } from '@temporalio/activity';
import { noopMetricMeter, type LogLevel, type LogMetadata, type Logger } from '@temporalio/common';

// The project's activities (activities/) are written for Temporal: they log through the activity
// context and read its attempt number (a retried payment step asks the PSP before acting again).
// The peers run the same functions unchanged inside a minimal context of their own: attempt number,
// a logger, no heartbeats (no peer engine has them) and no cancellation.

const levels: Record<string, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };
const threshold = levels[(process.env.LOG_LEVEL ?? 'info').toUpperCase()] ?? 2;

/** Log lines of the peer's steps as JSON on stdout, at LOG_LEVEL as the workers do. */
const logger: Logger = {
  log(level: LogLevel, message: string, meta?: LogMetadata) {
    if ((levels[level] ?? 2) >= threshold) process.stdout.write(`${JSON.stringify({ level, msg: message, ...meta })}\n`);
  },
  trace: (m, meta) => logger.log('TRACE', m, meta),
  debug: (m, meta) => logger.log('DEBUG', m, meta),
  info: (m, meta) => logger.log('INFO', m, meta),
  warn: (m, meta) => logger.log('WARN', m, meta),
  error: (m, meta) => logger.log('ERROR', m, meta),
};

const never = new Promise<never>(() => undefined);

/** Runs one activity call as attempt `attempt` of a step. */
export function inActivityContext<T>(attempt: number, name: string, work: () => Promise<T>): Promise<T> {
  const info = { attempt, activityType: name, activityId: name, isLocal: false } as unknown as Info;
  const context = new Context(info, never, new AbortController().signal, () => undefined, undefined, logger, noopMetricMeter, {} as never);
  return asyncLocalStorage.run(context, work);
}

/** A business answer (declined card, item gone, ...): the activities throw these non-retryable. */
export function isBusinessFailure(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return err.nonRetryable === true;
  // An engine may hand the error back deserialized (DBOS replays a recorded step error): read its fields.
  const e = err as { nonRetryable?: unknown; type?: unknown } | null;
  return typeof e === 'object' && e !== null && e.nonRetryable === true && typeof e.type === 'string';
}

/** The failure reason a business failure carries (its ApplicationFailure type). */
export function failureTypeOf(err: unknown): string | undefined {
  const t = (err as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t : undefined;
}
