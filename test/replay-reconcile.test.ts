import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { decideReconcileAction, reconcileSettingsOf, type OpenOrdersPage, type ReconcileInput, type SagaView } from '../lib/workflow-safe/reconcile';
import { RESTART_PENDING_PATCH } from '../workflows/reconcile';
import { TEST_DATA_CONVERTER } from './support/payload-keys';
import { workflowBundle } from './support/stack';

// Reconcile passes (reconcileOrders) recorded from real runs, one folder per generation of the
// reconciler's code. Kept apart from test/histories/, whose every folder is a generation of the saga
// and must hold every saga path (replay.test.ts). The order worker runs both workflows from the same
// bundle (workflows/index.ts), so a pass that was running when the worker is upgraded replays here.
//
// 0-before-restarts: recorded at 666b31c, before RESTART_PENDING_PATCH. A PENDING order whose saga
// was terminated got the repair then (child `repair-<orderId>`); passes started after the patch start
// a new saga run instead. The replay must take the old branch for these histories.
const HISTORY_DIR = path.resolve(__dirname, 'histories-reconcile');
const files = fs
  .readdirSync(HISTORY_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    fs
      .readdirSync(path.join(HISTORY_DIR, d.name))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `${d.name}/${f}`),
  )
  .sort();

type History = ReturnType<typeof historyFromJSON>;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function load(file: string): { workflowId: string; history: History } {
  const { workflowId, ...json } = JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, file), 'utf8'));
  return { workflowId, history: historyFromJSON(json) };
}

const eventsOf = (history: History): HistoryEvent[] => history.events ?? [];

/** The decoded result of the pass's only completed activity of this type. */
function activityResult<T>(history: History, activityType: string): T {
  const events = eventsOf(history);
  const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  expect(scheduled).toHaveLength(1);
  const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled[0]!.eventId));
  return defaultPayloadConverter.fromPayload<T>(completed!.activityTaskCompletedEventAttributes!.result!.payloads![0]!);
}

function passInput(history: History): ReconcileInput {
  const started = eventsOf(history)[0]?.workflowExecutionStartedEventAttributes;
  expect(started?.workflowType?.name).toBe('reconcileOrders');
  return defaultPayloadConverter.fromPayload<ReconcileInput>(started!.input!.payloads![0]!);
}

const patchMarkers = (history: History) => eventsOf(history).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
const childrenStarted = (history: History) =>
  eventsOf(history)
    .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
    .filter((a) => a != null)
    .map((a) => ({ workflowId: a.workflowId, workflowType: a.workflowType?.name }));
const activitiesScheduled = (history: History) =>
  eventsOf(history)
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((name) => name != null);

describe('replay of recorded reconcile passes', () => {
  it('the passes recorded before restarts existed are here', () => {
    expect(files).toEqual(expect.arrayContaining(['0-before-restarts/repair-awaiting-terminated.json', '0-before-restarts/repair-pending-terminated.json']));
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const { workflowId, history } = load(file);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId);
  });

  it('the PENDING pass really took the old branch: recorded without the patch marker, it repaired the order the current code would restart', () => {
    const { history } = load('0-before-restarts/repair-pending-terminated.json');
    const [order] = activityResult<OpenOrdersPage>(history, 'listOpenOrders').orders;
    const sagas = activityResult<SagaView[]>(history, 'describeSagas');
    expect(order).toMatchObject({ status: 'PENDING' });
    expect(sagas).toEqual([expect.objectContaining({ orderId: order!.orderId, status: 'TERMINATED' })]);

    // What was recorded: no patch marker, a repair child for the order, no new saga run.
    expect(patchMarkers(history)).toEqual([]);
    expect(childrenStarted(history)).toEqual([{ workflowId: `repair-${order!.orderId}`, workflowType: 'repairOrder' }]);
    expect(activitiesScheduled(history)).not.toContain('startSagaFromOrder');

    // The same recorded order and saga: the patched branch restarts it, the branch without the marker repairs it.
    // So the replay above passed only because patched(RESTART_PENDING_PATCH) was false for this history.
    const limits = reconcileSettingsOf(passInput(history));
    expect(decideReconcileAction(order!, sagas[0]!, limits, { restartPending: true })).toBe('restart');
    expect(decideReconcileAction(order!, sagas[0]!, limits, { restartPending: false })).toBe('repair');
    expect(RESTART_PENDING_PATCH).toBe('restart-closed-pending-sagas');
  });

  it('the AWAITING_RESTAURANT pass repaired the order, as both branches do', () => {
    const { history } = load('0-before-restarts/repair-awaiting-terminated.json');
    const [order] = activityResult<OpenOrdersPage>(history, 'listOpenOrders').orders;
    const sagas = activityResult<SagaView[]>(history, 'describeSagas');
    expect(order).toMatchObject({ status: 'AWAITING_RESTAURANT' });
    expect(patchMarkers(history)).toEqual([]);
    expect(childrenStarted(history)).toEqual([{ workflowId: `repair-${order!.orderId}`, workflowType: 'repairOrder' }]);
    const limits = reconcileSettingsOf(passInput(history));
    expect(decideReconcileAction(order!, sagas[0]!, limits, { restartPending: true })).toBe('repair');
    expect(decideReconcileAction(order!, sagas[0]!, limits, { restartPending: false })).toBe('repair');
  });

  it('a pass history the code could not have produced fails the replay (the check has teeth)', async () => {
    const { workflowId, history } = load('0-before-restarts/repair-pending-terminated.json');
    // As if the pass had started a new saga run instead of the repair: the current code, taking the old
    // branch for a history without the marker, must refuse it.
    const initiated = eventsOf(history).find(
      (e) => e.startChildWorkflowExecutionInitiatedEventAttributes,
    )!.startChildWorkflowExecutionInitiatedEventAttributes!;
    initiated.workflowType!.name = 'orderSaga';
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId)).rejects.toThrow(
      /[Nn]ondeterminism|DeterminismViolation/,
    );
  });
});
