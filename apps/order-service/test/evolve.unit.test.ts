import { evolve, fold } from '../src/evolve';
import type { OrderStatus } from '../src/decide';
import { NO_CONTACT, replay, type OrderEvent, type OrderState } from '../src/history';

const at = new Date('2026-01-02T03:04:05Z');
const order = (id: string, status: OrderStatus, total: number | null = 20, version = 1): OrderState =>
  Object.freeze({ id, status, customerId: `customer-${id}`, total, unitPrices: null, importId: null, contact: NO_CONTACT, version });
const one = (state: OrderState, ...inputs: Parameters<typeof evolve>[1]['inputs']) => evolve(state, { inputs }, at);

describe('an input decided for an order appends events to its history', () => {
  it('a payment that overtakes the reservation confirms a PENDING order and makes the charged amount its total', () => {
    const e = one(order('a', 'PENDING', null), { type: 'payment-completed', amount: 24 });
    expect(e.history).toEqual([{ type: 'PaymentCompleted', data: { amount: 24 }, orderId: 'a', seq: 2, status: 'CONFIRMED', reason: 'payment of 24.00 completed', at }]);
    expect(e.state).toEqual({ ...order('a', 'CONFIRMED', 24, 2) });
    expect(e.outcomes).toEqual([{ type: 'order.confirmed', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: null } }]);
  });

  it('a late payment of another amount on a cancelled order records the amount as an OrderPriced event, off the timeline', () => {
    const e = one(order('a', 'CANCELLED', 20, 4), { type: 'payment-completed', amount: 24 });
    expect(e.history).toEqual([{ type: 'OrderPriced', data: { total: 24, unitPrices: null }, orderId: 'a', seq: 5, status: 'CANCELLED', reason: null, at }]);
    expect(e.outcomes).toEqual([]);
  });

  it('a cancel of a CONFIRMED order emits order.cancelled with the reason and the total', () => {
    const e = one(order('a', 'CONFIRMED', 24, 3), { type: 'cancel', reason: 'cancelled by the customer' });
    expect(e.history.map((h) => [h.type, h.seq, h.status, h.reason])).toEqual([['OrderCancelled', 4, 'CANCELLED', 'cancelled by the customer']]);
    expect(e.outcomes).toEqual([{ type: 'order.cancelled', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: 'cancelled by the customer' } }]);
  });

  it('a stock release after cancellation is a timeline note: an event, the same status, no outcome', () => {
    const e = one(order('a', 'CANCELLED', 20, 3), { type: 'stock-released', reason: 'order cancelled' });
    expect(e.history.map((h) => [h.type, h.status, h.reason])).toEqual([['StockReleased', 'CANCELLED', 'stock released (order cancelled)']]);
    expect(e.state.version).toBe(4);
    expect(e.outcomes).toEqual([]);
  });

  it('a cancel of a REJECTED order is refused: no event, nothing to emit', () => {
    const e = one(order('a', 'REJECTED'), { type: 'cancel', reason: 'x' });
    expect(e.decisions).toEqual([{ kind: 'refuse', code: 'ORDER.NOT_CANCELLABLE', message: 'order is REJECTED and cannot be cancelled' }]);
    expect(e.history).toEqual([]);
    expect(e.state).toEqual(order('a', 'REJECTED'));
  });

  it("a blocked customer's PENDING order is rejected with CUSTOMER_BLOCKED and order.rejected", () => {
    const e = one(order('a', 'PENDING', 20), { type: 'customer-blocked' });
    expect(e.history.map((h) => [h.type, h.status, h.reason])).toEqual([['OrderRejected', 'REJECTED', 'CUSTOMER_BLOCKED']]);
    expect(e.outcomes[0]).toMatchObject({ type: 'order.rejected', payload: { reason: 'CUSTOMER_BLOCKED' } });
  });

  it('an update records only the fields that differ; the same details again record nothing', () => {
    const placed = { ...order('a', 'CONFIRMED', 20, 3), contact: { email: 'a@example.com', phone: null, shippingAddress: '1 Old Rd' } };
    const e = one(placed, { type: 'update', changes: { email: 'a@example.com', shippingAddress: '2 New Rd' } });
    expect(e.history.map((h) => [h.type, h.data, h.reason])).toEqual([['OrderUpdated', { contact: { shippingAddress: '2 New Rd' } }, 'details updated: shippingAddress']]);
    expect(e.state.contact).toEqual({ email: 'a@example.com', phone: null, shippingAddress: '2 New Rd' });
    expect(one(e.state, { type: 'update', changes: { shippingAddress: '2 New Rd' } }).history).toEqual([]);
  });

  it('an update of a CANCELLED order is refused', () => {
    expect(one(order('a', 'CANCELLED'), { type: 'update', changes: { email: 'b@example.com' } }).decisions[0]).toMatchObject({ kind: 'refuse', code: 'ORDER.NOT_UPDATABLE' });
  });
});

describe('prices an event brings', () => {
  it('a late reservation of a confirmed order records the catalog prices as OrderPriced and changes nothing else', () => {
    const e = evolve(order('a', 'CONFIRMED', 24, 3), { inputs: [{ type: 'stock-reserved' }], prices: { total: 24, unitPrices: [10, 4] } }, at);
    expect(e.history.map((h) => [h.type, h.status, h.data])).toEqual([['OrderPriced', 'CONFIRMED', { total: 24, unitPrices: [10, 4] }]]);
    expect(e.state.unitPrices).toEqual([10, 4]);
    expect(e.outcomes).toEqual([]);
    expect(e.decisions).toEqual([{ kind: 'ignore', why: 'stock reserved while CONFIRMED' }]);
  });

  it('a reservation carries the catalog prices, and the payment in the same event confirms with that total', () => {
    const e = evolve(order('a', 'PENDING', null), { inputs: [{ type: 'stock-reserved' }, { type: 'payment-completed', amount: 24 }], prices: { total: 24, unitPrices: [12] } }, at);
    expect(e.history.map((h) => [h.type, h.seq, h.status, h.data])).toEqual([
      ['StockReserved', 2, 'STOCK_RESERVED', { total: 24, unitPrices: [12] }],
      ['PaymentCompleted', 3, 'CONFIRMED', { amount: 24 }],
    ]);
    expect(e.outcomes).toEqual([{ type: 'order.confirmed', payload: { orderId: 'a', customerId: 'customer-a', total: 24, reason: null } }]);
  });

  it('prices the order has already record nothing', () => {
    const priced = { ...order('a', 'STOCK_RESERVED', 24, 2), unitPrices: [12] };
    expect(evolve(priced, { inputs: [], prices: { total: 24, unitPrices: [12] } }, at).history).toEqual([]);
  });
});

describe('the projection', () => {
  it('replaying an order’s events gives the state the live path left', () => {
    const placed: OrderEvent = { type: 'OrderPlaced', data: { customerId: 'customer-a', paymentMethod: 'pm_card_ok', total: null, contact: { email: 'a@example.com' } }, orderId: 'a', seq: 1, status: 'PENDING', reason: 'order placed', at };
    const start = replay([placed])!;
    const e1 = evolve(start, { inputs: [{ type: 'stock-reserved' }], prices: { total: 24, unitPrices: [12] } }, at);
    const e2 = evolve(e1.state, { inputs: [{ type: 'payment-completed', amount: 24 }, { type: 'update', changes: { phone: '+44 20 1234 5678' } }, { type: 'cancel', reason: 'cancelled by the customer' }] }, at);
    const row = replay([placed, ...e1.history, ...e2.history])!;
    expect(row).toMatchObject(e2.state);
    expect(row).toMatchObject({ status: 'CANCELLED', total: 24, unitPrices: [12], version: 5, contact: { email: 'a@example.com', phone: '+44 20 1234 5678', shippingAddress: null } });
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
    expect(folded.history.map((c) => `${c.orderId} ${c.seq} ${c.type} ${c.status}: ${c.reason}`)).toEqual([
      'a 2 StockReserved STOCK_RESERVED: stock reserved',
      'a 3 PaymentCompleted CONFIRMED: payment of 20.00 completed',
      'b 2 StockReserved STOCK_RESERVED: stock reserved',
      'b 3 PaymentFailed CANCELLED: payment failed: card declined',
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
    expect(folded.history.map((h) => h.seq)).toEqual([2, 3]);
  });
});
