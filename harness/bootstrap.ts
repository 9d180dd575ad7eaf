import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../lib/node/ports';
import { startLocalStack, type LocalStack, type LocalStackOptions, type LocalStackPorts } from './local-stack';

// What every run that starts its own system needs before and after it (the chaos harness, the
// lunch-rush and CDC benchmarks): a data folder Postgres can use, a fresh token secret, free ports,
// and a stop on Ctrl-C or SIGTERM that tears down what was started instead of leaving it running.

export { freePort };

/** A free port for every listener of the local stack. */
export async function freeStackPorts(): Promise<LocalStackPorts> {
  return {
    pgPrimary: await freePort(),
    pgRead: await freePort(),
    temporal: await freePort(),
    temporalUi: await freePort(),
    api: await freePort(),
    psp: await freePort(),
    projectorMetrics: await freePort(),
  };
}

/**
 * The local stack on free ports. Ports are free when picked, not reserved: on a shared machine
 * another process can take one before the stack binds it. A start that failed is stopped by
 * startLocalStack and tried again on new ports (`options` is asked again, so ports it picks itself
 * are new too).
 */
export async function startStackOnFreePorts(
  options: (ports: LocalStackPorts) => LocalStackOptions | Promise<LocalStackOptions>,
  attempts = 3,
): Promise<LocalStack> {
  for (let attempt = 1; ; attempt++) {
    const opts = await options(await freeStackPorts());
    try {
      return await startLocalStack(opts);
    } catch (err) {
      if (attempt >= attempts) throw err;
      opts.log(`starting the stack again on other ports (attempt ${attempt + 1} of ${attempts})`);
    }
  }
}

/**
 * On SIGINT or SIGTERM, runs `stop` once and exits with `exitCode`; later signals while it runs are
 * ignored (a second Ctrl-C must not orphan half-stopped processes). Returns the unsubscribe.
 */
export function stopOnSignal(stop: (signal: NodeJS.Signals) => Promise<unknown>, exitCode: number, log?: (msg: string) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    // tsx relays a terminal's Ctrl-C to its child as well: the second one is the same request.
    if (stopping) return;
    stopping = true;
    void stop(signal)
      .catch((err: unknown) => log?.(`while stopping: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => process.exit(exitCode));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
}

export interface HarnessRunOptions {
  /** The temporary folder is os.tmpdir()/<prefix>XXXXXX. */
  prefix: string;
  /** Use this folder instead of a temporary one (it is never deleted). */
  dataDir?: string;
  keepData?: boolean;
  log: (msg: string) => void;
}

export interface HarnessRun {
  readonly dataDir: string;
  /** AUTH_SECRET for the processes this run starts (and the tokens it mints). */
  readonly secret: string;
  /** A signal arrived: the run is being torn down. */
  readonly interrupted: boolean;
  /** close() has begun (connection errors from then on are expected). */
  readonly closing: boolean;
  /** Work for close() and for a signal; the last registered runs first. */
  onClose(fn: () => unknown): void;
  /** Runs the close work once, deletes a temporary data folder unless kept, stops listening for signals. */
  close(): Promise<void>;
}

export function startHarnessRun(opts: HarnessRunOptions): HarnessRun {
  const temporary = !opts.dataDir;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix));
  fs.mkdirSync(dataDir, { recursive: true });
  // Postgres runs as its own user when we are root: it must be able to enter the folder.
  fs.chmodSync(dataDir, 0o755);
  const work: Array<() => unknown> = [];
  let closed: Promise<void> | undefined;
  let interrupted = false;
  const run: HarnessRun = {
    dataDir,
    secret: randomUUID() + randomUUID(),
    get interrupted() {
      return interrupted;
    },
    get closing() {
      return closed !== undefined;
    },
    onClose: (fn) => void work.unshift(fn),
    close() {
      closed ??= (async () => {
        // After a signal the handler stays, so that a second Ctrl-C cannot cut the teardown short.
        if (!interrupted) unsubscribe();
        for (const fn of work) {
          try {
            await fn();
          } catch (err) {
            opts.log(`cleanup: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        if (temporary && !opts.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
        else opts.log(`data and logs kept in ${dataDir}`);
      })();
      return closed;
    },
  };
  const unsubscribe = stopOnSignal(
    async (signal) => {
      interrupted = true;
      opts.log(`${signal}: stopping what this run started`);
      await run.close();
    },
    130,
    opts.log,
  );
  return run;
}
