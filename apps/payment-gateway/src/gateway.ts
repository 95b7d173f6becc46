import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import { Pool } from 'pg';
import { pgStatements, pgTransactions } from '@orderflow/db';
import { createApp, createMetricsRegistry } from '@orderflow/http';
import type { Logger } from '@orderflow/logging';
import { adminApi, gatewayApi } from './api';
import { decideCharge } from './cards';
import type { GatewayConfig } from './config';
import { Switchboard } from './faults';
import { ledger } from './ledger';
import { ensureLedger } from './ledger-schema';

export interface Gateway {
  app: Express;
  switchboard: Switchboard;
  /** Creates the ledger's database and table when missing. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The simulator, not yet listening: its ledger, its switches and its HTTP app (probes and metrics included). */
export function buildGateway(config: GatewayConfig, deps: { logger: Logger; random?: () => number }): Gateway {
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: config.DB_POOL_SIZE });
  // An idle client losing its server (a database restart) must not crash the process.
  pool.on('error', (err) => deps.logger.warn('idle database client failed', { err: err.message }));
  const sql = pgStatements(pool);
  const switchboard = new Switchboard({
    outage: config.GATEWAY_OUTAGE === 'none' ? null : config.GATEWAY_OUTAGE,
    latencyMs: config.GATEWAY_LATENCY_MS,
    failureRate: config.GATEWAY_FAILURE_RATE,
  });
  const metrics = createMetricsRegistry('payment-gateway');
  const app = createApp({
    service: 'payment-gateway',
    logger: deps.logger,
    // No route takes a bearer token (the simulator is reached by the payment service only,
    // the network policy and the loopback-only admin routes say who), but createApp insists on
    // a verifier: one that no token can satisfy.
    jwtSecret: randomBytes(32).toString('hex'),
    metrics,
    // An import's chunk of thousands of charges is one batch request.
    bodyLimit: '16mb',
    // Not ready while the outage switch is on: the gateway is down, as a real one would say.
    // /health stays 200: a restart would lose the switch, and the outage is the point.
    readiness: {
      database: async () => (await pool.query('SELECT 1')).rowCount === 1,
      serving: () => switchboard.behaviour.outage === null,
    },
    readinessDetail: () => ({ behaviour: switchboard.behaviour }),
    routes: (router) => {
      adminApi({ switchboard })(router);
      gatewayApi({
        ledger: ledger({ transaction: pgTransactions(pool), sql }),
        switchboard,
        rules: (charge, request) => decideCharge({ orderId: charge.orderId, paymentMethod: charge.paymentMethod, request }, config.PAYMENT_SUCCESS_RATE),
        maxBatch: config.GATEWAY_MAX_BATCH,
        metrics,
        random: deps.random,
      })(router);
    },
  });
  return {
    app,
    switchboard,
    start: () => ensureLedger(config.DATABASE_URL),
    stop: async () => {
      await pool.end().catch(() => undefined);
    },
  };
}
