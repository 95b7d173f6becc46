import { pooledDatabase, waitFor } from '@orderflow/testkit';
import { Pool } from 'pg';
import { AdvisoryLockTimeoutError, withAdvisoryLock, type AdvisoryLockKey } from '../src';

describe('withAdvisoryLock (session advisory locks, real PostgreSQL)', () => {
  let db: { pool: Pool; close: () => Promise<void> };
  /** A second process on the same database: sessions of its own. */
  let other: Pool;
  let lastClassId = 0;
  /** A key no other test uses. */
  const freshKey = (): AdvisoryLockKey => ({ classId: 9_000 + ++lastClassId, name: 'queue.dlq' });

  /** Sessions of the database that hold the lock `key`. */
  const holders = async (key: AdvisoryLockKey): Promise<number> =>
    (
      await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND l.classid = $1::int::oid`,
        [key.classId],
      )
    ).rows[0]!.n;
  /** Sessions whose last statement, begun after `since` (the server's clock), asked for an advisory lock. */
  const askedSince = async (since: Date): Promise<number> =>
    (
      await other.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_try_advisory_lock(%' AND query_start > $1`,
        [since],
      )
    ).rows[0]!.n;

  /** Locks held by `hold`: let go after each test, also one that failed. */
  const held: Array<{ release: () => void; ended: Promise<void> }> = [];
  /** Holds `key` from the other pool until the returned `release` is called. */
  const hold = async (key: AdvisoryLockKey): Promise<{ release: () => void; ended: Promise<void> }> => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const ended = withAdvisoryLock(other, key, async () => {
      entered();
      await released;
    }, { waitMs: 0 });
    await inside;
    held.push({ release, ended });
    return { release, ended };
  };

  beforeAll(async () => {
    // Any database will do: advisory locks need no table.
    db = await pooledDatabase('order');
    other = new Pool({ connectionString: db.pool.options.connectionString, max: 4 });
    // Its connection ended by the test below must not fail the run.
    other.on('error', () => undefined);
  });
  afterEach(async () => {
    for (const { release, ended } of held.splice(0)) {
      release();
      await ended.catch(() => undefined);
    }
  });
  afterAll(async () => {
    await other.end();
    await db.close();
  });

  it('a second holder waits for the first and runs once it let go; another key does not wait', async () => {
    const key = freshKey();
    const events: string[] = [];
    const first = await hold(key);
    events.push('first holds');
    const since = (await other.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
    const second = withAdvisoryLock(db.pool, key, async () => {
      events.push('second runs');
      return 'second done';
    }, { waitMs: 10_000, pollMs: 20 });
    // Only the second holder uses this pool: its session asked after the first held the lock.
    await waitFor(async () => (await askedSince(since)) >= 1, 'the second holder asking for the lock');
    await expect(withAdvisoryLock(db.pool, { ...key, name: 'another.dlq' }, async () => 'ran', { waitMs: 0 })).resolves.toBe('ran');
    expect(events).toEqual(['first holds']);
    // Recorded before the release: once the first lets go, the second may run before this test goes on.
    events.push('first lets go');
    first.release();
    await first.ended;
    expect(await second).toBe('second done');
    expect(events).toEqual(['first holds', 'first lets go', 'second runs']);
    expect(await holders(key)).toBe(0);
  });

  it('a holder that waits longer than its bound fails with DB.ADVISORY_LOCK_TIMEOUT and does not run; the first keeps the lock', async () => {
    const key = freshKey();
    const first = await hold(key);
    let ran = false;
    const started = Date.now();
    const refused = withAdvisoryLock(db.pool, key, async () => {
      ran = true;
    }, { waitMs: 300, pollMs: 20 });
    await expect(refused).rejects.toBeInstanceOf(AdvisoryLockTimeoutError);
    await expect(refused).rejects.toMatchObject({ code: 'DB.ADVISORY_LOCK_TIMEOUT', key });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect({ ran, holders: await holders(key) }).toEqual({ ran: false, holders: 1 });
    first.release();
    await first.ended;
    expect(await holders(key)).toBe(0);
  });

  it('when fn throws, its error comes through, the lock is released and the connection goes back to the pool', async () => {
    const key = freshKey();
    await expect(withAdvisoryLock(db.pool, key, async () => {
      throw new Error('the walk failed');
    }, { waitMs: 0 })).rejects.toThrow('the walk failed');
    expect(await holders(key)).toBe(0);
    expect(db.pool.totalCount).toBe(db.pool.idleCount);
    await expect(withAdvisoryLock(other, key, async () => 'next', { waitMs: 0 })).resolves.toBe('next');
  });

  it('a holder whose session ends (its process died) frees the lock, and its connection is not given back', async () => {
    const key = freshKey();
    const done = withAdvisoryLock(other, key, async () => {
      await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = $1 AND objsubid = 2 AND classid = $2::int::oid', ['advisory', key.classId]);
      await waitFor(async () => (await holders(key)) === 0, 'the session ended');
      return 'what fn did stands';
    }, { waitMs: 0 });
    await expect(done).resolves.toBe('what fn did stands');
    await expect(withAdvisoryLock(db.pool, key, async () => 'taken over', { waitMs: 0 })).resolves.toBe('taken over');
    // The broken connection was destroyed: the pool's next query opens a working one.
    await expect(other.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
  });
});
