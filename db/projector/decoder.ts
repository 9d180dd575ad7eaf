import type { Pgoutput } from 'pg-logical-replication';
import { SOURCE_TABLES, isSourceTable, type Change, type SourceTransaction } from './changes';
import { parseLsn } from './lsn';

/**
 * Turns the pgoutput message stream (begin, relation, insert/update/delete/truncate, commit) into
 * whole transactions. Changes are held until the commit arrives so that a transaction is applied
 * all at once or not at all. Tables other than ours are ignored (the publication should not send them).
 */
export class TransactionDecoder {
  private current: { xid: number; changes: Change[] } | null = null;

  /** True between a begin and its commit: no position inside it is safe to report. */
  get inTransaction(): boolean {
    return this.current !== null;
  }

  reset(): void {
    this.current = null;
  }

  /** Feeds one message; returns the transaction when `msg` is its commit. */
  handle(msg: Pgoutput.Message): SourceTransaction | null {
    switch (msg.tag) {
      case 'begin':
        this.current = { xid: msg.xid, changes: [] };
        return null;
      case 'insert':
        this.push(upsert(msg.relation.name, msg.new));
        return null;
      case 'update': {
        const table = msg.relation.name;
        if (!isSourceTable(table)) return null;
        const pk = SOURCE_TABLES[table];
        // `key`/`old` only come when the primary key itself changed (replica identity default).
        const oldKey = (msg.key ?? msg.old)?.[pk];
        if (oldKey !== undefined && oldKey !== null && String(oldKey) !== String(msg.new[pk])) {
          this.push({ kind: 'delete', table, key: String(oldKey) });
        }
        this.push(upsert(table, msg.new));
        return null;
      }
      case 'delete': {
        const table = msg.relation.name;
        if (!isSourceTable(table)) return null;
        const key = (msg.key ?? msg.old)?.[SOURCE_TABLES[table]];
        if (key === undefined || key === null) throw new Error(`delete on ${table} without a key`);
        this.push({ kind: 'delete', table, key: String(key) });
        return null;
      }
      case 'truncate': {
        const tables = msg.relations.map((r) => r.name).filter(isSourceTable);
        if (tables.length > 0) this.push({ kind: 'truncate', tables });
        return null;
      }
      case 'commit': {
        const txn = this.current;
        this.current = null;
        if (!txn) throw new Error('commit without begin');
        if (!msg.commitEndLsn) throw new Error('commit without an end LSN');
        return {
          xid: txn.xid,
          endLsn: parseLsn(msg.commitEndLsn),
          // Microseconds since the Unix epoch (the parser already shifted Postgres' 2000 epoch).
          commitTimeMs: Number(BigInt(msg.commitTime as bigint) / 1000n),
          changes: txn.changes,
        };
      }
      default:
        // relation, type, origin, message: the parser keeps what it needs from relation messages.
        return null;
    }
  }

  private push(change: Change | null): void {
    if (!change) return;
    if (!this.current) throw new Error(`${change.kind} outside a transaction`);
    this.current.changes.push(change);
  }
}

function upsert(table: string, row: Record<string, unknown>): Change | null {
  if (!isSourceTable(table)) return null;
  const key = row[SOURCE_TABLES[table]];
  if (key === undefined || key === null) throw new Error(`${table} row without its primary key`);
  return { kind: 'upsert', table, key: String(key), row };
}
