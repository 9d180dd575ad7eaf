import { setTimeout as sleep } from 'node:timers/promises';

/** Runs `fn` until it stops throwing (an assertion that becomes true), or throws its last error at the deadline. */
export async function untilPasses<T>(fn: () => Promise<T>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(intervalMs);
    }
  }
}
