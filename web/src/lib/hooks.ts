import { useEffect, useRef, useState } from 'react';

/**
 * Runs `load` now and then every `ms` while the tab is visible (and again when it becomes
 * visible); a new `deps` starts over. Results of outdated calls are dropped.
 */
export function usePolling<T>(load: (signal: AbortSignal) => Promise<T>, ms: number, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let ctrl: AbortController | null = null;
    setLoading(true);
    async function run() {
      clearTimeout(timer);
      if (stopped) return;
      if (document.visibilityState === 'hidden') return;
      ctrl?.abort();
      ctrl = new AbortController();
      const mine = ctrl;
      try {
        const d = await loadRef.current(mine.signal);
        if (stopped || mine.signal.aborted) return;
        setData(d);
        setError(null);
      } catch (e) {
        if (stopped || mine.signal.aborted || (e as Error)?.name === 'AbortError') return;
        setError(e);
      }
      setLoading(false);
      if (!stopped) timer = setTimeout(run, ms);
    }
    const onVisible = () => {
      if (document.visibilityState === 'visible') run();
    };
    document.addEventListener('visibilitychange', onVisible);
    run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctrl?.abort();
      document.removeEventListener('visibilitychange', onVisible);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, ms]);

  return { data, error, loading, reload: () => setTick((t) => t + 1) };
}

/** A value that follows `value` after it has been still for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Re-renders every `ms` (for "3 s ago" texts). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
