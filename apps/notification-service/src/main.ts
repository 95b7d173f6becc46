import { loadConfig } from '@orderflow/config';
import { runService, serviceConfigSchema } from '@orderflow/service';
import { api } from './api';
import { database } from './db';
import { subscriptions } from './handlers';
import { topology } from './topology';

const config = loadConfig(serviceConfigSchema(8084));

void runService({
  name: 'notification-service',
  config,
  topology,
  database,
  routes: api,
  subscriptions,
});
