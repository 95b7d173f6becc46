import { decide, totalOf, type OrderStatus } from '../src/decide';

describe('order lifecycle', () => {
  it('happy path: PENDING → STOCK_RESERVED → CONFIRMED, emitting order.confirmed once', () => {
    expect(decide('PENDING', { type: 'stock-reserved' })).toEqual({ kind: 'change', status: 'STOCK_RESERVED', reason: 'stock reserved', emit: null });
    expect(decide('STOCK_RESERVED', { type: 'payment-completed', amount: 12.5 })).toEqual({ kind: 'change', status: 'CONFIRMED', reason: 'payment of 12.50 completed', emit: 'order.confirmed' });
  });

  it('when stock is unavailable, a pending order is rejected', () => {
    expect(decide('PENDING', { type: 'stock-failed', reason: 'PROD-001: 1 available' })).toMatchObject({ status: 'REJECTED', emit: 'order.rejected' });
  });

  it('when payment fails, the order is cancelled and order.cancelled lets inventory release', () => {
    expect(decide('STOCK_RESERVED', { type: 'payment-failed', reason: 'card declined' })).toMatchObject({ status: 'CANCELLED', reason: 'payment failed: card declined', emit: 'order.cancelled' });
  });

  it('a payment that overtakes the reservation notice still confirms the order', () => {
    expect(decide('PENDING', { type: 'payment-completed', amount: 1 })).toMatchObject({ status: 'CONFIRMED' });
    expect(decide('CONFIRMED', { type: 'stock-reserved' })).toMatchObject({ kind: 'ignore' });
  });

  it.each<OrderStatus>(['PENDING', 'STOCK_RESERVED', 'CONFIRMED'])('a %s order can be cancelled', (status) => {
    expect(decide(status, { type: 'cancel', reason: 'cancelled by the customer' })).toMatchObject({ kind: 'change', status: 'CANCELLED', emit: 'order.cancelled' });
  });

  it.each<OrderStatus>(['REJECTED', 'CANCELLED'])('a %s order cannot be cancelled', (status) => {
    expect(decide(status, { type: 'cancel', reason: 'x' })).toEqual({ kind: 'refuse', code: 'ORDER.NOT_CANCELLABLE', message: `order is ${status} and cannot be cancelled` });
  });

  it('late saga events on a cancelled order change nothing (compensations are done by their owners)', () => {
    expect(decide('CANCELLED', { type: 'stock-reserved' })).toMatchObject({ kind: 'ignore' });
    expect(decide('CANCELLED', { type: 'payment-completed', amount: 3 })).toMatchObject({ kind: 'ignore' });
    expect(decide('CANCELLED', { type: 'payment-failed', reason: 'order cancelled' })).toMatchObject({ kind: 'ignore' });
  });

  it('finished compensations are noted on the timeline without changing the status', () => {
    expect(decide('CANCELLED', { type: 'stock-released', reason: 'order cancelled' })).toEqual({ kind: 'change', status: 'CANCELLED', reason: 'stock released (order cancelled)', emit: null });
    expect(decide('CANCELLED', { type: 'payment-refunded', amount: 20 })).toEqual({ kind: 'change', status: 'CANCELLED', reason: 'payment of 20.00 refunded', emit: null });
  });

  it('totals are computed from the lines without float drift', () => {
    expect(totalOf([{ quantity: 3, unitPrice: 0.1 }, { quantity: 1, unitPrice: 19.99 }])).toBe(20.29);
  });

  it('an order with a line without a price has no total until the catalog prices it', () => {
    expect(totalOf([{ quantity: 3, unitPrice: 0.1 }, { quantity: 1 }])).toBeNull();
  });
});
