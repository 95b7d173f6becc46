import { orderCancelled, orderConfirmed, orderRejected } from '@orderflow/events';
import type { HandlerContext } from '@orderflow/messaging';
import type { Tx } from './db';
import { decide, type Emit, type SagaInput } from './decide';
import type { OrderState, StatusChange } from './store';

const OUTCOMES = { 'order.confirmed': orderConfirmed, 'order.rejected': orderRejected, 'order.cancelled': orderCancelled } as const;

/**
 * Applies a decision to an order held under lock: records the change and emits the outcome
 * event in the same transaction. Shared by the saga handlers (interactive and bulk) and the cancel endpoint.
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
