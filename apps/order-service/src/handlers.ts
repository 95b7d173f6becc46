import {
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  type EventOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type Subscriptions } from '@orderflow/messaging';
import { applyDecision, applyPricing, catalogPrices } from './apply';
import { applyBulkResults, recordBulkPrices } from './bulk';
import type { Tx } from './db';
import type { SagaInput } from './decide';
import { applyTallies, talliesOf } from './import-store';
import { createImportedOrders, recordImportLifecycle } from './imports';
import { lockOrders, recordChanges, recordPrices, type Pricing, type StatusChange } from './store';

export { applyDecision } from './apply';

const SAGA_EVENTS = [inventoryReserved, inventoryFailed, paymentCompleted, paymentFailed, inventoryReleased, paymentRefunded] as const;
type SagaEvent = EventOf<(typeof SAGA_EVENTS)[number]>;

/** What a saga event means for the order, as input to `decide`. */
function inputOf(e: SagaEvent): SagaInput {
  switch (e.eventType) {
    case inventoryReserved.type:
      return { type: 'stock-reserved' };
    case inventoryFailed.type:
      return { type: 'stock-failed', reason: (e as EventOf<typeof inventoryFailed>).payload.reason };
    case paymentCompleted.type:
      return { type: 'payment-completed', amount: (e as EventOf<typeof paymentCompleted>).payload.amount };
    case paymentFailed.type:
      return { type: 'payment-failed', reason: (e as EventOf<typeof paymentFailed>).payload.reason };
    case inventoryReleased.type:
      return { type: 'stock-released', reason: (e as EventOf<typeof inventoryReleased>).payload.reason };
    default:
      return { type: 'payment-refunded', amount: (e as EventOf<typeof paymentRefunded>).payload.amount };
  }
}

/** The prices a saga event fixes: inventory's catalog prices, or the amount payment charged. */
function pricesOf(e: SagaEvent): Omit<Pricing, 'orderId'> | null {
  switch (e.eventType) {
    case inventoryReserved.type: {
      const reserved = (e as EventOf<typeof inventoryReserved>).payload;
      // Every line claimed the catalog's price (or inventory would have refused): nothing new.
      return reserved.catalogPriced === false ? null : catalogPrices(reserved);
    }
    case paymentCompleted.type:
      return { total: (e as EventOf<typeof paymentCompleted>).payload.amount, unitPrices: null };
    default:
      return null;
  }
}

/**
 * The saga step for a whole delivered batch, whatever mix of events it holds: lock its orders
 * once (id order), price and decide each event in delivery order, then the writes (statuses,
 * prices, import tallies).
 */
export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const { now } = deps;
  const step = onBatch<(typeof SAGA_EVENTS)[number], Tx>(SAGA_EVENTS, async (events, ctx) => {
    const orders = await lockOrders(ctx.tx, [...new Set(events.map((e) => e.payload.orderId))]);
    const before = new Map([...orders.values()].map((o) => [o.id, o.status]));
    const changes: StatusChange[] = [];
    const prices: Pricing[] = [];
    const at = now();
    for (const event of events) {
      const order = orders.get(event.payload.orderId);
      if (!order) {
        // Events are published only after the order committed, so this is someone else's order.
        ctx.logger.warn('event for an unknown order ignored', { eventType: event.eventType, orderId: event.payload.orderId });
        continue;
      }
      // Whatever the status: the prices are recorded even on a late reservation (the order was
      // confirmed by a payment that overtook it, or cancelled meanwhile).
      const p = pricesOf(event);
      const priced = p && applyPricing(order, p);
      if (priced) prices.push(priced);
      const d = applyDecision(order, inputOf(event), ctx, changes, at);
      if (d.kind === 'ignore') ctx.logger.debug('saga event ignored', { orderId: order.id, eventType: event.eventType, why: d.why });
    }
    await recordChanges(ctx.tx, changes);
    await recordPrices(ctx.tx, prices);
    // An imported order moved (e.g. a customer cancelled it): its import's counters follow.
    await applyTallies(ctx.tx, talliesOf(before, orders.values()), at);
  });
  return {
    saga: [step],
    import: { handlers: [createImportedOrders(deps)], ...BULK_LANE },
    'import-status': recordImportLifecycle(),
    bulk: { handlers: [applyBulkResults(deps), recordBulkPrices()], ...BULK_LANE },
  };
}
