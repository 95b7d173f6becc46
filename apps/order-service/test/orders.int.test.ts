import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { inventoryFailed, inventoryReserved, paymentCompleted, paymentFailed, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, uniquePrefix, waitFor } from '@orderflow/testkit';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

const body = (customerId: string, paymentMethod = 'pm_card_ok') => ({
  customerId,
  items: [
    { productId: 'PROD-002', quantity: 2, unitPrice: 25 },
    { productId: 'PROD-003', quantity: 1, unitPrice: 75.5 },
  ],
  paymentMethod,
});

describe('order service (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;
  const published: Array<{ eventType: string; payload: { orderId: string } & Record<string, unknown> }> = [];

  beforeAll(async () => {
    sut = await orderServiceUnderTest({ prefix });
    ({ service, ch } = sut);
    await sut.tap('order.events', published);
  });
  afterAll(() => sut.stop());

  // The saga's events of one order share its id as correlation id (as the services publish them): same lane, in order.
  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>) => publishEvent(ch, prefix, contract, payload, { correlationId: (payload as { orderId?: string }).orderId });
  const place = (customerId: string, headers: Record<string, string> = {}) =>
    request(service.app).post('/api/orders').set('Authorization', bearer(customerId)).set(headers).send(body(customerId));
  const get = (id: string, as = 'alice') => request(service.app).get(`/api/orders/${id}`).set('Authorization', bearer(as));
  const eventsFor = (orderId: string) => published.filter((e) => e.payload.orderId === orderId).map((e) => e.eventType);

  it('a valid order is accepted with 202 and Location, stored PENDING with its total, and order.created is published', async () => {
    const res = await place('alice');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'PENDING', customerId: 'alice', total: 125.5 });
    expect(res.headers.location).toBe(`/api/orders/${res.body.orderId}`);
    await waitFor(() => eventsFor(res.body.orderId).includes('order.created'), 'order.created');
    const order = (await get(res.body.orderId)).body;
    expect(order).toMatchObject({ status: 'PENDING', total: 125.5, paymentMethod: 'pm_card_ok', items: body('alice').items });
    expect(order.timeline).toEqual([{ status: 'PENDING', at: expect.any(String), reason: 'order placed' }]);
  });

  it('when stock is reserved and payment completes, the order is CONFIRMED with a timeline of each step', async () => {
    const { orderId } = (await place('alice')).body;
    await publish(inventoryReserved, { orderId, customerId: 'alice', items: body('alice').items, total: 125.5, paymentMethod: 'pm_card_ok' });
    await publish(paymentCompleted, { orderId, customerId: 'alice', paymentId: randomUUID(), amount: 125.5 });
    const order = await waitFor(async () => ((await get(orderId)).body.status === 'CONFIRMED' ? (await get(orderId)).body : null), 'confirmed');
    expect(order.timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'STOCK_RESERVED', 'CONFIRMED']);
    expect(new Date(order.timeline[2].at).getTime()).toBeGreaterThanOrEqual(new Date(order.timeline[0].at).getTime());
    await waitFor(() => eventsFor(orderId).includes('order.confirmed'), 'order.confirmed');
  });

  it('when payment fails, the order is CANCELLED with the reason and order.cancelled is published', async () => {
    const { orderId } = (await place('alice')).body;
    await publish(inventoryReserved, { orderId, customerId: 'alice', items: body('alice').items, total: 125.5, paymentMethod: 'pm_card_declined' });
    await publish(paymentFailed, { orderId, customerId: 'alice', reason: 'card declined' });
    const order = await waitFor(async () => ((await get(orderId)).body.status === 'CANCELLED' ? (await get(orderId)).body : null), 'cancelled');
    expect(order.timeline.at(-1)).toMatchObject({ status: 'CANCELLED', reason: 'payment failed: card declined' });
    await waitFor(() => eventsFor(orderId).includes('order.cancelled'), 'order.cancelled');
  });

  it('an order without prices is accepted unpriced (total and unit prices null) until inventory.reserved brings the catalog prices, which GET then shows', async () => {
    const items = [{ productId: 'PROD-002', quantity: 2 }, { productId: 'PROD-003', quantity: 1, unitPrice: 75 }];
    const res = await request(service.app).post('/api/orders').set('Authorization', bearer('fred')).send({ customerId: 'fred', items, paymentMethod: 'pm_card_ok' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'PENDING', total: null });
    const { orderId } = res.body;
    await waitFor(() => eventsFor(orderId).includes('order.created'), 'order.created');
    const created = published.find((e) => e.payload.orderId === orderId && e.eventType === 'order.created') as unknown as { payload: Record<string, unknown> };
    expect(created.payload.items).toEqual(items);
    expect(created.payload).not.toHaveProperty('total');
    expect((await get(orderId, 'fred')).body).toMatchObject({ status: 'PENDING', total: null, items: [{ productId: 'PROD-002', quantity: 2, unitPrice: null }, { productId: 'PROD-003', quantity: 1, unitPrice: 75 }] });

    const priced = [{ productId: 'PROD-002', quantity: 2, unitPrice: 25 }, { productId: 'PROD-003', quantity: 1, unitPrice: 75 }];
    await publish(inventoryReserved, { orderId, customerId: 'fred', items: priced, total: 125, paymentMethod: 'pm_card_ok' });
    const reserved = await waitFor(async () => ((await get(orderId, 'fred')).body.status === 'STOCK_RESERVED' ? (await get(orderId, 'fred')).body : null), 'stock reserved');
    expect(reserved).toMatchObject({ total: 125, items: priced });
    await publish(paymentCompleted, { orderId, customerId: 'fred', paymentId: randomUUID(), amount: 125 });
    const confirmed = await waitFor(async () => ((await get(orderId, 'fred')).body.status === 'CONFIRMED' ? (await get(orderId, 'fred')).body : null), 'confirmed');
    expect(confirmed).toMatchObject({ total: 125, items: priced });
    const outcome = await waitFor(() => published.find((e) => e.payload.orderId === orderId && e.eventType === 'order.confirmed'), 'order.confirmed');
    expect(outcome.payload).toMatchObject({ total: 125 });
  });

  it('when payment.completed overtakes inventory.reserved, the total is the amount charged; the late reservation then prices the lines and changes nothing else', async () => {
    const res = await request(service.app).post('/api/orders').set('Authorization', bearer('gina')).send({ customerId: 'gina', items: [{ productId: 'PROD-001', quantity: 2 }], paymentMethod: 'pm_card_ok' });
    const { orderId } = res.body;
    await publish(paymentCompleted, { orderId, customerId: 'gina', paymentId: randomUUID(), amount: 1998 });
    const confirmed = await waitFor(async () => ((await get(orderId, 'gina')).body.status === 'CONFIRMED' ? (await get(orderId, 'gina')).body : null), 'confirmed');
    expect(confirmed).toMatchObject({ total: 1998, items: [{ productId: 'PROD-001', quantity: 2, unitPrice: null }] });
    const outcome = await waitFor(() => published.find((e) => e.payload.orderId === orderId && e.eventType === 'order.confirmed'), 'order.confirmed');
    expect(outcome.payload).toMatchObject({ total: 1998 });

    await publish(inventoryReserved, { orderId, customerId: 'gina', items: [{ productId: 'PROD-001', quantity: 2, unitPrice: 999 }], total: 1998, paymentMethod: 'pm_card_ok' });
    const priced = await waitFor(async () => {
      const o = (await get(orderId, 'gina')).body;
      return o.items[0].unitPrice !== null && o;
    }, 'the lines priced');
    expect(priced).toMatchObject({ status: 'CONFIRMED', total: 1998, items: [{ productId: 'PROD-001', quantity: 2, unitPrice: 999 }] });
    expect(priced.timeline.map((t: { status: string }) => t.status)).toEqual(['PENDING', 'CONFIRMED']);
  });

  it('when inventory refuses the client\'s price, the order is REJECTED with the PRICE_MISMATCH reason on its timeline and order.rejected', async () => {
    const res = await request(service.app).post('/api/orders').set('Authorization', bearer('hank')).send({ customerId: 'hank', items: [{ productId: 'PROD-001', quantity: 2, unitPrice: 0.01 }], paymentMethod: 'pm_card_ok' });
    expect(res.body).toMatchObject({ status: 'PENDING', total: 0.02 });
    const { orderId } = res.body;
    const reason = 'PRICE_MISMATCH: line 1 (PROD-001): client price 0.01, catalog price 999.00';
    await publish(inventoryFailed, { orderId, customerId: 'hank', reason, unavailable: [] });
    const rejected = await waitFor(async () => ((await get(orderId, 'hank')).body.status === 'REJECTED' ? (await get(orderId, 'hank')).body : null), 'rejected');
    expect(rejected.timeline.at(-1)).toMatchObject({ status: 'REJECTED', reason });
    const outcome = await waitFor(() => published.find((e) => e.payload.orderId === orderId && e.eventType === 'order.rejected'), 'order.rejected');
    expect(outcome.payload).toMatchObject({ reason });
  });

  it('a price a float rounding error away from whole cents is accepted as those cents (the event meets the contract)', async () => {
    // 1.4300000000000015 passes "at most 2 decimals" but is not a multipleOf(0.01) for zod: it was a 500.
    const items = [{ productId: 'PROD-002', quantity: 3, unitPrice: 1.4300000000000015 }, { productId: 'PROD-003', quantity: 1, unitPrice: 0.380000001 }];
    const res = await request(service.app).post('/api/orders').set('Authorization', bearer('alice')).send({ customerId: 'alice', items, paymentMethod: 'pm_card_ok' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ total: 4.67 });
    expect((await get(res.body.orderId)).body.items).toMatchObject([{ unitPrice: 1.43 }, { unitPrice: 0.38 }]);
    await waitFor(() => eventsFor(res.body.orderId).includes('order.created'), 'order.created');
    const created = published.find((e) => e.payload.orderId === res.body.orderId) as unknown as { payload: { items: unknown } };
    expect(created.payload.items).toMatchObject([{ unitPrice: 1.43 }, { unitPrice: 0.38 }]);
  });

  it('the same Idempotency-Key twice gives one order and one saga', async () => {
    const key = randomUUID();
    const [a, b] = await Promise.all([place('bob', { 'Idempotency-Key': key }), place('bob', { 'Idempotency-Key': key })]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.orderId).toBe(b.body.orderId);
    const list = await request(service.app).get('/api/orders?customerId=bob').set('Authorization', bearer('bob'));
    expect(list.body.items.filter((o: { orderId: string }) => o.orderId === a.body.orderId)).toHaveLength(1);
    await waitFor(() => eventsFor(a.body.orderId).includes('order.created'), 'order.created');
    expect(eventsFor(a.body.orderId).filter((t) => t === 'order.created')).toHaveLength(1);
  });

  it('orders placed at the same moment (written together in one statement) each keep their own lines, total and saga', async () => {
    const key = randomUUID();
    const orders = Array.from({ length: 30 }, (_, i) => ({
      customer: `group-${i % 7}`,
      items: Array.from({ length: 1 + (i % 3) }, (__, l) => ({ productId: `SKU-${i}-${l}`, quantity: 1 + l, unitPrice: 2.5 + i })),
      // Five requests of one customer share an Idempotency-Key: one order for them.
      headers: i % 6 === 0 ? { 'Idempotency-Key': key } : ({} as Record<string, string>),
    })).map((o, i) => (i % 6 === 0 ? { ...o, customer: 'group-key' } : o));
    const responses = await Promise.all(
      orders.map((o) =>
        request(service.app)
          .post('/api/orders')
          .set('Authorization', bearer(o.customer))
          .set(o.headers)
          .send({ customerId: o.customer, items: o.items, paymentMethod: 'pm_card_ok' }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(orders.map(() => 202));
    const keyed = responses.filter((_, i) => i % 6 === 0).map((r) => r.body.orderId);
    expect(new Set(keyed).size).toBe(1);
    const distinct = new Set(responses.map((r) => r.body.orderId));
    expect(distinct.size).toBe(30 - 4);
    for (const [i, o] of orders.entries()) {
      if (i % 6 === 0 && i > 0) continue;
      const stored = (await get(responses[i]!.body.orderId, o.customer)).body;
      expect(stored.items).toEqual(o.items);
      expect(stored.total).toBeCloseTo(o.items.reduce((t, l) => t + l.quantity * l.unitPrice, 0), 2);
      expect(stored.timeline).toEqual([{ status: 'PENDING', at: expect.any(String), reason: 'order placed' }]);
    }
    await waitFor(() => [...distinct].every((id) => eventsFor(id).includes('order.created')), 'order.created for each order');
    for (const id of distinct) expect(eventsFor(id).filter((t) => t === 'order.created')).toHaveLength(1);
  });

  it('malformed bodies get 400 naming each bad field, and nothing is stored', async () => {
    const before = await service.deps.db.order.count();
    const res = await request(service.app)
      .post('/api/orders')
      .set('Authorization', bearer('alice'))
      .send({ customerId: 'alice', items: [{ productId: '', quantity: 0, unitPrice: 1.234 }] });
    expect(res.status).toBe(400);
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['items[0].productId', 'items[0].quantity', 'items[0].unitPrice']);
    const notJson = await request(service.app).post('/api/orders').set('Authorization', bearer('alice')).set('Content-Type', 'application/json').send('{"customerId":');
    expect(notJson.status).toBe(400);
    expect(await service.deps.db.order.count()).toBe(before);
  });

  it("a customer cannot create or read another customer's orders", async () => {
    const forOther = await request(service.app).post('/api/orders').set('Authorization', bearer('mallory')).send(body('alice'));
    expect(forOther.status).toBe(403);
    const { orderId } = (await place('alice')).body;
    expect((await get(orderId, 'mallory')).status).toBe(404);
    expect((await request(service.app).get('/api/orders?customerId=alice').set('Authorization', bearer('mallory'))).status).toBe(403);
    expect((await request(service.app).post(`/api/orders/${orderId}/cancel`).set('Authorization', bearer('mallory'))).status).toBe(404);
    expect((await request(service.app).get(`/api/orders/${orderId}`)).status).toBe(401);
  });

  it('lists newest first with cursor paging and a status filter', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await place('dora')).body.orderId);
    const page1 = await request(service.app).get('/api/orders?limit=2').set('Authorization', bearer('dora'));
    const page2 = await request(service.app).get(`/api/orders?limit=2&cursor=${page1.body.nextCursor}`).set('Authorization', bearer('dora'));
    const page3 = await request(service.app).get(`/api/orders?limit=2&cursor=${page2.body.nextCursor}`).set('Authorization', bearer('dora'));
    const seen = [...page1.body.items, ...page2.body.items, ...page3.body.items].map((o: { orderId: string }) => o.orderId);
    expect(seen).toEqual([...ids].reverse());
    expect(page3.body.nextCursor).toBeNull();
    const pending = await request(service.app).get('/api/orders?status=CONFIRMED').set('Authorization', bearer('dora'));
    expect(pending.body.items).toEqual([]);
    expect((await request(service.app).get('/api/orders?cursor=nope').set('Authorization', bearer('dora'))).status).toBe(400);
  });

  it('lists the orders placed in a time window (since inclusive, until exclusive)', async () => {
    const first = (await place('emil')).body;
    const second = (await place('emil')).body;
    const list = async (q: string) => (await request(service.app).get(`/api/orders?customerId=emil&${q}`).set('Authorization', bearer('ops', 'admin'))).body;
    expect((await list(`since=${encodeURIComponent(second.createdAt)}`)).items.map((o: { orderId: string }) => o.orderId)).toEqual([second.orderId]);
    expect((await list(`until=${encodeURIComponent(second.createdAt)}`)).items.map((o: { orderId: string }) => o.orderId)).toEqual([first.orderId]);
    expect((await list('since=yesterday')).errors).toEqual([expect.objectContaining({ field: 'since' })]);
  });

  it('cancelling a CONFIRMED order cancels it and publishes order.cancelled; cancelling again is 409', async () => {
    const { orderId } = (await place('erin')).body;
    await publish(paymentCompleted, { orderId, customerId: 'erin', paymentId: randomUUID(), amount: 125.5 });
    await waitFor(async () => (await get(orderId, 'erin')).body.status === 'CONFIRMED', 'confirmed');
    const cancel = await request(service.app).post(`/api/orders/${orderId}/cancel`).set('Authorization', bearer('erin'));
    expect(cancel.status).toBe(202);
    expect(cancel.body).toEqual({ orderId, status: 'CANCELLED' });
    await waitFor(() => eventsFor(orderId).includes('order.cancelled'), 'order.cancelled');
    const again = await request(service.app).post(`/api/orders/${orderId}/cancel`).set('Authorization', bearer('erin'));
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('ORDER.NOT_CANCELLABLE');
  });
});
