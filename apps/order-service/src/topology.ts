import { orderBatchConcluded, orderBatchCreated, orderCancelled, orderConfirmed, orderCreated, orderRejected, orderUpdated } from '@orderflow/events';
import { serviceTopology } from '@orderflow/messaging';
import { CONSUMES } from './queues';

/** The events the order service publishes: the topology declares their exchanges, docs/asyncapi.yaml names it their sender. */
export const PUBLISHES = [orderCreated, orderUpdated, orderConfirmed, orderRejected, orderCancelled, orderBatchCreated, orderBatchConcluded] as const;

/**
 * The order service drives the saga's state: one queue keeps the saga's events in order.
 * Imports have queues of their own, so a million imported orders never stand between a
 * checkout and its answer: `import` (the worker's chunks), `import-status` (the import's
 * lifecycle, small, so the read side follows the upload at once) and `bulk` (inventory's and
 * payment's batch answers for imported orders, and the catalog prices of inventory's reservations).
 */
export const topology = serviceTopology({ service: 'order', publishes: PUBLISHES, consumes: CONSUMES });
