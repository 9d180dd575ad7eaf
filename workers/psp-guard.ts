import type { Config } from '../lib/node/config';

// The PSP sandbox (psp/) steers its answers by card token and takes faults from anyone who asks: in
// production a payment worker pointed at it would "charge" nobody. The sandbox answers
// GET /_sandbox/faults (psp/sandbox.ts); a real processor does not.

/** How the payment worker asks; attempts are a second apart while the PSP is not reachable yet. */
export interface PspGuardOptions {
  attempts?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Whether the PSP at `pspUrl` is the sandbox; throws when it cannot be reached at all. */
export async function isPspSandbox(pspUrl: string, { attempts = 10, timeoutMs = 3000, fetch: fetchImpl = fetch }: PspGuardOptions = {}): Promise<boolean> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetchImpl(new URL('/_sandbox/faults', pspUrl), { signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer().catch(() => undefined);
      return res.ok;
    } catch (err) {
      last = err;
      if (attempt < attempts) await new Promise((r) => setTimeout(r, 1000));
    }
  }
  throw new Error(`cannot tell whether PSP_URL (${pspUrl}) is the PSP sandbox: it is not reachable (${(last as Error)?.message ?? 'no answer'})`);
}

/**
 * With NODE_ENV=production the payment worker refuses to start against the sandbox unless
 * PSP_SANDBOX_ALLOWED=true (a staging stack that means it). Fails closed: a PSP it cannot reach at
 * start stops it too (the orchestrator starts it again).
 */
export async function assertPspAllowed(config: Pick<Config, 'NODE_ENV' | 'PSP_URL' | 'PSP_SANDBOX_ALLOWED'>, options: PspGuardOptions = {}): Promise<void> {
  if (config.NODE_ENV !== 'production' || config.PSP_SANDBOX_ALLOWED === 'true') return;
  if (await isPspSandbox(config.PSP_URL, options))
    throw new Error(
      `PSP_URL (${config.PSP_URL}) is the PSP sandbox: the payment worker refuses to start against it in production (set PSP_SANDBOX_ALLOWED=true if this stack really is a sandbox)`,
    );
}
