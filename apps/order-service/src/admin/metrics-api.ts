import type { Router } from 'express';
import type { SqlClient } from '@orderflow/db';
import { requireRole } from '@orderflow/http';
import type { Messaging } from '@orderflow/messaging';
import { cachedFor } from '@orderflow/service';
import { metricsSummary, sagaLookbackFor } from './metrics-summary';

/**
 * How long one reading answers every caller: the reading counts the whole `orders` table, and
 * scripts and consoles poll — N pollers must not mean N full counts (the answer's `at` says
 * when it was read).
 */
export const ADMIN_METRICS_CACHE_MS = 2_000;

export interface AdminMetricsDeps {
  sql: SqlClient;
  messaging: Pick<Messaging<SqlClient>, 'broker'>;
  /** ORDER_DEADLINE_S: how far back a saga that ended in the window may have begun (the order service's config has it). */
  config: { TOPOLOGY_PREFIX: string; ORDER_DEADLINE_S?: number };
  now: () => Date;
}

/** `GET /api/admin/metrics` (admin): the summary scripts read (docs/contract.md, "Admin"). */
export function adminMetricsApi(deps: AdminMetricsDeps, cacheMs = ADMIN_METRICS_CACHE_MS) {
  const read = cachedFor(cacheMs, () =>
    metricsSummary({
      sql: deps.sql,
      broker: deps.messaging.broker,
      topologyPrefix: deps.config.TOPOLOGY_PREFIX,
      now: deps.now,
      sagaLookbackS: sagaLookbackFor(deps.config.ORDER_DEADLINE_S),
    }),
  );
  return (router: Router): void => {
    router.get('/api/admin/metrics', requireRole('admin'), async (_req, res) => {
      res.json(await read());
    });
  };
}
