import fs from 'node:fs';
import path from 'node:path';

// The PSP sandbox's books: authorizations, the answer stored under each idempotency key, and the
// ordered log of operations that changed an authorization (what the settlement report lists).
// With a data file every change is appended as one JSON line, synchronously, before the caller
// gets its answer, and the file is replayed on start: the books survive the process's restart
// (a crash of the process, not of the machine: there is no fsync).

export type PspStatus = 'AUTHORIZED' | 'DECLINED' | 'CAPTURED' | 'VOIDED' | 'REFUNDED';
export type OperationKind = 'authorize' | 'capture' | 'void' | 'refund';

export interface Authorization {
  reference: string;
  /** The merchant's order id, when the merchant sent one. */
  orderReference: string | null;
  /** Authorized amount; 0 for a void tombstone (a void that arrived before any authorize). */
  amount: number;
  /** Set once captured: a capture may take less than the authorized amount. */
  capturedAmount?: number;
  cardToken: string;
  status: PspStatus;
  declineCode?: string;
}

/** One line of the settlement report: an operation that changed the books. */
export interface OperationRecord {
  seq: number;
  at: string;
  operation: OperationKind;
  reference: string;
  orderReference: string | null;
  amount: number;
  idempotencyKey: string;
  resultingStatus: PspStatus;
}

/** Narrows the report to one payment (its reference) or to one merchant order (its orderReference). */
export interface ReportFilter {
  reference?: string;
  orderReference?: string;
}

export interface StoredReply {
  status: number;
  body: unknown;
  fingerprint: string;
}

/** What one processed call changes: the reply kept for its key, maybe an authorization and a report line. */
export interface Change {
  key: string;
  reply: StoredReply;
  authorization?: Authorization;
  /** The report line's kind and amount; the rest comes from the key and the authorization. */
  operation?: { operation: OperationKind; amount: number };
}

interface JournalLine {
  key: string;
  reply: StoredReply;
  authorization?: Authorization;
  operation?: OperationRecord;
}

export class Books {
  readonly authorizations = new Map<string, Authorization>();
  readonly replies = new Map<string, StoredReply>();
  readonly operations: OperationRecord[] = [];

  constructor(private readonly dataFile?: string) {
    if (dataFile) this.replay(dataFile);
  }

  /** Records a processed call: on disk first (so an answer is never sent for a change that is not kept), then in memory. */
  commit(change: Change): void {
    const line: JournalLine = { key: change.key, reply: change.reply };
    if (change.authorization) line.authorization = { ...change.authorization };
    if (change.operation && change.authorization) {
      const a = change.authorization;
      line.operation = {
        seq: this.operations.length + 1,
        at: new Date().toISOString(),
        operation: change.operation.operation,
        reference: a.reference,
        orderReference: a.orderReference,
        amount: change.operation.amount,
        idempotencyKey: change.key,
        resultingStatus: a.status,
      };
    }
    if (this.dataFile) fs.appendFileSync(this.dataFile, `${JSON.stringify(line)}\n`);
    this.apply(line);
  }

  /**
   * Report lines after `after` (a seq), at most `limit` of them, and where the next page starts;
   * with a filter, only the lines of one payment reference or of one merchant order reference.
   */
  page(after: number, limit: number, filter: ReportFilter = {}): { operations: OperationRecord[]; nextAfter: number | null } {
    if (filter.reference === undefined && filter.orderReference === undefined) {
      const operations = this.operations.slice(after, after + limit);
      const more = after + limit < this.operations.length;
      return { operations, nextAfter: more ? operations[operations.length - 1]!.seq : null };
    }
    const matching = this.operations.filter(
      (op) =>
        op.seq > after &&
        (filter.reference === undefined || op.reference === filter.reference) &&
        (filter.orderReference === undefined || op.orderReference === filter.orderReference),
    );
    const operations = matching.slice(0, limit);
    return { operations, nextAfter: matching.length > limit ? operations[operations.length - 1]!.seq : null };
  }

  private apply(line: JournalLine) {
    this.replies.set(line.key, line.reply);
    if (line.authorization) this.authorizations.set(line.authorization.reference, line.authorization);
    if (line.operation) this.operations.push(line.operation);
  }

  private replay(file: string) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    if (!fs.existsSync(file)) return;
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    const last = lines.pop()!;
    // A line cut short by a crash mid-write was never answered: drop it, so the next line starts clean.
    if (last !== '') fs.truncateSync(file, Buffer.byteLength(text) - Buffer.byteLength(last));
    lines.forEach((raw, i) => {
      let line: JournalLine;
      try {
        line = JSON.parse(raw) as JournalLine;
      } catch {
        throw new Error(`${file}: line ${i + 1} is not JSON; the PSP sandbox will not start on damaged books`);
      }
      this.apply(line);
    });
  }
}
