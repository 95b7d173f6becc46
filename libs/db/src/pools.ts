import { Pool } from 'pg';

/** Limits every session of a service sets (ms, 0 = none); see DB_*_TIMEOUT_MS in the config. */
export interface SessionTimeouts {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

/**
 * Settings of every session the services open. Planner (PostgreSQL's defaults assume data on
 * spinning disks): the saga's statements look rows up by key in batches
 * (`UPDATE … FROM unnest($1) WHERE id = v.id`), and with random_page_cost 4 the planner
 * joined them by a sequential scan and a hash of the whole table while it was of moderate
 * size. 1.1 (the usual value for SSDs and a working set in memory) makes them index lookups;
 * JIT compiling, meant for long analytical queries, only adds time to such statements.
 * Timeouts: a stuck statement, lock wait or forgotten transaction fails instead of holding one
 * of the pool's few connections (and its locks) for ever.
 * PGOPTIONS, when set, is appended (e.g. auto_explain while investigating).
 */
export function sessionOptions(timeouts: SessionTimeouts, env: NodeJS.ProcessEnv = process.env): string {
  const limits = [
    `-c statement_timeout=${timeouts.statementTimeoutMs}`,
    `-c lock_timeout=${timeouts.lockTimeoutMs}`,
    `-c idle_in_transaction_session_timeout=${timeouts.idleInTransactionTimeoutMs}`,
  ].join(' ');
  return ['-c random_page_cost=1.1 -c jit=off', limits, env.PGOPTIONS].filter(Boolean).join(' ');
}

export interface PoolsOptions {
  url: string;
  /** Connections of the HTTP side (Prisma reads, admin writes). */
  httpSize: number;
  /** Connections of the handlers and the outbox relay. */
  messagingSize: number;
  timeouts: SessionTimeouts;
  /** Told about an idle client that lost its server. */
  onIdleError: (err: Error) => void;
}

/**
 * A service's two pools on one database, with the same session settings: separate, so a burst
 * of requests cannot starve the saga of connections (or the reverse). Each keeps one connection
 * once opened, however long it idles (the rest close after pg's 10 s): a new one costs
 * PostgreSQL a backend start and the first query's planning (docs/performance.md), and a
 * readiness probe or a request after a quiet spell would otherwise pay it — every process's at
 * once when GET /api/admin/system asks them all (docs/performance.md, "Operator console").
 */
export function createPools(o: PoolsOptions): { http: Pool; messaging: Pool } {
  const options = sessionOptions(o.timeouts);
  const http = new Pool({ connectionString: o.url, max: o.httpSize, min: 1, options });
  const messaging = new Pool({ connectionString: o.url, max: o.messagingSize, min: 1, options });
  // An idle client losing its server (database restart) must not crash the process.
  for (const p of [http, messaging]) p.on('error', o.onIdleError);
  return { http, messaging };
}
