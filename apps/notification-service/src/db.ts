import type { SqlTx } from '@orderflow/db';
import { prismaDatabase } from '@orderflow/db';
import { PrismaClient } from './generated/prisma/client';

export type Db = PrismaClient;
/** Handlers and outbox writes run in plain pg transactions and speak SQL (see prismaDatabase). */
export type Tx = SqlTx;

export const database = prismaDatabase((adapter) => new PrismaClient({ adapter }));
