import fc from 'fast-check';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import { buildService, serviceConfigSchema, type Service } from '@orderflow/service';
import { bearer, cloneDatabase, deleteTopologies, serviceEnv, uniquePrefix } from '@orderflow/testkit';
import { api } from '../src/api';
import { database, type Db, type Tx } from '../src/db';
import { subscriptions } from '../src/handlers';
import { topology } from '../src/topology';

/** Property-based fuzzing of the admin stock API: never a 5xx, and a refused write changes nothing. */
describe('inventory API under hostile input (fast-check, real PostgreSQL)', () => {
  const prefix = uniquePrefix();
  let db: Awaited<ReturnType<typeof cloneDatabase>>;
  let service: Service<Db, Tx>;
  const admin = bearer('ops', 'admin');

  beforeAll(async () => {
    db = await cloneDatabase('inventory');
    const config = parseConfig(serviceConfigSchema(0), serviceEnv({ DATABASE_URL: db.url, TOPOLOGY_PREFIX: prefix }));
    service = buildService({ name: 'inventory-service', config, topology: (p) => topology(p, config.RETRY_DELAYS_MS), database, routes: api, subscriptions });
    await service.start();
    await request(service.app).put('/api/inventory/FUZZ-1').set('Authorization', admin).send({ name: 'Fuzz', price: 1, available: 7 });
  });
  afterAll(async () => {
    await service.stop();
    await deleteTopologies(service.deps.messaging.topology);
    await db.drop();
  });

  const hostile = fc.oneof(fc.anything(), fc.string({ maxLength: 300 }), fc.double(), fc.integer({ min: -10, max: 2 ** 40 }), fc.constant(null));
  const id = fc.oneof(fc.constant('FUZZ-1'), fc.string({ minLength: 1, maxLength: 120 }).map(encodeURIComponent));
  // The current ETag (a replace), a stale, weak or malformed one, none (a create, or 428), or any.
  const ifMatch = fc.oneof(fc.constant('current'), fc.constant(undefined), fc.constantFrom('*', '"0"', 'W/"1"', '"1", "2"', '1'), fc.string({ maxLength: 20 }));
  const etagOf = async (productId: string): Promise<string> => `"${(await service.deps.db.product.findUnique({ where: { id: productId } }))?.version ?? 0}"`;

  it('PUT /api/inventory/:id with 1,000 hostile bodies, ids and If-Match headers: no 5xx; refused writes leave the product as it was', async () => {
    const body = fc.oneof(fc.record({ name: fc.oneof(fc.string({ maxLength: 250 }), hostile), price: fc.oneof(fc.double({ min: -1, max: 1e7 }), hostile), available: fc.oneof(fc.integer({ min: -5, max: 2 ** 33 }), hostile) }, { requiredKeys: [] }), fc.jsonValue());
    await fc.assert(
      fc.asyncProperty(id, body, ifMatch, async (productId, b, condition) => {
        const before = await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } });
        let req = request(service.app).put(`/api/inventory/${productId}`).set('Authorization', admin).set('Content-Type', 'application/json');
        if (condition !== undefined) req = req.set('If-Match', condition === 'current' ? await etagOf('FUZZ-1') : condition.replace(/[^\x20-\x7e]/g, ''));
        const res = await req.send(JSON.stringify(b) ?? 'null');
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400 && productId === 'FUZZ-1') expect(await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } })).toEqual(before);
        // Restore the product after an accepted write, so every run starts from the same stock.
        if (res.status < 300 && productId === 'FUZZ-1') {
          const restored = await request(service.app).put('/api/inventory/FUZZ-1').set('Authorization', admin).set('If-Match', String(res.headers.etag)).send({ name: 'Fuzz', price: 1, available: 7 });
          expect(restored.status).toBe(200);
        }
      }),
      { numRuns: 1000 },
    );
  }, 180_000);

  it('POST /api/inventory/:id/adjustments with 500 hostile bodies, ids and keys: no 5xx; a refused adjustment changes and records nothing', async () => {
    const body = fc.oneof(fc.record({ delta: fc.oneof(fc.integer({ min: -20, max: 20 }), fc.integer(), hostile), reason: fc.oneof(fc.string({ maxLength: 600 }), hostile) }, { requiredKeys: [] }), fc.jsonValue());
    const key = fc.option(fc.string({ maxLength: 250 }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(id, body, key, async (productId, b, k) => {
        const before = await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } });
        const recorded = await service.deps.db.stockAdjustment.count();
        let req = request(service.app).post(`/api/inventory/${productId}/adjustments`).set('Authorization', admin).set('Content-Type', 'application/json');
        if (k !== undefined) req = req.set('Idempotency-Key', k.replace(/[^\x20-\x7e]/g, ''));
        const res = await req.send(JSON.stringify(b) ?? 'null');
        expect(res.status).toBeLessThan(500);
        const after = await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } });
        if (res.status >= 400 || res.headers['idempotent-replayed'] === 'true') {
          if (productId === 'FUZZ-1') expect(after).toEqual(before);
          expect(await service.deps.db.stockAdjustment.count()).toBe(recorded);
        } else if (productId === 'FUZZ-1') {
          expect(after!.available).toBe(before!.available + (b as { delta: number }).delta);
          expect(after!.available).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  }, 180_000);
});
