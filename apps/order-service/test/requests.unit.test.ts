import { AppError } from '@orderflow/errors';
import type { Principal } from '@orderflow/http';
import { UNSPECIFIED_PAYMENT_METHOD, parseOrderRequest } from '../src/requests';

const customer = (sub: string): Principal => ({ sub, role: 'customer' });
const admin: Principal = { sub: 'ops', role: 'admin' };

/** The fields a refused request names, or the error's code when it is not a validation error. */
function refusal(body: unknown, caller: Principal = customer('alice')): string[] | string {
  try {
    parseOrderRequest(body, caller);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return err.code === 'REQUEST.INVALID' ? (err.details as Array<{ field: string }>).map((d) => d.field) : err.code;
  }
  throw new Error('the request was accepted');
}

const ok = { items: [{ productId: 'PROD-002', quantity: 1 }] };

// The requests of the systems Orderflow replaces, as their READMEs write them (docs/contract.md).
describe('the requests of the systems Orderflow replaces', () => {
  it('A (Kafka + gateway): no customerId, no payment method, price and productName per line → the token’s customer, lines priced as claimed, the claimed total their sum', () => {
    const body = {
      items: [
        { productId: 'PROD001', productName: 'iPhone 15 Pro', quantity: 2, price: 999.99 },
        { productId: 'PROD003', productName: 'AirPods Pro', quantity: 1, price: 249.99 },
      ],
    };
    expect(parseOrderRequest(body, customer('user-a'))).toEqual({
      customerId: 'user-a',
      items: [
        { productId: 'PROD001', quantity: 2, unitPrice: 999.99 },
        { productId: 'PROD003', quantity: 1, unitPrice: 249.99 },
      ],
      paymentMethod: UNSPECIFIED_PAYMENT_METHOD,
      totalClaim: 2249.97,
      contact: {},
    });
  });

  it('B (RabbitMQ + Kubernetes): customerId and a priced line with its name, no payment method', () => {
    const body = { customerId: 'CUST-001', items: [{ productId: 'PROD-002', productName: 'Mouse', quantity: 1, price: 29.99 }] };
    expect(parseOrderRequest(body, customer('CUST-001'))).toEqual({
      customerId: 'CUST-001',
      items: [{ productId: 'PROD-002', quantity: 1, unitPrice: 29.99 }],
      paymentMethod: 'unspecified',
      totalClaim: 29.99,
      contact: {},
    });
  });

  it('C (edge service): productIds are one of each, unpriced; totalAmount is the claimed total the catalog must match', () => {
    const body = { customerId: 'OMS-Cust-001', totalAmount: 2599.99, productIds: ['item1', 'item2'] };
    expect(parseOrderRequest(body, customer('OMS-Cust-001'))).toEqual({
      customerId: 'OMS-Cust-001',
      items: [
        { productId: 'item1', quantity: 1 },
        { productId: 'item2', quantity: 1 },
      ],
      paymentMethod: 'unspecified',
      totalClaim: 2599.99,
      contact: {},
    });
  });

  it('E (Kafka pipeline): email and shipping address become the order’s contact; totalAmount agrees with the line', () => {
    const body = {
      customerId: 'cust-123',
      customerEmail: 'john@example.com',
      totalAmount: 199.99,
      shippingAddress: '123 Main St, City, Country',
      items: [{ productId: 'prod-456', productName: 'Wireless Headphones', quantity: 1, price: 199.99 }],
    };
    expect(parseOrderRequest(body, customer('cust-123'))).toEqual({
      customerId: 'cust-123',
      items: [{ productId: 'prod-456', quantity: 1, unitPrice: 199.99 }],
      paymentMethod: 'unspecified',
      totalClaim: 199.99,
      contact: { email: 'john@example.com', shippingAddress: '123 Main St, City, Country' },
    });
  });

  it('Orderflow’s own shape is read as before', () => {
    const body = { customerId: 'alice', items: [{ productId: 'PROD-002', quantity: 2, unitPrice: 25 }, { productId: 'PROD-003', quantity: 1 }], paymentMethod: 'pm_card_ok' };
    expect(parseOrderRequest(body, customer('alice'))).toEqual({
      customerId: 'alice',
      items: [
        { productId: 'PROD-002', quantity: 2, unitPrice: 25 },
        { productId: 'PROD-003', quantity: 1 },
      ],
      paymentMethod: 'pm_card_ok',
      contact: {},
    });
  });
});

describe('who the order is for', () => {
  it('a customer naming another customer is forbidden (403), as before', () => {
    expect(refusal({ ...ok, customerId: 'bob' }, customer('alice'))).toBe('AUTH.FORBIDDEN');
  });

  it('an administrator must name the customer: 400 naming customerId', () => {
    expect(refusal(ok, admin)).toEqual(['customerId']);
    expect(parseOrderRequest({ ...ok, customerId: 'bob' }, admin).customerId).toBe('bob');
  });

  it('customerId is trimmed before it is compared with the token', () => {
    expect(parseOrderRequest({ ...ok, customerId: '  alice ' }, customer('alice')).customerId).toBe('alice');
  });
});

describe('lines, prices and totals', () => {
  it('price and unitPrice given alike are one claim; different, the alias is named', () => {
    expect(parseOrderRequest({ items: [{ productId: 'P', quantity: 1, price: 5, unitPrice: 5 }] }, customer('a')).items).toEqual([{ productId: 'P', quantity: 1, unitPrice: 5 }]);
    expect(refusal({ items: [ok.items[0], { productId: 'P', quantity: 1, price: 5, unitPrice: 6 }] })).toEqual(['items[1].price']);
  });

  it('a null price is no claim: the catalog prices the line, and there is no claimed total', () => {
    const p = parseOrderRequest({ items: [{ productId: 'P', quantity: 1, price: null }] }, customer('a'));
    expect(p.items).toEqual([{ productId: 'P', quantity: 1 }]);
    expect(p).not.toHaveProperty('totalClaim');
  });

  it('a productName, whatever it says, is ignored: the catalog’s name is authoritative', () => {
    expect(parseOrderRequest({ items: [{ productId: 'P', quantity: 1, productName: 42 }] }, customer('a')).items).toEqual([{ productId: 'P', quantity: 1 }]);
  });

  it('a repeated product id in productIds is summed into one line', () => {
    expect(parseOrderRequest({ productIds: ['a', 'b', 'a'] }, customer('c')).items).toEqual([
      { productId: 'a', quantity: 2 },
      { productId: 'b', quantity: 1 },
    ]);
  });

  it('items and productIds together → 400 naming productIds; neither → 400 naming items', () => {
    expect(refusal({ ...ok, productIds: ['a'] })).toEqual(['productIds']);
    expect(refusal({ customerId: 'alice' })).toEqual(['items']);
    expect(refusal({ productIds: [] })).toEqual(['productIds']);
    expect(refusal({ productIds: ['ok', ''] })).toEqual(['productIds[1]']);
  });

  it('a totalAmount that contradicts the line prices → 400 naming totalAmount; with an unpriced line it is a claim for the catalog', () => {
    expect(refusal({ totalAmount: 10, items: [{ productId: 'P', quantity: 2, price: 4 }] })).toEqual(['totalAmount']);
    const partly = parseOrderRequest({ totalAmount: 10, items: [{ productId: 'P', quantity: 2, price: 4 }, { productId: 'Q', quantity: 1 }] }, customer('a'));
    expect(partly.totalClaim).toBe(10);
    // Sums in cents: 0.1 + 0.2 is 0.30.
    expect(parseOrderRequest({ totalAmount: 0.3, items: [{ productId: 'P', quantity: 1, price: 0.1 }, { productId: 'Q', quantity: 1, price: 0.2 }] }, customer('a')).totalClaim).toBe(0.3);
  });

  it('bad quantities and prices name their line’s field', () => {
    expect(refusal({ items: [{ productId: 'P', quantity: 0 }] })).toEqual(['items[0].quantity']);
    expect(refusal({ items: [{ productId: 'P', quantity: 1, price: 1.001 }] })).toEqual(['items[0].price']);
    expect(refusal({ items: [{ productId: 'P', quantity: 1, unitPrice: -1 }] })).toEqual(['items[0].unitPrice']);
    expect(refusal({ items: [{ quantity: 1 }] })).toEqual(['items[0].productId']);
    expect(refusal({ totalAmount: -5, ...ok })).toEqual(['totalAmount']);
    expect(refusal({ totalAmount: '10', ...ok })).toEqual(['totalAmount']);
  });
});

describe('payment method and contact', () => {
  it('no payment method (or null) is the unspecified method, which the card gateway approves at PAYMENT_SUCCESS_RATE', () => {
    expect(parseOrderRequest(ok, customer('a')).paymentMethod).toBe('unspecified');
    expect(parseOrderRequest({ ...ok, paymentMethod: null }, customer('a')).paymentMethod).toBe('unspecified');
    expect(refusal({ ...ok, paymentMethod: '' })).toEqual(['paymentMethod']);
  });

  it('an email, a phone and an address become the contact; international phone spellings are accepted', () => {
    for (const number of ['+1 (555) 010-9999', '+44 20 7946 0958', '0612345678', '+49-30-1234567']) {
      expect(parseOrderRequest({ ...ok, customerPhone: number }, customer('a')).contact).toEqual({ phone: number });
    }
    expect(parseOrderRequest({ ...ok, customerEmail: ' John@Example.com ', customerPhone: '+1 555 0100' }, customer('a')).contact).toEqual({ email: 'John@Example.com', phone: '+1 555 0100' });
  });

  it('a shipping address given as fields is stored as one line, its values joined in the order sent', () => {
    const shipping = { street: '123 Main St', city: 'Springfield', postalCode: 12345, country: 'US', line2: '' };
    expect(parseOrderRequest({ ...ok, shippingAddress: shipping }, customer('a')).contact).toEqual({ shippingAddress: '123 Main St, Springfield, 12345, US' });
  });

  it('each bad contact value is named', () => {
    expect(refusal({ ...ok, customerEmail: 'not-an-email', customerPhone: 'call me', shippingAddress: '' })).toEqual(['customerEmail', 'customerPhone', 'shippingAddress']);
    expect(refusal({ ...ok, customerPhone: '12-34' })).toEqual(['customerPhone']);
    expect(refusal({ ...ok, customerPhone: '+1 555 0100 0100 0100 0100 0100 0100' })).toEqual(['customerPhone']);
    expect(refusal({ ...ok, shippingAddress: {} })).toEqual(['shippingAddress']);
    expect(refusal({ ...ok, shippingAddress: { street: { no: 1 } } })).toEqual(['shippingAddress']);
    expect(refusal({ ...ok, shippingAddress: 'x'.repeat(501) })).toEqual(['shippingAddress']);
  });

  it('unknown fields are ignored; a NUL character anywhere read is refused with its field', () => {
    expect(parseOrderRequest({ ...ok, coupon: 'SAVE10', channel: 'web' }, customer('a')).items).toEqual(ok.items);
    expect(refusal({ ...ok, customerEmail: 'a\u0000@b.c' })).toEqual(['customerEmail']);
  });
});
