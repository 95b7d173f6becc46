import { inventoryBatchReserved, inventoryReserved, orderCancelled } from '@orderflow/events';

// The events of each queue payment consumes, declared once: the topology binds them and the
// handlers subscribe to them (topology.ts says why the queues are split so).

/** `payment.saga`: checkout's reservations and cancellations. */
export const SAGA_EVENTS = [inventoryReserved, orderCancelled] as const;

/** `payment.bulk`: an import's reservations, a chunk per message. */
export const BULK_EVENTS = [inventoryBatchReserved] as const;
