import type { ServiceDefinition } from '@orderflow/service';
import { adminMetricsApi } from './admin/metrics-api';
import { adminSystemApi } from './admin/system-api';
import { api } from './api';
import type { OrderConfig } from './config';
import { startSweeper } from './deadlines';
import { database, type Db, type Tx } from './db';
import { devTokenApi } from './dev-token';
import { subscriptions } from './handlers';
import { historyApi } from './history-api';
import { importsApi } from './imports-api';
import { topology } from './topology';

/**
 * The order service's wiring, for main.ts to run and the tests to build: every router, the
 * saga's subscriptions and the deadline sweeper. `options.now`: the service's clock (a test's,
 * moved by hand). `options.sweeper: false` leaves the sweeper out, for tests that sweep
 * themselves with deadlines of their own, or whose hand-moved clock would put their orders
 * past the deadline.
 */
export function orderService(config: OrderConfig, options: { now?: () => Date; sweeper?: boolean } = {}): ServiceDefinition<Db, Tx> {
  return {
    name: 'order-service',
    config,
    topology,
    database,
    now: options.now,
    routes: (deps) => (router) => {
      api(deps)(router);
      historyApi(deps)(router);
      importsApi(deps)(router);
      adminMetricsApi({ ...deps, config })(router);
      adminSystemApi({ ...deps, config })(router);
      devTokenApi(config)(router);
    },
    subscriptions,
    background:
      options.sweeper === false
        ? undefined
        : (deps) =>
            startSweeper({ ...deps, deadlineMs: config.ORDER_DEADLINE_S * 1000, importDeadlineMs: config.IMPORT_ORDER_DEADLINE_S * 1000, intervalMs: config.SWEEP_INTERVAL_S * 1000 }),
  };
}
