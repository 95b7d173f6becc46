import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** True until the first answer (or error). */
  loading: boolean;
  /** Loads again now (after an action), keeping the current data on screen meanwhile. */
  reload: () => Promise<void>;
}

/**
 * Loads `load()` now and again every `intervalMs` (0: once) while the view is shown, skipping
 * ticks while the tab is hidden. The last good data stays on screen while the next load runs,
 * so numbers change in place instead of blinking through a spinner. `deps` (compared as
 * JSON) name what is shown: when they change, it starts over.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(async (gen: number) => {
    try {
      const value = await loadRef.current();
      if (gen !== generation.current) return;
      setData(value);
      setError(undefined);
    } catch (err) {
      if (gen !== generation.current) return;
      setError(err as Error);
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  }, []);

  // New deps show another thing: clear what was shown. A new interval alone keeps it.
  const depsKey = JSON.stringify(deps);
  const shown = useRef(depsKey);
  useEffect(() => {
    const gen = ++generation.current;
    if (shown.current !== depsKey) {
      shown.current = depsKey;
      setData(undefined);
      setError(undefined);
      setLoading(true);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const tick = async (): Promise<void> => {
      if (!document.hidden) await run(gen);
      if (!stopped && intervalMs > 0) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [intervalMs, depsKey]);

  const reload = useCallback(() => run(generation.current), [run]);
  return { data, error, loading, reload };
}

/** The hash route (`#/orders/…`) as path segments; changes with the browser's history. */
export function useRoute(): string[] {
  const read = (): string[] => location.hash.replace(/^#\/?/, '').split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = (): void => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Query parameters of the hash route (`#/orders?status=PENDING`). */
export function hashQuery(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

export const navigate = (path: string): void => {
  location.hash = path;
};
