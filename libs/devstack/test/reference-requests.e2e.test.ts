import { signToken } from '@orderflow/http';
import { TEST_JWT_SECRET, bearer, waitFor } from '@orderflow/testkit';
import { gatewayCall, runScenarios } from '../src/scenarios';
import { systemUnderTest } from './system-under-test';

/**
 * The requests and scenarios of the systems Orderflow replaces (their READMEs; docs/contract.md),
 * against the whole system started as `npm start` starts it, through the Nginx gateway. Each
 * request is sent as their READMEs write it, adjusted only for the host, the /api prefix and a
 * bearer token; the catalog holds their products at their prices.
 */
describe('the requests and scenarios of the systems Orderflow replaces, through the gateway', () => {
  const sut = systemUnderTest('e2e_ref');
  const admin = bearer('ops', 'admin');

  async function call(method: string, path: string, options: { as: string; body?: unknown; headers?: Record<string, string> }) {
    const res = await fetch(`${sut.gateway}${path}`, {
      method,
      headers: { Authorization: options.as, ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...options.headers },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the assertion message
    }
    return { status: res.status, body };
  }

  /** Puts a product in the catalog at this price, whether it exists (a sample product) or not. */
  async function seed(productId: string, name: string, price: number, available = 100): Promise<void> {
    const created = await call('PUT', `/api/inventory/${productId}`, { as: admin, body: { name, price, available }, headers: { 'If-None-Match': '*' } });
    if (created.status === 412) {
      const replaced = await call('PUT', `/api/inventory/${productId}`, { as: admin, body: { name, price, available }, headers: { 'If-Match': '*' } });
      expect(replaced.status).toBe(200);
    } else {
      expect(created.status).toBe(201);
    }
  }

  const terminal = (orderId: string, customer: string) =>
    waitFor(async () => {
      const o = await call('GET', `/api/orders/${orderId}`, { as: bearer(customer) });
      return ['CONFIRMED', 'REJECTED', 'CANCELLED'].includes(o.body.status) && o.body;
    }, `order ${orderId} terminal`, 30_000);

  const notified = (orderId: string, customer: string, template: string) =>
    waitFor(async () => {
      const n = await call('GET', `/api/notifications?orderId=${orderId}`, { as: bearer(customer) });
      return n.body.items?.some((x: { template: string }) => x.template === template) && (n.body.items as Array<{ channel: string; recipient: string; subject: string | null }>);
    }, `${template} notification of ${orderId}`);

  beforeAll(async () => {
    await seed('PROD001', 'iPhone 15 Pro', 999.99);
    await seed('PROD003', 'AirPods Pro', 249.99);
    await seed('PROD-002', 'Mouse', 29.99, 50);
    await seed('item1', 'Item 1', 1999.99);
    await seed('item2', 'Item 2', 600);
    await seed('prod-456', 'Wireless Headphones', 199.99);
  });

  it.each([
    [
      'A (Kafka + Spring Cloud gateway): no customerId, no payment method, price and productName per line',
      'user-a',
      {
        items: [
          { productId: 'PROD001', productName: 'iPhone 15 Pro', quantity: 2, price: 999.99 },
          { productId: 'PROD003', productName: 'AirPods Pro', quantity: 1, price: 249.99 },
        ],
      },
      2249.97,
    ],
    ['B (RabbitMQ + Kubernetes + Nginx)', 'CUST-001', { customerId: 'CUST-001', items: [{ productId: 'PROD-002', productName: 'Mouse', quantity: 1, price: 29.99 }] }, 29.99],
    ['C (Kafka with an edge service): a total and product ids only', 'OMS-Cust-001', { customerId: 'OMS-Cust-001', totalAmount: 2599.99, productIds: ['item1', 'item2'] }, 2599.99],
    [
      'E (Kafka pipeline): email, total and shipping address',
      'cust-123',
      {
        customerId: 'cust-123',
        customerEmail: 'john@example.com',
        totalAmount: 199.99,
        shippingAddress: '123 Main St, City, Country',
        items: [{ productId: 'prod-456', productName: 'Wireless Headphones', quantity: 1, price: 199.99 }],
      },
      199.99,
    ],
  ])('%s: answered 202 and CONFIRMED at the catalog total', async (_name, customer, body, total) => {
    const res = await call('POST', '/api/orders', { as: bearer(customer), body });
    expect(res).toMatchObject({ status: 202, body: { status: 'PENDING', customerId: customer } });
    const order = await terminal(res.body.orderId, customer);
    expect(order).toMatchObject({ status: 'CONFIRMED', total });
    const payments = await call('GET', `/api/payments?orderId=${order.orderId}`, { as: bearer(customer) });
    expect(payments.body.items).toEqual([expect.objectContaining({ type: 'CHARGE', status: 'SUCCEEDED', amount: total })]);
  });

  it("E's customer is told at the email address the order gave, with the subject its users look for", async () => {
    const res = await call('POST', '/api/orders', {
      as: bearer('cust-123'),
      body: { customerId: 'cust-123', customerEmail: 'john@example.com', totalAmount: 199.99, items: [{ productId: 'prod-456', quantity: 1, price: 199.99 }] },
    });
    expect(res.status).toBe(202);
    const notes = await notified(res.body.orderId, 'cust-123', 'order-confirmed');
    const ref = (res.body.orderId as string).replace(/-/g, '').slice(-8);
    expect(notes).toEqual(expect.arrayContaining([expect.objectContaining({ channel: 'EMAIL', recipient: 'john@example.com', subject: `Order #${ref} - Payment Successful!` })]));
  });

  it("C's claimed total that is not the catalog's ends REJECTED with PRICE_MISMATCH, nothing reserved", async () => {
    const before = (await call('GET', '/api/inventory/item1', { as: admin })).body;
    const res = await call('POST', '/api/orders', { as: bearer('OMS-Cust-001'), body: { customerId: 'OMS-Cust-001', totalAmount: 2000, productIds: ['item1', 'item2'] } });
    expect(res.status).toBe(202);
    const order = await terminal(res.body.orderId, 'OMS-Cust-001');
    expect(order.status).toBe('REJECTED');
    expect(order.timeline.at(-1).reason).toBe('PRICE_MISMATCH: total: client total 2000.00, catalog total 2599.99');
    expect((await call('GET', '/api/inventory/item1', { as: admin })).body).toMatchObject({ available: before.available, reserved: before.reserved });
  });

  it("a blocked customer's order (their customer service's check) ends REJECTED with CUSTOMER_BLOCKED: nothing reserved, nothing charged", async () => {
    expect((await call('PUT', '/api/customers/cust-blocked', { as: admin, body: { status: 'BLOCKED' } })).body).toMatchObject({ status: 'BLOCKED' });
    const before = (await call('GET', '/api/inventory/PROD-002', { as: admin })).body;
    const res = await call('POST', '/api/orders', { as: bearer('cust-blocked'), body: { items: [{ productId: 'PROD-002', productName: 'Mouse', quantity: 1, price: 29.99 }] } });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('REJECTED');
    const order = await terminal(res.body.orderId, 'cust-blocked');
    expect(order.timeline.at(-1).reason).toBe('CUSTOMER_BLOCKED');
    await notified(res.body.orderId, 'cust-blocked', 'order-rejected');
    expect((await call('GET', '/api/inventory/PROD-002', { as: admin })).body).toMatchObject({ available: before.available, reserved: before.reserved });
    expect((await call('GET', `/api/payments?orderId=${res.body.orderId}`, { as: admin })).body.items).toEqual([]);
    await call('PUT', '/api/customers/cust-blocked', { as: admin, body: { status: 'ACTIVE' } });
  });

  it('the classic scenarios (npm run scenarios) end as expected through the same gateway', async () => {
    const lines: string[] = [];
    const token = (sub: string, role: 'customer' | 'admin') => signToken({ sub, role }, TEST_JWT_SECRET);
    const results = await runScenarios({
      call: gatewayCall(sut.gateway),
      adminToken: token('scenarios', 'admin'),
      customerToken: (customerId) => token(customerId, 'customer'),
      orders: 10,
      runId: 'e2e',
      say: (line) => lines.push(line),
      timeoutMs: 20_000,
    });
    expect({ failed: results.filter((r) => !r.ok), output: lines.join('\n') }).toMatchObject({ failed: [] });
    expect(lines.join('\n')).toMatch(/EMAIL NOTIFICATION SENT to alice@example\.com: Order #[0-9a-f]{8} - Payment Successful!/);
    expect(lines.join('\n')).toMatch(/SMS NOTIFICATION SENT to \+1 555 0100: /);
  }, 300_000);
});
