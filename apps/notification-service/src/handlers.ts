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
import { BULK_EVENTS, OUTCOME_EVENTS } from './queues';
import { render, type Outcome } from './templates';

const COLUMNS = ['id', 'order_id', 'customer_id', 'channel', 'recipient', 'template', 'body', 'sent_at'];

/** What checkout's events tell their order's customer. */
function outcomeOf(e: EventOf<(typeof OUTCOME_EVENTS)[number]>): Outcome[] {
  switch (e.eventType) {
    case orderCreated.type:
      return [{ kind: 'received', ...e.payload }];
    case orderConfirmed.type:
      return [{ kind: 'confirmed', ...e.payload }];
    case orderRejected.type:
      return [{ kind: 'rejected', ...e.payload }];
    case orderCancelled.type:
      return [{ kind: 'cancelled', ...e.payload }];
    case paymentRefunded.type:
      return [{ kind: 'refunded', ...e.payload }];
  }
}

/** What an import's chunk events tell each of their orders' customers: what the per-order event would. */
function outcomesOfChunk(e: EventOf<(typeof BULK_EVENTS)[number]>): Outcome[] {
  switch (e.eventType) {
    case orderBatchCreated.type:
      return e.payload.orders.map((o) => ({ kind: 'received', ...o }));
    case orderBatchConcluded.type:
      return [
        ...e.payload.confirmed.map((o) => ({ kind: 'confirmed' as const, ...o })),
        ...e.payload.rejected.map((o) => ({ kind: 'rejected' as const, ...o })),
        ...e.payload.cancelled.map((o) => ({ kind: 'cancelled' as const, ...o })),
      ];
  }
}

/**
 * One batch of events → one COPY of everything they say to customers. An event
 * may speak of many orders (the bulk events of an import): each order's customer is told
 * exactly what the per-order event would have told them.
 */
function notify<C extends EventContract>(contracts: readonly C[], outcomes: (e: EventOf<C>) => Outcome[], now: () => Date, options: { logEach: boolean }) {
  return onBatch<C, Tx>(contracts, async (events, ctx: HandlerContext<Tx>) => {
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
  return {
    events: [notify(OUTCOME_EVENTS, outcomeOf, deps.now, { logEach: true })],
    // An import's orders: the same messages, a chunk's worth per event, on a queue of their own.
    bulk: { handlers: [notify(BULK_EVENTS, outcomesOfChunk, deps.now, { logEach: false })], ...BULK_LANE },
  };
}
