import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { HISTORY_DIR } from './support/histories';
import { workflowBundle } from './support/stack';

// Histories recorded from real runs of every saga path (RECORD_HISTORIES=1 npm test). A workflow
// change that is not replay-safe (not behind `patched`) fails here, before it can break running sagas.
const files = fs.existsSync(HISTORY_DIR) ? fs.readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json')).sort() : [];

function load(file: string): { workflowId: string; history: ReturnType<typeof historyFromJSON> } {
  const { workflowId, ...json } = JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, file), 'utf8'));
  return { workflowId, history: historyFromJSON(json) };
}

describe('replay of recorded saga histories', () => {
  it('has a history for every saga path', () => {
    const paths = files.map((f) => f.replace(/\.json$/, ''));
    for (const expected of ['happy-auto-accept', 'restaurant-accepts', 'card-declined', 'restaurant-rejects', 'customer-cancels', 'item-sold-out', 'price-changed', 'psp-flaky', 'compensation-retried', 'restaurant-timeout']) {
      expect(paths).toContain(expected);
    }
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const { workflowId, history } = load(file);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
  });

  it('a history the code could not have produced fails the replay (the check has teeth)', async () => {
    const { workflowId, history } = load('restaurant-rejects.json');
    // Swap the activity the saga scheduled first for another: as if the code had changed its steps.
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
    expect(scheduled?.activityType?.name).toBe('createOrder');
    scheduled!.activityType!.name = 'chargeCardFirst';
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId)).rejects.toThrow(/[Nn]ondeterminism|DeterminismViolation/);
  });
});
