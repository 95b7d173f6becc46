import { inventoryBatchFailed, inventoryBatchReserved, inventoryBatchReleased, inventoryFailed, inventoryReleased, inventoryReserved } from '@orderflow/events';
import { serviceTopology } from '@orderflow/messaging';
import { BULK_EVENTS, SAGA_EVENTS } from './queues';

/** The events inventory publishes: the topology declares their exchanges, docs/asyncapi.yaml names it their sender. */
export const PUBLISHES = [inventoryReserved, inventoryFailed, inventoryReleased, inventoryBatchReserved, inventoryBatchFailed, inventoryBatchReleased] as const;

/**
 * Inventory reserves on order.created and gives stock back on payment.failed and
 * order.cancelled. All three share one queue (`inventory.saga`) so an order's events are
 * handled in the order they were published: a cancellation never overtakes its own
 * order.created inside this service (the tombstone covers the case where it did upstream).
 * Imported orders travel on `inventory.bulk` (a chunk per message), so checkout is never
 * queued behind an import.
 */
export const topology = serviceTopology({ service: 'inventory', publishes: PUBLISHES, consumes: { saga: SAGA_EVENTS, bulk: BULK_EVENTS } });
