import type { Registry } from 'prom-client';

const sets = new WeakMap<Registry, Map<string, unknown>>();

/**
 * The metrics `make` registers on `registry`, made once per registry and `key`: every part of a
 * process that counts (its transaction runner, its routes, its workers) gets the same counters,
 * where a second `new Counter` of the same name would throw. Without a registry, a set nobody
 * serves (code run outside a service).
 */
export function metricSet<T>(registry: Registry | undefined, key: string, make: (registry: Registry | undefined) => T): T {
  if (!registry) return make(undefined);
  let byKey = sets.get(registry);
  if (!byKey) sets.set(registry, (byKey = new Map()));
  if (!byKey.has(key)) byKey.set(key, make(registry));
  return byKey.get(key) as T;
}
