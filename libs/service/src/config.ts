import os from 'node:os';
import { vars, z } from '@orderflow/config';
import { DEFAULT_RETRY_DELAYS_MS } from '@orderflow/messaging';

/** What every service reads from its environment; a service extends it with its own. */
export function serviceConfigSchema(defaultPort: number) {
  return z.object({
    PORT: vars.port(defaultPort),
    DATABASE_URL: vars.postgresUrl(),
    AMQP_URL: vars.amqpUrl(),
    /**
     * The nodes of a RabbitMQ cluster, comma-separated; when set it takes the place of AMQP_URL.
     * The service connects to any of them and, when its node is lost, to another.
     */
    AMQP_URLS: vars.amqpUrls().optional(),
    JWT_SECRET: vars.secret(),
    LOG_LEVEL: vars.logLevel(),
    /**
     * Unacknowledged messages per consumer; batches are half of it. A large window costs
     * nothing at moderate load (a batch is what has arrived) and under a burst lets a consumer
     * catch up in a few big transactions; a small window let the order service's saga queue
     * fall behind its HTTP intake under load (see docs/performance.md).
     */
    PREFETCH: vars.positiveInt(1000),
    /**
     * Batches each consumer handles at once (lanes by correlation id: the events of one order
     * share a lane). One lane is the fastest on a small machine — bigger batches, fewer
     * transactions — more help where a handler waits on something slow (see docs/performance.md).
     */
    CONSUMER_CONCURRENCY: vars.positiveInt(1),
    /**
     * Milliseconds a busy consumer waits for more messages before handling a partial batch
     * (busy: its last batch ended less than this long ago; after a quiet spell a message is
     * handled at once). Under moderate load this turns many small transactions into fewer
     * larger ones, which costs less CPU than a shorter wait (see docs/performance.md).
     */
    CONSUMER_LINGER_MS: vars.nonNegativeInt(15),
    /**
     * Which queues this process consumes: `all`, or only the `interactive` (checkout) or the
     * `bulk` (import) ones, for a service run as two processes — `npm start` does, at a lower
     * CPU priority for the bulk one, and so do the Kubernetes manifests, as two Deployments.
     */
    LANES: z.enum(['all', 'interactive', 'bulk']).default('all'),
    RETRY_DELAYS_MS: vars.delays(DEFAULT_RETRY_DELAYS_MS.join(',')),
    /**
     * Hours an event id stays in the inbox (processed_events) after it was handled; older ones
     * are pruned hourly. A redelivery comes within minutes (a retry, a sweep after a crash).
     */
    INBOX_RETENTION_HOURS: vars.positiveInt(168),
    /**
     * Deliveries of a message that may end without an outcome — its process dies in the
     * handler (out of memory, a native crash) — before it is parked in the dead-letter queue
     * instead of handed to a handler again. A few: a healthy message is redelivered once or
     * twice by a crash or a lost connection, a poison one would loop forever.
     */
    MAX_DELIVERIES: vars.positiveInt(5),
    /** Connections for HTTP requests (Prisma and single statements). */
    DB_POOL_SIZE: vars.positiveInt(10),
    /** Connections for the outbox relay and the consumers' transactions. */
    MESSAGING_POOL_SIZE: vars.positiveInt(4),
    /**
     * Longest a statement may run (ms, 0 = no limit). A guard against runaway statements, not a
     * budget: the longest legitimate ones (a bulk chunk batch's writes, an inbox prune of one
     * batch) are far shorter, and every consumer statement holds one of few pooled connections.
     */
    DB_STATEMENT_TIMEOUT_MS: vars.nonNegativeInt(30_000),
    /**
     * Longest a statement waits for a lock (ms, 0 = no limit). Shorter than the statement
     * timeout, so that a handler stuck behind another transaction fails as a lock timeout
     * (55P03, transient: retried later) and frees its connection instead of idling in it.
     */
    DB_LOCK_TIMEOUT_MS: vars.nonNegativeInt(10_000),
    /**
     * Longest a transaction may sit idle between statements (ms, 0 = no limit): longer is a
     * leaked client (a hung await), which holds locks and keeps vacuum from cleaning up; the
     * server ends the session. Far longer than the work a handler does between statements.
     */
    DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: vars.nonNegativeInt(60_000),
    /** Prepended to exchange and queue names: lets several systems share one broker (tests). */
    TOPOLOGY_PREFIX: z.string().regex(/^[a-z0-9_.-]*$/).default(''),
    /** Seconds given to in-flight work on SIGTERM before the process exits anyway. */
    SHUTDOWN_TIMEOUT_S: vars.positiveInt(20),
    /**
     * Seconds a consumer may stay gone — not consuming although the broker is connected, after
     * its own attempts to consume again — before `/health` fails and the orchestrator restarts
     * the process. Not while the broker or the database is away: a restart would not help.
     */
    CONSUMER_GONE_LIVENESS_S: vars.positiveInt(60),
    INSTANCE_ID: z.string().min(1).default(`${os.hostname()}-${process.pid}`),
  });
}

export type ServiceConfig = z.infer<ReturnType<typeof serviceConfigSchema>>;
