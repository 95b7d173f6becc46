import type { EventOf } from '@orderflow/events';
import { BULK_LANE, onBatch, type Subscriptions } from '@orderflow/messaging';
import { applyBulkAnswers, recordBulkPrices } from './bulk';
import type { Tx } from './db';
import { catalogPrices, type OrderNews } from './evolve';
import { createImportedOrders, recordImportLifecycle } from './imports';
import { SAGA } from './queues';
import { outcomeContract, transition } from './transition';

type SagaEvent = EventOf<(typeof SAGA)[number]>;

/** What a saga event says about its order: the input to `decide`, and the catalog prices it fixes. */
function newsOf(e: SagaEvent): OrderNews {
  const { orderId } = e.payload;
  switch (e.eventType) {
    case 'inventory.reserved':
      // catalogPriced false: every line claimed the catalog's price already, nothing new to record.
      return { orderId, inputs: [{ type: 'stock-reserved' }], prices: e.payload.catalogPriced === false ? null : catalogPrices(e.payload) };
    case 'inventory.failed':
      return { orderId, inputs: [{ type: 'stock-failed', reason: e.payload.reason }] };
    case 'inventory.released':
      return { orderId, inputs: [{ type: 'stock-released', reason: e.payload.reason }] };
    case 'payment.completed':
      return { orderId, inputs: [{ type: 'payment-completed', amount: e.payload.amount }] };
    case 'payment.failed':
      return { orderId, inputs: [{ type: 'payment-failed', reason: e.payload.reason }] };
    case 'payment.refunded':
      return { orderId, inputs: [{ type: 'payment-refunded', amount: e.payload.amount }] };
  }
}

/**
 * The saga step for a whole delivered batch, whatever mix of events it holds: one transition
 * of all its orders (each event in delivery order), each outcome published as its own event.
 */
export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const step = onBatch<(typeof SAGA)[number], Tx>(SAGA, async (events, ctx) => {
    const { events: effects } = await transition(ctx.tx, events.map((e) => [newsOf(e)]), { at: deps.now() });
    effects.forEach((effect, i) => {
      const event = events[i]!;
      // Events are published only after the order committed, so this is someone else's order.
      for (const orderId of effect.unknown) ctx.logger.warn('event for an unknown order ignored', { eventType: event.eventType, orderId });
      for (const { orderId, decisions } of effect.orders) {
        for (const d of decisions) if (d.kind === 'ignore') ctx.logger.debug('saga event ignored', { orderId, eventType: event.eventType, why: d.why });
      }
      for (const { type, payload } of effect.outcomes) ctx.publish(outcomeContract[type], payload, { correlationId: payload.orderId, causationId: event.eventId });
    });
  });
  return {
    saga: [step],
    import: { handlers: [createImportedOrders(deps)], ...BULK_LANE },
    'import-status': [recordImportLifecycle()],
    bulk: { handlers: [applyBulkAnswers(deps), recordBulkPrices(deps)], ...BULK_LANE },
  };
}
