import { orderCancelled, orderConfirmed, orderRejected } from '@orderflow/events';
import type { HandlerContext } from '@orderflow/messaging';
import type { Tx } from './db';
import { decide, type Emit, type SagaInput } from './decide';
import type { OrderState, Pricing, StatusChange } from './store';

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

/** The prices inventory fixed when it reserved an order: the catalog's unit prices (in line order) and total. */
export const catalogPrices = (reserved: { total: number; items: ReadonlyArray<{ unitPrice: number }> }): Omit<Pricing, 'orderId'> => ({
  total: reserved.total,
  unitPrices: reserved.items.map((i) => i.unitPrice),
});

/**
 * Applies what an event says about an order's prices (the catalog sets them): inventory's
 * `catalogPrices`, or the amount payment charged (`unitPrices` null: the same total, when the
 * payment's news overtook the reservation's). Sets the order's total in memory, so an outcome
 * event emitted next carries it, and returns the pricing to record (null when nothing changes).
 * Shared by the saga handlers (interactive and bulk).
 */
export function applyPricing(order: OrderState, prices: Omit<Pricing, 'orderId'>): Pricing | null {
  if (prices.unitPrices === null && order.total === prices.total) return null;
  order.total = prices.total;
  return { orderId: order.id, ...prices };
}

function publishOutcome(ctx: Pick<HandlerContext<Tx>, 'publish'>, emit: Emit, order: OrderState, reason: string): void {
  ctx.publish(
    OUTCOMES[emit],
    { orderId: order.id, customerId: order.customerId, total: order.total, reason: emit === 'order.confirmed' ? null : reason },
    { correlationId: order.id },
  );
}
