import { isAutoAccept, menuIdFor, restaurantIdFor } from '../../db/seed';
import { seededRandom } from '../../lib/workflow-safe/random';

// What a chaos run will do, decided from its seed before it starts: the order mix (who orders what,
// with which card, what the restaurant will do) and the fault schedule (which kind, when). The same
// seed gives the same orders and the same sequence of fault kinds, whatever the stack does.

export const FAULT_KINDS = [
  'kill-order-worker',
  'kill-payment-worker',
  'kill-restaurant-worker',
  'restart-temporal',
  'restart-postgres-primary',
  'restart-postgres-read',
  'psp-slow',
  'psp-transient-errors',
  'psp-timeout-after-processing',
  'kill-projector',
  // An operator's "Request cancellation" (Web UI, `temporal workflow cancel`) at several saga stages.
  'operator-cancel',
  // An operator's terminate: the saga is gone, the reconciler must finish the order.
  'operator-terminate',
  // The PSP answers slower than the client's timeout for a while (it still acts on every call).
  'psp-slower-than-timeout',
  'kill-psp',
  'sigkill-postgres-primary',
  'sigkill-postgres-read',
  'sigkill-temporal',
  'kill-api',
  // A worker held by SIGSTOP past its activity timeouts, then resumed: a zombie that finishes late.
  'pause-worker',
] as const;

/**
 * Node loss on the cluster engine (`npm run chaos -- --cluster`): one Temporal service process
 * SIGKILLed and started again after a delay. A history process's shards move to the other history
 * process meanwhile; matching and the frontend have no twin, so their loss is a pause the
 * clients, workers and history ride out by retrying.
 */
export const CLUSTER_FAULT_KINDS = ['sigkill-temporal-history', 'sigkill-temporal-matching', 'sigkill-temporal-frontend'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number] | (typeof CLUSTER_FAULT_KINDS)[number];

/** The kinds a run injects: every kind, plus node loss when Temporal is the cluster. */
export function faultKindsFor(engine: 'dev-server' | 'cluster'): FaultKind[] {
  return engine === 'cluster' ? [...FAULT_KINDS, ...CLUSTER_FAULT_KINDS] : [...FAULT_KINDS];
}

/**
 * Faults that hold a condition for a window (tens of seconds) while the schedule goes on: run one
 * after the other they could not each happen ~15 times in a 20-minute run. Every other fault
 * (kills, restarts, operator actions, PSP bursts) finishes before the next one starts.
 */
export const WINDOW_FAULTS: readonly FaultKind[] = ['psp-slower-than-timeout', 'pause-worker'];

export type ManualAction = 'accept' | 'reject' | 'cancel' | 'ignore' | 'race-accept-cancel' | 'race-reject-accept';

export interface OrderPlan {
  /** Position in the stream: order i is offered at i / rate seconds. */
  index: number;
  idempotencyKey: string;
  /** Index into the run's customer tokens. */
  customer: number;
  restaurantId: string;
  /** Restaurants that decide by hand (the rest accept automatically). */
  action: ManualAction | 'auto';
  body: { restaurantId: string; items: Array<{ menuId: string; quantity: number }>; deliveryAddress: string; paymentMethod: { cardToken: string } };
  /** Sent twice at once, then once more, with the same key. */
  duplicate: boolean;
}

export const CHAOS_RESTAURANTS = 12;
export const CHAOS_ITEMS_PER_RESTAURANT = 5;
export const CHAOS_CUSTOMERS = 20;

/** The address of order i: unique per order, so duplicates are found in the orders table. */
export const CHAOS_ADDRESS_PREFIX = 'chaos street ';
export const chaosAddress = (index: number) => `${CHAOS_ADDRESS_PREFIX}${index}`;

function manualAction(roll: number): ManualAction {
  if (roll < 0.5) return 'accept';
  if (roll < 0.65) return 'reject';
  if (roll < 0.77) return 'cancel';
  if (roll < 0.83) return 'ignore';
  if (roll < 0.93) return 'race-accept-cancel';
  return 'race-reject-accept';
}

export function planOrders(seed: number, count: number): OrderPlan[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const restaurants = Array.from({ length: CHAOS_RESTAURANTS }, (_, i) => i + 1);
  const auto = restaurants.filter(isAutoAccept);
  const manual = restaurants.filter((r) => !isAutoAccept(r));
  return Array.from({ length: count }, (_, index) => {
    const customer = Math.floor(random() * CHAOS_CUSTOMERS);
    const isManual = random() < 0.4;
    const r = isManual ? pick(manual) : pick(auto);
    const roll = random();
    const card = isManual ? 'tok_ok' : roll < 0.1 ? 'tok_decline' : roll < 0.15 ? 'tok_flaky_2' : 'tok_ok';
    const items = [{ menuId: menuIdFor(r, 1 + Math.floor(random() * CHAOS_ITEMS_PER_RESTAURANT)), quantity: 1 + Math.floor(random() * 3) }];
    return {
      index,
      idempotencyKey: `chaos-${seed}-${index}`,
      customer,
      restaurantId: restaurantIdFor(r),
      action: isManual ? manualAction(roll) : 'auto',
      body: { restaurantId: restaurantIdFor(r), items, deliveryAddress: chaosAddress(index), paymentMethod: { cardToken: card } },
      duplicate: random() < 0.05,
    };
  });
}

export interface ScheduledFault {
  /** Milliseconds after the traffic starts. */
  atMs: number;
  kind: FaultKind;
}

/**
 * Fault k is due somewhere in [k, k+1) x `everySeconds` (the jitter never accumulates, so a run of
 * T seconds has T / everySeconds faults), and the kinds come in seeded shuffles of every kind: each
 * kind gets its share, within one, whatever the length of the run.
 */
export function* faultSchedule(seed: number, everySeconds: number, kinds: readonly FaultKind[] = FAULT_KINDS): Generator<ScheduledFault> {
  const random = seededRandom(seed ^ 0x5eed5);
  let cycle: FaultKind[] = [];
  for (let k = 0; ; k++) {
    if (cycle.length === 0) cycle = shuffle([...kinds], random);
    yield { atMs: (k + random()) * everySeconds * 1000, kind: cycle.shift()! };
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
