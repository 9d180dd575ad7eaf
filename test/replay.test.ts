import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { COMPENSATIONS_FIRST_PATCH, LOCAL_ORDER_STEPS_PATCH, ONE_MARKER_PATCH, STEPS_TOGETHER_PATCH, TRUTHFUL_SAGA_PATCH } from '../workflows/order-saga';
import { ENCRYPTED_ENCODING } from '../lib/node/payload-codec';
import { CURRENT_HISTORY_GENERATION, ENCRYPTED_HISTORY_DIR, HISTORY_DIR } from './support/histories';
import { TEST_DATA_CONVERTER } from './support/payload-keys';
import { workflowBundle } from './support/stack';

// Histories recorded from real runs of every saga path (RECORD_HISTORIES=1 npm test), one folder per
// generation of the workflow code. A workflow change that is not replay-safe (not behind `patched`)
// fails here, before it can break running sagas.
const generations = fs
  .readdirSync(HISTORY_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();
const files = generations.flatMap((g) =>
  fs
    .readdirSync(path.join(HISTORY_DIR, g))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => `${g}/${f}`),
);
const SAGA_PATHS = [
  'happy-auto-accept',
  'restaurant-accepts',
  'card-declined',
  'restaurant-rejects',
  'customer-cancels',
  'item-sold-out',
  'price-changed',
  'psp-flaky',
  'compensation-retried',
  'restaurant-timeout',
];

function load(file: string): { workflowId: string; history: ReturnType<typeof historyFromJSON> } {
  const { workflowId, ...json } = JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, file), 'utf8'));
  return { workflowId, history: historyFromJSON(json) };
}

/** The patches a saga of generation 5 recorded, in order. */
const GENERATION_5_PATCHES = [LOCAL_ORDER_STEPS_PATCH, TRUTHFUL_SAGA_PATCH, COMPENSATIONS_FIRST_PATCH, STEPS_TOGETHER_PATCH];

/** Renames the recorded patch marker at `index` (after checking which markers `file` holds); the replay must fail. */
async function expectReplayFailsWithMarkerRenamed(file: string, patchIds: string[], index: number): Promise<void> {
  const { workflowId, history } = load(file);
  const markers = (history.events ?? [])
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => e.markerRecordedEventAttributes!);
  expect(markers.map((m) => (defaultPayloadConverter.fromPayload(m.details!['patch-data']!.payloads![0]!) as { id: string }).id)).toEqual(patchIds);
  markers[index]!.details!['patch-data']!.payloads![0] = defaultPayloadConverter.toPayload({ id: 'some-other-change', deprecated: false });
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId)).rejects.toThrow(
    /[Nn]ondeterminism|DeterminismViolation/,
  );
}

describe('replay of recorded saga histories', () => {
  it.each(generations)('generation %s has a history for every saga path', (generation) => {
    const paths = files.filter((f) => f.startsWith(`${generation}/`)).map((f) => path.basename(f, '.json'));
    expect(paths).toEqual(expect.arrayContaining(SAGA_PATHS));
  });

  it('the current generation is recorded', () => {
    expect(generations).toContain(CURRENT_HISTORY_GENERATION);
  });

  it('the current generation also records the paths its patches added (operator cancel, slow PSP, amount check, a restarted run cancelled at once)', () => {
    const paths = files.filter((f) => f.startsWith(`${CURRENT_HISTORY_GENERATION}/`)).map((f) => path.basename(f, '.json'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'operator-cancel-before-decision',
        'operator-cancel-after-accept',
        'psp-slower-than-timeout',
        'amount-mismatch',
        'restart-cancelled-before-first-step',
      ]),
    );
  });

  it.each(files)('%s replays against the current workflow code', async (file) => {
    const { workflowId, history } = load(file);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId);
  });

  it('a history the code could not have produced fails the replay (the check has teeth)', async () => {
    const { workflowId, history } = load('1-remote-order-steps/restaurant-rejects.json');
    // Swap the activity the saga scheduled first for another: as if the code had changed its steps.
    const scheduled = history.events?.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
    expect(scheduled?.activityType?.name).toBe('createOrder');
    scheduled!.activityType!.name = 'chargeCardFirst';
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId)).rejects.toThrow(
      /[Nn]ondeterminism|DeterminismViolation/,
    );
  });

  it('a saga of the current generation records one patch marker and one TemporalChangeVersion upsert (four of each before)', () => {
    const count = (file: string) => {
      const events = load(file).history.events ?? [];
      return {
        markers: events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length,
        versionUpserts: events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion).length,
      };
    };
    const before = count('5-steps-together/happy-auto-accept.json');
    const now = count(`${CURRENT_HISTORY_GENERATION}/happy-auto-accept.json`);
    expect(before).toEqual({ markers: 4, versionUpserts: 4 });
    expect(now).toEqual({ markers: 1, versionUpserts: 1 });
  });

  // Each patch is what keeps its generation apart: renaming its recorded marker sends the replay down
  // the old branch, which cannot produce the recorded commands.
  it('a saga recorded with one marker for the earlier changes fails to replay when the marker names another change', async () => {
    // Without it the saga would ask for the four earlier markers, find none, and schedule createOrder remotely.
    await expectReplayFailsWithMarkerRenamed(`${CURRENT_HISTORY_GENERATION}/restaurant-accepts.json`, [ONE_MARKER_PATCH], 0);
  });

  it('a saga recorded with the hold and the ticket together fails to replay when its fourth patch marker names another change', async () => {
    // Without the patch the saga would schedule the hold alone: the recorded hold-and-ticket pair would not match.
    await expectReplayFailsWithMarkerRenamed('5-steps-together/restaurant-accepts.json', GENERATION_5_PATCHES, 3);
  });

  it('a saga recorded with compensations registered first fails to replay when its third patch marker names another change', async () => {
    // Without the patch an order refused for its amount has nothing to compensate: the recorded void and ticket cancel would not match.
    await expectReplayFailsWithMarkerRenamed('4-compensations-first/amount-mismatch.json', GENERATION_5_PATCHES.slice(0, 3), 2);
  });

  it('a saga recorded with the amount check fails to replay when its second patch marker names another change', async () => {
    // Without the patch the saga would not check the amount: it would hold the money instead of closing.
    await expectReplayFailsWithMarkerRenamed('3-truthful-saga/amount-mismatch.json', GENERATION_5_PATCHES.slice(0, 2), 1);
  });

  it('a saga recorded with local order steps fails to replay when its first patch marker names another change', async () => {
    // Replay then takes the old branch (remote createOrder) and meets local-activity markers.
    await expectReplayFailsWithMarkerRenamed('5-steps-together/happy-auto-accept.json', GENERATION_5_PATCHES, 0);
  });
});

// Histories recorded with encrypted payloads (test/history-privacy.test.ts with RECORD_HISTORIES=1,
// the TEST fixture keyring of support/payload-keys.ts). The replays above run with the same data
// converter, so plain histories recorded before encryption replay through it unchanged.
const encryptedFiles = fs
  .readdirSync(ENCRYPTED_HISTORY_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    fs
      .readdirSync(path.join(ENCRYPTED_HISTORY_DIR, d.name))
      .filter((f) => f.endsWith('.json'))
      .map((f) => path.join(ENCRYPTED_HISTORY_DIR, d.name, f)),
  )
  .sort();
const loadEncrypted = (file: string) => {
  const { workflowId, ...json } = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { workflowId: workflowId as string, history: historyFromJSON(json) };
};

describe('replay of encrypted saga histories', () => {
  it('holds encrypted recordings of the current generation (a confirmed, a declined and a rejected saga)', () => {
    expect(encryptedFiles.map((f) => path.relative(ENCRYPTED_HISTORY_DIR, f))).toEqual(
      expect.arrayContaining(['card-declined', 'happy-auto-accept', 'restaurant-rejects'].map((n) => `${CURRENT_HISTORY_GENERATION}/${n}.json`)),
    );
  });

  it.each(encryptedFiles.map((f) => path.relative(ENCRYPTED_HISTORY_DIR, f)))('%s is encrypted and replays with the keyring', async (file) => {
    const { workflowId, history } = loadEncrypted(path.join(ENCRYPTED_HISTORY_DIR, file));
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(new TextDecoder().decode(input.metadata!.encoding!)).toBe(ENCRYPTED_ENCODING);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), dataConverter: TEST_DATA_CONVERTER }, history, workflowId);
  });

  it('an encrypted history does not replay without its key (the replays above really decrypt)', async () => {
    const { workflowId, history } = loadEncrypted(path.join(ENCRYPTED_HISTORY_DIR, CURRENT_HISTORY_GENERATION, 'happy-auto-accept.json'));
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId)).rejects.toThrow(
      /Unknown encoding: binary\/encrypted/,
    );
  });
});
