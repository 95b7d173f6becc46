import {
  inventoryBatchFailed,
  inventoryBatchReleased,
  inventoryBatchReserved,
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  orderBatchCreated,
  orderCancelled,
  orderCreated,
  paymentBatchProcessed,
  paymentFailed,
  type EventOf,
  type PayloadOf,
} from '@orderflow/events';
import { BULK_LANE, onBatch, type HandlerContext, type HandlerSpec, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { BULK_EVENTS, SAGA_EVENTS } from './queues';
import { releaseOrders, reserveOrders } from './reservations';

type Ctx = HandlerContext<Tx>;
type Created = EventOf<typeof orderCreated>;
type ReleaseEvent = EventOf<typeof paymentFailed | typeof orderCancelled>;

const paymentFailure = (reason: string): string => `payment failed: ${reason}`;

/** Why an order's stock goes back, as inventory.released tells it. */
function releaseReason(event: ReleaseEvent): string {
  switch (event.eventType) {
    case paymentFailed.type:
      return paymentFailure(event.payload.reason);
    case orderCancelled.type:
      return event.payload.reason ? `order cancelled: ${event.payload.reason}` : 'order cancelled';
  }
}

/** order.created, consecutive ones together: one reservation pass, one answer per order. */
async function reserve(events: readonly Created[], ctx: Ctx): Promise<void> {
  if (events.length === 0) return;
  const orders = events.map((event) => ({ event, orderId: event.payload.orderId, lines: event.payload.items, total: event.payload.total }));
  for (const { order, decision: d } of await reserveOrders(ctx.tx, orders, ctx.logger)) {
    const { event } = order;
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
  }
}

/** payment.failed and order.cancelled, consecutive ones together: one release pass, one inventory.released per release. */
async function release(events: readonly ReleaseEvent[], ctx: Ctx): Promise<void> {
  if (events.length === 0) return;
  const requests = events.map((event) => ({ event, orderId: event.payload.orderId, reason: releaseReason(event) }));
  for (const { event, orderId, reason } of await releaseOrders(ctx.tx, requests, ctx.logger)) {
    ctx.publish(inventoryReleased, { orderId, reason }, { correlationId: event.correlationId, causationId: event.eventId });
    ctx.logger.info('stock released', { orderId, reason });
  }
}

/**
 * `inventory.saga`, a delivered batch at a time, in delivery order: each run of consecutive
 * order.created is reserved together, each run of releases released together, so a
 * cancellation always sees the reservation delivered before it.
 */
export function reserveOrRelease(): HandlerSpec<Tx> {
  return onBatch(SAGA_EVENTS, async (events, ctx: Ctx) => {
    let created: Created[] = [];
    let releases: ReleaseEvent[] = [];
    for (const event of events) {
      switch (event.eventType) {
        case orderCreated.type:
          await release(releases, ctx);
          releases = [];
          created.push(event);
          break;
        case paymentFailed.type:
        case orderCancelled.type:
          await reserve(created, ctx);
          created = [];
          releases.push(event);
          break;
      }
    }
    await reserve(created, ctx);
    await release(releases, ctx);
  });
}

/**
 * order.batch-created (an import's chunk): the same reservation pass over the chunk's orders,
 * answered with ONE inventory.batch-reserved (to payment) and, when some could not be
 * reserved, ONE inventory.batch-failed (to the order service).
 */
async function reserveChunk(event: EventOf<typeof orderBatchCreated>, ctx: Ctx): Promise<void> {
  const { importId } = event.payload;
  const reserved: PayloadOf<typeof inventoryBatchReserved>['orders'] = [];
  const failed: PayloadOf<typeof inventoryBatchFailed>['orders'] = [];
  const catalogPriced: string[] = [];
  const orders = event.payload.orders.map((order) => ({ ...order, lines: order.items }));
  for (const { order, decision: d } of await reserveOrders(ctx.tx, orders, ctx.logger)) {
    const { orderId, customerId, paymentMethod, items } = order;
    if (d.kind === 'reserve') {
      reserved.push({ orderId, customerId, items: d.items, total: d.total, paymentMethod });
      if (items.some((l) => l.unitPrice === undefined)) catalogPriced.push(orderId);
    } else if (d.kind === 'reject') failed.push({ orderId, customerId, reason: d.reason, unavailable: d.unavailable });
  }
  const meta = { correlationId: event.correlationId, causationId: event.eventId };
  if (reserved.length > 0) ctx.publish(inventoryBatchReserved, { importId, orders: reserved, catalogPriced }, meta);
  if (failed.length > 0) ctx.publish(inventoryBatchFailed, { importId, orders: failed }, meta);
  ctx.logger.debug('bulk reservation', { importId, reserved: reserved.length, failed: failed.length });
}

/**
 * payment.batch-processed (an import's chunk): the failed payments give their stock back, as
 * payment.failed does, answered with ONE inventory.batch-released.
 */
async function releaseChunk(event: EventOf<typeof paymentBatchProcessed>, ctx: Ctx): Promise<void> {
  const requests = event.payload.failed.map((f) => ({ orderId: f.orderId, reason: paymentFailure(f.reason) }));
  if (requests.length === 0) return;
  const released = await releaseOrders(ctx.tx, requests, ctx.logger);
  if (released.length > 0) {
    ctx.publish(
      inventoryBatchReleased,
      { importId: event.payload.importId, released: released.map(({ orderId, reason }) => ({ orderId, reason })) },
      { correlationId: event.correlationId, causationId: event.eventId },
    );
  }
}

/** `inventory.bulk`: an import's chunks, each answered with one event per outcome. */
export function reserveOrReleaseChunks(): HandlerSpec<Tx> {
  return onBatch(BULK_EVENTS, async (events, ctx: Ctx) => {
    for (const event of events) {
      switch (event.eventType) {
        case orderBatchCreated.type:
          await reserveChunk(event, ctx);
          break;
        case paymentBatchProcessed.type:
          await releaseChunk(event, ctx);
          break;
      }
    }
  });
}

/**
 * One queue for checkout's three events keeps an order's events in publication order; imports
 * have their own (`bulk`: a chunk's orders per message, one message per transaction).
 */
export function subscriptions(): Subscriptions<Tx> {
  return {
    bulk: { handlers: [reserveOrReleaseChunks()], ...BULK_LANE },
    saga: [reserveOrRelease()],
  };
}
