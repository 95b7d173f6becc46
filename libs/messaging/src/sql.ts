/**
 * The slice of a Prisma client (or transaction client) that messaging needs. Structural, so
 * every service's generated client fits without this lib knowing its models.
 */
export interface SqlClient {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
}

/** Runs `fn` in one database transaction (for Prisma: `prisma.$transaction(fn, options)`). */
export type TransactionRunner<Tx extends SqlClient> = <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;
