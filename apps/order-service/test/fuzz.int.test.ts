import fc from 'fast-check';
import request from 'supertest';
import type { Service } from '@orderflow/service';
import { bearer, uniquePrefix, type ServiceUnderTest } from '@orderflow/testkit';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

/**
 * Property-based fuzzing of the order API with thousands of malformed bodies, headers, ids
 * and queries: never a 5xx, and a refused request stores nothing.
 */
describe('order API under hostile input (fast-check, real PostgreSQL)', () => {
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let service: Service<Db, Tx>;
  const counts = async () => ({
    orders: await service.deps.db.order.count(),
    lines: await service.deps.db.orderLine.count(),
    events: await service.deps.db.orderEvent.count(),
  });

  beforeAll(async () => {
    sut = await orderServiceUnderTest({ prefix: uniquePrefix() });
    service = sut.service;
  });
  afterAll(() => sut.stop());

  // Almost-valid orders: each field may be replaced by something hostile.
  const hostile = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(''),
    fc.constant('x'.repeat(5000)),
    fc.constant('\u0000\uFFFF\uD800'),
    fc.array(fc.anything(), { maxLength: 3 }),
    fc.dictionary(fc.string(), fc.anything(), { maxKeys: 3 }),
  );
  const line = fc.record({
    productId: fc.oneof(fc.constant('PROD-001'), hostile),
    quantity: fc.oneof(fc.integer({ min: -5, max: 20_000 }), hostile),
    unitPrice: fc.oneof(fc.double({ min: -10, max: 2_000_000, noNaN: false }), fc.constant(9.99), hostile),
  });
  const body = fc.oneof(
    fc.record(
      {
        customerId: fc.oneof(fc.constant('fuzzer'), hostile),
        items: fc.oneof(fc.array(line, { maxLength: 4 }), hostile),
        paymentMethod: fc.oneof(fc.constant('pm_card_ok'), hostile),
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    ),
    fc.anything(),
    fc.jsonValue(),
  );

  it('POST /api/orders: no 5xx for 1,500 hostile bodies; every refusal stores nothing', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.option(fc.string({ maxLength: 300 })), async (b, key) => {
        const before = await counts();
        const req = request(service.app).post('/api/orders').set('Authorization', bearer('fuzzer'));
        if (key !== null) req.set('Idempotency-Key', key.replace(/[\r\n]/g, ''));
        // Sent as JSON text: whatever the value, the server parses it, not supertest.
        const res = await req.set('Content-Type', 'application/json').send(JSON.stringify(b) ?? 'null');
        expect(res.status).toBeLessThan(500);
        if (res.status !== 202) {
          expect(res.headers['content-type']).toMatch(/problem\+json/);
          expect(await counts()).toEqual(before);
        }
      }),
      {
        numRuns: 1500,
        // Found by this fuzzer once: PostgreSQL refuses U+0000 in text (it answered 500 then).
        examples: [[{ customerId: 'fuzzer', items: [{ productId: '\u0000\uffff\ud800', quantity: 1, unitPrice: 9.99 }], paymentMethod: 'pm_card_ok' }, null]],
      },
    );
  }, 180_000);

  it('raw bodies that are not JSON, and wrong content types, get 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/xml'), async (bytes, type) => {
        const res = await request(service.app).post('/api/orders').set('Authorization', bearer('fuzzer')).set('Content-Type', type).send(Buffer.from(bytes));
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('hostile ids, queries and tokens on reads and cancel: no 5xx', async () => {
    const segment = fc.string({ maxLength: 80 }).map((s) => encodeURIComponent(s));
    await fc.assert(
      fc.asyncProperty(segment, fc.dictionary(fc.constantFrom('customerId', 'status', 'limit', 'cursor', 'x'), fc.string({ maxLength: 60 })), fc.oneof(fc.constant(bearer('fuzzer')), fc.constant(bearer('ops', 'admin')), fc.string({ maxLength: 80 })), async (id, query, auth) => {
        const get = await request(service.app).get(`/api/orders/${id}`).set('Authorization', auth);
        const list = await request(service.app).get('/api/orders').query(query).set('Authorization', auth);
        const cancel = await request(service.app).post(`/api/orders/${id}/cancel`).set('Authorization', auth);
        for (const r of [get, list, cancel]) expect(r.status).toBeLessThan(500);
      }),
      { numRuns: 500 },
    );
  }, 120_000);
});
