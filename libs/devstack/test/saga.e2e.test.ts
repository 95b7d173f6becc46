import { randomUUID } from 'node:crypto';
import { bearer, waitFor } from '@orderflow/testkit';
import { systemUnderTest } from './system-under-test';

/**
 * The whole system started as `npm start` starts it (its own databases and topology prefix),
 * driven only through the Nginx gateway.
 */
describe('the saga end to end, through the gateway', () => {
  const sut = systemUnderTest('e2e');

  const admin = bearer('ops', 'admin');
  async function call(method: string, path: string, options: { as?: string; body?: unknown; headers?: Record<string, string> } = {}) {
    const res = await fetch(`${sut.gateway}${path}`, {
      method,
      headers: {
        ...(options.as ? { Authorization: options.as } : {}),
        ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  }
  const product = async (available: number, price = 10): Promise<string> => {
    const id = `E2E-${randomUUID().slice(0, 8)}`;
    const res = await call('PUT', `/api/inventory/${id}`, { as: admin, body: { name: `Test ${id}`, price, available } });
    expect([200, 201]).toContain(res.status);
    return id;
  };
  const stockOf = async (id: string) => (await call('GET', `/api/inventory/${id}`, { as: admin })).body as { available: number; reserved: number };
  const place = (customer: string, productId: string, quantity: number, paymentMethod = 'pm_card_ok', headers: Record<string, string> = {}) =>
    call('POST', '/api/orders', { as: bearer(customer), body: { customerId: customer, items: [{ productId, quantity, unitPrice: 10 }], paymentMethod }, headers });
  const orderOf = async (id: string, customer: string) => (await call('GET', `/api/orders/${id}`, { as: bearer(customer) })).body;
  const terminal = (id: string, customer: string, status: string, timeoutMs = 20_000) =>
    waitFor(async () => {
      const o = await orderOf(id, customer);
      return o.status === status && o;
    }, `order ${id} ${status}`, timeoutMs);

  it('happy path: the order is CONFIRMED with its timeline, charged once, stock reserved, customer notified', async () => {
    const productId = await product(5);
    const res = await place('alice', productId, 2);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/api/orders/${res.body.orderId}`);
    const order = await terminal(res.body.orderId, 'alice', 'CONFIRMED');
    expect(order.timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    expect(order.total).toBe(20);
    expect(await stockOf(productId)).toMatchObject({ available: 3, reserved: 2 });
    const payments = await call('GET', `/api/payments?orderId=${order.orderId}`, { as: bearer('alice') });
    expect(payments.body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: 20 })]);
    const notes = await waitFor(async () => {
      const n = await call('GET', `/api/notifications?orderId=${order.orderId}`, { as: bearer('alice') });
      return n.body.items?.some((x: { template: string }) => x.template === 'order-confirmed') && n.body.items;
    }, 'confirmation notification');
    expect(notes.map((n: { channel: string; template: string }) => `${n.template}/${n.channel}`)).toEqual(expect.arrayContaining(['order-confirmed/EMAIL', 'order-confirmed/SMS']));
  });

  it('the catalog sets the price: a client price of 0.01 for a product at 10 is REJECTED with PRICE_MISMATCH, nothing reserved or charged', async () => {
    const productId = await product(5, 10);
    const res = await call('POST', '/api/orders', { as: bearer('kate'), body: { customerId: 'kate', items: [{ productId, quantity: 2, unitPrice: 0.01 }], paymentMethod: 'pm_card_ok' } });
    expect(res.status).toBe(202);
    const order = await terminal(res.body.orderId, 'kate', 'REJECTED');
    expect(order.timeline.at(-1).reason).toBe(`PRICE_MISMATCH: line 1 (${productId}): client price 0.01, catalog price 10.00`);
    // The customer is told; by then payment has had every chance to act on it.
    await waitFor(async () => {
      const n = await call('GET', `/api/notifications?orderId=${order.orderId}`, { as: bearer('kate') });
      return n.body.items?.some((x: { template: string }) => x.template === 'order-rejected');
    }, 'the rejection notification');
    expect((await call('GET', `/api/payments?orderId=${order.orderId}`, { as: bearer('kate') })).body.items).toEqual([]);
    expect(await stockOf(productId)).toMatchObject({ available: 5, reserved: 0 });
  });

  it('an order without prices is charged the catalog price × quantity, and GET shows that total and the line price', async () => {
    const productId = await product(5, 12.5);
    const res = await call('POST', '/api/orders', { as: bearer('liam'), body: { customerId: 'liam', items: [{ productId, quantity: 3 }], paymentMethod: 'pm_card_ok' } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'PENDING', total: null });
    const order = await terminal(res.body.orderId, 'liam', 'CONFIRMED');
    expect(order).toMatchObject({ total: 37.5, items: [{ productId, quantity: 3, unitPrice: 12.5 }] });
    const payments = await call('GET', `/api/payments?orderId=${order.orderId}`, { as: bearer('liam') });
    expect(payments.body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: 37.5 })]);
    expect(await stockOf(productId)).toMatchObject({ available: 2, reserved: 3 });
  });

  it('when stock is unavailable, the order is REJECTED and the stock is untouched', async () => {
    const productId = await product(1);
    const res = await place('bob', productId, 2);
    const order = await terminal(res.body.orderId, 'bob', 'REJECTED');
    expect(order.timeline.at(-1).reason).toMatch(productId);
    expect(await stockOf(productId)).toMatchObject({ available: 1, reserved: 0 });
  });

  it('when the card is declined, the order is CANCELLED and the stock is restored', async () => {
    const productId = await product(4);
    const res = await place('carol', productId, 3, 'pm_card_declined');
    await terminal(res.body.orderId, 'carol', 'CANCELLED');
    await waitFor(async () => {
      const s = await stockOf(productId);
      return s.available === 4 && s.reserved === 0;
    }, 'stock restored');
    const payments = await call('GET', `/api/payments?orderId=${res.body.orderId}`, { as: bearer('carol') });
    expect(payments.body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'FAILED' })]);
  });

  it('when the card is flaky, the messaging retries carry it to CONFIRMED', async () => {
    const productId = await product(2);
    const res = await place('dan', productId, 1, 'pm_card_flaky');
    await terminal(res.body.orderId, 'dan', 'CONFIRMED');
    const payments = await call('GET', `/api/payments?orderId=${res.body.orderId}`, { as: bearer('dan') });
    expect(payments.body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', attempts: 3 })]);
  });

  it('200 concurrent orders on a stock of 50: exactly 50 CONFIRMED and the stock is 0', async () => {
    const productId = await product(50);
    const placed = await Promise.all(Array.from({ length: 200 }, (_, i) => place(`buyer-${i}`, productId, 1)));
    expect(placed.every((r) => r.status === 202)).toBe(true);
    const outcomes = await waitFor(async () => {
      const all = await Promise.all(placed.map((p, i) => orderOf(p.body.orderId, `buyer-${i}`)));
      return all.every((o) => o.status === 'CONFIRMED' || o.status === 'REJECTED') && all;
    }, 'every order terminal', 60_000);
    expect(outcomes.filter((o) => o.status === 'CONFIRMED')).toHaveLength(50);
    expect(outcomes.filter((o) => o.status === 'REJECTED')).toHaveLength(150);
    expect(await stockOf(productId)).toMatchObject({ available: 0, reserved: 50 });
  }, 90_000);

  it('the same Idempotency-Key twice gives one order', async () => {
    const productId = await product(10);
    const key = randomUUID();
    const a = await place('erin', productId, 1, 'pm_card_ok', { 'Idempotency-Key': key });
    const b = await place('erin', productId, 1, 'pm_card_ok', { 'Idempotency-Key': key });
    expect(b.body.orderId).toBe(a.body.orderId);
    await terminal(a.body.orderId, 'erin', 'CONFIRMED');
    const list = await call('GET', '/api/orders?limit=100', { as: bearer('erin') });
    expect(list.body.items.filter((o: { items: Array<{ productId: string }> }) => o.items[0]?.productId === productId)).toHaveLength(1);
    expect(await stockOf(productId)).toMatchObject({ available: 9, reserved: 1 });
  });

  it('malformed bodies get 400 naming the field, and nothing is stored', async () => {
    const productId = await product(3);
    const bad = await call('POST', '/api/orders', { as: bearer('fay'), body: { customerId: 'fay', items: [{ productId, quantity: -1, unitPrice: 10 }], paymentMethod: 'pm_card_ok' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'items[0].quantity' })]);
    const notJson = await call('POST', '/api/orders', { as: bearer('fay'), body: '{"customerId": "fay", ' });
    expect(notJson.status).toBe(400);
    const list = await call('GET', '/api/orders', { as: bearer('fay') });
    expect(list.body.items).toEqual([]);
    expect(await stockOf(productId)).toMatchObject({ available: 3, reserved: 0 });
  });

  it("a customer cannot read or create another customer's orders, nor use admin routes", async () => {
    const productId = await product(3);
    const mine = await place('gus', productId, 1);
    expect((await call('GET', `/api/orders/${mine.body.orderId}`, { as: bearer('hal') })).status).toBe(404);
    const forOther = await call('POST', '/api/orders', { as: bearer('hal'), body: { customerId: 'gus', items: [{ productId, quantity: 1, unitPrice: 10 }], paymentMethod: 'pm_card_ok' } });
    expect(forOther.status).toBe(403);
    const stock = await call('PUT', `/api/inventory/${productId}`, { as: bearer('hal'), body: { name: 'x', price: 1, available: 1000 } });
    expect(stock.status).toBe(403);
    expect((await call('GET', '/api/orders')).status).toBe(401);
  });

  it('cancelling a CONFIRMED order refunds the charge and releases the stock', async () => {
    const productId = await product(6);
    const res = await place('ida', productId, 2);
    await terminal(res.body.orderId, 'ida', 'CONFIRMED');
    const cancel = await call('POST', `/api/orders/${res.body.orderId}/cancel`, { as: bearer('ida') });
    expect(cancel.status).toBe(202);
    await terminal(res.body.orderId, 'ida', 'CANCELLED');
    const payments = await waitFor(async () => {
      const p = await call('GET', `/api/payments?orderId=${res.body.orderId}`, { as: bearer('ida') });
      return p.body.items?.length === 2 && p.body.items;
    }, 'the refund');
    expect(payments).toEqual([
      expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: 20 }),
      expect.objectContaining({ type: 'REFUND', status: 'SUCCEEDED', amount: 20 }),
    ]);
    await waitFor(async () => {
      const s = await stockOf(productId);
      return s.available === 6 && s.reserved === 0;
    }, 'stock released');
    expect((await call('POST', `/api/orders/${res.body.orderId}/cancel`, { as: bearer('ida') })).status).toBe(409);
  });

  it('the gateway passes the request id on, and answers unknown routes with JSON', async () => {
    const res = await call('GET', '/api/inventory', { as: admin, headers: { 'X-Request-Id': 'e2e-trace-123' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('e2e-trace-123');
    const unknown = await call('GET', '/nowhere');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/json/);
    expect(unknown.body.code).toBe('GATEWAY.NOT_FOUND');
  });
});
