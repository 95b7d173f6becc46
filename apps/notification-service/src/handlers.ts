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
    await ctx.tx.notification.createMany({ data: rows });
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
