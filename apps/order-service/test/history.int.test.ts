import request from 'supertest';
import { createPools, pgStatements, pgTransactions } from '@orderflow/db';
import { inventoryReleased, inventoryReserved, paymentCompleted, paymentFailed, paymentRefunded, type EventContract, type PayloadOf } from '@orderflow/events';
import type { Service } from '@orderflow/service';
import { bearer, publishEvent, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import type { Db, Tx } from '../src/db';
import { rebuildOrders, verifyProjection } from '../src/rebuild';
import { orderServiceUnderTest } from './support';

/**
 * The order's event-sourced history against the real order service, PostgreSQL and RabbitMQ:
 * the events of an order, PATCH, blocked customers, and the projection rebuilt from the events.
 */
describe('order history (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let pools: ReturnType<typeof createPools>;
  const published: Array<{ eventType: string; payload: { orderId: string } & Record<string, unknown> }> = [];

  beforeAll(async () => {
    sut = await orderServiceUnderTest({ prefix });
    service = sut.service;
    await sut.tap('order.events', published);
    pools = createPools({ url: service.deps.config.DATABASE_URL, httpSize: 2, messagingSize: 2, timeouts: { statementTimeoutMs: 0, lockTimeoutMs: 0, idleInTransactionTimeoutMs: 0 }, onIdleError: () => undefined });
  });
  afterAll(async () => {
    await pools.http.end();
    await pools.messaging.end();
    await sut.stop();
  });

  const send = <C extends EventContract>(contract: C, payload: PayloadOf<C>) => publishEvent(sut.ch, prefix, contract, payload, { correlationId: (payload as { orderId?: string }).orderId });
  const place = async (customerId: string, extra: Record<string, unknown> = {}) => {
    const res = await request(service.app)
      .post('/api/orders')
      .set('Authorization', bearer(customerId))
      .send({ items: [{ productId: 'PROD-002', quantity: 2, price: 25 }], ...extra });
    expect(res.status).toBe(202);
    return res.body as { orderId: string; status: string };
  };
  const get = (id: string, as = 'alice') => request(service.app).get(`/api/orders/${id}`).set('Authorization', as === 'admin' ? bearer('root', 'admin') : bearer(as));
  const eventsOf = async (id: string, as = 'alice') => (await request(service.app).get(`/api/orders/${id}/events`).set('Authorization', bearer(as))).body;
  const statusOf = async (id: string) => (await get(id, 'admin')).body.status as string;
  const reserved = (orderId: string, customerId = 'alice'): PayloadOf<typeof inventoryReserved> => ({
    orderId,
    customerId,
    items: [{ productId: 'PROD-002', quantity: 2, unitPrice: 25 }],
    total: 50,
    paymentMethod: 'unspecified',
    catalogPriced: false,
  });

  it("an order's events are ordered and complete: placed, reserved, paid, cancelled, released, refunded — and its timeline is read from them", async () => {
    const { orderId } = await place('alice', { customerEmail: 'alice@example.com' });
    await send(inventoryReserved, reserved(orderId));
    await send(paymentCompleted, { orderId, customerId: 'alice', paymentId: '00000000-0000-4000-8000-000000000001', amount: 50 });
    await waitFor(async () => (await statusOf(orderId)) === 'CONFIRMED', 'CONFIRMED');
    expect((await request(service.app).post(`/api/orders/${orderId}/cancel`).set('Authorization', bearer('alice'))).status).toBe(202);
    await send(inventoryReleased, { orderId, reason: 'order cancelled' });
    await send(paymentRefunded, { orderId, customerId: 'alice', paymentId: '00000000-0000-4000-8000-000000000002', amount: 50 });
    await waitFor(async () => (await eventsOf(orderId)).events.length === 6, 'six events');
    const history = await eventsOf(orderId);
    expect(history.events.map((e: { seq: number; type: string; status: string }) => [e.seq, e.type, e.status])).toEqual([
      [1, 'OrderPlaced', 'PENDING'],
      [2, 'StockReserved', 'STOCK_RESERVED'],
      [3, 'PaymentCompleted', 'CONFIRMED'],
      [4, 'OrderCancelled', 'CANCELLED'],
      [5, 'StockReleased', 'CANCELLED'],
      [6, 'PaymentRefunded', 'CANCELLED'],
    ]);
    expect(history.events[0].data).toMatchObject({ customerId: 'alice', paymentMethod: 'unspecified', total: 50, contact: { email: 'alice@example.com' } });
    expect(history.version).toBe(6);
    const order = (await get(orderId)).body;
    expect(order.version).toBe(6);
    expect(order.timeline).toEqual(history.events.map((e: { status: string; at: string; reason: string }) => ({ status: e.status, at: e.at, reason: e.reason })));
    // Another customer sees neither the order nor its events.
    expect((await request(service.app).get(`/api/orders/${orderId}/events`).set('Authorization', bearer('mallory'))).status).toBe(404);
  });

  it('PATCH changes the contact and shipping address of an open order, records OrderUpdated and publishes order.updated; on a cancelled order it is 409', async () => {
    const { orderId } = await place('alice', { customerEmail: 'alice@example.com', shippingAddress: '1 Old Road' });
    const patch = (body: object, as = 'alice') => request(service.app).patch(`/api/orders/${orderId}`).set('Authorization', bearer(as)).send(body);
    const res = await patch({ shippingAddress: '2 New Street, Leeds', customerPhone: '+44 113 496 0000', customerEmail: 'alice@example.com' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ orderId, customerEmail: 'alice@example.com', customerPhone: '+44 113 496 0000', shippingAddress: '2 New Street, Leeds', version: 2 });
    const updated = (await eventsOf(orderId)).events[1];
    expect(updated).toMatchObject({ seq: 2, type: 'OrderUpdated', status: 'PENDING', data: { contact: { phone: '+44 113 496 0000', shippingAddress: '2 New Street, Leeds' } } });
    await waitFor(() => published.some((e) => e.eventType === 'order.updated' && e.payload.orderId === orderId), 'order.updated');
    expect(published.find((e) => e.eventType === 'order.updated' && e.payload.orderId === orderId)!.payload).toMatchObject({
      contact: { email: 'alice@example.com', phone: '+44 113 496 0000', shippingAddress: '2 New Street, Leeds' },
      changed: ['phone', 'shippingAddress'],
    });
    // PUT is the same update (the event-sourcing systems' clients send PUT /orders/{id}).
    const put = await request(service.app).put(`/api/orders/${orderId}`).set('Authorization', bearer('alice')).send({ customerEmail: 'alice@work.example' });
    expect(put.body).toMatchObject({ customerEmail: 'alice@work.example', version: 3 });
    expect((await patch({ customerEmail: 'not-an-email' })).body.errors.map((e: { field: string }) => e.field)).toEqual(['customerEmail']);
    expect((await patch({})).status).toBe(400);
    expect((await patch({ shippingAddress: 'Elsewhere' }, 'mallory')).status).toBe(404);
    await send(paymentFailed, { orderId, customerId: 'alice', reason: 'card declined' });
    await waitFor(async () => (await statusOf(orderId)) === 'CANCELLED', 'CANCELLED');
    const refused = await patch({ shippingAddress: '3 Late Lane' });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('ORDER.NOT_UPDATABLE');
    expect((await get(orderId)).body.shippingAddress).toBe('2 New Street, Leeds');
  });

  it("a blocked customer's new order ends REJECTED (CUSTOMER_BLOCKED) without order.created; unblocked, the next one starts the saga", async () => {
    const admin = (status: string) => request(service.app).put('/api/customers/bob').set('Authorization', bearer('root', 'admin')).send({ status });
    expect((await request(service.app).put('/api/customers/bob').set('Authorization', bearer('bob')).send({ status: 'ACTIVE' })).status).toBe(403);
    expect((await admin('SUSPENDED')).status).toBe(400);
    expect((await admin('BLOCKED')).body).toMatchObject({ customerId: 'bob', status: 'BLOCKED' });
    const blocked = await place('bob');
    expect(blocked.status).toBe('REJECTED');
    const order = (await get(blocked.orderId, 'bob')).body;
    expect(order.timeline.map((t: { status: string; reason: string }) => [t.status, t.reason])).toEqual([
      ['PENDING', 'order placed'],
      ['REJECTED', 'CUSTOMER_BLOCKED'],
    ]);
    await waitFor(() => published.some((e) => e.eventType === 'order.rejected' && e.payload.orderId === blocked.orderId), 'order.rejected');
    expect(published.find((e) => e.payload.orderId === blocked.orderId && e.eventType === 'order.rejected')!.payload.reason).toBe('CUSTOMER_BLOCKED');
    expect(published.filter((e) => e.payload.orderId === blocked.orderId && e.eventType === 'order.created')).toEqual([]);
    await admin('ACTIVE');
    const again = await place('bob');
    expect(again.status).toBe('PENDING');
    await waitFor(() => published.some((e) => e.eventType === 'order.created' && e.payload.orderId === again.orderId), 'order.created');
  });

  it('after a run of concurrent, repeated and reordered saga events, every row is what its events fold to, and the table rebuilt from the events (while orders keep moving) equals it', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await place(`chaos-${i % 7}`, i % 3 === 0 ? { customerEmail: `c${i}@example.com` } : {})).orderId);
    // Each order gets a random mix: reserved, paid or failed, cancelled, duplicates, out of order.
    const sends: Array<Promise<unknown>> = [];
    ids.forEach((orderId, i) => {
      const customerId = `chaos-${i % 7}`;
      const r = reserved(orderId, customerId);
      const steps = [
        () => send(inventoryReserved, { ...r, catalogPriced: i % 2 === 0 ? undefined : false }),
        () => (i % 4 === 1 ? send(paymentFailed, { orderId, customerId, reason: 'card declined' }) : send(paymentCompleted, { orderId, customerId, paymentId: '00000000-0000-4000-8000-000000000003', amount: 50 })),
        () => (i % 5 === 0 ? request(service.app).post(`/api/orders/${orderId}/cancel`).set('Authorization', bearer(customerId)) : Promise.resolve()),
        () => (i % 6 === 0 ? request(service.app).patch(`/api/orders/${orderId}`).set('Authorization', bearer(customerId)).send({ shippingAddress: `${i} Chaos Way` }) : Promise.resolve()),
        () => send(inventoryReserved, r),
      ];
      if (i % 3 === 0) steps.reverse();
      for (const s of steps) sends.push(s());
    });
    await Promise.all(sends);
    const sql = pgStatements(pools.http);
    // While the rebuild runs, more orders move: the swap catches them up.
    const moving = (async () => {
      for (let i = 0; i < 10; i++) await place('late', { shippingAddress: `${i} Late Street` });
    })();
    await waitFor(async () => {
      const [n] = await sql.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM orders WHERE status IN ('PENDING', 'STOCK_RESERVED') AND customer_id LIKE 'chaos-%'`);
      return n!.n === 0;
    }, 'chaos orders settled');
    const live = await verifyProjection(sql);
    expect(live).toMatchObject({ mismatched: 0, examples: [] });
    const snapshot = async (where = 'true') => sql.$queryRawUnsafe<unknown[]>(`SELECT * FROM orders WHERE ${where} ORDER BY id`);
    const settled = await snapshot(`customer_id LIKE 'chaos-%'`);
    // A row that drifted from its events is found, and the rebuild puts it back.
    await sql.$executeRawUnsafe(`UPDATE orders SET total = total + 1, shipping_address = 'drifted' WHERE id = $1::uuid`, ids[0]);
    expect((await verifyProjection(sql)).examples).toEqual([{ orderId: ids[0], fields: ['total', 'shippingAddress'] }]);
    const rebuilt = await rebuildOrders(sql, pgTransactions(pools.messaging), { pageSize: 7 });
    await moving;
    expect(await snapshot(`customer_id LIKE 'chaos-%'`)).toEqual(settled);
    const before = await snapshot();
    expect(rebuilt.orders).toBeGreaterThanOrEqual(ids.length + 3);
    expect((await verifyProjection(sql)).mismatched).toBe(0);
    // The rebuilt table is the projection the service keeps writing to.
    const { orderId } = await place('after-rebuild');
    await send(inventoryReserved, reserved(orderId, 'after-rebuild'));
    await waitFor(async () => (await statusOf(orderId)) === 'STOCK_RESERVED', 'STOCK_RESERVED after the rebuild');
    expect((await snapshot()).length).toBe(before.length + 1);
    expect((await verifyProjection(sql)).mismatched).toBe(0);
    const indexes = await sql.$queryRawUnsafe<Array<{ name: string }>>(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'orders' ORDER BY 1`);
    expect(indexes.map((i) => i.name)).toEqual(['orders_customer_id_created_at_id_idx', 'orders_customer_id_idempotency_key_key', 'orders_order_ref_key', 'orders_pkey']);
  });
});
