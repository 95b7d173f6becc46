import {
  inventoryBatchFailed,
  inventoryBatchReserved,
  inventoryBatchReleased,
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  orderBatchCreated,
  orderCancelled,
  orderCreated,
  paymentBatchProcessed,
  paymentFailed,
  type EventContract,
  type EventOf,
  type PayloadOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type HandlerContext, type HandlerSpec, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { decideCreatedBatch, decideRelease, type CreatedDecision, type Line, type Move, type OrderStatus } from './stock';
import { claimOrders, heldBy, insertOrderStatuses, insertReservations, lockKnownOrders, lockStock, markReservationsReleased, moveStock, setOrderStatuses, type OrderMoves, type StatusChange } from './store';

// PostgreSQL prints uuids in lower case; the contracts accept either case.
const keyOf = (orderId: string): string => orderId.toLowerCase();

/** The first event of each order in a batch; a second one for the same order is a duplicate. */
function firstPerOrder<T extends { key: string }>(items: readonly T[], ctx: HandlerContext<Tx>): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (seen.has(item.key)) {
      ctx.logger.warn('second event for the same order in one batch; ignored', { orderId: item.key });
      return false;
    }
    seen.add(item.key);
    return true;
  });
}

function statusOf(statuses: ReadonlyMap<string, OrderStatus>, key: string): OrderStatus {
  const status = statuses.get(key);
  if (!status) throw new Error(`order ${key} was not claimed`);
  return status;
}

/** An order to reserve for: its id (as keyed in the tables), its lines (with the client's prices, if any). */
interface ToReserve {
  key: string;
  lines: readonly Line[];
}

/**
 * Reserves for many orders at once, in one transaction: lock the orders heard of before, lock
 * every product they name (stock and price) in one statement, decide and price all orders in
 * memory (each reservation lowers what the next order can get), then write all moves,
 * reservations and statuses in one statement each. Returns the decision of each order, in the
 * given order: a reservation carries the order's lines at the catalog price and their total.
 */
async function reserveOrders(tx: Tx, orders: readonly ToReserve[]): Promise<CreatedDecision[]> {
  const known = await lockKnownOrders(tx, [...orders.map((o) => o.key)].sort());
  const claimed = orders.map((o) => ({ ...o, status: known.get(o.key) ?? ('NEW' as const) }));
  const stock = await lockStock(
    tx,
    claimed.filter((o) => o.status === 'NEW').flatMap((o) => o.lines.map((i) => i.productId)),
  );
  const { decisions } = decideCreatedBatch(
    stock,
    claimed.map((o) => ({ orderId: o.key, status: o.status, lines: o.lines })),
  );
  const reserved: OrderMoves[] = [];
  const changes: StatusChange[] = [];
  decisions.forEach((d, i) => {
    const { key } = claimed[i]!;
    if (d.kind === 'reserve') {
      reserved.push({ orderId: key, moves: d.moves });
      changes.push({ orderId: key, status: d.next, reason: null });
    } else if (d.kind === 'reject') {
      changes.push({ orderId: key, status: d.next, reason: d.reason });
    }
  });
  await moveStock(tx, reserved.flatMap((r) => r.moves), 1);
  await insertReservations(tx, reserved);
  await insertOrderStatuses(tx, changes.filter((c) => !known.has(c.orderId)));
  await setOrderStatuses(tx, changes.filter((c) => known.has(c.orderId)));
  return decisions;
}

/** order.created, a delivered batch at a time: one reservation pass, one answer per order. */
export function reserveStock(): HandlerSpec<Tx> {
  return onBatch<typeof orderCreated, Tx>(orderCreated, async (events, ctx) => {
    const orders = firstPerOrder(events.map((event) => ({ event, key: keyOf(event.payload.orderId) })), ctx);
    const decisions = await reserveOrders(ctx.tx, orders.map((o) => ({ key: o.key, lines: o.event.payload.items })));
    decisions.forEach((d, i) => {
      const { event } = orders[i]!;
      const { orderId, customerId, paymentMethod } = event.payload;
      // A batch mixes orders: every event names its own order and cause.
      const meta = { correlationId: event.correlationId, causationId: event.eventId };
      switch (d.kind) {
        case 'reserve':
          ctx.publish(
            inventoryReserved,
            { orderId, customerId, items: d.items, total: d.total, paymentMethod, catalogPriced: event.payload.items.some((l) => l.unitPrice === undefined) },
            meta,
          );
          break;
        case 'reject':
          ctx.publish(inventoryFailed, { orderId, customerId, reason: d.reason, unavailable: d.unavailable }, meta);
          ctx.logger.info('stock not reserved', { orderId, reason: d.reason });
          break;
        case 'ignore':
          ctx.logger.info('order.created for an order already answered; ignored', { orderId, eventId: event.eventId });
          break;
      }
    });
  });
}

/**
 * order.batch-created (an import's chunk): the same reservation pass over the chunk's orders,
 * answered with ONE inventory.batch-reserved (to payment) and, when some could not be
 * reserved, ONE inventory.batch-failed (to the order service).
 */
export function reserveStockInBulk(): HandlerSpec<Tx> {
  return onBatch<typeof orderBatchCreated, Tx>(orderBatchCreated, async (events, ctx) => {
    for (const event of events) {
      const orders = firstPerOrder(event.payload.orders.map((order) => ({ order, key: keyOf(order.orderId) })), ctx);
      const decisions = await reserveOrders(ctx.tx, orders.map((o) => ({ key: o.key, lines: o.order.items })));
      const { importId } = event.payload;
      const reserved: PayloadOf<typeof inventoryBatchReserved>['orders'] = [];
      const failed: PayloadOf<typeof inventoryBatchFailed>['orders'] = [];
      const catalogPriced: string[] = [];
      decisions.forEach((d, i) => {
        const { orderId, customerId, paymentMethod, items } = orders[i]!.order;
        if (d.kind === 'reserve') {
          reserved.push({ orderId, customerId, items: d.items, total: d.total, paymentMethod });
          if (items.some((l) => l.unitPrice === undefined)) catalogPriced.push(orderId);
        } else if (d.kind === 'reject') failed.push({ orderId, customerId, reason: d.reason, unavailable: d.unavailable });
      });
      const meta = { correlationId: event.correlationId, causationId: event.eventId };
      if (reserved.length > 0) ctx.publish(inventoryBatchReserved, { importId, orders: reserved, catalogPriced }, meta);
      if (failed.length > 0) ctx.publish(inventoryBatchFailed, { importId, orders: failed }, meta);
      ctx.logger.debug('bulk reservation', { importId, reserved: reserved.length, failed: failed.length });
    }
  });
}

interface ReleaseRequest {
  orderId: string;
  key: string;
  reason: string;
}

/**
 * Gives back what orders hold, in one transaction. Idempotent per order: only a RESERVED order
 * releases (once); an order not seen yet gets a tombstone instead. Returns the requests that
 * released stock.
 */
async function releaseOrders<R extends ReleaseRequest>(tx: Tx, requests: readonly R[], logger: HandlerContext<Tx>['logger']): Promise<R[]> {
  const ids = requests.map((r) => r.key).sort();
  const statuses = await claimOrders(tx, ids);
  const held = await heldBy(tx, ids.filter((id) => statuses.get(id) === 'RESERVED'));
  const moves: Move[] = [];
  const released: R[] = [];
  const changes: StatusChange[] = [];
  for (const r of requests) {
    const d = decideRelease(statusOf(statuses, r.key), held.get(r.key) ?? []);
    switch (d.kind) {
      case 'release':
        moves.push(...d.moves);
        released.push(r);
        changes.push({ orderId: r.key, status: d.next, reason: r.reason });
        break;
      case 'remember':
        changes.push({ orderId: r.key, status: d.next, reason: r.reason });
        logger.info('release before order.created: remembered, the order will reserve nothing', { orderId: r.orderId, reason: r.reason });
        break;
      case 'ignore':
        break;
    }
  }
  // Lock in product order first, as reservations do: the UPDATE alone locks in no set order.
  await lockStock(tx, moves.map((m) => m.productId));
  await moveStock(tx, moves, -1);
  await markReservationsReleased(tx, released.map((r) => r.key));
  await setOrderStatuses(tx, changes);
  return released;
}

/** Gives back what an order holds, a delivered batch at a time (payment.failed, order.cancelled). */
export function releaseStock<C extends EventContract>(
  contract: C,
  request: (event: EventOf<C>) => { orderId: string; reason: string },
): HandlerSpec<Tx> {
  return onBatch<C, Tx>(contract, async (events, ctx) => {
    const requests = firstPerOrder(
      events.map((event) => {
        const r = request(event);
        return { event, ...r, key: keyOf(r.orderId) };
      }),
      ctx,
    );
    for (const { event, orderId, reason } of await releaseOrders(ctx.tx, requests, ctx.logger)) {
      ctx.publish(inventoryReleased, { orderId, reason }, { correlationId: event.correlationId, causationId: event.eventId });
      ctx.logger.info('stock released', { orderId, reason });
    }
  });
}

/**
 * payment.batch-processed (an import's chunk): the failed payments give their stock back, as
 * payment.failed does, answered with ONE inventory.batch-released.
 */
export function releaseStockInBulk(): HandlerSpec<Tx> {
  return onBatch<typeof paymentBatchProcessed, Tx>(paymentBatchProcessed, async (events, ctx) => {
    for (const event of events) {
      const requests = firstPerOrder(
        event.payload.failed.map((f) => ({ orderId: f.orderId, key: keyOf(f.orderId), reason: `payment failed: ${f.reason}` })),
        ctx,
      );
      if (requests.length === 0) continue;
      const released = await releaseOrders(ctx.tx, requests, ctx.logger);
      if (released.length > 0) {
        ctx.publish(
          inventoryBatchReleased,
          { importId: event.payload.importId, released: released.map(({ orderId, reason }) => ({ orderId, reason })) },
          { correlationId: event.correlationId, causationId: event.eventId },
        );
      }
    }
  });
}

/**
 * One queue for the three events keeps an order's events in publication order; imports have
 * their own (`bulk`: a chunk's orders per message, a few messages per transaction).
 */
export function subscriptions(): Subscriptions<Tx> {
  return {
    bulk: { handlers: [reserveStockInBulk(), releaseStockInBulk()], ...BULK_LANE },
    saga: [
      reserveStock(),
      releaseStock(paymentFailed, (e) => ({ orderId: e.payload.orderId, reason: `payment failed: ${e.payload.reason}` })),
      releaseStock(orderCancelled, (e) => ({
        orderId: e.payload.orderId,
        reason: e.payload.reason ? `order cancelled: ${e.payload.reason}` : 'order cancelled',
      })),
    ],
  };
}
