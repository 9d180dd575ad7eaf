import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/knex';
import { orderWorkflowId } from '../../lib/workflow-safe/task-queues';
import type { Restaurants } from './restaurants';

// An operator at the Temporal Web UI or CLI: "Request cancellation" (handle.cancel()) of sagas at
// chosen stages, and terminate (handle.terminate()), which leaves the order to the reconciler.

export const CANCEL_STAGES = ['PENDING', 'AWAITING_RESTAURANT', 'after-accept'] as const;
export type CancelStage = (typeof CANCEL_STAGES)[number];

export interface OperatorReport {
  /** Cancellations requested, by the stage the order was chosen at. */
  cancelRequested: Record<CancelStage, number>;
  /** after-accept cancellations whose accept never came within the wait. */
  cancelNoAccept: number;
  terminated: number;
  /** Calls Temporal refused (saga already closed or not started): the operator was too late. */
  refused: number;
  cancelledOrders: Array<{ orderId: string; stage: CancelStage }>;
  terminatedOrders: string[];
  errors: string[];
}

const SAMPLE = 30;

export class Operator {
  readonly report: OperatorReport = {
    cancelRequested: { PENDING: 0, AWAITING_RESTAURANT: 0, 'after-accept': 0 },
    cancelNoAccept: 0,
    terminated: 0,
    refused: 0,
    cancelledOrders: [],
    terminatedOrders: [],
    errors: [],
  };

  constructor(
    private readonly client: Client,
    private readonly ordersDb: Db,
    private readonly restaurants: Restaurants,
    private readonly random: () => number,
    /** Recently placed order ids, when the database cannot be asked. */
    private readonly recent: () => string[],
  ) {}

  /** Cancels 1-3 open sagas, each at a seeded stage; waits for the after-accept ones to be sent. */
  async cancelSome(): Promise<void> {
    const count = 1 + Math.floor(this.random() * 3);
    const open = await this.openOrders();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const stage = CANCEL_STAGES[Math.floor(this.random() * CANCEL_STAGES.length)]!;
      if (stage === 'after-accept') {
        pending.push(this.cancelAfterNextAccept());
        continue;
      }
      const candidates = open.filter((o) => o.status === stage);
      const target = this.pick(candidates.length > 0 ? candidates : open);
      if (target) await this.cancel(target.orderId, stage);
    }
    await Promise.all(pending);
  }

  /** Terminates 1-2 open sagas. */
  async terminateSome(): Promise<void> {
    const count = 1 + Math.floor(this.random() * 2);
    const open = await this.openOrders();
    for (let i = 0; i < count; i++) {
      const target = this.pick(open);
      if (!target) return;
      open.splice(open.indexOf(target), 1);
      const ok = await this.call(() => this.client.workflow.getHandle(orderWorkflowId(target.orderId)).terminate('chaos'));
      if (ok) {
        this.report.terminated++;
        if (this.report.terminatedOrders.length < SAMPLE) this.report.terminatedOrders.push(target.orderId);
      }
    }
  }

  /** Right behind the next accept a restaurant sends (0-400 ms later), while capture may be running. */
  private async cancelAfterNextAccept(): Promise<void> {
    let fired: Promise<void> | undefined;
    const disarm = this.restaurants.onNextAccept((orderId) => {
      const delay = this.random() * 400;
      fired = sleep(delay).then(() => this.cancel(orderId, 'after-accept'));
    });
    for (let waited = 0; !fired && waited < 8000; waited += 100) await sleep(100);
    disarm();
    if (fired) await fired;
    else this.report.cancelNoAccept++;
  }

  private async cancel(orderId: string, stage: CancelStage): Promise<void> {
    const ok = await this.call(() => this.client.workflow.getHandle(orderWorkflowId(orderId)).cancel());
    if (!ok) return;
    this.report.cancelRequested[stage]++;
    if (this.report.cancelledOrders.length < SAMPLE) this.report.cancelledOrders.push({ orderId, stage });
  }

  /** True when Temporal took the request; false when it refused it (closed or unknown saga). */
  private async call(fn: () => Promise<unknown>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await fn();
        return true;
      } catch (err) {
        const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        if (/not ?found|already completed|already (been )?terminated|closed/i.test(text)) {
          this.report.refused++;
          return false;
        }
        if (attempt >= 3) {
          if (this.report.errors.length < 10) this.report.errors.push(text);
          return false;
        }
        await sleep(1000);
      }
    }
  }

  private async openOrders(): Promise<Array<{ orderId: string; status: string }>> {
    try {
      const rows: Array<{ order_id: string; status: string }> = await this.ordersDb('orders')
        .select('order_id', 'status')
        .whereIn('status', ['PENDING', 'AWAITING_RESTAURANT'])
        .orderBy('created_at', 'desc')
        .limit(200);
      return rows.map((r) => ({ orderId: r.order_id, status: r.status }));
    } catch {
      return this.recent()
        .slice(-20)
        .map((orderId) => ({ orderId, status: 'PENDING' }));
    }
  }

  private pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }
}
