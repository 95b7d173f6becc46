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

  it('PUT /api/inventory/:id with 1,000 hostile bodies and ids: no 5xx; refused writes leave the product as it was', async () => {
    const hostile = fc.oneof(fc.anything(), fc.string({ maxLength: 300 }), fc.double(), fc.integer({ min: -10, max: 2 ** 40 }), fc.constant(null));
    const body = fc.oneof(fc.record({ name: fc.oneof(fc.string({ maxLength: 250 }), hostile), price: fc.oneof(fc.double({ min: -1, max: 1e7 }), hostile), available: fc.oneof(fc.integer({ min: -5, max: 2 ** 33 }), hostile) }, { requiredKeys: [] }), fc.jsonValue());
    const id = fc.oneof(fc.constant('FUZZ-1'), fc.string({ minLength: 1, maxLength: 120 }).map(encodeURIComponent));
    await fc.assert(
      fc.asyncProperty(id, body, async (productId, b) => {
        const before = await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } });
        const res = await request(service.app).put(`/api/inventory/${productId}`).set('Authorization', admin).set('Content-Type', 'application/json').send(JSON.stringify(b) ?? 'null');
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400 && productId === 'FUZZ-1') expect(await service.deps.db.product.findUnique({ where: { id: 'FUZZ-1' } })).toEqual(before);
        // Restore the product after an accepted write, so every run starts from the same stock.
        if (res.status < 300 && productId === 'FUZZ-1') await request(service.app).put('/api/inventory/FUZZ-1').set('Authorization', admin).send({ name: 'Fuzz', price: 1, available: 7 });
      }),
      { numRuns: 1000 },
    );
  }, 180_000);
});
