import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Calls `fn` now and then `intervalMs` after each call finishes (never two at once), until the
 * component unmounts or `deps` change. `refresh()` runs it again at once.
 */
export function usePoll(fn: (signal: AbortSignal) => Promise<void>, intervalMs: number, deps: unknown[]): { refresh: () => void } {
  const latest = useRef(fn);
  latest.current = fn;
  const kick = useRef<() => void>(() => undefined);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    let again = false;
    const tick = async () => {
      clearTimeout(timer);
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await latest.current(controller.signal);
      } catch {
        // each caller shows its own errors; polling goes on
      } finally {
        running = false;
      }
      if (controller.signal.aborted) return;
      if (again) {
        again = false;
        void tick();
      } else {
        timer = setTimeout(() => void tick(), intervalMs);
      }
    };
    kick.current = () => void tick();
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
      kick.current = () => undefined;
    };
    // The caller lists in `deps` what restarts the poll; `fn` itself is read through a ref.
  }, [intervalMs, ...deps]);

  return { refresh: useCallback(() => kick.current(), []) };
}

/** The current time, re-rendered every `intervalMs` (for countdowns). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

/** "4:05" for 245 seconds; "0:00" once it has passed. */
export function formatRemaining(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}
