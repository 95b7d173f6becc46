import { randomBytes, randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import {
  createEvent,
  orderCancelled,
  orderCreated,
  paymentFailed,
  type Envelope,
  type EventContract,
  type EventOf,
  type PayloadOf,
} from '@orderflow/events';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { AMQP_URL, bearer, cloneDatabase, deleteTopologies, serviceEnv, uniquePrefix, waitFor } from '@orderflow/testkit';
import { api } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { seedSampleProducts } from '../src/samples';
import { topology } from '../src/topology';

const admin = bearer('admin', 'admin');
const customer = bearer('alice');

describe('inventory service (real PostgreSQL and RabbitMQ, two instances)', () => {
  const prefix = uniquePrefix();
  let db: Awaited<ReturnType<typeof cloneDatabase>>;
  // Two instances on one database and one queue, as with 2 replicas in production.
  let service: Service<Db, Tx>;
  let replica: Service<Db, Tx>;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;
  const received: Envelope[] = [];

  beforeAll(async () => {
    db = await cloneDatabase('inventory');
    // A small prefetch window so the broker spreads deliveries over both instances.
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: db.url, TOPOLOGY_PREFIX: prefix, PREFETCH: '20' }));
    const build = () =>
      buildService({
        name: 'inventory-service',
        config,
        topology: (p) => topology(p, config.RETRY_DELAYS_MS),
        database,
        routes: api,
        subscriptions,
        onStart: seedSampleProducts,
      });
    service = build();
    replica = build();
    await Promise.all([service.start(), replica.start()]);
    conn = await amqplib.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
    // Our own exclusive queue on inventory.events: what the service published, as others see it.
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, `${prefix}inventory.events`, '#');
    await ch.consume(queue, (msg) => msg && received.push(JSON.parse(msg.content.toString('utf8')) as Envelope), { noAck: true });
  });
  afterAll(async () => {
    await conn.close();
    await Promise.all([service.stop(), replica.stop()]);
    await deleteTopologies(service.deps.messaging.topology);
    await db.drop();
  });

  function send<C extends EventContract>(contract: C, payload: PayloadOf<C>): EventOf<C> {
    const event = createEvent(contract, payload, { source: 'test', correlationId: (payload as { orderId: string }).orderId });
    ch.publish(`${prefix}${contract.exchange}`, contract.type, Buffer.from(JSON.stringify(event)), { persistent: true });
    return event;
  }

  async function publish<C extends EventContract>(contract: C, payload: PayloadOf<C>): Promise<EventOf<C>> {
    const event = send(contract, payload);
    await ch.waitForConfirms();
    return event;
  }

  const eventsFor = (orderId: string, type?: string): Envelope[] =>
    received.filter((e) => (e.payload as { orderId?: string }).orderId === orderId && (!type || e.eventType === type));

  const answerTo = (orderId: string, type: string): Promise<Envelope> =>
    waitFor(() => eventsFor(orderId, type)[0], `${type} for order ${orderId}`);

  /** All given events are in the inbox: handled (or dropped as duplicates) and committed. */
  const handled = (...eventIds: string[]): Promise<boolean> =>
    waitFor(
      async () => (await service.deps.db.processedEvent.count({ where: { eventId: { in: [...new Set(eventIds)] } } })) === new Set(eventIds).size,
      'events handled',
    );

  async function product(productId: string, name = 'Widget', price = 12.5, available = 10): Promise<string> {
    const res = await request(service.app).put(`/api/inventory/${productId}`).set('Authorization', admin).send({ name, price, available });
    expect(res.status).toBe(201);
    return productId;
  }

  const sku = (tag: string): string => `${tag}-${randomBytes(4).toString('hex')}`;

  const stockOf = async (productId: string) =>
    (await request(service.app).get(`/api/inventory/${productId}`).set('Authorization', customer)).body as { available: number; reserved: number };

  /** An order.created as the order service sends it: a line's unitPrice only when the client claimed one. */
  const order = (items: Array<{ productId: string; quantity: number; unitPrice?: number }>, orderId = randomUUID()): PayloadOf<typeof orderCreated> => ({
    orderId,
    customerId: 'alice',
    items,
    paymentMethod: 'pm_card_ok',
  });

  it('after start the sample products exist; seeding again (restart, second replica) overwrites nothing', async () => {
    const list = await request(service.app).get('/api/inventory').set('Authorization', customer);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual(
      expect.arrayContaining([
        { productId: 'PROD-001', name: 'Laptop', price: 999, available: 10, reserved: 0, version: 1 },
        { productId: 'PROD-002', name: 'Mouse', price: 25, available: 50, reserved: 0, version: 1 },
        { productId: 'PROD-003', name: 'Keyboard', price: 75, available: 100, reserved: 0, version: 1 },
      ]),
    );
    const changed = await request(service.app).put('/api/inventory/PROD-003').set('Authorization', admin).set('If-Match', '"1"').send({ name: 'Keyboard', price: 75, available: 7 });
    expect(changed.status).toBe(200);
    await seedSampleProducts(service.deps);
    expect(await stockOf('PROD-003')).toMatchObject({ available: 7, reserved: 0 });
  });

  it('when every line is in stock, inventory.reserved carries the order priced from the catalog and the stock moves from available to reserved', async () => {
    const a = await product(sku('A'), 'Widget', 12.5, 10);
    const b = await product(sku('B'), 'Gadget', 3, 5);
    // Two lines of the same product count together; a line may carry the catalog price or none.
    const payload = order([{ productId: a, quantity: 2 }, { productId: b, quantity: 1, unitPrice: 3 }, { productId: a, quantity: 1 }]);
    const created = await publish(orderCreated, payload);

    const reserved = await answerTo(payload.orderId, 'inventory.reserved');
    expect(reserved).toMatchObject({ source: 'inventory', correlationId: payload.orderId, causationId: created.eventId });
    expect(reserved.payload).toEqual({
      orderId: payload.orderId,
      customerId: 'alice',
      items: [
        { productId: a, quantity: 2, unitPrice: 12.5 },
        { productId: b, quantity: 1, unitPrice: 3 },
        { productId: a, quantity: 1, unitPrice: 12.5 },
      ],
      total: 40.5,
      paymentMethod: 'pm_card_ok',
      // Lines without a client price: the order service has prices to record.
      catalogPriced: true,
    });
    expect(await stockOf(a)).toMatchObject({ available: 7, reserved: 3 });
    expect(await stockOf(b)).toMatchObject({ available: 4, reserved: 1 });
    expect(eventsFor(payload.orderId)).toHaveLength(1);
  });

  it('when one line is short, inventory.failed names the shortage and no stock is touched', async () => {
    const a = await product(sku('A'), 'Widget', 1, 10);
    const b = await product(sku('B'), 'Gadget', 1, 1);
    const payload = order([{ productId: a, quantity: 2 }, { productId: b, quantity: 2 }]);
    await publish(orderCreated, payload);

    const failed = await answerTo(payload.orderId, 'inventory.failed');
    expect(failed.payload).toEqual({
      orderId: payload.orderId,
      customerId: 'alice',
      reason: `insufficient stock for ${b} (requested 2, available 1)`,
      unavailable: [{ productId: b, requested: 2, available: 1 }],
    });
    expect(await stockOf(a)).toMatchObject({ available: 10, reserved: 0 });
    expect(await stockOf(b)).toMatchObject({ available: 1, reserved: 0 });
    expect(await service.deps.db.reservation.count({ where: { orderId: payload.orderId } })).toBe(0);
  });

  it('a client price that differs from the catalog price: inventory.failed with PRICE_MISMATCH naming line, product and both prices; nothing is reserved', async () => {
    const p = await product(sku('PRICE'), 'Laptop', 10, 5);
    const q = await product(sku('OK'), 'Mouse', 2, 5);
    // All lines priced by the client, so the order.created carries its claimed total too.
    const payload = { ...order([{ productId: q, quantity: 1, unitPrice: 2 }, { productId: p, quantity: 2, unitPrice: 0.01 }]), total: 2.02 };
    await publish(orderCreated, payload);

    const failed = await answerTo(payload.orderId, 'inventory.failed');
    expect(failed.payload).toEqual({
      orderId: payload.orderId,
      customerId: 'alice',
      reason: `PRICE_MISMATCH: line 2 (${p}): client price 0.01, catalog price 10.00`,
      unavailable: [],
    });
    expect(eventsFor(payload.orderId).map((e) => e.eventType)).toEqual(['inventory.failed']);
    expect(await stockOf(p)).toMatchObject({ available: 5, reserved: 0 });
    expect(await stockOf(q)).toMatchObject({ available: 5, reserved: 0 });
    expect(await service.deps.db.reservation.count({ where: { orderId: payload.orderId } })).toBe(0);
  });

  it('a claimed total without line prices (a totalAmount) that is not the catalog total: inventory.failed with PRICE_MISMATCH naming both totals; one that is, is reserved', async () => {
    const p = await product(sku('ITEM'), 'Phone', 1999.99, 5);
    const q = await product(sku('ITEM'), 'Case', 600, 5);
    const wrong = { ...order([{ productId: p, quantity: 1 }, { productId: q, quantity: 1 }]), total: 2500 };
    const right = { ...order([{ productId: p, quantity: 1 }, { productId: q, quantity: 1 }]), total: 2599.99 };
    await publish(orderCreated, wrong);
    expect((await answerTo(wrong.orderId, 'inventory.failed')).payload).toEqual({
      orderId: wrong.orderId,
      customerId: 'alice',
      reason: 'PRICE_MISMATCH: total: client total 2500.00, catalog total 2599.99',
      unavailable: [],
    });
    expect(await service.deps.db.reservation.count({ where: { orderId: wrong.orderId } })).toBe(0);
    await publish(orderCreated, right);
    expect((await answerTo(right.orderId, 'inventory.reserved')).payload).toMatchObject({ total: 2599.99, catalogPriced: true });
    expect(await stockOf(p)).toMatchObject({ available: 4, reserved: 1 });
  });

  it('the price is the catalog price when the order is reserved: a price change reaches the next orders', async () => {
    const p = await product(sku('REPRICE'), 'Widget', 4, 10);
    const before = order([{ productId: p, quantity: 3 }]);
    await publish(orderCreated, before);
    expect((await answerTo(before.orderId, 'inventory.reserved')).payload).toMatchObject({ items: [{ unitPrice: 4 }], total: 12, catalogPriced: true });
    await service.deps.db.product.update({ where: { id: p }, data: { price: 4.25 } });
    const after = order([{ productId: p, quantity: 3, unitPrice: 4.25 }]);
    await publish(orderCreated, after);
    // Every line claimed the catalog's price: nothing for the order service to record.
    expect((await answerTo(after.orderId, 'inventory.reserved')).payload).toMatchObject({ items: [{ unitPrice: 4.25 }], total: 12.75, catalogPriced: false });
  });

  it('an order naming an unknown product fails with a reason that names it', async () => {
    const payload = order([{ productId: 'PROD-001', quantity: 1 }, { productId: 'NO-SUCH-THING', quantity: 1 }]);
    await publish(orderCreated, payload);
    const failed = await answerTo(payload.orderId, 'inventory.failed');
    expect(failed.payload).toMatchObject({ reason: 'unknown product NO-SUCH-THING', unavailable: [{ productId: 'NO-SUCH-THING', requested: 1, available: 0 }] });
    expect(await stockOf('PROD-001')).toMatchObject({ available: 10, reserved: 0 });
  });

  it('200 orders of 1 unit for a stock of 50, handled by two instances: exactly 50 are reserved, none oversold', async () => {
    const p = await product(sku('HOT'), 'Hot item', 5, 50);
    const handledBefore = await Promise.all([service, replica].map(orderCreatedHandled));
    const orders = Array.from({ length: 200 }, () => order([{ productId: p, quantity: 1 }]));
    for (const o of orders) send(orderCreated, o);
    await ch.waitForConfirms();

    await waitFor(() => orders.every((o) => eventsFor(o.orderId).length > 0), 'an answer to each of the 200 orders', 30_000);
    const answers = orders.flatMap((o) => eventsFor(o.orderId));
    expect(answers).toHaveLength(200);
    expect(answers.filter((e) => e.eventType === 'inventory.reserved')).toHaveLength(50);
    expect(answers.filter((e) => e.eventType === 'inventory.failed')).toHaveLength(150);
    expect(await stockOf(p)).toMatchObject({ available: 0, reserved: 50 });
    expect(await service.deps.db.reservation.aggregate({ where: { productId: p, status: 'RESERVED' }, _sum: { quantity: true }, _count: true })).toEqual({
      _sum: { quantity: 50 },
      _count: 50,
    });
    // Both instances really took part.
    const handledAfter = await Promise.all([service, replica].map(orderCreatedHandled));
    expect(handledAfter[0]! - handledBefore[0]!).toBeGreaterThan(0);
    expect(handledAfter[1]! - handledBefore[1]!).toBeGreaterThan(0);
    expect(handledAfter[0]! + handledAfter[1]! - handledBefore[0]! - handledBefore[1]!).toBe(200);
  });

  it('when payment fails, the stock is released and inventory.released is published once, however often the news arrives', async () => {
    const p = await product(sku('PAY'), 'Widget', 1, 10);
    const payload = order([{ productId: p, quantity: 3 }]);
    await publish(orderCreated, payload);
    await answerTo(payload.orderId, 'inventory.reserved');
    expect(await stockOf(p)).toMatchObject({ available: 7, reserved: 3 });

    const failed = createEvent(paymentFailed, { orderId: payload.orderId, customerId: 'alice', reason: 'card declined' }, { source: 'test', correlationId: payload.orderId });
    // The same event delivered twice, then the same news as new events (another id, a cancel).
    for (let i = 0; i < 2; i++) ch.publish(`${prefix}payment.events`, 'payment.failed', Buffer.from(JSON.stringify(failed)), { persistent: true });
    const again = send(paymentFailed, failed.payload);
    const cancelled = send(orderCancelled, { orderId: payload.orderId, customerId: 'alice', total: 3, reason: 'payment declined' });
    await ch.waitForConfirms();
    await handled(failed.eventId, again.eventId, cancelled.eventId);

    const released = await answerTo(payload.orderId, 'inventory.released');
    expect(released.payload).toEqual({ orderId: payload.orderId, reason: 'payment failed: card declined' });
    expect(released.causationId).toBe(failed.eventId);
    expect(await stockOf(p)).toMatchObject({ available: 10, reserved: 0 });
    expect(await service.deps.db.reservation.findMany({ where: { orderId: payload.orderId }, select: { productId: true, quantity: true, status: true } })).toEqual([
      { productId: p, quantity: 3, status: 'RELEASED' },
    ]);
    await waitFor(async () => (await service.deps.messaging.relay.unsentCount()) === 0, 'outbox relayed');
    await waitFor(async () => (await ch.checkQueue(`${prefix}inventory.saga`)).messageCount === 0, 'queue drained');
    expect(eventsFor(payload.orderId, 'inventory.released')).toHaveLength(1);
  });

  it('when the cancellation arrives before order.created, nothing is reserved and the order is answered "order cancelled"', async () => {
    const p = await product(sku('RACE'), 'Widget', 1, 5);
    const payload = order([{ productId: p, quantity: 2 }]);
    // Cancelled before inventory priced it: the order has no total yet.
    const cancelled = await publish(orderCancelled, { orderId: payload.orderId, customerId: 'alice', total: null, reason: 'cancelled by customer' });
    await handled(cancelled.eventId);
    await publish(orderCreated, payload);

    const failed = await answerTo(payload.orderId, 'inventory.failed');
    expect(failed.payload).toEqual({ orderId: payload.orderId, customerId: 'alice', reason: 'order cancelled', unavailable: [] });
    expect(await stockOf(p)).toMatchObject({ available: 5, reserved: 0 });
    expect(await service.deps.db.reservation.count({ where: { orderId: payload.orderId } })).toBe(0);
    expect(eventsFor(payload.orderId).map((e) => e.eventType)).toEqual(['inventory.failed']);
  });

  it('an admin creates a product (201) and replaces it with its ETag in If-Match (200): available is set, reserved stays as it is', async () => {
    const id = sku('ADM');
    const created = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: 'Desk', price: 149.99, available: 4 });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/inventory/${id}`);
    expect(created.body).toEqual({ productId: id, name: 'Desk', price: 149.99, available: 4, reserved: 0, version: 1 });

    const payload = order([{ productId: id, quantity: 3 }]);
    await publish(orderCreated, payload);
    await answerTo(payload.orderId, 'inventory.reserved');

    // A replace names the version it read (the reservation changed it): If-Match with the ETag.
    const { etag } = (await request(service.app).get(`/api/inventory/${id}`).set('Authorization', admin)).headers;
    const replaced = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', String(etag)).send({ name: 'Standing desk', price: 199, available: 20 });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toEqual({ productId: id, name: 'Standing desk', price: 199, available: 20, reserved: 3, version: expect.any(Number) });
    expect(replaced.headers.etag).toBe(`"${replaced.body.version}"`);
    expect(replaced.headers.etag).not.toBe(etag);
    expect(await stockOf(id)).toMatchObject({ available: 20, reserved: 3 });
  });

  it('a bad product body is refused with 400 naming each bad field, and nothing is stored', async () => {
    const id = sku('BAD');
    const res = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: ' ', price: 1.234, available: 1.5 });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['available', 'name', 'price']);
    const negative = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: 'x'.repeat(201), price: -1, available: -1 });
    expect(negative.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['available', 'name', 'price']);
    expect((await request(service.app).get(`/api/inventory/${id}`).set('Authorization', admin)).status).toBe(404);
  });

  it('only an admin may change stock; reading needs a token; an unknown product is a 404 problem', async () => {
    const forbidden = await request(service.app).put('/api/inventory/PROD-001').set('Authorization', customer).send({ name: 'Free laptop', price: 0, available: 1000 });
    expect(forbidden.status).toBe(403);
    expect(await stockOf('PROD-001')).toMatchObject({ available: 10 });

    expect((await request(service.app).get('/api/inventory')).status).toBe(401);
    expect((await request(service.app).get('/api/inventory/PROD-001')).status).toBe(401);

    const missing = await request(service.app).get('/api/inventory/NOPE-404').set('Authorization', customer);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(missing.body).toMatchObject({ status: 404, code: 'INVENTORY.PRODUCT_NOT_FOUND' });
  });

  it('the list pages by product id with a cursor', async () => {
    const first = await request(service.app).get('/api/inventory?limit=2').set('Authorization', customer);
    expect(first.body.items).toHaveLength(2);
    const second = await request(service.app).get(`/api/inventory?limit=2&cursor=${first.body.nextCursor}`).set('Authorization', customer);
    expect(second.body.items[0].productId > first.body.items[1].productId).toBe(true);
  });
});

/** order.created messages this instance acknowledged (its messaging metrics). */
async function orderCreatedHandled(s: Service<Db, Tx>): Promise<number> {
  const metric = await s.deps.metrics.getSingleMetric('messaging_handle_duration_seconds')?.get();
  return (metric?.values ?? [])
    .filter((v) => (v as { metricName?: string }).metricName === 'messaging_handle_duration_seconds_count')
    .filter((v) => v.labels.event_type === 'order.created' && v.labels.outcome === 'ack')
    .reduce((sum, v) => sum + v.value, 0);
}
