import type { Pool } from 'pg';
import { pgStatements, pgTransactions, type SqlClient, type SqlTx } from '@orderflow/db';

/**
 * The worker speaks plain SQL on pg, without the Prisma client: its every statement is on the
 * upload's hot path, and Prisma's query compiler alone would take a large share of the worker's
 * memory budget (see docs/performance.md). The schema and migrations are still Prisma's
 * (prisma/import-worker).
 */
export type Db = SqlClient;
export type Tx = SqlTx;

export function database(pools: { http: Pool; messaging: Pool }) {
  return {
    client: pgStatements(pools.http),
    transaction: pgTransactions(pools.messaging),
    disconnect: async () => undefined,
  };
}
