import os from 'node:os';
import { vars, z } from '@orderflow/config';
import {
  DEFAULT_JWT_AUDIENCE,
  DEFAULT_JWT_CLOCK_TOLERANCE_S,
  DEFAULT_JWT_ISSUER,
  readPublicKey,
  weakSecretReason,
  type JwtOptions,
} from '@orderflow/http';
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
    /**
     * HS256 secret of the bearer tokens (`npm run token` signs with it). Required unless
     * JWT_PUBLIC_KEY or JWT_JWKS_URL is set; where NODE_ENV=production, at least 32 bytes and
     * neither the development secret nor a `change-me` placeholder.
     */
    JWT_SECRET: vars.secret().optional(),
    /**
     * A public key that verifies RS256 (RSA) or ES256 (P-256) tokens: PEM text, or the path of
     * a PEM file. Read and checked here, once.
     */
    JWT_PUBLIC_KEY: z
      .string()
      .transform((value, ctx) => {
        try {
          return readPublicKey(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `is not a usable public key: ${(err as Error).message}` });
          return z.NEVER;
        }
      })
      .optional(),
    /** An identity provider's JWKS URL (RS256 / ES256 keys by `kid`), fetched when needed and cached. */
    JWT_JWKS_URL: vars.url(/^https?:$/).optional(),
    /** The `iss` every token must carry. */
    JWT_ISSUER: z.string().min(1).default(DEFAULT_JWT_ISSUER),
    /** The `aud` every token must carry (one of its audiences). */
    JWT_AUDIENCE: z.string().min(1).default(DEFAULT_JWT_AUDIENCE),
    /** Seconds of clock difference with the token issuer tolerated on `exp` and `nbf`. */
    JWT_CLOCK_TOLERANCE_S: vars.nonNegativeInt(DEFAULT_JWT_CLOCK_TOLERANCE_S),
    /** `production` (the image sets it) refuses weak JWT secrets. */
    NODE_ENV: z.string().optional(),
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
  }).superRefine(
    (config, ctx) => {
      for (const { variable, message } of jwtKeyProblems(config)) ctx.addIssue({ code: 'custom', path: [variable], message });
    },
    // Also when other variables are bad, so that start-up reports every problem at once.
    { when: ({ issues }) => !issues.some((issue) => JWT_CHECKED.has(String(issue.path?.[0]))) },
  );
}

const JWT_CHECKED = new Set(['JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_JWKS_URL', 'NODE_ENV']);

export type ServiceConfig = z.infer<ReturnType<typeof serviceConfigSchema>>;

type JwtSettings = Pick<ServiceConfig, 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWT_JWKS_URL' | 'NODE_ENV'>;

/** What is wrong with the token keys of a configuration, each problem with its variable. */
function jwtKeyProblems(config: JwtSettings): Array<{ variable: string; message: string }> {
  const problems: Array<{ variable: string; message: string }> = [];
  if (config.JWT_SECRET === undefined && config.JWT_PUBLIC_KEY === undefined && config.JWT_JWKS_URL === undefined) {
    problems.push({ variable: 'JWT_SECRET', message: 'is required but not set (or set JWT_PUBLIC_KEY or JWT_JWKS_URL to verify tokens of an identity provider)' });
  }
  if (config.JWT_PUBLIC_KEY !== undefined && config.JWT_JWKS_URL !== undefined) {
    problems.push({ variable: 'JWT_JWKS_URL', message: 'cannot be set together with JWT_PUBLIC_KEY: set one of them' });
  }
  if (config.NODE_ENV === 'production' && config.JWT_JWKS_URL?.startsWith('http:')) {
    // Whoever can answer for that URL on the way could hand out signing keys.
    problems.push({ variable: 'JWT_JWKS_URL', message: 'is plain http: refused where NODE_ENV=production; use https' });
  }
  const weakness = config.NODE_ENV === 'production' && config.JWT_SECRET !== undefined ? weakSecretReason(config.JWT_SECRET) : undefined;
  if (weakness) {
    problems.push({
      variable: 'JWT_SECRET',
      message: `${weakness}: refused where NODE_ENV=production; use a random secret of at least 32 bytes (e.g. openssl rand -hex 32)`,
    });
  }
  return problems;
}

/** How the service's app verifies bearer tokens (createApp's `jwt`), from its configuration. */
export function jwtOptionsOf(config: Pick<ServiceConfig, 'JWT_SECRET' | 'JWT_PUBLIC_KEY' | 'JWT_JWKS_URL' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_CLOCK_TOLERANCE_S'>): JwtOptions {
  return {
    secret: config.JWT_SECRET,
    publicKey: config.JWT_PUBLIC_KEY,
    jwksUrl: config.JWT_JWKS_URL,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockToleranceS: config.JWT_CLOCK_TOLERANCE_S,
  };
}
