import type { Lsn } from './lsn';

/** The source tables the projector follows, and their primary keys. */
export const SOURCE_TABLES = {
  restaurants: 'restaurant_id',
  menu_items: 'menu_id',
} as const;

export type SourceTable = keyof typeof SOURCE_TABLES;

export function isSourceTable(name: string): name is SourceTable {
  return Object.prototype.hasOwnProperty.call(SOURCE_TABLES, name);
}

/**
 * A column value as decoded from pgoutput. `undefined` marks an unchanged TOASTed value that
 * Postgres did not send (the row in the read model keeps its current value).
 */
export type SourceRow = Record<string, unknown>;

export type Change =
  | { kind: 'upsert'; table: SourceTable; key: string; row: SourceRow }
  | { kind: 'delete'; table: SourceTable; key: string }
  | { kind: 'truncate'; tables: SourceTable[] };

/** One committed source transaction, in commit order. */
export interface SourceTransaction {
  xid: number;
  /** End of the commit record: the position a subscriber reports once the transaction is durable. */
  endLsn: Lsn;
  commitTimeMs: number;
  changes: Change[];
}
