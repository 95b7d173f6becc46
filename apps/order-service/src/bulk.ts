import { orderBatchConcluded, type EventOf, type PayloadOf } from '@orderflow/events';
import { onBatch, type HandlerSpec } from '@orderflow/messaging';
import type { Tx } from './db';
import { catalogPrices, type OrderNews, type Outcome } from './evolve';
import { BULK_ANSWERS, BULK_PRICES } from './queues';
import { transition } from './transition';

type BulkAnswer = EventOf<(typeof BULK_ANSWERS)[number]>;
type Concluded = Omit<PayloadOf<typeof orderBatchConcluded>, 'importId'>;

/**
 * What a batch event says about each of its orders: the same inputs as the per-order events'.
 * Payment answers only for orders inventory reserved, so its answer carries the reservation
 * too: an imported order goes PENDING → STOCK_RESERVED → CONFIRMED (or CANCELLED) in one write
 * instead of two, with the same timeline (the reservation is recorded when payment answers).
 * Of inventory.batch-reserved this step needs only the prices (`recordBulkPrices`).
 */
function newsOf(e: BulkAnswer): OrderNews[] {
  switch (e.eventType) {
    case 'inventory.batch-failed':
      return e.payload.orders.map((f) => ({ orderId: f.orderId, inputs: [{ type: 'stock-failed', reason: f.reason }] }));
    case 'payment.batch-processed':
      return [
        ...e.payload.completed.map((c) => ({ orderId: c.orderId, inputs: [{ type: 'stock-reserved' }, { type: 'payment-completed', amount: c.amount }] as const })),
        ...e.payload.failed.map((f) => ({ orderId: f.orderId, inputs: [{ type: 'stock-reserved' }, { type: 'payment-failed', reason: f.reason }] as const })),
      ];
    case 'inventory.batch-released':
      return e.payload.released.map((r) => ({ orderId: r.orderId, inputs: [{ type: 'stock-released', reason: r.reason }] }));
  }
}

/** An event's outcomes by kind, as order.batch-concluded lists them. */
function concluded(outcomes: readonly Outcome[]): Concluded {
  const byKind: Concluded = { confirmed: [], rejected: [], cancelled: [] };
  const kind = { 'order.confirmed': 'confirmed', 'order.rejected': 'rejected', 'order.cancelled': 'cancelled' } as const;
  for (const o of outcomes) byKind[kind[o.type]].push(o.payload);
  return byKind;
}

/**
 * The bulk lane's saga step: the same transition as the interactive step, over the batch
 * answers of inventory and payment (a chunk's orders each), answering each batch event with ONE
 * order.batch-concluded naming the orders it made terminal.
 */
export function applyBulkAnswers(deps: { now: () => Date }): HandlerSpec<Tx> {
  return onBatch<(typeof BULK_ANSWERS)[number], Tx>(BULK_ANSWERS, async (events, ctx) => {
    const { events: effects } = await transition(ctx.tx, events.map(newsOf), { at: deps.now() });
    effects.forEach(({ outcomes }, i) => {
      const event = events[i]!;
      if (outcomes.length > 0) {
        ctx.publish(orderBatchConcluded, { importId: event.payload.importId, ...concluded(outcomes) }, { correlationId: event.correlationId, causationId: event.eventId });
      }
    });
    const unknown = effects.reduce((n, e) => n + e.unknown.length, 0);
    if (unknown > 0) ctx.logger.warn('batch events named unknown orders; ignored', { unknown });
  });
}

/**
 * inventory.batch-reserved (an import's chunk, as priced by the catalog): records the prices of
 * the orders the catalog priced (rows without a price) through the one transition, as their
 * OrderPriced events. A chunk whose rows all carried the catalog's prices names none of its
 * orders and costs no write. The statuses follow payment's answer (`applyBulkAnswers`).
 */
export function recordBulkPrices(deps: { now: () => Date }): HandlerSpec<Tx> {
  return onBatch<(typeof BULK_PRICES)[number], Tx>(BULK_PRICES, async (events, ctx) => {
    const news = events.map((e): OrderNews[] => {
      // Only the orders the catalog priced: the others' prices are the file's already.
      const priced = e.payload.catalogPriced && new Set(e.payload.catalogPriced.map((id) => id.toLowerCase()));
      return e.payload.orders
        .filter((o) => !priced || priced.has(o.orderId.toLowerCase()))
        .map((o) => ({ orderId: o.orderId, inputs: [], prices: catalogPrices(o) }));
    });
    if (news.some((n) => n.length > 0)) await transition(ctx.tx, news, { at: deps.now() });
  });
}
