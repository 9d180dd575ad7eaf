import type { SourceTransaction } from './changes';
import type { Lsn } from './lsn';

type Item = { kind: 'txn'; txn: SourceTransaction } | { kind: 'position'; lsn: Lsn };

export interface Batch {
  /** Queue items the batch covers (drop them once it is committed). */
  count: number;
  txns: SourceTransaction[];
  /** Latest keepalive position among the items: nothing of ours commits below it. */
  position: Lsn | null;
  changes: number;
}

/**
 * What the stream delivered and the read model does not have yet, in wire order. Items leave the
 * queue only after the read-model transaction that holds them committed.
 */
export class ApplyQueue {
  private items: Item[] = [];
  /** Row changes waiting (a transaction without changes counts one); drives backpressure. */
  changes = 0;

  pushTransaction(txn: SourceTransaction): void {
    this.items.push({ kind: 'txn', txn });
    this.changes += size(txn);
  }

  /** Keeps only the newest of consecutive keepalive positions, and only if beyond `floor`. */
  pushPosition(lsn: Lsn, floor: Lsn): boolean {
    const last = this.items[this.items.length - 1];
    const highest = last?.kind === 'txn' ? last.txn.endLsn : last?.kind === 'position' ? last.lsn : floor;
    if (lsn <= highest || lsn <= floor) return false;
    if (last?.kind === 'position') last.lsn = lsn;
    else this.items.push({ kind: 'position', lsn });
    return true;
  }

  get isEmpty(): boolean {
    return this.items.length === 0;
  }

  get transactions(): number {
    return this.items.filter((i) => i.kind === 'txn').length;
  }

  oldestCommitMs(): number | null {
    const first = this.items.find((i) => i.kind === 'txn');
    return first?.kind === 'txn' ? first.txn.commitTimeMs : null;
  }

  /** A prefix: whole transactions up to `maxChanges` (at least one, however big), and positions among them. */
  peekBatch(maxChanges: number): Batch {
    const txns: SourceTransaction[] = [];
    let position: Lsn | null = null;
    let changes = 0;
    let count = 0;
    for (const item of this.items) {
      if (item.kind === 'txn') {
        if (txns.length > 0 && changes + size(item.txn) > maxChanges) break;
        txns.push(item.txn);
        changes += size(item.txn);
      } else {
        position = item.lsn;
      }
      count += 1;
    }
    return { count, txns, position, changes };
  }

  drop(batch: Batch): void {
    this.items.splice(0, batch.count);
    this.changes -= batch.changes;
  }

  clear(): void {
    this.items = [];
    this.changes = 0;
  }
}

function size(txn: SourceTransaction): number {
  return Math.max(1, txn.changes.length);
}
