import { randomBytes, randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { orderBatchCreated, orderCancelled, paymentBatchProcessed, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { type ServiceUnderTest, bearer, publishEvent, serviceUnderTest, uniquePrefix, waitFor } from '@orderflow/testkit';
import { api } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

const admin = bearer('admin', 'admin');

/** The import lane of inventory: a chunk's orders per event, one answer per event. */
describe('inventory service: bulk reservations for imports (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;
  const received: Envelope<any>[] = [];

  beforeAll(async () => {
    sut = await serviceUnderTest({
      database: 'inventory',
      prefix,
      build: (env) => {
        const config = parseConfig(serviceConfigSchema(0), env);
        return buildService({ name: 'inventory-service', config, topology: (p) => topology(p, config.RETRY_DELAYS_MS), database, routes: api, subscriptions });
      },
    });
    ({ service, ch } = sut);
    await sut.tap('inventory.events', received);
  });
  afterAll(() => sut.stop());

  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>, correlationId: string) =>
    publishEvent(ch, prefix, contract, payload, { correlationId });
  const sku = async (available: number, price = 1): Promise<string> => {
    const id = `BULK-${randomBytes(4).toString('hex')}`;
    expect((await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: id, price, available })).status).toBe(201);
    return id;
  };
  const stockOf = async (id: string) => (await request(service.app).get(`/api/inventory/${id}`).set('Authorization', admin)).body as { available: number; reserved: number };
  const placed = (productId: string, quantity: number, customerId = 'alice') => ({ orderId: randomUUID(), customerId, items: [{ productId, quantity, unitPrice: 1 }], total: quantity, paymentMethod: 'pm_card_ok' });
  const answers = (importId: string, type: string) => received.filter((e) => e.eventType === type && e.payload.importId === importId);

  it('a chunk of orders is reserved in one pass, in order, all or nothing per order, and answered with one event per outcome', async () => {
    const p = await sku(5);
    const importId = randomUUID();
    const orders = [placed(p, 2), placed(p, 4), placed(p, 3), placed('NO-SUCH-PRODUCT', 1)];
    await publish(orderBatchCreated, { importId, orders }, importId);
    const [reserved] = await waitFor(() => answers(importId, 'inventory.batch-reserved').length === 1 && answers(importId, 'inventory.batch-reserved'), 'batch-reserved');
    const [failed] = await waitFor(() => answers(importId, 'inventory.batch-failed').length === 1 && answers(importId, 'inventory.batch-failed'), 'batch-failed');
    expect(reserved!.payload.orders.map((o: { orderId: string }) => o.orderId)).toEqual([orders[0]!.orderId, orders[2]!.orderId]);
    expect(reserved!.payload.orders[0]).toEqual(orders[0]);
    expect(failed!.payload.orders).toEqual([
      { orderId: orders[1]!.orderId, customerId: 'alice', reason: `insufficient stock for ${p} (requested 4, available 3)`, unavailable: [{ productId: p, requested: 4, available: 3 }] },
      { orderId: orders[3]!.orderId, customerId: 'alice', reason: 'unknown product NO-SUCH-PRODUCT', unavailable: [{ productId: 'NO-SUCH-PRODUCT', requested: 1, available: 0 }] },
    ]);
    expect(reserved!.correlationId).toBe(importId);
    expect(await stockOf(p)).toMatchObject({ available: 0, reserved: 5 });

    // The same orders again (another event): nothing is reserved twice, nothing is answered twice.
    await publish(orderBatchCreated, { importId, orders: [orders[0]!] }, importId);
    await waitFor(async () => (await service.deps.db.processedEvent.count()) >= 2, 'handled');
    expect(await stockOf(p)).toMatchObject({ available: 0, reserved: 5 });
    expect(answers(importId, 'inventory.batch-reserved')).toHaveLength(1);
  });

  it('a chunk is priced from the catalog: lines without a price get the catalog price (and only those orders are named as catalog-priced), an order with another price fails PRICE_MISMATCH and reserves nothing', async () => {
    const p = await sku(10, 7.5);
    const importId = randomUUID();
    const unpriced = { orderId: randomUUID(), customerId: 'ann', items: [{ productId: p, quantity: 2 }, { productId: p, quantity: 1, unitPrice: 7.5 }], paymentMethod: 'pm_card_ok' };
    const priced = { orderId: randomUUID(), customerId: 'cat', items: [{ productId: p, quantity: 1, unitPrice: 7.5 }], total: 7.5, paymentMethod: 'pm_card_ok' };
    const cheap = { orderId: randomUUID(), customerId: 'ben', items: [{ productId: p, quantity: 1, unitPrice: 0.01 }], total: 0.01, paymentMethod: 'pm_card_ok' };
    await publish(orderBatchCreated, { importId, orders: [cheap, unpriced, priced] }, importId);
    const [reserved] = await waitFor(() => answers(importId, 'inventory.batch-reserved').length === 1 && answers(importId, 'inventory.batch-reserved'), 'batch-reserved');
    const [failed] = await waitFor(() => answers(importId, 'inventory.batch-failed').length === 1 && answers(importId, 'inventory.batch-failed'), 'batch-failed');
    expect(reserved!.payload.orders).toEqual([
      { ...unpriced, items: [{ productId: p, quantity: 2, unitPrice: 7.5 }, { productId: p, quantity: 1, unitPrice: 7.5 }], total: 22.5 },
      priced,
    ]);
    // The order service records only these prices: the others are the file's already.
    expect(reserved!.payload.catalogPriced).toEqual([unpriced.orderId]);
    expect(failed!.payload.orders).toEqual([
      { orderId: cheap.orderId, customerId: 'ben', reason: `PRICE_MISMATCH: line 1 (${p}): client price 0.01, catalog price 7.50`, unavailable: [] },
    ]);
    expect(await stockOf(p)).toMatchObject({ available: 6, reserved: 4 });
  });

  it('failed payments of a chunk give their stock back once, answered with one inventory.batch-released', async () => {
    const p = await sku(10);
    const importId = randomUUID();
    const orders = [placed(p, 3, 'bob'), placed(p, 2, 'carol')];
    await publish(orderBatchCreated, { importId, orders }, importId);
    await waitFor(() => answers(importId, 'inventory.batch-reserved').length === 1, 'reserved');
    const failed = { importId, completed: [{ orderId: orders[1]!.orderId, customerId: 'carol', paymentId: randomUUID(), amount: 2 }], failed: [{ orderId: orders[0]!.orderId, customerId: 'bob', reason: 'card declined' }] };
    await publish(paymentBatchProcessed, failed, importId);
    const [released] = await waitFor(() => answers(importId, 'inventory.batch-released').length === 1 && answers(importId, 'inventory.batch-released'), 'released');
    expect(released!.payload.released).toEqual([{ orderId: orders[0]!.orderId, reason: 'payment failed: card declined' }]);
    expect(await stockOf(p)).toMatchObject({ available: 8, reserved: 2 });
    await publish(paymentBatchProcessed, failed, importId);
    await publish(orderCancelled, { orderId: orders[0]!.orderId, customerId: 'bob', total: 3, reason: 'payment failed: card declined' }, orders[0]!.orderId);
    await waitFor(async () => (await service.deps.db.processedEvent.count({ where: { consumer: { endsWith: 'inventory.saga' } } })) >= 1, 'the cancel handled');
    expect(await stockOf(p)).toMatchObject({ available: 8, reserved: 2 });
  });

  it('a cancellation that reached inventory first (checkout lane) makes the imported order reserve nothing', async () => {
    const p = await sku(4);
    const importId = randomUUID();
    const o = placed(p, 1, 'dan');
    await publish(orderCancelled, { orderId: o.orderId, customerId: 'dan', total: 1, reason: 'cancelled by the customer' }, o.orderId);
    await waitFor(async () => (await service.deps.db.orderStock.count({ where: { orderId: o.orderId } })) === 1, 'the tombstone');
    await publish(orderBatchCreated, { importId, orders: [o] }, importId);
    const [failed] = await waitFor(() => answers(importId, 'inventory.batch-failed').length === 1 && answers(importId, 'inventory.batch-failed'), 'failed');
    expect(failed!.payload.orders).toEqual([expect.objectContaining({ orderId: o.orderId, reason: 'order cancelled' })]);
    expect(await stockOf(p)).toMatchObject({ available: 4, reserved: 0 });
  });
});
