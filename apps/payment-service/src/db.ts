import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { PrismaClient, type Prisma } from './generated/prisma/client';

export type Db = PrismaClient;
export type Tx = Prisma.TransactionClient;

export function database(pool: Pool) {
  const client = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    client,
    transaction: <T>(fn: (tx: Tx) => Promise<T>) => client.$transaction(fn, { maxWait: 10_000, timeout: 30_000 }),
    disconnect: () => client.$disconnect(),
  };
}
