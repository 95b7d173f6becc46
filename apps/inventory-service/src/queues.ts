import { orderBatchCreated, orderCancelled, orderCreated, paymentBatchProcessed, paymentFailed } from '@orderflow/events';

// The events of each queue inventory consumes, declared once: the topology binds them and the
// handlers subscribe to them (topology.ts says why the queues are split so).

/** `inventory.saga`: checkout's orders, failed payments and cancellations. */
export const SAGA_EVENTS = [orderCreated, paymentFailed, orderCancelled] as const;

/** `inventory.bulk`: an import's orders and payments, a chunk per message. */
export const BULK_EVENTS = [orderBatchCreated, paymentBatchProcessed] as const;
