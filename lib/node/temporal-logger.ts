import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from './logger';
import { orderIdFromWorkflowId } from '../workflow-safe/task-queues';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's logger interface written through pino, for Runtime.install({ logger }): the
 * SDK's own lines, the workflow `log` (with workflowId, runId, ...) and the activity `log` (with
 * workflowId, activityType, attempt, ...) all become JSON lines of the worker's pino logger. A line
 * about an order workflow gets its `orderId` (derived from the workflow id, `order-<orderId>`) when
 * the caller did not set it.
 */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const method = LEVELS[level] ?? 'info';
    if (!this.pino.isLevelEnabled(method)) return;
    this.pino[method](toFields(meta), message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/** Plain string keys only (the SDK passes its timestamp under a symbol); `error` goes to pino's `err`. */
function toFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (!meta) return fields;
  for (const [key, value] of Object.entries(meta)) {
    if (key === 'error' && value instanceof Error) fields.err = value;
    else fields[key] = typeof value === 'bigint' ? value.toString() : value;
  }
  if (fields.orderId === undefined && typeof fields.workflowId === 'string') {
    const orderId = orderIdFromWorkflowId(fields.workflowId);
    if (orderId) fields.orderId = orderId;
  }
  return fields;
}
