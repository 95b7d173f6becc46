import { emailOf, phoneOf, render } from '../src/templates';

const orderId = '0b6f9d2e-1111-4222-8333-444455556666';

describe('notification templates', () => {
  it('a confirmed order is announced by email and SMS to the customer', () => {
    const messages = render({ kind: 'confirmed', orderId, customerId: 'alice', total: 42.5, reason: null });
    expect(messages).toEqual([
      { channel: 'EMAIL', recipient: emailOf('alice'), template: 'order-confirmed', body: 'Your order 0b6f9d2e is confirmed: 42.50 charged.' },
      { channel: 'SMS', recipient: phoneOf('alice'), template: 'order-confirmed', body: 'Order 0b6f9d2e confirmed.' },
    ]);
  });

  it('a cancellation names its reason; a refund names its amount', () => {
    expect(render({ kind: 'cancelled', orderId, customerId: 'bob', total: 1, reason: 'payment declined' })[0]?.body).toContain('payment declined');
    expect(render({ kind: 'refunded', orderId, customerId: 'bob', amount: 9.99 })[1]?.body).toContain('9.99');
  });

  it('a received order gets an email only', () => {
    expect(render({ kind: 'received', orderId, customerId: 'bob', total: 3 }).map((m) => m.channel)).toEqual(['EMAIL']);
  });

  it('an order not priced yet (placed without prices: the catalog prices it) is received without an amount', () => {
    expect(render({ kind: 'received', orderId, customerId: 'bob' })[0]?.body).toBe('We received your order 0b6f9d2e.');
    expect(render({ kind: 'received', orderId, customerId: 'bob', total: 12.5 })[0]?.body).toBe('We received your order 0b6f9d2e (12.50).');
    expect(render({ kind: 'rejected', orderId, customerId: 'bob', total: null, reason: 'PRICE_MISMATCH: line 1 (P1): client price 0.01, catalog price 10.00' })[0]?.body).toContain('PRICE_MISMATCH');
  });

  it('each customer has a stable, distinct phone number', () => {
    expect(phoneOf('alice')).toBe(phoneOf('alice'));
    expect(phoneOf('alice')).not.toBe(phoneOf('bob'));
    expect(phoneOf('alice')).toMatch(/^\+1555\d{7}$/);
  });
});
