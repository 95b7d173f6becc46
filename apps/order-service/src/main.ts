import { loadConfig } from '@orderflow/config';
import { runService, serviceConfigSchema } from '@orderflow/service';
import { api } from './api';
import { database } from './db';
import { subscriptions } from './handlers';
import { topology } from './topology';

const config = loadConfig(serviceConfigSchema(8081));

void runService({
  name: 'order-service',
  config,
  topology: (prefix) => topology(prefix, config.RETRY_DELAYS_MS),
  database,
  routes: api,
  subscriptions,
});
