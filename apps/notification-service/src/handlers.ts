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
import type { Tx } from './db';
import { render, type Outcome } from './templates';

/**
 * One batch of events → one multi-row insert of everything they say to customers. An event
 * may speak of many orders (the bulk events of an import): each order's customer is told
 * exactly what the per-order event would have told them.
 */
function notify<C extends EventContract>(contract: C, outcomes: (e: EventOf<C>) => Outcome[], now: () => Date, options: { logEach: boolean } = { logEach: true }) {
  return onBatch<C, Tx>(contract, async (events, ctx: HandlerContext<Tx>) => {
    const sentAt = now();
    const rows = events.flatMap((e) =>
      outcomes(e).flatMap((o) => render(o).map((m) => ({ id: newId(), orderId: o.orderId, customerId: o.customerId, sentAt, ...m }))),
    );
    if (rows.length === 0) return;
    await ctx.tx.$executeRawUnsafe(
      `INSERT INTO notifications (id, order_id, customer_id, channel, recipient, template, body, sent_at)
       SELECT v.id, v.order_id, v.customer_id, v.channel::"Channel", v.recipient, v.template, v.body, $8::timestamptz
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
           AS v(id, order_id, customer_id, channel, recipient, template, body)`,
      rows.map((r) => r.id),
      rows.map((r) => r.orderId),
      rows.map((r) => r.customerId),
      rows.map((r) => r.channel),
      rows.map((r) => r.recipient),
      rows.map((r) => r.template),
      rows.map((r) => r.body),
      sentAt.toISOString(),
    );
    if (options.logEach) {
      for (const r of rows) ctx.logger.info('notification sent (simulated)', { channel: r.channel, recipient: r.recipient, template: r.template, orderId: r.orderId });
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
