import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { pgTransactions, type SqlClient } from '@orderflow/messaging';
import { PrismaClient } from './generated/prisma/client';

export type Db = PrismaClient;
/**
 * Handlers and outbox writes run in plain pg transactions and speak SQL: the hot paths of the
 * saga cannot afford a Prisma interactive transaction per batch. Reads and admin writes use
 * the Prisma client.
 */
export type Tx = SqlClient;

export function database(pools: { http: Pool; messaging: Pool }) {
  const client = new PrismaClient({ adapter: new PrismaPg(pools.http) });
  return {
    client,
    transaction: pgTransactions(pools.messaging),
    disconnect: () => client.$disconnect(),
  };
}
