import type { Registry } from 'prom-client';
import { errorMessage } from '@orderflow/errors';
import { importFailed } from '@orderflow/events';
import type { Logger } from '@orderflow/logging';
import type { Messaging } from '@orderflow/messaging';
import type { Tx } from './db';
import { failOrphans } from './jobs';
import { importRows } from './metrics';

/**
 * Fails the imports whose upload died with its worker (killed, out of memory, node lost): a
 * RECEIVING job without a heartbeat for `staleAfterS`, or, at start, one this same instance
 * (same INSTANCE_ID: a restarted pod) was receiving. The upload's connection is gone with the
 * process, so nothing can resume reading it; the chunks it published are imported, and the
 * client uploads the file again (orders already imported are skipped, so nothing is doubled
 * and nothing is missing). Any replica may sweep: the UPDATE claims each job once.
 */
export function startSweeper(deps: { messaging: Messaging<Tx>; logger: Logger; now: () => Date; staleAfterS: number; instanceId: string; metrics?: Registry }): () => void {
  const { messaging, logger, now } = deps;
  const countRows = importRows(deps.metrics);
  const sweep = async (restarted: { instanceId: string; since: Date } | null): Promise<void> => {
    const failed = await messaging.transaction(async (tx, publish) => {
      const jobs = await failOrphans(tx, deps.staleAfterS, restarted, now());
      for (const job of jobs) {
        const reason = `the upload was interrupted: the worker receiving it stopped after line ${job.lastLine} (${job.chunks} chunks were accepted and are imported); upload the file again: rows of orders already imported create nothing new`;
        publish(importFailed, { importId: job.id, reason, rows: job.rows, chunks: job.chunks }, { correlationId: job.id });
      }
      return jobs;
    });
    for (const job of failed) countRows(job.rows);
    for (const job of failed) logger.warn('import failed: its worker stopped while receiving it', { importId: job.id, line: job.lastLine, chunks: job.chunks });
  };
  // Jobs of this instance from before this process started: their process is gone.
  let running = sweep({ instanceId: deps.instanceId, since: new Date(performance.timeOrigin) }).catch((err) => logger.warn('import sweep failed', { err: errorMessage(err) }));
  const timer = setInterval(() => {
    running = running.then(() => sweep(null)).catch((err) => logger.warn('import sweep failed', { err: errorMessage(err) }));
  }, Math.max(500, (deps.staleAfterS * 1000) / 3));
  timer.unref();
  return () => clearInterval(timer);
}
