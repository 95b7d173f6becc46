import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../test/generated/prisma/client';

/** Opens an existing bench database (created by the parent process). */
export async function createTestDbAt(url: string): Promise<{ pool: Pool; prisma: PrismaClient; url: string; drop(): Promise<void> }> {
  const pool = new Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return { pool, prisma, url, drop: async () => undefined };
}
