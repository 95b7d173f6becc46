export { copyText, INSERT_UP_TO_ROWS, isConnectionError, pgStatements, pgTransactions, withClient, type CopyValue, type SqlClient, type SqlTx, type TransactionRunner } from './sql';
export { createPools, sessionOptions, type PoolsOptions, type SessionTimeouts } from './pools';
export { prismaDatabase } from './prisma';
export { withAdvisoryLock, AdvisoryLockTimeoutError, type AdvisoryLockKey, type AdvisoryLockOptions } from './lock';
