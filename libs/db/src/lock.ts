import type { Pool, PoolClient } from 'pg';

/**
 * A session advisory lock in PostgreSQL's two-key form: `classId`, a constant of the caller's
 * that names what kind of thing is locked, and `name`, which one (hashed with `hashtext`).
 */
export interface AdvisoryLockKey {
  classId: number;
  name: string;
}

export interface AdvisoryLockOptions {
  /** How long to wait for another session to let go before giving up (ms). */
  waitMs: number;
  /** Between two tries (ms; default 50). */
  pollMs?: number;
}

/** Another session held the advisory lock for longer than the caller would wait. */
export class AdvisoryLockTimeoutError extends Error {
  readonly code = 'DB.ADVISORY_LOCK_TIMEOUT';

  constructor(
    readonly key: AdvisoryLockKey,
    readonly waitedMs: number,
  ) {
    super(`advisory lock (${key.classId}, ${key.name}) still held by another session after ${waitedMs} ms`);
    this.name = 'AdvisoryLockTimeoutError';
  }
}

const TRY_LOCK = 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS granted';
const UNLOCK = 'SELECT pg_advisory_unlock($1, hashtext($2))';

/** A client checked out of the pool, and how to give it back. */
interface Session {
  client: PoolClient;
  /** Gives the client back; destroyed (its session ended) when given an error or when its connection broke. */
  release: (err?: Error) => void;
}

function checkOut(client: PoolClient): Session {
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken ??= err;
  };
  // Checked out, a client has no error listener of the pool's: a connection lost meanwhile
  // would otherwise be an unhandled 'error' event.
  client.on('error', onError);
  return {
    client,
    release: (err) => {
      client.off('error', onError);
      client.release(broken ?? err);
    },
  };
}

/**
 * A session holding the lock. Asks until granted rather than waiting in `pg_advisory_lock`: a
 * pool's sessions may carry a statement_timeout that would cut that wait short. Between two
 * tries the connection goes back to the pool, so a process waiting here holds none.
 */
async function lockedSession(pool: Pool, key: AdvisoryLockKey, { waitMs, pollMs = 50 }: AdvisoryLockOptions): Promise<Session> {
  const started = Date.now();
  for (;;) {
    const session = checkOut(await pool.connect());
    const granted = await session.client.query<{ granted: boolean }>(TRY_LOCK, [key.classId, key.name]).then(
      ({ rows }) => rows[0]?.granted === true,
      (err: Error) => {
        session.release(err);
        throw err;
      },
    );
    if (granted) return session;
    session.release();
    const waited = Date.now() - started;
    if (waited >= waitMs) throw new AdvisoryLockTimeoutError(key, waited);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, waitMs - waited)));
  }
}

/**
 * Runs `fn` while holding the session advisory lock `key` on one connection of `pool`, so that
 * processes sharing the database run it one at a time. Waits up to `waitMs` for the lock, then
 * rejects with `AdvisoryLockTimeoutError` without running `fn`. The lock is released and the
 * connection given back however `fn` ends; a process that dies frees it with its session.
 * Holds a connection of the pool for as long as `fn` runs.
 */
export async function withAdvisoryLock<T>(pool: Pool, key: AdvisoryLockKey, fn: () => Promise<T>, options: AdvisoryLockOptions): Promise<T> {
  const session = await lockedSession(pool, key, options);
  let unlockFailed: Error | undefined;
  try {
    return await fn();
  } finally {
    // Not fn's failure: what fn did stands. A session whose unlock failed may still hold the
    // lock: it must not go back to the pool, and ending it frees the lock.
    await session.client.query(UNLOCK, [key.classId, key.name]).catch((err: Error) => {
      unlockFailed = err;
    });
    session.release(unlockFailed);
  }
}
