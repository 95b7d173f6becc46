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
  type EventContract,
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

/** One saga step for a whole delivered batch: lock its orders once, decide each event, two writes. */
function step<C extends EventContract>(contract: C, toInput: (e: EventOf<C>) => SagaInput, now: () => Date) {
  return onBatch<C, Tx>(contract, async (events, ctx) => {
    const orderIdOf = (e: EventOf<C>): string => (e.payload as { orderId: string }).orderId;
    const orders = await lockOrders(ctx.tx, [...new Set(events.map(orderIdOf))]);
    const changes: StatusChange[] = [];
    const at = now();
    for (const event of events) {
      const order = orders.get(orderIdOf(event));
      if (!order) {
        // Events are published only after the order committed, so this is someone else's order.
        ctx.logger.warn('event for an unknown order ignored', { eventType: event.eventType, orderId: orderIdOf(event) });
        continue;
      }
      const d = applyDecision(order, toInput(event), ctx, changes, at);
      if (d.kind === 'ignore') ctx.logger.debug('saga event ignored', { orderId: order.id, eventType: event.eventType, why: d.why });
    }
    await recordChanges(ctx.tx, changes);
  });
}

export function subscriptions(deps: { now: () => Date }): Subscriptions<Tx> {
  const { now } = deps;
  return {
    saga: [
      step(inventoryReserved, () => ({ type: 'stock-reserved' }), now),
      step(inventoryFailed, (e) => ({ type: 'stock-failed', reason: e.payload.reason }), now),
      step(paymentCompleted, (e) => ({ type: 'payment-completed', amount: e.payload.amount }), now),
      step(paymentFailed, (e) => ({ type: 'payment-failed', reason: e.payload.reason }), now),
      step(inventoryReleased, (e) => ({ type: 'stock-released', reason: e.payload.reason }), now),
      step(paymentRefunded, (e) => ({ type: 'payment-refunded', amount: e.payload.amount }), now),
    ],
  };
}
