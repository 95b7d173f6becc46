import { loadConfig } from '@orderflow/config';
import { createMetricsRegistry } from '@orderflow/http';
import { runService } from '@orderflow/service';
import { api } from './api';
import { paymentConfigSchema } from './config';
import { database } from './db';
import { httpPaymentGateway } from './gateway';
import { subscriptions } from './handlers';
import { topology } from './topology';

const config = loadConfig(paymentConfigSchema(8083));
const metrics = createMetricsRegistry('payment-service');
const gateway = httpPaymentGateway({
  url: config.PAYMENT_GATEWAY_URL,
  timeoutMs: config.PAYMENT_GATEWAY_TIMEOUT_MS,
  breakerResetMs: config.PAYMENT_GATEWAY_BREAKER_RESET_MS,
  metrics,
});

void runService({
  name: 'payment-service',
  config,
  topology,
  database,
  metrics,
  routes: api,
  subscriptions: (deps) => subscriptions({ ...deps, gateway }),
  // Ready stays about the database: while the gateway is down payments wait in their queue,
  // and taking this process out of service (or restarting it) would not bring the gateway back.
  readinessDetail: () => ({ paymentGateway: gateway.status() }),
});
