import {
  inventoryFailed,
  inventoryReleased,
  inventoryReserved,
  orderCancelled,
  orderConfirmed,
  orderRejected,
  paymentCompleted,
  paymentFailed,
  paymentRefunded,
  type EventOf,
} from '@orderflow/events';
import { onBatch, type HandlerContext, type Subscriptions } from '@orderflow/messaging';
import type { Tx } from './db';
import { decide, type Emit, type SagaInput } from './decide';
import { lockOrders, recordChanges, type OrderState, type StatusChange } from './store';

const OUTCOMES = { 'order.confirmed': orderConfirmed, 'order.rejected': orderRejected, 'order.cancelled': orderCancelled } as const;

/**
 * Applies a decision to an order held under lock: records the change and emits the outcome
 * event in the same transaction. Shared by the saga handlers and the cancel endpoint.
 */
export function applyDecision(
  order: OrderState,
  input: SagaInput,
  ctx: Pick<HandlerContext<Tx>, 'publish'>,
  changes: StatusChange[],
  at: Date,
): ReturnType<typeof decide> {
  const d = decide(order.status, input);
  if (d.kind !== 'change') return d;
  order.status = d.status;
  changes.push({ orderId: order.id, status: d.status, reason: d.reason, at });
  if (d.emit) publishOutcome(ctx, d.emit, order, d.reason);
  return d;
}

function publishOutcome(ctx: Pick<HandlerContext<Tx>, 'publish'>, emit: Emit, order: OrderState, reason: string): void {
  ctx.publish(
    OUTCOMES[emit],
    { orderId: order.id, customerId: order.customerId, total: order.total, reason: emit === 'order.confirmed' ? null : reason },
    { correlationId: order.id },
  );
}

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

/**
 * The saga step for a whole delivered batch, whatever mix of events it holds: lock its orders
 * once (id order), decide each event in delivery order, then two writes.
 */
export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const { now } = deps;
  const step = onBatch<(typeof SAGA_EVENTS)[number], Tx>(SAGA_EVENTS, async (events, ctx) => {
    const orders = await lockOrders(ctx.tx, [...new Set(events.map((e) => e.payload.orderId))]);
    const changes: StatusChange[] = [];
    const at = now();
    for (const event of events) {
      const order = orders.get(event.payload.orderId);
      if (!order) {
        // Events are published only after the order committed, so this is someone else's order.
        ctx.logger.warn('event for an unknown order ignored', { eventType: event.eventType, orderId: event.payload.orderId });
        continue;
      }
      const d = applyDecision(order, inputOf(event), ctx, changes, at);
      if (d.kind === 'ignore') ctx.logger.debug('saga event ignored', { orderId: order.id, eventType: event.eventType, why: d.why });
    }
    await recordChanges(ctx.tx, changes);
  });
  return { saga: [step] };
}
