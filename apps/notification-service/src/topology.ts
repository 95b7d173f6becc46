import { serviceTopology } from '@orderflow/messaging';
import { BULK_EVENTS, OUTCOME_EVENTS } from './queues';

/** Notification publishes nothing: it tells customers, not services. */
export const PUBLISHES = [] as const;

/**
 * Notification listens to the outcomes customers hear about, and to the changes of an order's
 * contact (where they hear about them). (inventory.failed and payment.* are covered by the
 * order outcome events they lead to, so nobody is told twice.) An import's orders are told the
 * same through the bulk events, on `notification.bulk`.
 */
export const topology = serviceTopology({ service: 'notification', publishes: PUBLISHES, consumes: { events: OUTCOME_EVENTS, bulk: BULK_EVENTS } });
