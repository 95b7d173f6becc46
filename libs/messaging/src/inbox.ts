import type { Pool } from 'pg';
import { errorMessage } from '@orderflow/errors';
import type { Logger } from '@orderflow/logging';
import { withClient } from '@orderflow/db';

/** The BRIN index on `processed_events.processed_at` (migrations `*_inbox_retention`). */
const INDEX = 'processed_events_processed_at_idx';

/**
 * Deletes the inbox rows (`processed_events`) older than `retentionMs`, `batchSize` rows per
 * statement so no transaction holds many locks, and the delivery counters as old; returns how
 * many inbox rows it deleted. A redelivery
 * comes within minutes (a retry, a sweep after a crash), so a retention of days keeps every
 * duplicate harmless while the table stops growing with every event ever handled.
 *
 * New page ranges are summarized into the BRIN index first: autovacuum does that where it
 * runs, but an unsummarized range is read whole by every prune.
 */
export async function pruneInbox(pool: Pool, retentionMs: number, batchSize = 10_000): Promise<number> {
  return withClient(pool, async (client) => {
    await client.query('SELECT brin_summarize_new_values($1::regclass)', [INDEX]);
    let deleted = 0;
    for (;;) {
      const { rowCount } = await client.query(
        `DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM processed_events WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2))`,
        [retentionMs / 1000, batchSize],
      );
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) break;
    }
    // Delivery counters left behind (a retried event is handled on a fresh delivery, which
    // does not look at its counter): few rows, as stale as the inbox rows pruned with them.
    await client.query('DELETE FROM delivery_attempts WHERE last_delivered_at < now() - make_interval(secs => $1)', [retentionMs / 1000]);
    return deleted;
  });
}

export interface InboxRetentionOptions {
  pool: Pool;
  logger: Logger;
  retentionMs: number;
  /** How often to prune (default hourly). */
  intervalMs?: number;
}

/** Prunes the inbox now and then every interval until stopped; a failed prune is logged and retried next time. */
export function startInboxRetention(o: InboxRetentionOptions): { stop: () => Promise<void> } {
  let running: Promise<unknown> | undefined;
  const prune = (): void => {
    if (running) return;
    running = pruneInbox(o.pool, o.retentionMs)
      .then((deleted) => {
        if (deleted > 0) o.logger.info('inbox pruned', { deleted, retentionHours: o.retentionMs / 3_600_000 });
      })
      .catch((err) => o.logger.warn('inbox prune failed; retrying next interval', { err: errorMessage(err) }))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(prune, o.intervalMs ?? 3_600_000);
  timer.unref();
  prune();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
