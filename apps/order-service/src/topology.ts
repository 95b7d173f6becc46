import {
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  orderCancelled,
  orderConfirmed,
  orderCreated,
  orderRejected,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
} from '@orderflow/events';
import { defineTopology } from '@orderflow/messaging';

/** The order service drives the saga's state: one queue keeps the saga's events in order. */
export const topology = (prefix = '', retryDelaysMs: readonly number[] = [1000, 5000, 30000]) =>
  defineTopology({
    service: 'order',
    prefix,
    publishes: [orderCreated, orderConfirmed, orderRejected, orderCancelled],
    consumes: { saga: [inventoryReserved, inventoryFailed, inventoryReleased, paymentCompleted, paymentFailed, paymentRefunded] },
    retryDelaysMs,
  });
