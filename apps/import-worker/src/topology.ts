import { importChunkV2, importFailed, importReceived, importStarted } from '@orderflow/events';
import { serviceTopology } from '@orderflow/messaging';

/**
 * The worker only publishes: the import's lifecycle through its outbox, the chunks straight
 * to the broker with publisher confirms (they are the upload itself, not a state change).
 * The order service's queues receive them. The topology declares their exchanges;
 * docs/asyncapi.yaml names the worker their sender.
 */
export const PUBLISHES = [importStarted, importChunkV2, importReceived, importFailed] as const;

export const topology = serviceTopology({ service: 'import-worker', publishes: PUBLISHES, consumes: {} });
