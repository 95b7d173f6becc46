import { orderBatchConcluded, orderBatchCreated, orderCancelled, orderConfirmed, orderCreated, orderRejected, paymentRefunded } from '@orderflow/events';

// The events of each queue notification consumes, declared once: the topology binds them and
// the handlers subscribe to them.

/** `notification.events`: the outcomes of checkout's orders that customers hear about. */
export const OUTCOME_EVENTS = [orderCreated, orderConfirmed, orderRejected, orderCancelled, paymentRefunded] as const;

/** `notification.bulk`: the same outcomes for an import's orders, a chunk per message. */
export const BULK_EVENTS = [orderBatchCreated, orderBatchConcluded] as const;
