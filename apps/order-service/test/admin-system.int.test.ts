import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import request from 'supertest';
import { parseConfig } from '@orderflow/config';
import type { Service } from '@orderflow/service';
import { bearer, freePorts, uniquePrefix, waitFor, type ServiceUnderTest } from '@orderflow/testkit';
import { probeReady } from '../src/admin/system-processes';
import { orderConfigSchema } from '../src/config';
import type { Db, Tx } from '../src/db';
import { orderServiceUnderTest } from './support';

describe('GET /api/admin/system (real PostgreSQL and RabbitMQ, processes asked over HTTP)', () => {
  const prefix = uniquePrefix();
  const admin = bearer('ops', 'admin');
  let sut: ServiceUnderTest<Service<Db, Tx>>;
  let server: Server;

  beforeAll(async () => {
    // The service asks itself (listening on `own`) and a process that is not there (`gone`).
    const [own, gone] = await freePorts(2);
    sut = await orderServiceUnderTest({
      prefix,
      env: { SYSTEM_PROCESS_URLS: `order-service=http://127.0.0.1:${own},inventory-service-bulk=http://127.0.0.1:${gone}` },
    });
    server = sut.service.app.listen(own!);
  });
  afterAll(async () => {
    server?.close();
    await sut?.stop();
  });

  const system = async () => (await request(sut.service.app).get('/api/admin/system').set('Authorization', admin)).body;

  it('reports each process ready or not with its consumers, the queues with their consumers, backlogs, orders of the last minute and the saga', async () => {
    const placed = await request(sut.service.app)
      .post('/api/orders')
      .set('Authorization', bearer('alice'))
      .send({ items: [{ productId: 'PROD-002', quantity: 1, unitPrice: 25 }], paymentMethod: 'pm_card_ok' });
    expect(placed.status).toBe(202);
    // Read after the cache of the previous answer has expired: the order is counted.
    const s = await waitFor(async () => {
      const body = await system();
      return body.ordersLastMinute?.placed.api >= 1 && body;
    }, 'the order counted');

    expect(s.processes).toEqual([
      { name: 'order-service', service: 'order', lane: 'interactive', ready: true, error: null, broker: { connected: true }, consumers: expect.objectContaining({ [`${prefix}order.saga`]: { active: true, state: 'active' } }) },
      { name: 'inventory-service-bulk', service: 'inventory', lane: 'bulk', ready: false, error: expect.stringMatching(/^unreachable/), broker: null, consumers: {} },
    ]);
    expect(s.queues).toEqual(expect.arrayContaining([{ name: `${prefix}order.saga`, messages: 0, consumers: 1 }]));
    expect(s.deadLetters).toMatchObject({ order: 0 });
    expect(s.outbox).toEqual(expect.arrayContaining([{ service: 'order', lagSeconds: expect.any(Number) }, { service: 'inventory', lagSeconds: null }]));
    expect(s.ordersLastMinute).toEqual({ placed: { api: 1, import: 0 }, finished: { CONFIRMED: 0, REJECTED: 0, CANCELLED: 0 } });
    expect(s.saga).toMatchObject({ windowMinutes: 15, orders: 0, p50: null });
    expect(Date.parse(s.at)).not.toBeNaN();
  });

  it("a service's outbox lag comes with its process's /ready, read only when asked for: an event left unsent for 42 s shows", async () => {
    // Held back as the relay holds an event no queue took: its next attempt an hour away.
    await sut.service.deps.sql.$executeRawUnsafe(
      `INSERT INTO outbox_events (event_id, exchange, routing_key, envelope, created_at, attempts, next_attempt_at)
       VALUES (gen_random_uuid(), 'nowhere', 'nothing', '{}', now() - interval '42 seconds', 1, now() + interval '1 hour')`,
    );
    try {
      expect((await request(sut.service.app).get('/ready').expect(200)).body).not.toHaveProperty('outboxLagSeconds');
      expect((await request(sut.service.app).get('/ready?include=outboxLagSeconds').expect(200)).body.outboxLagSeconds).toBeGreaterThanOrEqual(42);
      const s = await waitFor(async () => {
        const body = await system();
        return body.outbox?.find((o: { service: string }) => o.service === 'order')?.lagSeconds >= 42 && body;
      }, 'the lag reported');
      expect(s.outbox).toEqual(expect.arrayContaining([{ service: 'inventory', lagSeconds: null }]));
    } finally {
      await sut.service.deps.sql.$executeRawUnsafe(`DELETE FROM outbox_events WHERE exchange = 'nowhere'`);
    }
  });

  it('a process that accepts the connection but does not answer is reported as not answering once the timeout is up', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const answer = await probeReady({ name: 'payment-service', url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }, 300);
      expect(answer).toEqual({ ready: false, error: 'no answer in 300 ms', broker: null, consumers: {}, outboxLagSeconds: null });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      silent.close();
    }
  });

  it('is for admins only', async () => {
    expect((await request(sut.service.app).get('/api/admin/system').set('Authorization', bearer('alice'))).status).toBe(403);
    expect((await request(sut.service.app).get('/api/admin/system')).status).toBe(401);
  });

  it('SYSTEM_PROCESS_URLS is checked at start, naming the bad entry', () => {
    const env = { DATABASE_URL: 'postgresql://x@127.0.0.1/x', JWT_SECRET: 'orderflow-dev-secret-change-me' };
    expect(parseConfig(orderConfigSchema(0), { ...env, SYSTEM_PROCESS_URLS: 'a=http://a:1, b-bulk=https://b/ ' }).SYSTEM_PROCESS_URLS).toEqual([
      { name: 'a', url: 'http://a:1' },
      { name: 'b-bulk', url: 'https://b' },
    ]);
    expect(() => parseConfig(orderConfigSchema(0), { ...env, SYSTEM_PROCESS_URLS: 'a=http://a:1,b=ftp://b' })).toThrow(/SYSTEM_PROCESS_URLS: entry 2 of 2/);
    expect(() => parseConfig(orderConfigSchema(0), { ...env, SYSTEM_PROCESS_URLS: 'a=http://a:1,a=http://b' })).toThrow(/a is listed twice/);
    expect(parseConfig(orderConfigSchema(0), env).SYSTEM_PROCESS_URLS).toEqual([]);
  });
});
