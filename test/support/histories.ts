import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { TEST_DATA_CONVERTER } from './payload-keys';
import { workflowBundle } from './stack';
import { temporalCliPath } from '../../lib/node/temporal-tools';

export const HISTORY_DIR = path.resolve(__dirname, '..', 'histories');
/**
 * Histories are kept by generation of the workflow code (a folder each): every generation must keep
 * replaying while sagas recorded by it may still run. New recordings go to the current one.
 */
export const CURRENT_HISTORY_GENERATION = '6-one-marker';
/**
 * Histories recorded with encrypted payloads (the TEST fixture keyring of support/payload-keys.ts),
 * by generation as above; the replay suite decrypts them.
 */
export const ENCRYPTED_HISTORY_DIR = path.resolve(__dirname, '..', 'histories-encrypted');

/**
 * With RECORD_HISTORIES=1, saves the finished saga's history under
 * test/histories/<current generation>/<name>.json (or `into`; the same JSON as `temporal workflow show --output
 * json`), for the replay suite to keep forever.
 */
export async function maybeRecordHistory(
  client: Client,
  address: string,
  name: string,
  workflowId: string,
  into = path.join(HISTORY_DIR, CURRENT_HISTORY_GENERATION),
): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  await client.workflow.getHandle(workflowId).result();
  // Recorded with the operators' own tool, exactly as they would fetch a history to replay.
  const json = execFileSync(temporalCliPath(), ['workflow', 'show', '--workflow-id', workflowId, '--output', 'json', '--address', address], {
    encoding: 'utf8',
  });
  fs.mkdirSync(into, { recursive: true });
  fs.writeFileSync(path.join(into, `${name}.json`), `${JSON.stringify({ workflowId, ...JSON.parse(json) }, null, 1)}\n`);
}

/** Replays the given workflows' histories against the current workflow code; returns the failures. */
export async function replayWorkflows(client: Client, workflowIds: string[]): Promise<Array<{ workflowId: string; error: string }>> {
  const failures: Array<{ workflowId: string; error: string }> = [];
  const bundle = await workflowBundle();
  for (const workflowId of workflowIds) {
    const handle = client.workflow.getHandle(workflowId);
    await handle.result().catch(() => undefined);
    try {
      await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter: TEST_DATA_CONVERTER }, await handle.fetchHistory(), workflowId);
    } catch (err) {
      failures.push({ workflowId, error: String(err) });
    }
  }
  return failures;
}
