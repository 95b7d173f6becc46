import {
  newId,
  orderBatchConcluded,
  orderBatchCreated,
  orderCancelled,
  orderConfirmed,
  orderCreated,
  orderRejected,
  paymentRefunded,
  type EventContract,
  type EventOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type HandlerContext, type Subscriptions } from '@orderflow/messaging';
import { type CopyValue } from '@orderflow/db';
import type { Tx } from './db';
import { render, type Outcome } from './templates';

const COLUMNS = ['id', 'order_id', 'customer_id', 'channel', 'recipient', 'template', 'body', 'sent_at'];

/**
 * One batch of events → one COPY of everything they say to customers. An event
 * may speak of many orders (the bulk events of an import): each order's customer is told
 * exactly what the per-order event would have told them.
 */
function notify<C extends EventContract>(contract: C, outcomes: (e: EventOf<C>) => Outcome[], now: () => Date, options: { logEach: boolean } = { logEach: true }) {
  return onBatch<C, Tx>(contract, async (events, ctx: HandlerContext<Tx>) => {
    const sentAt = now();
    const rows: CopyValue[][] = [];
    for (const e of events) {
      for (const o of outcomes(e)) {
        for (const m of render(o)) {
          rows.push([newId(), o.orderId, o.customerId, m.channel, m.recipient, m.template, m.body, sentAt]);
        }
      }
    }
    if (rows.length === 0) return;
    await ctx.tx.$copyFrom('notifications', COLUMNS, rows);
    if (options.logEach) {
      for (const [, orderId, , channel, recipient, template] of rows) ctx.logger.info('notification sent (simulated)', { channel, recipient, template, orderId });
    } else {
      ctx.logger.info('notifications sent in bulk (simulated)', { count: rows.length, events: events.length });
    }
  });
}

export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const { now } = deps;
  const bulk = { logEach: false };
  return {
    events: [
      notify(orderCreated, (e) => [{ kind: 'received', ...e.payload }], now),
      notify(orderConfirmed, (e) => [{ kind: 'confirmed', ...e.payload }], now),
      notify(orderRejected, (e) => [{ kind: 'rejected', ...e.payload }], now),
      notify(orderCancelled, (e) => [{ kind: 'cancelled', ...e.payload }], now),
      notify(paymentRefunded, (e) => [{ kind: 'refunded', ...e.payload }], now),
    ],
    // An import's orders: the same messages, a chunk's worth per event, on a queue of their own.
    bulk: {
      handlers: [
        notify(orderBatchCreated, (e) => e.payload.orders.map((o) => ({ kind: 'received' as const, ...o })), now, bulk),
        notify(
          orderBatchConcluded,
          (e) => [
            ...e.payload.confirmed.map((o) => ({ kind: 'confirmed' as const, ...o })),
            ...e.payload.rejected.map((o) => ({ kind: 'rejected' as const, ...o })),
            ...e.payload.cancelled.map((o) => ({ kind: 'cancelled' as const, ...o })),
          ],
          now,
          bulk,
        ),
      ],
      ...BULK_LANE,
    },
  };
}
