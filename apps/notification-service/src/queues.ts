import {
  orderBatchConcluded,
  orderBatchCreated,
  orderCancelled,
  orderConfirmed,
  orderCreated,
  orderRejected,
  orderUpdated,
  paymentRefunded,
} from '@orderflow/events';

// The events of each queue notification consumes, declared once: the topology binds them and
// the handlers subscribe to them.

/**
 * `notification.events`: what customers hear about a checkout order — its outcomes, and a
 * change of its contact (order.updated), which is news for them and changes where the next
 * messages go. One queue, so an order's news is read in the order it was published.
 */
export const OUTCOME_EVENTS = [orderCreated, orderUpdated, orderConfirmed, orderRejected, orderCancelled, paymentRefunded] as const;

/** `notification.bulk`: the same outcomes for an import's orders, a chunk per message. */
export const BULK_EVENTS = [orderBatchCreated, orderBatchConcluded] as const;
