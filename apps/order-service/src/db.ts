import type { Pool } from 'pg';
import type { Registry } from 'prom-client';
import type { SqlTx } from '@orderflow/db';
import type { Logger } from '@orderflow/logging';
import { prismaDatabase } from '@orderflow/db';
import { PrismaClient } from './generated/prisma/client';
import { countingTransactions, orderMetrics } from './metrics';

export type Db = PrismaClient;
/** Handlers and outbox writes run in plain pg transactions and speak SQL (see prismaDatabase). */
export type Tx = SqlTx;

const prisma = prismaDatabase((adapter) => new PrismaClient({ adapter }));

/** The order database; what its transactions change is counted on `metrics` once they commit. */
export function database(pools: { http: Pool; messaging: Pool }, observe: { metrics?: Registry; logger?: Logger } = {}) {
  const db = prisma(pools);
  return { ...db, transaction: countingTransactions(db.transaction, orderMetrics(observe.metrics), (message, meta) => observe.logger?.error(message, meta)) };
}
