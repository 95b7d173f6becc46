import type { Router } from 'express';
import type { SqlClient } from '@orderflow/db';
import { requireRole } from '@orderflow/http';
import type { Messaging } from '@orderflow/messaging';
import { sagaLookbackFor } from './metrics-summary';
import { systemReader } from './system';
import type { ProcessEndpoint } from './system-processes';

/**
 * A reading younger than this is served as it is; an older one (up to `STALE_MS`) is served
 * while a new one is read for the next request. Every open System view polls (every 2 s), and
 * a reading asks every process and the broker: a poll is answered at once, with figures at
 * most one poll old (the answer's `at` says when they were read). Anything older is read anew
 * while the request waits — about 0.1 s on an idle system (docs/performance.md, "Operator
 * console") — so no answer is more than a few seconds old.
 */
export const FRESH_MS = 1000;
export const STALE_MS = 5_000;

/** `read` behind a cache that answers at once while a reading is fresh or recent enough, and refreshes it behind. */
export function servedFresh<T>(read: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: T } | undefined;
  let pending: Promise<T> | undefined;
  const refresh = (): Promise<T> => {
    pending ??= read()
      .then((value) => ((last = { at: now(), value }), value))
      .finally(() => (pending = undefined));
    return pending;
  };
  return () => {
    const age = last ? now() - last.at : Infinity;
    if (last && age < FRESH_MS) return Promise.resolve(last.value);
    if (last && age < STALE_MS) {
      refresh().catch(() => undefined);
      return Promise.resolve(last.value);
    }
    return refresh();
  };
}

export interface AdminSystemDeps {
  sql: SqlClient;
  messaging: Pick<Messaging<SqlClient>, 'broker'>;
  config: { TOPOLOGY_PREFIX: string; SYSTEM_PROCESS_URLS: readonly ProcessEndpoint[]; ORDER_DEADLINE_S?: number };
  now: () => Date;
}

/** `GET /api/admin/system` (admin): every process ready or not, queues, backlogs, orders per minute, saga percentiles (docs/contract.md, "Admin"). */
export function adminSystemApi(deps: AdminSystemDeps) {
  const read = servedFresh(
    systemReader({
      sql: deps.sql,
      broker: deps.messaging.broker,
      topologyPrefix: deps.config.TOPOLOGY_PREFIX,
      processes: deps.config.SYSTEM_PROCESS_URLS,
      now: deps.now,
      sagaLookbackS: sagaLookbackFor(deps.config.ORDER_DEADLINE_S),
    }),
  );
  return (router: Router): void => {
    router.get('/api/admin/system', requireRole('admin'), async (_req, res) => {
      res.json(await read());
    });
  };
}
