import { createMetricsRegistry } from '@orderflow/http';
import type { ServiceDefinition } from '@orderflow/service';
import { tracingFromEnv, type Tracing } from '@orderflow/tracing';
import { api } from './api';
import type { PaymentConfig } from './config';
import { database, type Db, type Tx } from './db';
import { httpPaymentGateway, type PaymentGateway } from './gateway';
import { subscriptions } from './handlers';
import { topology } from './topology';

/**
 * The payment service's wiring, for main.ts to run and the tests to build: its gateway client,
 * whose breaker and call metrics go on the service's own registry and whose client spans go to
 * the service's tracing (`options.tracing`, a test's; default from the OTEL_* variables),
 * handed to the handlers.
 */
export function paymentService(config: PaymentConfig, options: { tracing?: Tracing } = {}): { definition: ServiceDefinition<Db, Tx>; gateway: PaymentGateway } {
  const metrics = createMetricsRegistry('payment-service');
  const gateway = httpPaymentGateway({
    url: config.PAYMENT_GATEWAY_URL,
    timeoutMs: config.PAYMENT_GATEWAY_TIMEOUT_MS,
    breakerResetMs: config.PAYMENT_GATEWAY_BREAKER_RESET_MS,
    metrics,
    // The service's tracing: the one given (a test's), else the process's from the OTEL_*
    // variables (made once per process: buildService, given none, takes the same one).
    tracing: options.tracing ?? tracingFromEnv('payment-service'),
  });
  const definition: ServiceDefinition<Db, Tx> = {
    name: 'payment-service',
    config,
    topology,
    database,
    metrics,
    tracing: options.tracing,
    routes: api,
    subscriptions: (deps) => subscriptions({ ...deps, gateway }),
    // Ready stays about the database: while the gateway is down payments wait in their queue,
    // and taking this process out of service (or restarting it) would not bring the gateway back.
    readinessDetail: () => ({ paymentGateway: gateway.status() }),
  };
  return { definition, gateway };
}
