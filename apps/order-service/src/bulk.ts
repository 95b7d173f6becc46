import {
  inventoryBatchFailed,
  inventoryBatchReleased,
  inventoryBatchReserved,
  orderBatchConcluded,
  paymentBatchProcessed,
  type EventContract,
  type EventOf,
  type PayloadOf,
} from '@orderflow/events';
import { onBatch, type HandlerSpec } from '@orderflow/messaging';
import type { Tx } from './db';
import type { SagaInput } from './decide';
import { applyDecision, applyPricing, catalogPrices } from './apply';
import { applyTallies, talliesOf } from './import-store';
import { lockOrders, recordChanges, recordPrices, type Pricing, type StatusChange } from './store';

const BULK_EVENTS = [inventoryBatchFailed, paymentBatchProcessed, inventoryBatchReleased] as const;
type BulkEvent = EventOf<(typeof BULK_EVENTS)[number]>;
type Outcomes = Omit<PayloadOf<typeof orderBatchConcluded>, 'importId'>;

/**
 * What a batch event says about each of its orders, as inputs to `decide` (the same as the
 * per-order events'). Payment answers only for orders inventory reserved, so its answer
 * carries the reservation too: an imported order goes PENDING → STOCK_RESERVED → CONFIRMED
 * (or CANCELLED) in one write instead of two, with the same timeline (the reservation is
 * recorded when payment answers). Of inventory.batch-reserved this step needs only the prices
 * (`recordBulkPrices`).
 */
function inputsOf(e: BulkEvent): Array<{ orderId: string; inputs: SagaInput[] }> {
  switch (e.eventType) {
    case inventoryBatchFailed.type:
      return (e as EventOf<typeof inventoryBatchFailed>).payload.orders.map((f) => ({ orderId: f.orderId, inputs: [{ type: 'stock-failed', reason: f.reason }] }));
    case paymentBatchProcessed.type: {
      const p = (e as EventOf<typeof paymentBatchProcessed>).payload;
      const reserved: SagaInput = { type: 'stock-reserved' };
      return [
        ...p.completed.map((c) => ({ orderId: c.orderId, inputs: [reserved, { type: 'payment-completed', amount: c.amount } as const] })),
        ...p.failed.map((f) => ({ orderId: f.orderId, inputs: [reserved, { type: 'payment-failed', reason: f.reason } as const] })),
      ];
    }
    default:
      return (e as EventOf<typeof inventoryBatchReleased>).payload.released.map((r) => ({ orderId: r.orderId, inputs: [{ type: 'stock-released', reason: r.reason }] }));
  }
}

/**
 * The bulk lane's saga step: the same `decide` per order as the interactive step, over the
 * batch answers of inventory and payment (a chunk's orders each). Locks all their orders once,
 * writes the changes in two statements and answers each batch event with ONE
 * order.batch-concluded naming the orders it made terminal.
 */
export function applyBulkResults(deps: { now: () => Date }): HandlerSpec<Tx> {
  return onBatch<(typeof BULK_EVENTS)[number], Tx>(BULK_EVENTS, async (events, ctx) => {
    const perEvent = events.map((event) => ({ event, inputs: inputsOf(event as BulkEvent) }));
    const orders = await lockOrders(ctx.tx, [...new Set(perEvent.flatMap((x) => x.inputs.map((i) => i.orderId.toLowerCase())))]);
    const before = new Map([...orders.values()].map((o) => [o.id, o.status]));
    const changes: StatusChange[] = [];
    const prices: Pricing[] = [];
    const at = deps.now();
    let unknown = 0;
    for (const { event, inputs } of perEvent) {
      const outcomes: Outcomes = { confirmed: [], rejected: [], cancelled: [] };
      const collect = {
        publish: <C extends EventContract>(contract: C, payload: PayloadOf<C>) => {
          const bucket = ({ 'order.confirmed': 'confirmed', 'order.rejected': 'rejected', 'order.cancelled': 'cancelled' } as const)[contract.type as 'order.confirmed'];
          outcomes[bucket].push(payload as Outcomes['confirmed'][number]);
        },
      };
      for (const { orderId, inputs: steps } of inputs) {
        const order = orders.get(orderId.toLowerCase());
        if (!order) {
          unknown++;
          continue;
        }
        for (const input of steps) {
          // The amount charged is the order's total: it sets it if the prices have not come yet.
          const priced = input.type === 'payment-completed' ? applyPricing(order, { total: input.amount, unitPrices: null }) : null;
          if (priced) prices.push(priced);
          applyDecision(order, input, collect, changes, at);
        }
      }
      if (outcomes.confirmed.length + outcomes.rejected.length + outcomes.cancelled.length > 0) {
        ctx.publish(orderBatchConcluded, { importId: event.payload.importId, ...outcomes }, { correlationId: event.correlationId, causationId: event.eventId });
      }
    }
    if (unknown > 0) ctx.logger.warn('batch events named unknown orders; ignored', { unknown });
    await recordChanges(ctx.tx, changes);
    await recordPrices(ctx.tx, prices);
    await applyTallies(ctx.tx, talliesOf(before, orders.values()), at);
  });
}

/**
 * inventory.batch-reserved (an import's chunk, as priced by the catalog): records the prices of
 * its orders in ONE statement (`recordPrices`), without locking them first. Only the lines
 * whose row had no price and their orders' totals are written: a chunk whose rows all carried
 * the catalog's prices costs a look-up of its lines' keys and no write. The statuses follow
 * payment's answer (`applyBulkResults`).
 */
export function recordBulkPrices(): HandlerSpec<Tx> {
  return onBatch<typeof inventoryBatchReserved, Tx>(inventoryBatchReserved, async (events, ctx) => {
    const prices = events.flatMap((e) => {
      // Only the orders the catalog priced: the others' prices are the file's already.
      const news = e.payload.catalogPriced && new Set(e.payload.catalogPriced.map((id) => id.toLowerCase()));
      return e.payload.orders
        .map((o) => ({ orderId: o.orderId.toLowerCase(), ...catalogPrices(o) }))
        .filter((p) => !news || news.has(p.orderId));
    });
    await recordPrices(ctx.tx, prices);
  });
}
