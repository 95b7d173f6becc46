import { PrismaPg } from '@prisma/adapter-pg';
import type { Pool } from 'pg';
import { pgTransactions, type SqlTx, type TransactionRunner } from './sql';

/**
 * A service's database access: its Prisma client on the HTTP pool (reads, admin writes) and
 * plain pg transactions on the messaging pool for handlers and outbox writes — the saga's hot
 * paths cannot afford a Prisma interactive transaction per batch (docs/architecture.md, "Prisma and pg").
 */
export function prismaDatabase<Client extends { $disconnect(): Promise<void> }>(create: (adapter: PrismaPg) => Client) {
  return (pools: { http: Pool; messaging: Pool }): { client: Client; transaction: TransactionRunner<SqlTx>; disconnect: () => Promise<void> } => {
    const client = create(new PrismaPg(pools.http));
    return { client, transaction: pgTransactions(pools.messaging), disconnect: () => client.$disconnect() };
  };
}
