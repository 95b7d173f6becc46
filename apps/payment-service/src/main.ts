import { loadConfig } from '@orderflow/config';
import { runService } from '@orderflow/service';
import { api } from './api';
import { paymentConfigSchema } from './config';
import { database } from './db';
import { subscriptions } from './handlers';
import { topology } from './topology';

const config = loadConfig(paymentConfigSchema(8083));

void runService({
  name: 'payment-service',
  config,
  topology,
  database,
  routes: api,
  subscriptions: (deps) => subscriptions({ ...deps, successRate: config.PAYMENT_SUCCESS_RATE }),
});
