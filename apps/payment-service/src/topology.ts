import { paymentBatchProcessed, paymentCompleted, paymentFailed, paymentRefunded } from '@orderflow/events';
import { serviceTopology } from '@orderflow/messaging';
import { BULK_EVENTS, SAGA_EVENTS } from './queues';

/** The events payment publishes: the topology declares their exchanges, docs/asyncapi.yaml names it their sender. */
export const PUBLISHES = [paymentCompleted, paymentFailed, paymentRefunded, paymentBatchProcessed] as const;

/**
 * Reservations and cancellations share one queue (`payment.saga`) so that, for an order,
 * they are handled in the order they were published. Imported orders come on `payment.bulk`
 * (a chunk per message), so checkout is never queued behind an import.
 */
export const topology = serviceTopology({ service: 'payment', publishes: PUBLISHES, consumes: { saga: SAGA_EVENTS, bulk: BULK_EVENTS } });
