import {
  newId,
  orderBatchConcluded,
  orderBatchCreated,
  orderCancelled,
  orderConfirmed,
  orderCreated,
  orderRejected,
  orderUpdated,
  paymentRefunded,
  type EventOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type HandlerContext, type Subscriptions } from '@orderflow/messaging';
import { type CopyValue } from '@orderflow/db';
import type { Tx } from './db';
import { applyContactNews, loadContacts, orderKey, saveContacts, type ContactNews, type KnownContact } from './contacts';
import { BULK_EVENTS, OUTCOME_EVENTS } from './queues';
import { logLine, render, type Contact, type Message, type Outcome } from './templates';

const COLUMNS = ['id', 'order_id', 'customer_id', 'channel', 'recipient', 'template', 'subject', 'body', 'sent_at'];

type CheckoutEvent = EventOf<(typeof OUTCOME_EVENTS)[number]>;

/** What checkout's events tell their order's customer. */
function outcomeOf(e: CheckoutEvent): Outcome[] {
  switch (e.eventType) {
    case orderCreated.type:
      return [{ kind: 'received', ...e.payload }];
    case orderUpdated.type:
      return [{ kind: 'updated', orderId: e.payload.orderId, customerId: e.payload.customerId, changed: e.payload.changed }];
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

const isEmpty = (c: Contact): boolean => c.email === undefined && c.phone === undefined && c.shippingAddress === undefined;

/** What checkout's events say about where their order's customer is reached, if anything. */
function contactNewsOf(e: CheckoutEvent): ContactNews | undefined {
  const known = (contact: Contact): KnownContact => ({ orderId: e.payload.orderId, customerId: e.payload.customerId, contact, asOf: new Date(e.occurredAt) });
  switch (e.eventType) {
    case orderCreated.type:
      // An order placed without a contact is told at the customer's address on file: no row.
      return e.payload.contact === undefined || isEmpty(e.payload.contact) ? undefined : { kind: 'placed', known: known(e.payload.contact) };
    case orderUpdated.type:
      return { kind: 'updated', known: known(e.payload.contact) };
    default:
      return undefined;
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

interface Sent {
  outcome: Outcome;
  message: Message;
}

/**
 * Stores what a batch sends in one COPY (sending is simulated: stored and logged) and logs it:
 * each message as the users of the systems Orderflow replaces look for it ("EMAIL NOTIFICATION
 * SENT …"), or one line for a bulk batch (an import's chunk speaks of thousands of orders).
 */
async function send(sent: readonly Sent[], sentAt: Date, ctx: HandlerContext<Tx>, options: { logEach: boolean; events: number }): Promise<void> {
  if (sent.length === 0) return;
  const rows: CopyValue[][] = sent.map(({ outcome: o, message: m }) => [newId(), o.orderId, o.customerId, m.channel, m.recipient, m.template, m.subject, m.body, sentAt]);
  await ctx.tx.$copyFrom('notifications', COLUMNS, rows);
  if (options.logEach) {
    for (const { outcome, message: m } of sent) {
      ctx.logger.info(logLine(m), { channel: m.channel, recipient: m.recipient, subject: m.subject, template: m.template, orderId: outcome.orderId });
    }
  } else {
    ctx.logger.info('notifications sent in bulk (simulated)', { count: sent.length, events: options.events });
  }
}

/**
 * Checkout's events, a delivered batch at a time in delivery order: each order's contact is
 * learnt (order.created) or changed (order.updated) before that event's own message is
 * rendered, so every message goes where the order said at that point.
 */
function notifyCheckout(now: () => Date) {
  return onBatch<(typeof OUTCOME_EVENTS)[number], Tx>(OUTCOME_EVENTS, async (events, ctx: HandlerContext<Tx>) => {
    const known = await loadContacts(ctx.tx, events.map((e) => e.payload.orderId));
    const placed = new Map<string, KnownContact>();
    const updated = new Map<string, KnownContact>();
    const sent: Sent[] = [];
    for (const e of events) {
      const news = contactNewsOf(e);
      if (news) {
        const key = orderKey(news.known.orderId);
        const before = known.get(key);
        const after = applyContactNews(before, news);
        if (after !== undefined && after !== before) {
          known.set(key, after);
          (news.kind === 'placed' ? placed : updated).set(key, after);
        }
      }
      for (const outcome of outcomeOf(e)) {
        for (const message of render(outcome, known.get(orderKey(outcome.orderId))?.contact)) sent.push({ outcome, message });
      }
    }
    // Placed and updated in one batch: the update's row says it all.
    for (const key of updated.keys()) placed.delete(key);
    await saveContacts(ctx.tx, { placed: [...placed.values()], updated: [...updated.values()] });
    await send(sent, now(), ctx, { logEach: true, events: events.length });
  });
}

/** An import's chunks: the same messages, a chunk's worth per event (imported orders carry no contact). */
function notifyImported(now: () => Date) {
  return onBatch<(typeof BULK_EVENTS)[number], Tx>(BULK_EVENTS, async (events, ctx: HandlerContext<Tx>) => {
    const sent = events.flatMap((e) => outcomesOfChunk(e).flatMap((outcome) => render(outcome).map((message) => ({ outcome, message }))));
    await send(sent, now(), ctx, { logEach: false, events: events.length });
  });
}

export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  return {
    events: [notifyCheckout(deps.now)],
    // An import's orders: the same messages, a chunk's worth per event, on a queue of their own.
    bulk: { handlers: [notifyImported(deps.now)], ...BULK_LANE },
  };
}
