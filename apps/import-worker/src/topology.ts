import { importChunkV2, importFailed, importReceived, importStarted } from '@orderflow/events';
import { defineTopology } from '@orderflow/messaging';

/**
 * The worker only publishes: the import's lifecycle through its outbox, the chunks straight
 * to the broker with publisher confirms (they are the upload itself, not a state change).
 * The order service's queues receive them.
 */
export const topology = (prefix = '', retryDelaysMs: readonly number[] = [1000, 5000, 30000]) =>
  defineTopology({
    service: 'import-worker',
    prefix,
    publishes: [importStarted, importChunkV2, importReceived, importFailed],
    consumes: {},
    retryDelaysMs,
  });
