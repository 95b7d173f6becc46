import { randomUUID } from 'node:crypto';
import { orderCancelled, orderConfirmed, orderCreated, orderRejected, paymentRefunded, type EventContract, type EventOf } from '@orderflow/events';
import { onBatch, type HandlerContext, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { render, type Outcome } from './templates';

/** One batch of events → one multi-row insert of everything they say to customers. */
function notify<C extends EventContract>(contract: C, outcome: (e: EventOf<C>) => Outcome, now: () => Date) {
  return onBatch<C, Tx>(contract, async (events, ctx: HandlerContext<Tx>) => {
    const sentAt = now();
    const rows = events.flatMap((e) => {
      const o = outcome(e);
      return render(o).map((m) => ({ id: randomUUID(), orderId: o.orderId, customerId: o.customerId, sentAt, ...m }));
    });
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
    for (const r of rows) ctx.logger.info('notification sent (simulated)', { channel: r.channel, recipient: r.recipient, template: r.template, orderId: r.orderId });
  });
}

export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const { now } = deps;
  return {
    events: [
      notify(orderCreated, (e) => ({ kind: 'received', ...e.payload }), now),
      notify(orderConfirmed, (e) => ({ kind: 'confirmed', ...e.payload }), now),
      notify(orderRejected, (e) => ({ kind: 'rejected', ...e.payload }), now),
      notify(orderCancelled, (e) => ({ kind: 'cancelled', ...e.payload }), now),
      notify(paymentRefunded, (e) => ({ kind: 'refunded', ...e.payload }), now),
    ],
  };
}
