import { randomBytes, randomUUID } from 'node:crypto';
import type amqplib from 'amqplib';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { orderCreated, paymentFailed, type Envelope, type EventContract, type PayloadOf } from '@orderflow/events';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { bearer, publishEvent, serviceUnderTest, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import { api, type ProductView } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

const admin = bearer('ops', 'admin');
const customer = bearer('alice');

type ProductBody = ProductView;

/**
 * Stock changes by admins next to the saga's reservations: relative adjustments that lose no
 * reservation, and replaces (PUT) guarded by the product's version (ETag / If-Match).
 */
describe('inventory service: restocks and conditional replaces (real PostgreSQL and RabbitMQ)', () => {
  const prefix = uniquePrefix();
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  let ch: amqplib.ConfirmChannel;
  const received: Envelope<any>[] = [];

  beforeAll(async () => {
    sut = await serviceUnderTest({
      database: 'inventory',
      prefix,
      // A small prefetch window: the reservations of the race test come in many batches.
      env: { PREFETCH: '10' },
      build: (env) => {
        const config = parseConfig(serviceConfigSchema(0), env);
        return buildService({ name: 'inventory-service', config, topology: (p) => topology(p, config.RETRY_DELAYS_MS), database, routes: api, subscriptions });
      },
    });
    ({ service, ch } = sut);
    await sut.tap('inventory.events', received);
  });
  afterAll(() => sut.stop());

  const sku = (tag: string): string => `${tag}-${randomBytes(4).toString('hex')}`;
  const PRICE = 10;

  async function product(id: string, available: number): Promise<string> {
    const res = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: 'Widget', price: PRICE, available });
    expect(res.status).toBe(201);
    return id;
  }

  const read = async (id: string) => {
    const res = await request(service.app).get(`/api/inventory/${id}`).set('Authorization', customer);
    expect(res.status).toBe(200);
    return { etag: String(res.headers.etag), body: res.body as ProductBody };
  };

  const adjust = (id: string, body: unknown, key?: string) => {
    const req = request(service.app).post(`/api/inventory/${id}/adjustments`).set('Authorization', admin);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body as object);
  };

  const adjustments = (id: string) =>
    service.deps.db.$queryRaw<Array<{ delta: number; reason: string; adjusted_by: string; available_after: number; idempotency_key: string | null }>>`
      SELECT delta, reason, adjusted_by, available_after, idempotency_key FROM stock_adjustments WHERE product_id = ${id} ORDER BY id`;

  const order = (productId: string, quantity: number) => ({
    orderId: randomUUID(),
    customerId: 'alice',
    items: [{ productId, quantity, unitPrice: PRICE }],
    total: quantity * PRICE,
    paymentMethod: 'pm_card_ok',
  });
  const publish = <C extends EventContract>(contract: C, payload: PayloadOf<C>) =>
    publishEvent(ch, prefix, contract, payload, { correlationId: (payload as { orderId: string }).orderId });
  const answerTo = (orderId: string) =>
    waitFor(() => received.find((e) => e.payload.orderId === orderId && (e.eventType === 'inventory.reserved' || e.eventType === 'inventory.failed')), `an answer to ${orderId}`);

  describe('POST /api/inventory/:productId/adjustments', () => {
    it('adds delta to available, keeps reserved, answers the product with its ETag and records who, why and the result', async () => {
      const id = await product(sku('ADJ'), 10);
      const res = await adjust(id, { delta: 5, reason: 'delivery 4711' });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ productId: id, available: 15, reserved: 0 });
      expect(res.headers.etag).toBe(`"${res.body.version}"`);
      expect((await read(id)).body).toMatchObject({ available: 15, reserved: 0 });

      const down = await adjust(id, { delta: -15, reason: 'stock take: water damage' });
      expect(down.status).toBe(200);
      expect(down.body).toMatchObject({ available: 0, reserved: 0 });
      expect(await adjustments(id)).toEqual([
        { delta: 5, reason: 'delivery 4711', adjusted_by: 'ops', available_after: 15, idempotency_key: null },
        { delta: -15, reason: 'stock take: water damage', adjusted_by: 'ops', available_after: 0, idempotency_key: null },
      ]);
    });

    it('a decrease below zero is refused with 409 INVENTORY.INSUFFICIENT_STOCK and changes nothing', async () => {
      const id = await product(sku('ADJ'), 3);
      const before = await read(id);
      const res = await adjust(id, { delta: -4, reason: 'broken' });
      expect(res.status).toBe(409);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 409, code: 'INVENTORY.INSUFFICIENT_STOCK' });
      expect(await read(id)).toEqual(before);
      expect(await adjustments(id)).toEqual([]);
    });

    it('an unknown product is a 404 problem and nothing is recorded', async () => {
      const id = sku('NOPE');
      const res = await adjust(id, { delta: 1, reason: 'restock' });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ status: 404, code: 'INVENTORY.PRODUCT_NOT_FOUND' });
      expect(await adjustments(id)).toEqual([]);
      expect((await request(service.app).get(`/api/inventory/${id}`).set('Authorization', admin)).status).toBe(404);
    });

    it('a bad body is refused with 400 naming each bad field; a customer gets 403; nothing changes', async () => {
      const id = await product(sku('ADJ'), 10);
      const before = await read(id);
      for (const [body, fields] of [
        [{ delta: 0, reason: '' }, ['delta', 'reason']],
        [{ delta: 1.5, reason: 'x'.repeat(501) }, ['delta', 'reason']],
        [{ delta: 2 ** 31, reason: 'restock' }, ['delta']],
        [{ delta: '5', reason: 7 }, ['delta', 'reason']],
        [{}, ['delta', 'reason']],
      ] as const) {
        const res = await adjust(id, body);
        expect(res.status).toBe(400);
        expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(fields);
      }
      expect((await request(service.app).post(`/api/inventory/${id}/adjustments`).set('Authorization', customer).send({ delta: 100, reason: 'free stock' })).status).toBe(403);
      expect(await read(id)).toEqual(before);
      expect(await adjustments(id)).toEqual([]);
    });

    it('a retried restock with the same Idempotency-Key is applied once; the key with another adjustment is a 409', async () => {
      const id = await product(sku('IDEM'), 10);
      const key = randomUUID();
      const first = await adjust(id, { delta: 7, reason: 'delivery 99' }, key);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ available: 17 });
      const again = await adjust(id, { delta: 7, reason: 'delivery 99' }, key);
      expect(again.status).toBe(200);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toMatchObject({ available: 17 });
      const reused = await adjust(id, { delta: 70, reason: 'delivery 100' }, key);
      expect(reused.status).toBe(409);
      expect(reused.body).toMatchObject({ code: 'INVENTORY.IDEMPOTENCY_KEY_REUSED' });
      expect((await read(id)).body).toMatchObject({ available: 17 });

      // A first request and its retry at once (the client timed out early): still once.
      const key2 = randomUUID();
      const both = await Promise.all([1, 2, 3].map(() => adjust(id, { delta: 3, reason: 'delivery 100' }, key2)));
      expect(both.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(both.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
      expect((await read(id)).body).toMatchObject({ available: 20 });
      expect(await adjustments(id)).toEqual([
        { delta: 7, reason: 'delivery 99', adjusted_by: 'ops', available_after: 17, idempotency_key: key },
        { delta: 3, reason: 'delivery 100', adjusted_by: 'ops', available_after: 20, idempotency_key: key2 },
      ]);
      // The key is per product: the same key restocks another product.
      const other = await product(sku('IDEM'), 1);
      expect((await adjust(other, { delta: 7, reason: 'delivery 99' }, key)).body).toMatchObject({ available: 8 });
    });

    it('the same Idempotency-Key sent again while the first is still being applied: applied once, the others replay', async () => {
      const id = await product(sku('IDEM'), 10);
      const key = randomUUID();
      let inFlight!: Promise<request.Response[]>;
      await service.deps.db.$transaction(
        async (tx) => {
          // Holds the product's row: every request passes the key check, then waits at its UPDATE.
          await tx.$queryRaw`SELECT id FROM products WHERE id = ${id} FOR UPDATE`;
          inFlight = Promise.all([1, 2, 3].map(() => adjust(id, { delta: 4, reason: 'delivery 7' }, key).then((r) => r)));
          await waitFor(async () => {
            const [waiting] = await service.deps.db.$queryRaw<Array<{ n: number }>>`
              SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO stock_adjustments%'`;
            return waiting!.n === 3;
          }, 'three adjustments waiting for the row');
        },
        { timeout: 20_000 },
      );
      const responses = await inFlight;
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
      expect((await read(id)).body).toMatchObject({ available: 14, reserved: 0 });
      expect(await adjustments(id)).toEqual([{ delta: 4, reason: 'delivery 7', adjusted_by: 'ops', available_after: 14, idempotency_key: key }]);
    });

    it('a restock racing reservations loses none of them: available + reserved = initial + the deltas, reserved = what the live reservations hold', async () => {
      const id = await product(sku('RACE'), 20);
      const orders = Array.from({ length: 120 }, (_, i) => order(id, 1 + (i % 3)));
      const deltas = Array.from({ length: 30 }, (_, i) => 1 + (i % 7));
      // Orders and restocks interleaved, all in flight at once.
      const restocks: Array<Promise<request.Response>> = [];
      const published: Array<Promise<unknown>> = [];
      orders.forEach((o, i) => {
        published.push(publish(orderCreated, o));
        if (i % 4 === 0 && restocks.length < deltas.length) restocks.push(adjust(id, { delta: deltas[restocks.length]!, reason: `restock ${i}` }));
      });
      while (restocks.length < deltas.length) restocks.push(adjust(id, { delta: deltas[restocks.length]!, reason: 'restock late' }));
      const responses = await Promise.all(restocks);
      await Promise.all(published);
      expect(responses.map((r) => r.status)).toEqual(deltas.map(() => 200));
      const answers = await Promise.all(orders.map((o) => answerTo(o.orderId)));

      const sumDeltas = deltas.reduce((a, b) => a + b, 0);
      const reservedQty = answers.filter((a) => a.eventType === 'inventory.reserved').reduce((sum, a) => sum + a.payload.items[0].quantity, 0);
      // More is ordered than ever stocked: the restocks decided which orders got stock.
      expect(answers.filter((a) => a.eventType === 'inventory.failed').length).toBeGreaterThan(0);
      const { body } = await read(id);
      expect(body.available + body.reserved).toBe(20 + sumDeltas);
      expect(body.reserved).toBe(reservedQty);
      expect(await service.deps.db.reservation.aggregate({ where: { productId: id, status: 'RESERVED' }, _sum: { quantity: true } })).toEqual({ _sum: { quantity: reservedQty } });
      const log = await adjustments(id);
      expect(log.map((a) => a.delta).sort()).toEqual([...deltas].sort());
      expect(log.every((a) => a.available_after >= 0)).toBe(true);
    });
  });

  describe('PUT /api/inventory/:productId with If-Match', () => {
    it('GET answers ETag "<version>"; PUTs, adjustments, reservations and releases each change it', async () => {
      const id = await product(sku('VER'), 10);
      const etags = [(await read(id)).etag];
      expect(etags[0]).toMatch(/^"\d+"$/);
      expect(etags[0]).toBe(`"${(await read(id)).body.version}"`);

      const put = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', etags[0]!).send({ name: 'Widget', price: PRICE, available: 12 });
      expect(put.status).toBe(200);
      etags.push((await read(id)).etag);
      expect(put.headers.etag).toBe(etags[1]);
      await adjust(id, { delta: 1, reason: 'found one' });
      etags.push((await read(id)).etag);
      const o = order(id, 2);
      await publish(orderCreated, o);
      expect((await answerTo(o.orderId)).eventType).toBe('inventory.reserved');
      etags.push((await read(id)).etag);
      const failed = await publish(paymentFailed, { orderId: o.orderId, customerId: 'alice', reason: 'card declined' });
      await waitFor(async () => (await read(id)).body.reserved === 0, `release after ${failed.eventId}`);
      etags.push((await read(id)).etag);

      expect(new Set(etags).size).toBe(etags.length);
      const versions = etags.map((e) => Number(e.slice(1, -1)));
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
    });

    it('a PUT with a stale If-Match (a reservation came in between) is refused with 412 and changes nothing', async () => {
      const id = await product(sku('STALE'), 10);
      const seen = await read(id);
      const o = order(id, 3);
      await publish(orderCreated, o);
      expect((await answerTo(o.orderId)).eventType).toBe('inventory.reserved');
      const now = await read(id);

      // The admin meant "10 more than I saw": 20, based on a read the reservation made stale.
      const res = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', seen.etag).send({ name: 'Renamed', price: 11, available: 20 });
      expect(res.status).toBe(412);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body).toMatchObject({ status: 412, code: 'INVENTORY.VERSION_MISMATCH' });
      expect(await read(id)).toEqual(now);
      expect(now.body).toMatchObject({ name: 'Widget', price: PRICE, available: 7, reserved: 3 });
    });

    it('the current ETag replaces (200, new ETag); a list of ETags matches any; a weak or malformed one never matches', async () => {
      const id = await product(sku('CUR'), 10);
      const { etag } = await read(id);
      for (const bad of [`W/${etag}`, etag.slice(1, -1), 'garbage', '"999999"']) {
        const res = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', bad).send({ name: 'Widget', price: 1, available: 1 });
        expect(res.status).toBe(412);
      }
      const ok = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', `"999999", ${etag}`).send({ name: 'Gizmo', price: 12.5, available: 4 });
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ productId: id, name: 'Gizmo', price: 12.5, available: 4, reserved: 0 });
      expect(ok.headers.etag).not.toBe(etag);
      expect(ok.headers.etag).toBe(`"${ok.body.version}"`);
    });

    it('replacing an existing product without If-Match is refused with 428 and changes nothing; creating needs none', async () => {
      const id = sku('NEW');
      const created = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: 'Lamp', price: 20, available: 5 });
      expect(created.status).toBe(201);
      expect(created.headers.etag).toBe(`"${created.body.version}"`);
      const before = await read(id);
      const blind = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).send({ name: 'Lamp', price: 20, available: 50 });
      expect(blind.status).toBe(428);
      expect(blind.body).toMatchObject({ status: 428, code: 'INVENTORY.PRECONDITION_REQUIRED' });
      expect(await read(id)).toEqual(before);
    });

    it('If-None-Match: * creates only; If-Match on a product that does not exist creates nothing (412); If-Match: * replaces whatever version', async () => {
      const id = sku('INM');
      const created = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-None-Match', '*').send({ name: 'Lamp', price: 20, available: 5 });
      expect(created.status).toBe(201);
      const before = await read(id);
      const again = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-None-Match', '*').send({ name: 'Lamp', price: 20, available: 50 });
      expect(again.status).toBe(412);
      expect(await read(id)).toEqual(before);

      const absent = sku('ABSENT');
      const res = await request(service.app).put(`/api/inventory/${absent}`).set('Authorization', admin).set('If-Match', '"1"').send({ name: 'Ghost', price: 1, available: 1 });
      expect(res.status).toBe(412);
      expect((await request(service.app).get(`/api/inventory/${absent}`).set('Authorization', admin)).status).toBe(404);

      const any = await request(service.app).put(`/api/inventory/${id}`).set('Authorization', admin).set('If-Match', '*').send({ name: 'Lamp', price: 20, available: 9 });
      expect(any.status).toBe(200);
      expect(any.body).toMatchObject({ available: 9 });
    });
  });
});
