import {
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  orderCancelled,
  orderCreated,
  paymentFailed,
  type EventContract,
  type EventOf,
} from '@orderflow/events';
import { onBatch, type HandlerContext, type HandlerSpec, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { decideCreatedBatch, decideRelease, type Move, type OrderStatus } from './stock';
import { claimOrders, heldBy, insertReservations, lockStock, markReservationsReleased, moveStock, setOrderStatuses, type OrderMoves, type StatusChange } from './store';

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

/**
 * order.created, a delivered batch at a time: claim the orders, lock every product they name
 * in one statement, decide all orders in memory (each reservation lowers what the next order
 * can get), then write all moves, reservations and statuses in one statement each.
 */
export function reserveStock(): HandlerSpec<Tx> {
  return onBatch<typeof orderCreated, Tx>(orderCreated, async (events, ctx) => {
    const orders = firstPerOrder(events.map((event) => ({ event, key: keyOf(event.payload.orderId) })), ctx);
    const statuses = await claimOrders(ctx.tx, [...orders.map((o) => o.key)].sort());
    const claimed = orders.map((o) => ({ ...o, status: statusOf(statuses, o.key) }));
    const stock = await lockStock(
      ctx.tx,
      claimed.filter((o) => o.status === 'NEW').flatMap((o) => o.event.payload.items.map((i) => i.productId)),
    );
    const { decisions } = decideCreatedBatch(
      stock,
      claimed.map((o) => ({ orderId: o.key, status: o.status, lines: o.event.payload.items })),
    );

    const reserved: OrderMoves[] = [];
    const changes: StatusChange[] = [];
    decisions.forEach((d, i) => {
      const { event, key } = claimed[i]!;
      const { orderId, customerId, items, total, paymentMethod } = event.payload;
      // A batch mixes orders: every event names its own order and cause.
      const meta = { correlationId: event.correlationId, causationId: event.eventId };
      switch (d.kind) {
        case 'reserve':
          reserved.push({ orderId: key, moves: d.moves });
          changes.push({ orderId: key, status: d.next, reason: null });
          ctx.publish(inventoryReserved, { orderId, customerId, items, total, paymentMethod }, meta);
          break;
        case 'reject':
          changes.push({ orderId: key, status: d.next, reason: d.reason });
          ctx.publish(inventoryFailed, { orderId, customerId, reason: d.reason, unavailable: d.unavailable }, meta);
          ctx.logger.info('stock not reserved', { orderId, reason: d.reason });
          break;
        case 'ignore':
          ctx.logger.info('order.created for an order already answered; ignored', { orderId, eventId: event.eventId });
          break;
      }
    });
    await moveStock(ctx.tx, reserved.flatMap((r) => r.moves), 1);
    await insertReservations(ctx.tx, reserved);
    await setOrderStatuses(ctx.tx, changes);
  });
}

/**
 * Gives back what an order holds, a delivered batch at a time. Idempotent per order: only a
 * RESERVED order releases (once); an order not seen yet gets a tombstone instead.
 */
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
    const ids = requests.map((r) => r.key).sort();
    const statuses = await claimOrders(ctx.tx, ids);
    const held = await heldBy(ctx.tx, ids.filter((id) => statuses.get(id) === 'RESERVED'));
    const decided = requests.map((r) => ({ ...r, decision: decideRelease(statusOf(statuses, r.key), held.get(r.key) ?? []) }));

    const moves: Move[] = [];
    const released: string[] = [];
    const changes: StatusChange[] = [];
    for (const { event, orderId, key, reason, decision: d } of decided) {
      switch (d.kind) {
        case 'release':
          moves.push(...d.moves);
          released.push(key);
          changes.push({ orderId: key, status: d.next, reason });
          ctx.publish(inventoryReleased, { orderId, reason }, { correlationId: event.correlationId, causationId: event.eventId });
          ctx.logger.info('stock released', { orderId, reason });
          break;
        case 'remember':
          changes.push({ orderId: key, status: d.next, reason });
          ctx.logger.info('release before order.created: remembered, the order will reserve nothing', { orderId, reason });
          break;
        case 'ignore':
          break;
      }
    }
    // Lock in product order first, as reservations do: the UPDATE alone locks in no set order.
    await lockStock(ctx.tx, moves.map((m) => m.productId));
    await moveStock(ctx.tx, moves, -1);
    await markReservationsReleased(ctx.tx, released);
    await setOrderStatuses(ctx.tx, changes);
  });
}

/** One queue for the three events keeps an order's events in publication order. */
export function subscriptions(): Subscriptions<Tx> {
  return {
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
