import { isConnectionError, type SqlClient } from '@orderflow/db';

/** Waits between database probes while the database is away: growing from the first to the last. */
const PROBE_DELAY_MS = { first: 100, max: 2_000 };
/**
 * Longest a probe may take: a database that takes longer to answer `SELECT 1` cannot take
 * batches either (and a probe stuck on a dead socket must not stall the resume for minutes).
 */
const PROBE_TIMEOUT_MS = 5_000;

/** Whether the database answers `SELECT 1` within `PROBE_TIMEOUT_MS`. */
export async function databaseAnswers(sql: SqlClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql.$queryRawUnsafe('SELECT 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('database probe timed out')), PROBE_TIMEOUT_MS);
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * True when `err` is a lost connection and the database does not answer either: no message's
 * fault, so none is retried or parked for it.
 */
export async function databaseAway(sql: SqlClient, err: unknown): Promise<boolean> {
  return isConnectionError(err) && !(await databaseAnswers(sql));
}

/**
 * Probes the database with growing delays until it answers (true) or `stopping()` (false).
 * `onWait` receives, for each wait, the function that ends it early (a stop).
 */
export async function untilDatabaseAnswers(sql: SqlClient, stopping: () => boolean, onWait: (wake: (() => void) | undefined) => void): Promise<boolean> {
  for (let delay = PROBE_DELAY_MS.first; ; delay = Math.min(2 * delay, PROBE_DELAY_MS.max)) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      onWait(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    onWait(undefined);
    if (stopping()) return false;
    if (await databaseAnswers(sql)) return !stopping();
  }
}
