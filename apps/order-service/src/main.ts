import { loadConfig } from '@orderflow/config';
import { runService } from '@orderflow/service';
import { adminMetricsApi } from './admin/metrics-api';
import { adminSystemApi } from './admin/system-api';
import { api } from './api';
import { orderConfigSchema } from './config';
import { startSweeper } from './deadlines';
import { database } from './db';
import { devTokenApi } from './dev-token';
import { subscriptions } from './handlers';
import { historyApi } from './history-api';
import { importsApi } from './imports-api';
import { topology } from './topology';

const config = loadConfig(orderConfigSchema(8081));

void runService({
  name: 'order-service',
  config,
  topology,
  database,
  routes: (deps) => (router) => {
    api(deps)(router);
    historyApi(deps)(router);
    importsApi(deps)(router);
    adminMetricsApi({ ...deps, config })(router);
    adminSystemApi({ ...deps, config })(router);
    devTokenApi(config)(router);
  },
  subscriptions,
  background: (deps) =>
    startSweeper({ ...deps, deadlineMs: config.ORDER_DEADLINE_S * 1000, importDeadlineMs: config.IMPORT_ORDER_DEADLINE_S * 1000, intervalMs: config.SWEEP_INTERVAL_S * 1000 }),
});
