// `npm run replay -- <workflowId> [--run-id <id>]` fetches a live saga's history from Temporal (the
// same history `temporal workflow show --output json` prints) and replays it against the current
// workflow code. `npm run replay -- --file <history.json> [--workflow-id <id>]` replays a saved one.
// Exit code 0: the code still produces that history; 1: non-determinism (or another failure).
import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadConfig } from '../lib/node/config';
import { dataConverterFor, payloadCodecFrom } from '../lib/node/payload-codec';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  // The replay worker's own start/stop lines are noise here; keep warnings and errors.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const config = loadConfig();
  // Encrypted histories are decrypted with the keyring (PAYLOAD_KEYS / PAYLOAD_KEYS_FILE, else the dev
  // stack's .data/payload-keys); histories recorded before encryption pass through unchanged.
  const dataConverter = dataConverterFor(payloadCodecFrom(config));
  const file = arg('--file');
  const positional = process.argv.slice(2).find((a, i, all) => !a.startsWith('--') && !(all[i - 1] ?? '').startsWith('--'));
  let workflowId = arg('--workflow-id') ?? positional;
  let history: unknown;
  if (file) {
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    workflowId ??= json.workflowId;
    delete json.workflowId;
    history = historyFromJSON(json);
  } else {
    if (!workflowId) {
      process.stderr.write('usage: npm run replay -- <workflowId> [--run-id <id>] | --file <history.json> [--workflow-id <id>]\n');
      process.exit(2);
    }
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
    history = await client.workflow.getHandle(workflowId, arg('--run-id')).fetchHistory();
    await connection.close();
  }
  const events = (history as { events?: unknown[] }).events?.length ?? 0;
  process.stdout.write(`replaying ${workflowId ?? '(unknown id)'}: ${events} events\n`);
  try {
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../workflows'), dataConverter }, history, workflowId);
  } catch (err) {
    process.stdout.write(`REPLAY FAILED: ${(err as Error).name}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write('replay OK: the current workflow code reproduces this history\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
