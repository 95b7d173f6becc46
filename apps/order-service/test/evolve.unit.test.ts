import { evolve, fold, step } from '../src/evolve';
import type { OrderStatus } from '../src/decide';
import type { OrderState } from '../src/store';

const at = new Date('2026-01-02T03:04:05Z');
const order = (id: string, status: OrderStatus, total: number | null = 20): OrderState => Object.freeze({ id, status, customerId: `customer-${id}`, total, importId: null });

describe('an order status step', () => {
  it('a payment that overtakes the reservation confirms a PENDING order and records the charged total', () => {
    const pending = order('a', 'PENDING', null);
    expect(step(pending, { type: 'payment-completed', amount: 24 }, at)).toEqual({
      state: { ...pending, status: 'CONFIRMED', total: 24 },
      decision: { kind: 'change', status: 'CONFIRMED', reason: 'payment of 24.00 completed', emit: 'order.confirmed' },
      change: { orderId: 'a', status: 'CONFIRMED', reason: 'payment of 24.00 completed', at },
      pricing: { orderId: 'a', total: 24, unitPrices: null },
      outcome: { type: 'order.confirmed', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: null } },
    });
  });

  it('a payment of the total the order already has records no price', () => {
    expect(step(order('a', 'STOCK_RESERVED', 24), { type: 'payment-completed', amount: 24 }, at).pricing).toBeNull();
  });

  it('a cancel of a CONFIRMED order emits order.cancelled with the reason and the total', () => {
    const s = step(order('a', 'CONFIRMED', 24), { type: 'cancel', reason: 'cancelled by the customer' }, at);
    expect(s.state.status).toBe('CANCELLED');
    expect(s.change).toEqual({ orderId: 'a', status: 'CANCELLED', reason: 'cancelled by the customer', at });
    expect(s.outcome).toEqual({ type: 'order.cancelled', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: 'cancelled by the customer' } });
  });

  it('a stock release after cancellation is a timeline note, no outcome', () => {
    const cancelled = order('a', 'CANCELLED');
    const s = step(cancelled, { type: 'stock-released', reason: 'order cancelled' }, at);
    expect(s.state).toEqual(cancelled);
    expect(s.change).toEqual({ orderId: 'a', status: 'CANCELLED', reason: 'stock released (order cancelled)', at });
    expect(s.outcome).toBeNull();
  });

  it('a cancel of a REJECTED order is refused: nothing to record, nothing to emit', () => {
    const rejected = order('a', 'REJECTED');
    expect(step(rejected, { type: 'cancel', reason: 'x' }, at)).toEqual({
      state: rejected,
      decision: { kind: 'refuse', code: 'ORDER.NOT_CANCELLABLE', message: 'order is REJECTED and cannot be cancelled' },
      change: null,
      pricing: null,
      outcome: null,
    });
  });
});

describe('an event applied to an order', () => {
  it('a late reservation of a confirmed order records the catalog prices and changes nothing else', () => {
    const confirmed = order('a', 'CONFIRMED', 24);
    const e = evolve(confirmed, { inputs: [{ type: 'stock-reserved' }], prices: { total: 24, unitPrices: [10, 4] } }, at);
    expect(e.prices).toEqual([{ orderId: 'a', total: 24, unitPrices: [10, 4] }]);
    expect(e.changes).toEqual([]);
    expect(e.outcomes).toEqual([]);
    expect(e.decisions).toEqual([{ kind: 'ignore', why: 'stock reserved while CONFIRMED' }]);
  });

  it('a reservation priced by the catalog confirms with the catalog total when the payment follows in the same event', () => {
    const e = evolve(order('a', 'PENDING', null), { inputs: [{ type: 'stock-reserved' }, { type: 'payment-completed', amount: 24 }], prices: { total: 24, unitPrices: [12] } }, at);
    expect(e.changes.map((c) => c.status)).toEqual(['STOCK_RESERVED', 'CONFIRMED']);
    expect(e.prices).toEqual([{ orderId: 'a', total: 24, unitPrices: [12] }]);
    expect(e.outcomes).toEqual([{ type: 'order.confirmed', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: null } }]);
  });
});

describe('events folded over the orders of a batch', () => {
  it('a payment batch answer moves each order through STOCK_RESERVED to its outcome, and reports the orders it does not know', () => {
    const states = new Map([['a', order('a', 'PENDING')], ['b', order('b', 'PENDING')]]);
    const folded = fold(
      states,
      [
        [
          { orderId: 'A', inputs: [{ type: 'stock-reserved' }, { type: 'payment-completed', amount: 20 }] },
          { orderId: 'b', inputs: [{ type: 'stock-reserved' }, { type: 'payment-failed', reason: 'card declined' }] },
          { orderId: 'nobody', inputs: [{ type: 'stock-reserved' }] },
        ],
      ],
      at,
    );
    expect(folded.changes.map((c) => `${c.orderId} ${c.status}: ${c.reason}`)).toEqual([
      'a STOCK_RESERVED: stock reserved',
      'a CONFIRMED: payment of 20.00 completed',
      'b STOCK_RESERVED: stock reserved',
      'b CANCELLED: payment failed: card declined',
    ]);
    expect(folded.events[0]!.outcomes.map((o) => [o.type, o.payload.orderId])).toEqual([
      ['order.confirmed', 'a'],
      ['order.cancelled', 'b'],
    ]);
    expect(folded.events[0]!.unknown).toEqual(['nobody']);
    expect([...folded.states.values()].map((s) => s.status)).toEqual(['CONFIRMED', 'CANCELLED']);
    expect(states.get('a')!.status).toBe('PENDING');
  });

  it('a later event in the batch sees the state an earlier one left, and its outcome is its own', () => {
    const folded = fold(
      new Map([['a', order('a', 'PENDING')]]),
      [[{ orderId: 'a', inputs: [{ type: 'stock-reserved' }] }], [{ orderId: 'a', inputs: [{ type: 'payment-failed', reason: 'card declined' }] }], [{ orderId: 'a', inputs: [{ type: 'payment-completed', amount: 20 }] }]],
      at,
    );
    expect(folded.events.map((e) => e.outcomes.map((o) => o.type))).toEqual([[], ['order.cancelled'], []]);
    expect(folded.events[2]!.orders[0]!.decisions).toEqual([{ kind: 'ignore', why: 'payment completed while CANCELLED (payment refunds it on order.cancelled)' }]);
    expect(folded.states.get('a')!.status).toBe('CANCELLED');
  });
});
