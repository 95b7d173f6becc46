import { loadConfig } from '@orderflow/config';
import { runService, serviceConfigSchema } from '@orderflow/service';
import { api } from './api';
import { database } from './db';
import { subscriptions } from './handlers';
import { seedSampleProducts } from './samples';
import { topology } from './topology';

const config = loadConfig(serviceConfigSchema(8082));

void runService({
  name: 'inventory-service',
  config,
  topology,
  database,
  routes: api,
  subscriptions,
  onStart: seedSampleProducts,
});
