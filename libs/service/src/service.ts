import type { Server } from 'node:http';
import type { Express, Router } from 'express';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createApp, createMetricsRegistry } from '@orderflow/http';
import { createLogger, type Logger } from '@orderflow/logging';
import { Messaging, type Subscriptions, type Topology } from '@orderflow/messaging';
import { createPools, pgStatements, type SqlClient, type TransactionRunner } from '@orderflow/db';
import { tracingFromEnv, type Tracing } from '@orderflow/tracing';
import { jwtOptionsOf, type ServiceConfig } from './config';
import { deadLettersApi } from './dead-letters-api';
import { queueMetrics } from './queue-metrics';

/** `/ready?include=outboxLagSeconds` adds the age of the oldest unsent outbox row in seconds (0: none; null: unknown), as `messaging_outbox_lag_seconds`. */
export const READY_OUTBOX_LAG = 'outboxLagSeconds';

/** What a service's routes and handlers are built from. */
export interface ServiceDeps<Client, Tx extends SqlClient> {
  config: ServiceConfig;
  logger: Logger;
  db: Client;
  /** Single SQL statements on the service's pool (autocommit), for hot paths. */
  sql: SqlClient;
  messaging: Messaging<Tx>;
  metrics: Registry;
  /** Injected so tests are deterministic. */
  now: () => Date;
}

export interface ServiceDefinition<Client, Tx extends SqlClient> {
  /** `order-service`, … (logs, metrics, connection names). */
  name: string;
  config: ServiceConfig;
  /** The service's topology for a prefix (tests) and the configured retry ladder. */
  topology: (prefix: string, retryDelaysMs: readonly number[]) => Topology;
  /**
   * Builds the Prisma client on the HTTP pool and the transaction runner of the handlers on
   * the messaging pool (separate pools: a burst of requests must not starve the saga). Given
   * the service's registry and logger, for what its transactions count once they commit
   * (`TransactionScope`).
   */
  database: (
    pools: { http: Pool; messaging: Pool },
    observe: { metrics: Registry; logger: Logger },
  ) => { client: Client; transaction: TransactionRunner<Tx>; disconnect: () => Promise<void> };
  routes?: (deps: ServiceDeps<Client, Tx>) => (router: Router) => void;
  subscriptions?: (deps: ServiceDeps<Client, Tx>) => Subscriptions<Tx>;
  /** Runs once at start, before consuming (e.g. seed data). */
  onStart?: (deps: ServiceDeps<Client, Tx>) => Promise<void>;
  /** Background work started after messaging (e.g. a sweeper), stopped first on shutdown; not in a LANES=bulk process. */
  background?: (deps: ServiceDeps<Client, Tx>) => { stop: () => Promise<void> };
  /** Longest a request may take; 0 = no limit (a streamed upload of any size). Default Node's 300 s. */
  requestTimeoutMs?: number;
  /** Raw request bodies this service reads itself (e.g. text/csv). */
  rawBodyTypes?: string[];
  /**
   * The registry `/metrics` serves, when the service's own clients (built in main.ts, before
   * the service) register metrics in it too. Default: `createMetricsRegistry(name)`.
   */
  metrics?: Registry;
  /** More of `/ready`'s answer, reported, not checked (e.g. the state of a circuit breaker). */
  readinessDetail?: () => Record<string, unknown>;
  bodyLimit?: string;
  logger?: Logger;
  now?: () => Date;
  /** Traces (tests: an in-memory exporter). Default: from the OTEL_* variables, off unless they ask for it. */
  tracing?: Tracing;
}

export interface Service<Client, Tx extends SqlClient> {
  app: Express;
  deps: ServiceDeps<Client, Tx>;
  /** Connects, runs onStart, starts consuming. */
  start(): Promise<void>;
  /** Graceful stop: consumers, in-flight work, outbox flush, connections. */
  stop(): Promise<void>;
}

/** Wires one service: pool, Prisma, messaging, HTTP app with probes and metrics. Not listening yet. */
export function buildService<Client, Tx extends SqlClient>(def: ServiceDefinition<Client, Tx>): Service<Client, Tx> {
  const { config } = def;
  const logger = def.logger ?? createLogger({ service: def.name, level: config.LOG_LEVEL });
  // Decided once, here: off, no span is started and no trace context is carried anywhere.
  const tracing = def.tracing ?? tracingFromEnv(def.name, { report: (message, meta) => logger.warn(message, meta) });
  const pools = createPools({
    url: config.DATABASE_URL,
    httpSize: config.DB_POOL_SIZE,
    messagingSize: config.MESSAGING_POOL_SIZE,
    timeouts: {
      statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
      lockTimeoutMs: config.DB_LOCK_TIMEOUT_MS,
      idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    onIdleError: (err) => logger.warn('idle database client failed', { err: err.message }),
  });
  const { http: pool, messaging: messagingPool } = pools;
  const metrics = def.metrics ?? createMetricsRegistry(def.name);
  const database = def.database(pools, { metrics, logger });
  const processing = new Histogram({
    name: 'messaging_handle_duration_seconds',
    help: 'Time to handle one message (its share of a batch), by outcome',
    labelNames: ['event_type', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [metrics],
  });
  const messaging = new Messaging<Tx>({
    topology: def.topology(config.TOPOLOGY_PREFIX, config.RETRY_DELAYS_MS),
    amqpUrl: config.AMQP_URLS ?? config.AMQP_URL,
    connectionName: `${def.name}@${config.INSTANCE_ID}`,
    pool: messagingPool,
    transaction: database.transaction,
    logger,
    prefetch: config.PREFETCH,
    batchSize: Math.max(1, Math.floor(config.PREFETCH / (2 * config.CONSUMER_CONCURRENCY))),
    concurrency: config.CONSUMER_CONCURRENCY,
    lingerMs: config.CONSUMER_LINGER_MS,
    inboxRetentionMs: config.INBOX_RETENTION_HOURS * 3_600_000,
    maxDeliveries: config.MAX_DELIVERIES,
    observe: (outcome, seconds, eventType) => processing.observe({ event_type: eventType, outcome }, seconds),
    tracing,
  });
  const deadLetterQueue = messaging.topology.deadLetterQueue;
  const queues = queueMetrics(metrics, messaging.broker, () => [...Object.keys(messaging.status().consumers), deadLetterQueue]);
  new Gauge({
    name: 'messaging_dead_letter_depth',
    help: 'Messages parked in the dead-letter queue (-1: unknown, as orderflow_queue_messages)',
    registers: [metrics],
    async collect() {
      // The same reading as orderflow_queue_messages: one bounded read of the broker per scrape.
      this.set((await queues()).get(deadLetterQueue)?.messages ?? -1);
    },
  });
  new Gauge({
    name: 'messaging_outbox_lag_seconds',
    help: 'Age of the oldest unsent outbox row (0 when none)',
    registers: [metrics],
    async collect() {
      this.set(await messaging.relay.lagSeconds().catch(() => -1));
    },
  });
  const unroutable = new Counter({
    name: 'messaging_unroutable_total',
    help: 'Publishes the broker returned because no queue is bound for them (outbox events kept for a later attempt, retry and dead-letter moves, replays); each attempt counts',
    labelNames: ['exchange', 'routing_key'],
    registers: [metrics],
  });
  messaging.broker.onReturn((r) => unroutable.inc({ exchange: r.exchange, routing_key: r.routingKey }));
  new Gauge({
    name: 'messaging_broker_connected',
    help: 'Whether the broker connection is up (1) or not (0)',
    registers: [metrics],
    collect() {
      this.set(messaging.status().broker.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'messaging_consumer_active',
    help: 'Whether the consumer of a queue is consuming (1) or not (0: broker or database away, or gone)',
    labelNames: ['queue'],
    registers: [metrics],
    collect() {
      for (const [queue, c] of Object.entries(messaging.status().consumers)) this.set({ queue }, c.active ? 1 : 0);
    },
  });
  const deps: ServiceDeps<Client, Tx> = { config, logger, db: database.client, sql: pgStatements(pool), messaging, metrics, now: def.now ?? (() => new Date()) };
  const app = createApp({
    service: def.name,
    logger,
    jwt: jwtOptionsOf(config),
    metrics,
    bodyLimit: def.bodyLimit,
    rawBodyTypes: def.rawBodyTypes,
    tracing,
    // Ready = can serve its HTTP API, which needs the database only: while the broker is away,
    // reads work and writes wait in the outbox. A bulk-lane process has no API: its work is
    // consuming, so it is ready only while it consumes.
    readiness: {
      database: async () => (await pool.query('SELECT 1')).rowCount === 1,
      ...(config.LANES === 'bulk' ? { consumers: () => messaging.isReady() } : {}),
    },
    readinessDetail: () => ({ ...messaging.status(), ...def.readinessDetail?.() }),
    // For GET /api/admin/system, which asks every process once: the lag is read on the relay's
    // pool (its sweep keeps a connection open), beside the probe's check, only when asked.
    detailOnRequest: { [READY_OUTBOX_LAG]: () => messaging.relay.lagSeconds() },
    liveness: () => {
      const limitS = config.CONSUMER_GONE_LIVENESS_S;
      const gone = messaging.consumersGoneLongerThan(limitS * 1000);
      return gone.length === 0 ? { alive: true } : { alive: false, reason: `consumer gone for over ${limitS} s while the broker is connected: ${gone.join(', ')}` };
    },
    routes: (router) => {
      deadLettersApi(messaging.topology.service, messaging as unknown as Messaging<SqlClient>)(router);
      def.routes?.(deps)(router);
    },
  });

  let background: { stop: () => Promise<void> } | undefined;
  return {
    app,
    deps,
    async start() {
      await def.onStart?.(deps);
      // All of the service's subscriptions: `start` checks them against the topology, then runs the lanes of this process.
      await messaging.start(def.subscriptions ? def.subscriptions(deps) : {}, { lanes: config.LANES });
      // Background work (a sweeper) runs beside the interactive lane: a bulk-only process is the
      // second process of a service that runs it already.
      if (config.LANES !== 'bulk') background = def.background?.(deps);
    },
    async stop() {
      await background?.stop();
      const unsent = await messaging.stop();
      if (unsent !== 0) logger.warn('outbox not fully flushed at shutdown; the next start publishes it', { unsent });
      await database.disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await messagingPool.end().catch(() => undefined);
      // Last: the spans of the final publishes are exported too. A tracing a test gave is the test's to stop.
      if (!def.tracing) await tracing?.shutdown();
    },
  };
}

/**
 * Starts the HTTP server; rejects if the port cannot be bound. (Express 5's `app.listen`
 * hands a bind error to its callback instead of throwing, so a callback that only logs would
 * leave the process running without a port.)
 */
export function listen(app: { listen: (port: number, cb: (err?: Error) => void) => Server }, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}

/**
 * Runs a service as a process: starts it, listens on PORT, and on SIGTERM/SIGINT stops
 * accepting requests, drains messaging and exits 0 (1 if the drain timed out).
 */
export async function runService<Client, Tx extends SqlClient>(def: ServiceDefinition<Client, Tx>): Promise<void> {
  const service = buildService(def);
  const { logger, config } = service.deps;
  await service.start();
  const server = await listen(service.app, config.PORT).catch((err: Error) => {
    // Port taken (or not allowed): exit, so whoever runs us sees it and can start us again.
    logger.error('cannot listen', { port: config.PORT, err: err.message });
    return process.exit(1);
  });
  logger.info('listening', { port: config.PORT });
  server.keepAliveTimeout = 65_000;
  if (def.requestTimeoutMs !== undefined) server.requestTimeout = def.requestTimeoutMs;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_S * 1000);
    timer.unref();
    server.close();
    server.closeIdleConnections();
    service
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: Error) => {
        logger.error('shutdown failed', { err: err.message });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
